"""The violation review loop: flags, the reviewer's decision, the co-governance steps, the
queue, and every refusal with its code."""

from __future__ import annotations

import json
from typing import Any

import pytest
from ledgerkit import (
    MARKET,
    SUBJECT,
    URBAN,
    bootstrap,
    creator,
    digest,
    evidence,
    ok,
    query,
    refused,
    submit,
)

from chaincode.runtime.harness import Harness

DEVICE, OFFICER = creator(URBAN, "device"), creator(URBAN, "officer")
REVIEWER, AUDITOR = creator(URBAN, "reviewer"), creator(URBAN, "auditor")
M_REVIEWER = creator(MARKET, "reviewer")


def flag(flag_id: str = "evt-1", **changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "flag_id": flag_id,
        "camera_id": "cam-jiangbei-12",
        "violation_type": "roaming_vendor",
        "detected_at": "2026-01-05T08:30:00+08:00",
        "evidence_ids": ["E-1"],
        "confidence": 0.87,
        "claims_hash": digest(f"claims {flag_id}"),
    }
    doc.update(changes)
    return doc


def review(decision: str = "confirmed", flag_id: str = "evt-1", **more: Any) -> dict[str, Any]:
    return {"flag_id": flag_id, "decision": decision, "reason": "confirmed_on_footage", **more}


def step(to: str, flag_id: str = "evt-1", **more: Any) -> dict[str, Any]:
    return {"flag_id": flag_id, "to_status": to, **more}


def opening(case_id: str = "C-9") -> dict[str, Any]:
    return {"case_id": case_id, "subject_key": SUBJECT, "subject_kind": "person"}


@pytest.fixture
async def flagged(ledger: Harness) -> Harness:
    await bootstrap(ledger)
    for eid in ("E-1", "E-2"):
        ok(await submit(ledger, DEVICE, "RegisterEvidence", evidence(eid)))
    ok(await submit(ledger, DEVICE, "FlagViolation", flag()))
    return ledger


def queue(org: str = URBAN, status: str = "detected", **more: Any) -> dict[str, Any]:
    return {"org": org, "status": status, **more}


async def test_a_flag_waits_in_the_queue_and_is_idempotent(flagged: Harness) -> None:
    again = ok(await submit(flagged, DEVICE, "FlagViolation", flag()))
    assert again["status"] == "detected"
    assert again["steps"] == 1
    page = await query(flagged, REVIEWER, "ListViolations", queue())
    assert [r["flag_id"] for r in page["records"]] == ["evt-1"]
    message = refused(
        await submit(flagged, DEVICE, "FlagViolation", flag(confidence=0.5)), "VIOLATION_CONFLICT"
    )
    assert "evt-1" in message


async def test_confirm_with_a_case_files_it_in_the_same_transaction(flagged: Harness) -> None:
    result = await submit(
        flagged, REVIEWER, "ReviewViolation", review(action="case", case=opening())
    )
    done = ok(result)
    assert (done["status"], done["case_id"]) == ("case_filed", "C-9")
    # The one event of the transaction is the case's, and names the flag for followers.
    assert result.event is not None
    assert result.event[0] == "CaseFiled"
    assert json.loads(result.event[1]) == {
        "case_id": "C-9",
        "holder_org": URBAN,
        "evidence_ids": ["E-1"],
        "flag_id": "evt-1",
    }
    case = await query(flagged, OFFICER, "GetCase", "C-9")
    assert (case["source"], case["violation_type"], case["stage"]) == (
        "camera",
        "roaming_vendor",
        "source",
    )
    assert await query(flagged, OFFICER, "CaseEvidence", "C-9", "50", "") == {
        "evidence_ids": ["E-1"],
        "bookmark": "",
    }
    history = await query(flagged, AUDITOR, "ViolationHistory", "evt-1")
    assert [(h["from_status"], h["to_status"], h["role"]) for h in history] == [
        (None, "detected", "device"),
        ("detected", "confirmed", "reviewer"),
        ("confirmed", "case_filed", "reviewer"),
    ]
    assert (await query(flagged, REVIEWER, "ListViolations", queue()))["records"] == []
    filed = await query(flagged, REVIEWER, "ListViolations", queue(status="case_filed"))
    assert [r["flag_id"] for r in filed["records"]] == ["evt-1"]


async def test_the_co_governance_loop_to_rectification(flagged: Harness) -> None:
    ok(await submit(flagged, REVIEWER, "ReviewViolation", review(action="reminder")))
    ok(await submit(flagged, OFFICER, "AdvanceViolation", step("escalated", reason="ignored")))
    ok(await submit(flagged, OFFICER, "AdvanceViolation", step("community_reminded")))
    done = ok(
        await submit(flagged, OFFICER, "AdvanceViolation", step("rectified", evidence_ids=["E-2"]))
    )
    assert done["status"] == "rectified"
    history = await query(flagged, AUDITOR, "ViolationHistory", "evt-1")
    assert [h["to_status"] for h in history] == [
        "detected",
        "confirmed",
        "reminded",
        "escalated",
        "community_reminded",
        "rectified",
    ]
    assert history[-1]["evidence_ids"] == ["E-2"]
    # The loop has ended: nothing follows a rectification.
    refused(
        await submit(flagged, OFFICER, "AdvanceViolation", step("escalated", reason="again")),
        "INVALID_VIOLATION_TRANSITION",
    )


