"""The co-governance rule on the ledger (小河共治): the penalty schedule's reminders before a
flag becomes a case, and no other way to a case for evidence under such a flag."""

from __future__ import annotations

from typing import Any

import pytest
from ledgerkit import (
    SUBJECT,
    URBAN,
    bootstrap,
    creator,
    digest,
    evidence,
    filing,
    ok,
    query,
    refused,
    schedule,
    submit,
)

from chaincode import state
from chaincode.runtime.harness import Harness, TxResult
from schemas.ledger import violation_entry_keys

ADMIN, DEVICE = creator(URBAN, "admin"), creator(URBAN, "device")
OFFICER, REVIEWER = creator(URBAN, "officer"), creator(URBAN, "reviewer")
AUDITOR = creator(URBAN, "auditor")


def policy(**reminders: int) -> dict[str, Any]:
    """Schedule version 2: each named type requires that many reminders before a case."""
    published = schedule(version=2)
    entries = dict(published["entries"])
    for vtype, count in reminders.items():
        entries[vtype] = {
            **entries.get(vtype, entries["road_occupation"]),
            "reminders_before_case": count,
        }
    return {**published, "entries": entries}


def flag(flag_id: str, vtype: str, evidence_id: str) -> dict[str, Any]:
    return {
        "flag_id": flag_id,
        "camera_id": "cam-jiangbei-12",
        "violation_type": vtype,
        "detected_at": "2026-01-05T08:30:00+08:00",
        "evidence_ids": [evidence_id],
        "confidence": 0.9,
        "claims_hash": digest(f"claims {flag_id}"),
    }


def opening(case_id: str) -> dict[str, Any]:
    return {"case_id": case_id, "subject_key": SUBJECT, "subject_kind": "organization"}


def confirm(flag_id: str, **more: Any) -> dict[str, Any]:
    return {"flag_id": flag_id, "decision": "confirmed", "reason": "confirmed_on_footage", **more}


def step(flag_id: str, to: str, **more: Any) -> dict[str, Any]:
    return {"flag_id": flag_id, "to_status": to, **more}


@pytest.fixture
async def ledger_with_policy(ledger: Harness) -> Harness:
    """Shopfront operation (the Xiaohe example) needs two reminders, road occupation one;
    roaming vendors none. One flag of each on its own item, and two spare items."""
    await bootstrap(ledger)
    ok(
        await submit(
            ledger,
            ADMIN,
            "SetPenaltySchedule",
            policy(shopfront_operation=2, road_occupation=1),
        )
    )
    for eid in ("E-shop", "E-road", "E-vendor", "E-spare", "E-proof"):
        ok(await submit(ledger, DEVICE, "RegisterEvidence", evidence(eid)))
    for fid, vtype, eid in (
        ("f-shop", "shopfront_operation", "E-shop"),
        ("f-road", "road_occupation", "E-road"),
        ("f-vendor", "roaming_vendor", "E-vendor"),
    ):
        ok(await submit(ledger, DEVICE, "FlagViolation", flag(fid, vtype, eid)))
    return ledger


async def remind_and_escalate(ledger: Harness, flag_id: str) -> None:
    """The reminder (with the review), not heeded: escalated to the community."""
    ok(await submit(ledger, REVIEWER, "ReviewViolation", confirm(flag_id, action="reminder")))
    escalation = step(flag_id, "escalated", reason="not_rectified")
    ok(await submit(ledger, OFFICER, "AdvanceViolation", escalation))


async def case_from(ledger: Harness, flag_id: str, case_id: str) -> TxResult:
    """The officer opens ``case_id`` from the flag."""
    opened = step(flag_id, "case_filed", case=opening(case_id))
    return await submit(ledger, OFFICER, "AdvanceViolation", opened)


async def status(ledger: Harness, flag_id: str) -> str:
    record: dict[str, Any] = await query(ledger, AUDITOR, "GetViolation", flag_id)
    return str(record["status"])


async def no_case(ledger: Harness, case_id: str) -> None:
    refused(await ledger.evaluate(OFFICER, "GetCase", case_id), "NOT_FOUND")


async def test_two_reminders_before_a_shopfront_flag_becomes_a_case(
    ledger_with_policy: Harness,
) -> None:
    ledger = ledger_with_policy
    # Straight from the review: refused, and nothing moved (not even the confirmation).
    message = refused(
        await submit(
            ledger,
            REVIEWER,
            "ReviewViolation",
            confirm("f-shop", action="case", case=opening("C-1")),
        ),
        "REMINDERS_REQUIRED",
    )
    assert "requires 2 reminder(s)" in message
    assert "has had 0: remind first" in message
    assert await status(ledger, "f-shop") == "detected"
    await no_case(ledger, "C-1")

    await remind_and_escalate(ledger, "f-shop")
    message = refused(
        await case_from(ledger, "f-shop", "C-1"),
        "REMINDERS_REQUIRED",
    )
    assert "has had 1: give the community reminder" in message
    assert await status(ledger, "f-shop") == "escalated"
    await no_case(ledger, "C-1")

    ok(await submit(ledger, OFFICER, "AdvanceViolation", step("f-shop", "community_reminded")))
    done = ok(await case_from(ledger, "f-shop", "C-1"))
    assert (done["status"], done["case_id"]) == ("case_filed", "C-1")
    assert (await query(ledger, OFFICER, "CaseEvidence", "C-1", "50", ""))["evidence_ids"] == [
        "E-shop"
    ]
    # The case names its flag, whose loop a package then proves entry by entry.
    assert (await query(ledger, OFFICER, "GetCase", "C-1"))["flag_id"] == "f-shop"
    assert state.violation_entry("f-shop", 5).startswith(violation_entry_keys("f-shop"))
    assert state.violation_entry("f-shop", 5) == f"{violation_entry_keys('f-shop')}000005\x00"
    history = await query(ledger, AUDITOR, "ViolationHistory", "f-shop")
    assert [h["to_status"] for h in history] == [
        "detected",
        "confirmed",
        "reminded",
        "escalated",
        "community_reminded",
        "case_filed",
    ]


