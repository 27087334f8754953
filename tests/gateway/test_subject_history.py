"""A party's earlier violations and the penalty a decision would impose now (/subjects)."""

from __future__ import annotations

from pathlib import Path

import pytest
from gatewaykit import NOW, SUBJECT_SECRET, Kit, build
from test_gateway_devices import assert_problem

from node.crypto.subjects import SubjectKeyer
from schemas.glossary import ViolationType
from schemas.ledger import SubjectKind, SubjectViolation, ledger_time

PLATE = "粤B 12345"


@pytest.fixture
def kit(tmp_path: Path) -> Kit:
    return build(tmp_path)


def _key(identifier: str = PLATE, kind: SubjectKind = SubjectKind.PERSON) -> str:
    return SubjectKeyer(SUBJECT_SECRET).key_of(kind, identifier)


def _earlier(kit: Kit, n: int) -> None:
    kit.chain.subject_violations[_key()] = [
        SubjectViolation(
            subject_key=_key(),
            violation_type=ViolationType.ROAD_OCCUPATION,
            case_id=f"CASE-{i}",
            org="MarketSupervisionMSP",
            at=ledger_time(NOW),
            tx=f"{i:064x}",
            exempted=i == 0,
            amount_cents=0 if i == 0 else 20000,
        )
        for i in range(n)
    ]


def test_an_officer_sees_every_department_s_earlier_violations_of_the_party(kit: Kit) -> None:
    _earlier(kit, 2)
    resp = kit.client.post(
        "/subjects/history",
        json={"subject": "粤b-12345", "violation_type": "road_occupation"},
        headers=kit.token("officer1"),
    )
    assert resp.status_code == 200, resp.text
    doc = resp.json()
    assert doc["subject_key"] == _key()
    assert [v["case_id"] for v in doc["violations"]] == ["CASE-0", "CASE-1"]
    assert doc["penalty"]["prior_violations"] == 2
    assert doc["penalty"]["exempt"] is False
    assert "12345" not in resp.text  # the identifier is not echoed


def test_a_party_without_history_gets_the_first_step_or_the_waiver(kit: Kit) -> None:
    body = {"subject_key": _key("粤B 99999"), "violation_type": "road_occupation"}
    first = kit.client.post("/subjects/history", json=body, headers=kit.token("reviewer1"))
    assert first.status_code == 200, first.text
    assert first.json()["violations"] == []
    assert first.json()["penalty"]["prior_violations"] == 0
    waived = kit.client.post(
        "/subjects/history", json={**body, "rectified": True}, headers=kit.token("reviewer1")
    )
    assert waived.json()["penalty"]["exempt"] is True  # 首违免罚: first, and rectified
    plain = kit.client.post(
        "/subjects/history", json={"subject": PLATE}, headers=kit.token("auditor1")
    )
    assert plain.json()["penalty"] is None  # no violation type: history only


def test_the_kind_of_party_is_part_of_its_key(kit: Kit) -> None:
    _earlier(kit, 1)
    resp = kit.client.post(
        "/subjects/history",
        json={"subject": PLATE, "subject_kind": "organization"},
        headers=kit.token("officer1"),
    )
    assert resp.json()["subject_key"] == _key(kind=SubjectKind.ORGANIZATION)
    assert resp.json()["violations"] == []


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"subject": PLATE, "subject_key": "ab" * 32},
        {"subject": " - "},
        {"subject_key": "AB" * 32},
        {"subject": PLATE, "violation_type": "jaywalking"},
        {"subject": PLATE, "name": "x"},
    ],
)
def test_bad_lookups_are_refused(kit: Kit, body: dict[str, object]) -> None:
    resp = kit.client.post("/subjects/history", json=body, headers=kit.token("officer1"))
    assert_problem(resp, 422, "INVALID_REQUEST")


@pytest.mark.parametrize("user", ["partner1", "edge-07", "admin"])
def test_only_officers_reviewers_and_auditors_look_parties_up(kit: Kit, user: str) -> None:
    resp = kit.client.post("/subjects/history", json={"subject": PLATE}, headers=kit.token(user))
    assert_problem(resp, 403, "ACCESS_DENIED")
    assert_problem(
        kit.client.post("/subjects/history", json={"subject": PLATE}), 401, "UNAUTHENTICATED"
    )