async def test_a_false_positive_is_rejected_with_its_reason(flagged: Harness) -> None:
    done = ok(
        await submit(
            flagged, REVIEWER, "ReviewViolation", review("rejected", reason="false_positive")
        )
    )
    assert done["status"] == "rejected"
    history = await query(flagged, AUDITOR, "ViolationHistory", "evt-1")
    assert history[-1]["reason"] == "false_positive"


@pytest.mark.parametrize(
    ("who", "fn", "arg", "code"),
    [
        # Roles: a device cannot review, an officer cannot confirm, an auditor cannot flag.
        (DEVICE, "ReviewViolation", review(), "ACCESS_DENIED"),
        (OFFICER, "ReviewViolation", review(), "ACCESS_DENIED"),
        (AUDITOR, "FlagViolation", flag("evt-2"), "ACCESS_DENIED"),
        # Another department's reviewer cannot touch UrbanManagement's flag.
        (M_REVIEWER, "ReviewViolation", review(), "ACCESS_DENIED"),
        # The loop: no reminder before a review, no rectification without evidence.
        (OFFICER, "AdvanceViolation", step("reminded"), "INVALID_VIOLATION_TRANSITION"),
        (OFFICER, "AdvanceViolation", step("confirmed"), "INVALID_VIOLATION_TRANSITION"),
        (REVIEWER, "ReviewViolation", review(action="case"), "VALIDATION_FAILED"),
        (REVIEWER, "ReviewViolation", review("rejected", action="reminder"), "VALIDATION_FAILED"),
        # Unknown things and malformed requests.
        (REVIEWER, "ReviewViolation", review(flag_id="evt-404"), "NOT_FOUND"),
        (DEVICE, "FlagViolation", flag("evt-3", evidence_ids=["E-404"]), "NOT_FOUND"),
        (DEVICE, "FlagViolation", flag("evt-4", evidence_ids=[]), "VALIDATION_FAILED"),
        (DEVICE, "FlagViolation", flag("evt-5", confidence=1.5), "VALIDATION_FAILED"),
        (REVIEWER, "ReviewViolation", review(reason="Free text!"), "VALIDATION_FAILED"),
        (REVIEWER, "ReviewViolation", "{not json", "VALIDATION_FAILED"),
    ],
)
async def test_refusals_carry_a_stable_code_and_change_nothing(
    flagged: Harness, who: bytes, fn: str, arg: Any, code: str
) -> None:
    before = await query(flagged, AUDITOR, "GetViolation", "evt-1")
    refused(await submit(flagged, who, fn, arg), code)
    assert await query(flagged, AUDITOR, "GetViolation", "evt-1") == before


async def test_a_flag_on_another_departments_evidence_is_refused(flagged: Harness) -> None:
    ok(
        await submit(
            flagged,
            creator(MARKET, "device"),
            "RegisterEvidence",
            evidence("M-1", owner_org=MARKET),
        )
    )
    refused(
        await submit(flagged, DEVICE, "FlagViolation", flag("evt-6", evidence_ids=["M-1"])),
        "ACCESS_DENIED",
    )


async def test_a_rectification_cites_only_the_orgs_own_evidence(flagged: Harness) -> None:
    ok(
        await submit(
            flagged,
            creator(MARKET, "device"),
            "RegisterEvidence",
            evidence("M-1", owner_org=MARKET),
        )
    )
    ok(await submit(flagged, REVIEWER, "ReviewViolation", review(action="reminder")))
    refused(
        await submit(flagged, OFFICER, "AdvanceViolation", step("rectified", evidence_ids=["M-1"])),
        "ACCESS_DENIED",
    )


async def test_the_queue_pages_and_refuses_a_foreign_bookmark(flagged: Harness) -> None:
    for n in range(2, 6):
        ok(await submit(flagged, DEVICE, "FlagViolation", flag(f"evt-{n}")))
    first = await query(flagged, REVIEWER, "ListViolations", queue(page_size=2))
    second = await query(
        flagged, REVIEWER, "ListViolations", queue(page_size=2, bookmark=first["bookmark"])
    )
    ids = [r["flag_id"] for r in first["records"] + second["records"]]
    assert ids == ["evt-1", "evt-2", "evt-3", "evt-4"]
    bad = await flagged.evaluate(
        REVIEWER, "ListViolations", '{"org": "UrbanManagementMSP", "bookmark": "\\u0000case"}'
    )
    assert bad.code == "VALIDATION_FAILED"
