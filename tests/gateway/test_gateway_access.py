"""Auth, cases, evidence content and audit through the gateway over the fake ledger."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path
from typing import Any

import pytest
from gatewaykit import PARTNER_ORG, SUBJECT_SECRET, Kit, build
from ingestkit import KEYFRAME, NOW
from test_gateway_devices import assert_problem, parts, submit

from gateway.problems import Problem
from node.crypto.subjects import SubjectKeyer
from schemas.ledger import SubjectKind

SUBJECT = "ab" * 32


@pytest.fixture
def kit(tmp_path: Path) -> Kit:
    return build(tmp_path)


@pytest.fixture
def photo(kit: Kit) -> str:
    items = submit(kit, parts(kit)).json()["items"]
    return str(items[0]["evidence_id"])


def filing(case_id: str = "case-1", **changes: Any) -> dict[str, Any]:
    doc = {
        "case_id": case_id,
        "violation_type": "road_occupation",
        "subject_key": SUBJECT,
        "subject_kind": "person",
        "source": "camera",
    }
    return {**doc, **changes}


# --- authentication ---------------------------------------------------------------------


def test_expired_token_is_refused(kit: Kit) -> None:
    headers = kit.token("officer1", ttl=dt.timedelta(minutes=5))
    kit.clock[0] = NOW + dt.timedelta(minutes=6)
    assert_problem(kit.client.get("/cases/case-1", headers=headers), 401, "UNAUTHENTICATED")


def test_unknown_token_is_refused(kit: Kit) -> None:
    resp = kit.client.get("/cases/case-1", headers={"Authorization": "Bearer nope"})
    assert_problem(resp, 401, "UNAUTHENTICATED")


@pytest.mark.parametrize(
    "content",
    [
        b"{not json",
        b"[]",
        b'{"ab": {"user": "officer1"}}',
        b'{"ab": {"user": "officer1", "expires_at": "soon"}}',
        b'{"ab": {"user": "officer1", "expires_at": "2026-11-22T10:00:00"}}',
        b"\xff\xfe",
    ],
)
def test_a_damaged_token_store_answers_503_not_500(kit: Kit, content: bytes) -> None:
    headers = kit.token("officer1")
    kit.deps.tokens.path.write_bytes(content)
    resp = kit.client.get("/cases/case-1", headers=headers)
    assert_problem(resp, 503, "TOKEN_STORE_CORRUPT")
    assert "tell the operator" in resp.json()["detail"]
    assert str(kit.deps.tokens.path) not in resp.text  # paths stay in the log


def test_tokens_are_stored_hashed(kit: Kit) -> None:
    token = kit.deps.tokens.issue_token("officer1", dt.timedelta(hours=1))
    assert token not in kit.deps.tokens.path.read_text()
    kit.deps.tokens.revoke(token)
    assert kit.deps.tokens.user_of(token) is None


# --- cases ------------------------------------------------------------------------------


def test_case_flow(kit: Kit) -> None:
    officer = kit.token("officer1")
    filed = kit.client.post("/cases", json=filing(), headers=officer)
    assert filed.status_code == 201, filed.text
    assert filed.json()["filed_by"] == "CN=officer1"
    assert filed.json()["tx_id"]
    moved = kit.client.post(
        "/cases/case-1/stage", json={"to": "preliminary_check"}, headers=kit.token("reviewer1")
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["stage"] == "preliminary_check"
    history = kit.client.get("/cases/case-1/history", headers=kit.token("auditor1")).json()
    assert [(h["from_stage"], h["to_stage"], h["actor"]) for h in history] == [
        ("source", "preliminary_check", "CN=reviewer1")
    ]
    got = kit.client.get("/cases/case-1", headers=kit.token("partner1"))
    assert got.json()["stage"] == "preliminary_check"
    proposed = kit.client.post(
        "/cases/case-1/transfers",
        json={"to_org": "MarketSupervisionMSP", "reason": "business_licence_matter"},
        headers=officer,
    )
    assert proposed.status_code == 201, proposed.text
    assert proposed.json()["status"] == "proposed"


def test_ledger_refusals_map_to_statuses(kit: Kit) -> None:
    officer = kit.token("officer1")
    kit.client.post("/cases", json=filing(), headers=officer)
    assert_problem(kit.client.post("/cases", json=filing(), headers=officer), 409, "CASE_CONFLICT")
    skip = kit.client.post("/cases/case-1/stage", json={"to": "investigation"}, headers=officer)
    assert_problem(skip, 409, "INVALID_STAGE_TRANSITION")
    assert_problem(kit.client.get("/cases/nope", headers=officer), 404, "NOT_FOUND")
    answer = kit.client.post(
        "/cases/case-1/transfers/answer", json={"accept": True}, headers=officer
    )
    assert_problem(answer, 409, "TRANSFER_CONFLICT")


def test_bad_case_input_is_a_problem(kit: Kit) -> None:
    officer = kit.token("officer1")
    bad_key = kit.client.post("/cases", json=filing(subject_key="Alice"), headers=officer)
    assert_problem(bad_key, 422, "INVALID_REQUEST")
    assert "subject_key" in bad_key.json()["detail"]
    assert "Alice" not in kit.chain.cases
    unknown = kit.client.post("/cases", json={**filing(), "extra": 1}, headers=officer)
    assert_problem(unknown, 422, "INVALID_REQUEST")
    for subject in ({"subject": "粤B12345"}, {"subject_key": None}, {"subject": " - "}):
        both_or_none = kit.client.post("/cases", json=filing(**subject), headers=officer)
        assert_problem(both_or_none, 422, "INVALID_REQUEST")
        assert "subject" in both_or_none.json()["detail"]
    assert kit.chain.cases == {}


def test_a_case_filed_by_subject_carries_only_the_consortium_s_keyed_hash(kit: Kit) -> None:
    officer = kit.token("officer1")
    doc = {k: v for k, v in filing().items() if k != "subject_key"}
    first = kit.client.post("/cases", json={**doc, "subject": "粤B 12345"}, headers=officer)
    assert first.status_code == 201, first.text
    again = kit.client.post(
        "/cases", json={**doc, "case_id": "case-2", "subject": "粤b12345"}, headers=officer
    )
    assert again.status_code == 201, again.text
    expected = SubjectKeyer(SUBJECT_SECRET).key_of(SubjectKind.PERSON, "粤B12345")
    keys = {c.subject_key for c in kit.chain.cases.values()}
    assert keys == {expected}  # one party, however it was typed
    assert expected != hashlib.sha256("粤b12345".encode()).hexdigest()
    assert "12345" not in first.text  # the identifier is not echoed or kept


@pytest.mark.parametrize("user", ["reviewer1", "auditor1", "partner1", "edge-07", "admin"])
def test_only_officers_file_cases(kit: Kit, user: str) -> None:
    resp = kit.client.post("/cases", json=filing(), headers=kit.token(user))
    assert_problem(resp, 403, "ACCESS_DENIED")
    assert kit.chain.cases == {}


def test_grant_and_revoke(kit: Kit) -> None:
    officer = kit.token("officer1")
    kit.client.post("/cases", json=filing(), headers=officer)
    body = {
        "grantee_org": PARTNER_ORG,
        "purpose": "joint_enforcement",
        "expires_at": (NOW + dt.timedelta(days=7)).isoformat(),
    }
    granted = kit.client.post("/cases/case-1/grants", json=body, headers=officer)
    assert granted.status_code == 201, granted.text
    assert granted.json()["revoked"] is False
    revoked = kit.client.delete(f"/cases/case-1/grants/{PARTNER_ORG}", headers=officer)
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["revoked"] is True
    by_partner = kit.client.post("/cases/case-1/grants", json=body, headers=kit.token("partner1"))
    assert_problem(by_partner, 403, "ACCESS_DENIED")
    listed = kit.client.get("/cases/case-1/grants", headers=kit.token("auditor1"))
    assert listed.status_code == 200, listed.text
    [grant] = listed.json()
    assert (grant["grantee_org"], grant["purpose"], grant["revoked"]) == (
        PARTNER_ORG,
        "joint_enforcement",
        True,
    )
    assert grant["kinds"] == ["view", "download"]
    assert grant["granted_by"] == "CN=officer1"
    assert grant["tx_id"] == revoked.json()["tx_id"]  # the latest act on it
    assert_problem(
        kit.client.get("/cases/case-1/grants", headers=kit.token("partner1")), 403, "ACCESS_DENIED"
    )


def test_a_refused_share_is_recorded_and_named_in_the_answer(kit: Kit) -> None:
    officer = kit.token("officer1")
    kit.client.post("/cases", json=filing(), headers=officer)
    # The case has been handed on: sharing it is now its new holder's to do.
    held = kit.chain.cases["case-1"]
    kit.chain.cases["case-1"] = held.model_copy(update={"holder_org": PARTNER_ORG})
    body = {
        "grantee_org": "MarketSupervisionMSP",
        "purpose": "joint_enforcement",
        "expires_at": (NOW + dt.timedelta(days=7)).isoformat(),
    }
    refused = kit.client.post("/cases/case-1/grants", json=body, headers=officer)
    assert_problem(refused, 403, "ACCESS_DENIED")
    [denial] = kit.chain.accesses
    assert refused.headers["x-access-record"] == denial.record_id
    assert (denial.kind, denial.outcome, denial.reason, denial.shared_with) == (
        "share",
        "denied",
        "not_holder",
        "MarketSupervisionMSP",
    )
    assert kit.chain.grants == {}


def test_a_case_transfer_history_lists_proposals_and_answers(kit: Kit) -> None:
    officer = kit.token("officer1")
    kit.client.post("/cases", json=filing(), headers=officer)
    assert kit.client.get("/cases/case-1/transfers", headers=officer).json() == []
    body = {"to_org": "MarketSupervisionMSP", "reason": "business_licence_matter"}
    proposed = kit.client.post("/cases/case-1/transfers", json=body, headers=officer)
    assert proposed.status_code == 201, proposed.text
    again = kit.client.post("/cases/case-1/transfers", json=body, headers=officer)
    assert_problem(again, 409, "TRANSFER_CONFLICT")  # one pending at a time
    [row] = kit.client.get("/cases/case-1/transfers", headers=kit.token("reviewer1")).json()
    assert row["seq"] == 1
    assert (row["from_org"], row["to_org"], row["status"]) == (
        "UrbanManagementMSP",
        "MarketSupervisionMSP",
        "proposed",
    )
    assert (row["reason"], row["proposed_by"], row["answered_by"]) == (
        "business_licence_matter",
        "CN=officer1",
        None,
    )
    assert row["tx_id"] == proposed.json()["tx_id"]
    missing = kit.client.get("/cases/nope/transfers", headers=officer)
    assert_problem(missing, 404, "NOT_FOUND")
    partner = kit.client.get("/cases/case-1/transfers", headers=kit.token("partner1"))
    assert_problem(partner, 403, "ACCESS_DENIED")


def _index_case(kit: Kit, i: int, **changes: Any) -> None:
    """A case as the index follower would have copied it from the ledger."""
    doc: dict[str, Any] = {
        "case_id": f"CASE-2026-{i:04d}",
        "holder_org": "UrbanManagementMSP",
        "stage": ("investigation", "decision")[i % 2],
        "violation_type": "road_occupation",
        "subject_key": SUBJECT,
        "updated_at": NOW - dt.timedelta(days=i),
    }
    kit.deps.index.upsert_case({**doc, **changes})


def test_case_search_filters_and_pages_newest_change_first(kit: Kit) -> None:
    for i in range(7):
        _index_case(kit, i)
    _index_case(kit, 9, violation_type="shopfront_operation", holder_org="MarketSupervisionMSP")

    def ids(resp: Any) -> list[str]:
        assert resp.status_code == 200, resp.text
        return [c["case_id"] for c in resp.json()["cases"]]

    officer = kit.token("officer1")
    found = kit.client.get("/cases", headers=officer)
    assert ids(found) == [f"CASE-2026-{i:04d}" for i in (0, 1, 2, 3, 4, 5, 6, 9)]
    first = found.json()["cases"][0]
    assert first == {
        "case_id": "CASE-2026-0000",
        "violation_type": "road_occupation",
        "stage": "investigation",
        "holder_org": "UrbanManagementMSP",
        "updated_at": NOW.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
        "items": 0,
    }
    assert found.json()["next_cursor"] is None
    decision = kit.client.get("/cases", params={"stage": "decision"}, headers=officer)
    assert ids(decision) == ["CASE-2026-0001", "CASE-2026-0003", "CASE-2026-0005", "CASE-2026-0009"]
    shops = {"violation_type": "shopfront_operation", "holder_org": "MarketSupervisionMSP"}
    assert ids(kit.client.get("/cases", params=shops, headers=officer)) == ["CASE-2026-0009"]
    assert ids(kit.client.get("/cases", params={"text": "0003"}, headers=officer)) == [
        "CASE-2026-0003"
    ]
    window = {
        "since": (NOW - dt.timedelta(days=3)).isoformat(),
        "until": (NOW - dt.timedelta(days=1)).isoformat(),
    }
    assert ids(kit.client.get("/cases", params=window, headers=officer)) == [
        "CASE-2026-0002",
        "CASE-2026-0003",
    ]
    seen: list[str] = []
    params: dict[str, Any] = {"page_size": 3}
    while True:
        page = kit.client.get("/cases", params=params, headers=kit.token("auditor1"))
        seen += ids(page)
        if page.json()["next_cursor"] is None:
            break
        params = {"page_size": 3, "cursor": page.json()["next_cursor"]}
    assert seen == ids(found)


@pytest.mark.parametrize("user", ["partner1", "edge-07", "admin"])
def test_case_search_roles(kit: Kit, user: str) -> None:
    _index_case(kit, 1)
    assert_problem(kit.client.get("/cases", headers=kit.token(user)), 403, "ACCESS_DENIED")
    assert kit.client.get("/cases", headers=kit.token("reviewer1")).status_code == 200


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"stage": "appeal"}, "INVALID_REQUEST"),
        ({"violation_type": "jaywalking"}, "INVALID_REQUEST"),
        ({"text": "x" * 65}, "INVALID_REQUEST"),
        ({"page_size": 0}, "INVALID_REQUEST"),
        ({"page_size": 101}, "INVALID_REQUEST"),
        ({"since": "2026-11-01T00:00:00"}, "INVALID_REQUEST"),  # no offset: no instant
        ({"cursor": "not-a-cursor"}, "INVALID_SEARCH"),
    ],
)
def test_a_bad_case_search_is_a_problem(kit: Kit, params: dict[str, Any], code: str) -> None:
    resp = kit.client.get("/cases", params=params, headers=kit.token("officer1"))
    assert_problem(resp, 422, code)


# --- evidence ---------------------------------------------------------------------------


def test_own_evidence_streams_after_an_access_record(kit: Kit, photo: str) -> None:
    resp = kit.client.get(
        f"/evidence/{photo}/content",
        params={"purpose": "case_review"},
        headers=kit.token("officer1"),
    )
    assert resp.status_code == 200, resp.text
    assert resp.content == KEYFRAME
    assert resp.headers["content-type"] == "image/jpeg"
    [record] = kit.chain.accesses
    assert resp.headers["x-access-record"] == record.record_id
    assert record.accessor == "CN=officer1"
    assert kit.spooled() == []


def test_partner_is_denied_and_the_denial_is_recorded(kit: Kit, photo: str) -> None:
    resp = kit.client.get(
        f"/evidence/{photo}/content",
        params={"purpose": "joint_enforcement", "kind": "view"},
        headers=kit.token("partner1"),
    )
    assert_problem(resp, 403, "ACCESS_DENIED")
    [record] = kit.chain.accesses
    assert record.outcome == "denied"
    assert resp.headers["x-access-record"] == record.record_id
    assert KEYFRAME[:20] not in resp.content


def test_granted_partner_gets_a_clear_501_for_another_departments_item(
    kit: Kit, photo: str
) -> None:
    officer = kit.token("officer1")
    kit.client.post("/cases", json=filing(evidence_ids=[photo]), headers=officer)
    kit.client.post(
        "/cases/case-1/grants",
        json={
            "grantee_org": PARTNER_ORG,
            "purpose": "joint_enforcement",
            "expires_at": (NOW + dt.timedelta(days=7)).isoformat(),
        },
        headers=officer,
    )
    # The partner's own gateway (another org) would see the item as foreign: emulate it.
    kit.deps.org = PARTNER_ORG
    resp = kit.client.get(
        f"/evidence/{photo}/content",
        params={"purpose": "joint_enforcement"},
        headers=kit.token("partner1"),
    )
    assert_problem(resp, 501, "REMOTE_EVIDENCE_NOT_SUPPORTED")
    assert resp.headers["x-access-record"] == kit.chain.accesses[-1].record_id


def test_bad_purpose_records_nothing(kit: Kit, photo: str) -> None:
    resp = kit.client.get(
        f"/evidence/{photo}/content",
        params={"purpose": "Read It All"},
        headers=kit.token("officer1"),
    )
    assert_problem(resp, 422, "INVALID_REQUEST")
    assert kit.chain.accesses == []


def test_unknown_evidence(kit: Kit) -> None:
    resp = kit.client.get(
        "/evidence/nope/content", params={"purpose": "x"}, headers=kit.token("officer1")
    )
    assert_problem(resp, 404, "NOT_FOUND")


@pytest.mark.parametrize("user", ["auditor1", "edge-07", "admin"])
def test_content_roles(kit: Kit, photo: str, user: str) -> None:
    resp = kit.client.get(
        f"/evidence/{photo}/content", params={"purpose": "x"}, headers=kit.token(user)
    )
    assert_problem(resp, 403, "ACCESS_DENIED")
    assert kit.chain.accesses == []


def test_search_and_record(kit: Kit, photo: str) -> None:
    found = kit.client.get(
        "/evidence", params={"camera_id": "cam-jiangbei-12"}, headers=kit.token("reviewer1")
    )
    assert found.status_code == 200, found.text
    assert photo in found.json()["evidence_ids"]
    record = kit.client.get(f"/evidence/{photo}", headers=kit.token("auditor1"))
    assert record.json()["evidence_id"] == photo
    assert_problem(kit.client.get("/evidence", headers=kit.token("partner1")), 403, "ACCESS_DENIED")


# --- audit ------------------------------------------------------------------------------


def test_audit_trail_for_auditors_only(kit: Kit, photo: str) -> None:
    kit.client.get(
        f"/evidence/{photo}/content", params={"purpose": "x"}, headers=kit.token("partner1")
    )
    trail = kit.client.get(
        "/audit/trail", params={"by": "evidence", "target_id": photo}, headers=kit.token("auditor1")
    )
    assert trail.status_code == 200, trail.text
    [record] = trail.json()["records"]
    assert (record["accessor"], record["outcome"]) == ("CN=partner1", "denied")
    assert trail.json()["next_bookmark"] is None
    denied = kit.client.get("/audit/trail", params={"by": "org"}, headers=kit.token("officer1"))
    assert_problem(denied, 403, "ACCESS_DENIED")
    bad = kit.client.get("/audit/trail", params={"by": "nobody"}, headers=kit.token("auditor1"))
    assert_problem(bad, 422, "INVALID_REQUEST")


# --- service ----------------------------------------------------------------------------


def test_openapi_and_health(kit: Kit) -> None:
    spec = kit.client.get("/openapi.json").json()
    assert {"/devices/submissions", "/evidence/{evidence_id}/content", "/audit/trail"} <= set(
        spec["paths"]
    )
    assert (
        "multipart/form-data"
        in (spec["paths"]["/devices/submissions"]["post"]["requestBody"]["content"])
    )
    assert kit.client.get("/healthz").json()["status"] == "ok"


def test_unknown_path_is_a_problem(kit: Kit) -> None:
    assert_problem(kit.client.get("/nowhere"), 404, "NOT_FOUND")


class Broken:
    async def case(self, case_id: str) -> Any:
        raise RuntimeError("disk on fire at /secret/path")


def test_an_unexpected_failure_is_an_opaque_500(kit: Kit) -> None:
    kit.deps.ledger_for = lambda user: Broken()  # type: ignore[assignment,return-value]
    resp = kit.client.get("/cases/case-1", headers=kit.token("officer1"))
    assert_problem(resp, 500, "INTERNAL")
    assert "secret" not in resp.text


def test_malformed_multipart(kit: Kit) -> None:
    resp = kit.client.post(
        "/devices/submissions",
        content=b"--xyz\r\nContent-Disposition: form-data; name=claims\r\n\r\n{}\r\n",
        headers={"Content-Type": "multipart/form-data; boundary=abc", **kit.token("edge-07")},
    )
    assert resp.status_code == 422, resp.text
    assert resp.headers["content-type"] == "application/problem+json"
    assert kit.spooled() == []


class FakeRemote:
    """The owner's node at the seam: releases the item, or refuses like node.exchange."""

    def __init__(self, refuse: bool = False) -> None:
        self.refuse = refuse
        self.asked: list[str] = []

    async def fetch(self, item: Any, access_tx: str, destination: Path) -> None:
        self.asked.append(access_tx)
        if self.refuse:
            raise Problem(403, "ACCESS_DENIED", "the owner's node refused the release")
        destination.write_bytes(KEYFRAME)


def foreign_item(kit: Kit, photo: str) -> None:
    kit.client.post(
        "/cases/case-1/grants",
        json={
            "grantee_org": PARTNER_ORG,
            "purpose": "joint_enforcement",
            "expires_at": (NOW + dt.timedelta(days=7)).isoformat(),
        },
        headers=kit.token("officer1"),
    )
    kit.deps.org = PARTNER_ORG


@pytest.mark.parametrize("refuse", [False, True])
def test_another_departments_item_comes_from_its_node(kit: Kit, photo: str, refuse: bool) -> None:
    kit.client.post("/cases", json=filing(evidence_ids=[photo]), headers=kit.token("officer1"))
    foreign_item(kit, photo)
    kit.deps.remote = remote = FakeRemote(refuse)
    resp = kit.client.get(
        f"/evidence/{photo}/content",
        params={"purpose": "joint_enforcement"},
        headers=kit.token("partner1"),
    )
    record = kit.chain.accesses[-1]
    assert remote.asked == [record.record_id]
    assert resp.headers["x-access-record"] == record.record_id
    if refuse:
        assert_problem(resp, 403, "ACCESS_DENIED")
    else:
        assert resp.status_code == 200
        assert resp.content == KEYFRAME
    assert kit.spooled() == []
