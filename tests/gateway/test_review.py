"""The review queue over HTTP: a device submission becomes a flag; reviewers confirm or
reject, officers take the co-governance steps; every refusal is a problem with its code."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from gatewaykit import FakeLedger, Kit, build, submit

from gateway.routes.review import reminder_rules
from node.ledger import LedgerRefused
from schemas.ledger import LedgerErrorCode, PenaltySchedule

PROBLEM = "application/problem+json"


@pytest.fixture
def kit(tmp_path: Path) -> Kit:
    return build(tmp_path)


def post(kit: Kit, path: str, user: str, body: dict[str, Any] | None = None) -> Any:
    return kit.client.post(path, json=body or {}, headers=kit.token(user))


def problem(resp: Any, status: int, code: str) -> None:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"] == PROBLEM
    assert resp.json()["code"] == code


def test_a_submission_is_flagged_and_waits_in_the_queue(kit: Kit) -> None:
    done = submit(kit)
    assert done["flag_id"] == done["event_id"] == "evt-20261122-0001"
    queue = kit.client.get("/violations", headers=kit.token("reviewer1")).json()
    [item] = queue["items"]
    assert item["flag_id"] == done["flag_id"]
    assert item["status"] == "detected"
    assert sorted(item["evidence_ids"]) == sorted(i["evidence_id"] for i in done["items"])
    assert item["confidence"] == 0.91
    # A replay of the submission flags nothing new.
    submit(kit)
    assert len(kit.client.get("/violations", headers=kit.token("reviewer1")).json()["items"]) == 1


def test_confirm_with_a_case(kit: Kit) -> None:
    flag = submit(kit)["flag_id"]
    resp = post(
        kit,
        f"/violations/{flag}/review",
        "reviewer1",
        {"decision": "confirmed", "reason": "confirmed_on_footage", "action": "case",
         "subject": "Vendor 1"},
    )  # fmt: skip
    assert resp.status_code == 200, resp.text
    assert resp.json()["status"] == "case_filed"
    assert resp.json()["case_id"] == f"CASE-{flag}"
    steps = kit.client.get(f"/violations/{flag}/history", headers=kit.token("auditor1")).json()
    assert [(s["to_status"], s["role"]) for s in steps] == [
        ("detected", "device"),
        ("confirmed", "reviewer"),
        ("case_filed", "reviewer"),
    ]


def test_reject_and_the_co_governance_loop(kit: Kit) -> None:
    first = submit(kit)["flag_id"]
    rejected = post(
        kit, f"/violations/{first}/review", "reviewer1",
        {"decision": "rejected", "reason": "false_positive"},
    )  # fmt: skip
    assert rejected.json()["status"] == "rejected"
    second = submit(kit, event_id="evt-20261122-0002")
    flag = second["flag_id"]
    remind = {"decision": "confirmed", "reason": "confirmed_on_footage", "action": "reminder"}
    post(kit, f"/violations/{flag}/review", "reviewer1", remind)
    assert (
        post(kit, f"/violations/{flag}/escalate", "officer1", {"reason": "ignored"}).json()[
            "status"
        ]
        == "escalated"
    )
    assert post(kit, f"/violations/{flag}/community-remind", "officer1").json()["status"] == (
        "community_reminded"
    )
    evidence = [i["evidence_id"] for i in second["items"]]
    done = post(kit, f"/violations/{flag}/rectified", "officer1", {"evidence_ids": evidence[:1]})
    assert done.json()["status"] == "rectified"


@pytest.mark.parametrize(
    ("user", "path", "body", "status", "code"),
    [
        ("officer1", "review", {"decision": "confirmed", "reason": "x"}, 403, "ACCESS_DENIED"),
        ("partner1", "review", {"decision": "confirmed", "reason": "x"}, 403, "ACCESS_DENIED"),
        ("reviewer1", "remind", {}, 409, "INVALID_VIOLATION_TRANSITION"),
        ("officer1", "rectified", {"evidence_ids": []}, 422, "INVALID_REQUEST"),
        ("reviewer1", "review", {"decision": "maybe", "reason": "x"}, 422, "INVALID_REQUEST"),
        ("reviewer1", "review", {"decision": "rejected", "reason": "Free text"}, 422,
         "INVALID_REQUEST"),
        ("reviewer1", "review", {"decision": "confirmed", "reason": "x", "extra": 1}, 422,
         "INVALID_REQUEST"),
    ],
)  # fmt: skip
def test_refusals(
    kit: Kit, user: str, path: str, body: dict[str, Any], status: int, code: str
) -> None:
    flag = submit(kit)["flag_id"]
    problem(post(kit, f"/violations/{flag}/{path}", user, body), status, code)
    assert (
        kit.client.get(f"/violations/{flag}", headers=kit.token("auditor1")).json()["status"]
        == "detected"
    )


def test_unknown_flag_and_no_token(kit: Kit) -> None:
    problem(kit.client.get("/violations/evt-404", headers=kit.token("reviewer1")), 404, "NOT_FOUND")
    problem(kit.client.get("/violations"), 401, "UNAUTHENTICATED")
    problem(kit.client.get("/violations", params={"status": "lost"},
                           headers=kit.token("reviewer1")), 422, "INVALID_REQUEST")  # fmt: skip


def test_a_flag_owing_reminders_is_refused_a_case_with_its_code(kit: Kit) -> None:
    flag = submit(kit, event_id="evt-20261122-0031", violation_type="street_hanging")["flag_id"]
    confirm = {"decision": "confirmed", "reason": "confirmed_on_footage"}
    resp = post(kit, f"/violations/{flag}/review", "reviewer1", {**confirm, "action": "case"})
    problem(resp, 409, "REMINDERS_REQUIRED")
    assert "requires 2 reminder(s)" in resp.json()["detail"]
    assert (
        kit.client.get(f"/violations/{flag}", headers=kit.token("reviewer1")).json()["status"]
        == "detected"
    )


class _Schedules:
    """A ledger whose schedule read fails with ``code``."""

    def __init__(self, code: LedgerErrorCode) -> None:
        self.code = code

    async def penalty_schedule(self) -> PenaltySchedule:
        raise LedgerRefused(self.code, "refused", "")


async def test_reminder_rules_are_none_before_a_schedule_and_other_failures_surface() -> None:
    assert await reminder_rules(_Schedules(LedgerErrorCode.NOT_FOUND)) == {}  # type: ignore[arg-type]
    with pytest.raises(LedgerRefused):
        await reminder_rules(_Schedules(LedgerErrorCode.ACCESS_DENIED))  # type: ignore[arg-type]


async def test_reminder_rules_read_the_consortium_schedule(kit: Kit) -> None:
    rules = await reminder_rules(FakeLedger(kit.chain, "reviewer1"))
    assert rules == {
        "shopfront_operation": 2,
        "garbage_pile": 2,
        "nonmotor_parking": 2,
        "street_hanging": 2,
    }