async def test_one_reminder_is_enough_where_the_schedule_asks_for_one(
    ledger_with_policy: Harness,
) -> None:
    ledger = ledger_with_policy
    ok(await submit(ledger, REVIEWER, "ReviewViolation", confirm("f-road", action="reminder")))
    message = refused(
        await case_from(ledger, "f-road", "C-2"),
        "INVALID_VIOLATION_TRANSITION",  # the loop itself: a reminded flag escalates first
    )
    assert "escalated" in message
    ok(
        await submit(
            ledger, OFFICER, "AdvanceViolation", step("f-road", "escalated", reason="not_rectified")
        )
    )
    done = ok(await case_from(ledger, "f-road", "C-2"))
    assert done["status"] == "case_filed"


async def test_a_type_without_the_rule_goes_straight_to_a_case(
    ledger_with_policy: Harness,
) -> None:
    ledger = ledger_with_policy
    done = ok(
        await submit(
            ledger,
            REVIEWER,
            "ReviewViolation",
            confirm("f-vendor", action="case", case=opening("C-3")),
        )
    )
    assert done["status"] == "case_filed"
    # Its evidence may join other cases too: no reminders are owed on it. Filed directly, a
    # case names no flag.
    direct = ok(await submit(ledger, OFFICER, "FileCase", filing("C-4", evidence_ids=["E-vendor"])))
    assert direct["flag_id"] is None


@pytest.mark.parametrize(
    ("fn", "args"),
    [
        ("FileCase", [filing("C-5", evidence_ids=["E-spare", "E-shop"])]),
        ("AttachEvidence", ["C-open", "E-shop"]),
        ("RegisterEvidence", [evidence("E-shop", case_id="C-open")]),
    ],
    ids=["file-a-case-on-it", "attach-it", "register-it-into-a-case"],
)
async def test_evidence_under_a_flag_reaches_a_case_only_through_the_flag(
    ledger_with_policy: Harness, fn: str, args: list[Any]
) -> None:
    ledger = ledger_with_policy
    ok(await submit(ledger, OFFICER, "FileCase", filing("C-open", evidence_ids=["E-spare"])))
    before = dict(ledger.ledger.state)
    message = refused(await submit(ledger, OFFICER, fn, *args), "EVIDENCE_UNDER_FLAG")
    assert "E-shop" in message
    assert "f-shop" in message
    assert "2 reminder(s)" in message
    assert ledger.ledger.state == before  # nothing written, not even the spare item's link


@pytest.mark.parametrize(
    ("decision", "then"),
    [
        ({"decision": "rejected", "reason": "false_positive"}, None),
        (
            {"decision": "confirmed", "reason": "confirmed_on_footage", "action": "reminder"},
            "rectified",
        ),
    ],
    ids=["rejected", "rectified"],
)
async def test_a_flag_that_ended_without_a_case_still_holds_its_evidence(
    ledger_with_policy: Harness, decision: dict[str, Any], then: str | None
) -> None:
    ledger = ledger_with_policy
    ok(await submit(ledger, REVIEWER, "ReviewViolation", {"flag_id": "f-shop", **decision}))
    if then:
        ok(
            await submit(
                ledger, OFFICER, "AdvanceViolation", step("f-shop", then, evidence_ids=["E-proof"])
            )
        )
    before = dict(ledger.ledger.state)
    message = refused(
        await submit(ledger, OFFICER, "FileCase", filing("C-6", evidence_ids=["E-shop"])),
        "EVIDENCE_UNDER_FLAG",
    )
    assert f"shopfront_operation, {await status(ledger, 'f-shop')}" in message
    assert ledger.ledger.state == before


async def test_once_the_flag_became_a_case_its_evidence_may_join_another(
    ledger_with_policy: Harness,
) -> None:
    ledger = ledger_with_policy
    await remind_and_escalate(ledger, "f-road")
    ok(await case_from(ledger, "f-road", "C-7"))
    ok(await submit(ledger, OFFICER, "FileCase", filing("C-8", evidence_ids=["E-road"])))


@pytest.mark.parametrize("count", [-1, 3, "2", True])
async def test_the_schedule_refuses_a_reminder_count_the_loop_cannot_hold(
    ledger_with_policy: Harness, count: Any
) -> None:
    ledger = ledger_with_policy
    bad = policy()
    bad["entries"]["roaming_vendor"] = {
        **bad["entries"]["road_occupation"],
        "reminders_before_case": count,
    }
    message = refused(await submit(ledger, ADMIN, "SetPenaltySchedule", bad), "VALIDATION_FAILED")
    assert "reminders_before_case" in message
    current = await query(ledger, AUDITOR, "GetPenaltySchedule")
    assert current["version"] == 2
