"""SetAsideDecision: the department that took a decision records that it was varied, revoked,
confirmed illegal or confirmed invalid; a voided decision stops counting as a prior violation,
and the case says how many of its decisions were set aside."""

from __future__ import annotations

from typing import Any

import pytest
from ledgerkit import (
    MARKET,
    SUBJECT,
    URBAN,
    change,
    creator,
    digest,
    filing,
    ok,
    query,
    refused,
    subject_of,
    submit,
    walk_to,
)

from chaincode.runtime.harness import Harness

OFFICER, REVIEWER = creator(URBAN, "officer"), creator(URBAN, "reviewer")


def set_aside(decision_tx: str, ground: str = "revoked", **changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "case_id": "C-1",
        "decision_tx": decision_tx,
        "ground": ground,
        "authority": "reconsideration",
        "reason": "insufficient_evidence",
        "document_hash": digest("复议决定书"),
        "set_aside_on": "2026-01-05",  # the harness's day (ledgerkit.NOW)
    }
    doc.update(changes)
    return doc


async def decided(ledger: Harness, case_id: str = "C-1") -> str:
    """The transaction of the case's decision."""
    await walk_to(ledger, "decision", case_id)
    history = await query(ledger, OFFICER, "CaseHistory", case_id)
    tx: str = next(e["tx"] for e in history if e["to_stage"] == "decision")
    return tx


async def test_a_reviewer_records_a_revocation_and_the_case_counts_it(filed: Harness) -> None:
    decision_tx = await decided(filed)
    before = await query(filed, OFFICER, "GetCase", "C-1")
    result = await submit(filed, REVIEWER, "SetAsideDecision", set_aside(decision_tx))
    record = ok(result)
    assert (record["case_id"], record["decision_tx"], record["org"]) == ("C-1", decision_tx, URBAN)
    assert (record["ground"], record["authority"], record["reason"]) == (
        "revoked",
        "reconsideration",
        "insufficient_evidence",
    )
    assert record["recorded_by"] == subject_of(URBAN, "reviewer")
    assert record["recorded_tx"] == result.tx_id
    history = await query(filed, OFFICER, "CaseHistory", "C-1")
    assert record["decided_at"] == next(e["at"] for e in history if e["tx"] == decision_tx)
    assert result.event is not None
    assert result.event[0] == "DecisionSetAside"
    case = await query(filed, OFFICER, "GetCase", "C-1")
    assert case["set_asides"] == 1
    assert case["updated_at"] == record["recorded_at"] > before["updated_at"]
    assert (case["stage"], case["penalty"]) == (before["stage"], before["penalty"])  # kept
    assert await query(filed, creator(MARKET, "partner"), "DecisionSetAsides", "C-1") == [record]
    # The decision's own stage entry is unchanged: what was decided stays on the ledger.
    assert history == await query(filed, OFFICER, "CaseHistory", "C-1")


@pytest.mark.parametrize(
    ("ground", "counts"),
    [
        ("revoked", False),
        ("confirmed_invalid", False),
        ("varied", True),
        ("confirmed_illegal", True),
    ],
)
async def test_a_voided_decision_no_longer_counts_as_a_prior_violation(
    filed: Harness, ground: str, counts: bool
) -> None:
    decision_tx = await decided(filed)
    ok(await submit(filed, REVIEWER, "SetAsideDecision", set_aside(decision_tx, ground)))
    [violation] = await query(filed, OFFICER, "SubjectHistory", SUBJECT)
    assert violation["set_aside"] == ground
    # The same merchant again: a voided decision leaves the first-violation exemption open
    # and the next fine at the first step.
    penalty = await query(filed, OFFICER, "AssessPenalty", SUBJECT, "road_occupation", "true")
    assert (penalty["prior_violations"], penalty["exempt"]) == (int(counts), not counts)
    ok(await submit(filed, OFFICER, "FileCase", filing("C-2")))
    close = change(
        "closed_without_penalty", "C-2", document_hash=digest("no-penalty"), rectified=True
    )
    result = await submit(filed, REVIEWER, "ChangeStage", close)
    if counts:
        refused(result, "INVALID_STAGE_TRANSITION")
    else:
        assert ok(result)["penalty"]["exempt"]


async def test_only_the_deciding_departments_reviewer_or_admin_may_and_only_once(
    filed: Harness,
) -> None:
    decision_tx = await decided(filed)
    for who in (OFFICER, creator(URBAN, "auditor"), creator(URBAN, "device")):
        refused(
            await submit(filed, who, "SetAsideDecision", set_aside(decision_tx)), "ACCESS_DENIED"
        )
    refused(
        await submit(
            filed, creator(MARKET, "reviewer"), "SetAsideDecision", set_aside(decision_tx)
        ),
        "ACCESS_DENIED",
    )
    ok(await submit(filed, creator(URBAN, "admin"), "SetAsideDecision", set_aside(decision_tx)))
    message = refused(
        await submit(filed, REVIEWER, "SetAsideDecision", set_aside(decision_tx, "varied")),
        "CASE_CONFLICT",
    )
    assert "revoked" in message
    assert (await query(filed, OFFICER, "GetCase", "C-1"))["set_asides"] == 1


async def test_what_is_not_a_decision_of_the_case_is_not_found(filed: Harness) -> None:
    decision_tx = await decided(filed)
    history = await query(filed, OFFICER, "CaseHistory", "C-1")
    not_a_decision = next(e["tx"] for e in history if e["to_stage"] == "investigation")
    before = dict(filed.ledger.state)
    for doc in (
        set_aside(not_a_decision),
        set_aside("f" * 64),
        set_aside(decision_tx, case_id="C-9"),
    ):
        refused(await submit(filed, REVIEWER, "SetAsideDecision", doc), "NOT_FOUND")
    assert filed.ledger.state == before


@pytest.mark.parametrize(
    "changes",
    [
        {"ground": "annulled"},
        {"authority": "mayor"},
        {"reason": "Evidence was thin, see the file"},  # free text never reaches the ledger
        {"reason": "thin_evidence"},  # a code, but none of the law's reasons
        {"set_aside_on": "2026-02-30"},
        {"set_aside_on": "5 January 2026"},
        {"set_aside_on": None},
        {"document_hash": "sha256:xyz"},
        {"decision_tx": "ABC"},
        {"note": "extra"},
    ],
)
async def test_a_malformed_request_is_refused(filed: Harness, changes: dict[str, Any]) -> None:
    decision_tx = await decided(filed)
    before = dict(filed.ledger.state)
    refused(
        await submit(filed, REVIEWER, "SetAsideDecision", {**set_aside(decision_tx), **changes}),
        "VALIDATION_FAILED",
    )
    assert filed.ledger.state == before


@pytest.mark.parametrize(
    ("dated", "refusal"),
    [
        ("2026-01-06", "after today"),  # 09:00 UTC: no zone has reached the 6th yet
        ("2026-01-03", "before the decision"),  # decided on the 5th (the 4th west of UTC-9)
    ],
)
async def test_a_document_dated_after_today_or_before_the_decision_is_refused(
    filed: Harness, dated: str, refusal: str
) -> None:
    decision_tx = await decided(filed)
    before = dict(filed.ledger.state)
    message = refused(
        await submit(
            filed, REVIEWER, "SetAsideDecision", set_aside(decision_tx, set_aside_on=dated)
        ),
        "VALIDATION_FAILED",
    )
    assert refusal in message
    assert dated in message
    assert filed.ledger.state == before
    # The day before, in UTC, is still the decision's day somewhere (UTC-12 to UTC+14).
    record = ok(
        await submit(
            filed, REVIEWER, "SetAsideDecision", set_aside(decision_tx, set_aside_on="2026-01-04")
        )
    )
    assert record["set_aside_on"] == "2026-01-04"


async def test_after_a_transfer_the_decider_records_it_with_the_holders_endorsement(
    filed: Harness,
) -> None:
    # The decision stays UrbanManagement's; the case goes to MarketSupervision, whose peer
    # alone may now endorse a change of the case key.
    decision_tx = await decided(filed)
    proposal = {"case_id": "C-1", "to_org": MARKET, "reason": "jurisdiction"}
    ok(await submit(filed, OFFICER, "ProposeTransfer", proposal))
    answer = {"case_id": "C-1", "accept": True}
    ok(await submit(filed, creator(MARKET, "officer"), "AnswerTransfer", answer))
    # The holder did not decide: it may not set the decision aside.
    message = refused(
        await submit(
            filed, creator(MARKET, "reviewer"), "SetAsideDecision", set_aside(decision_tx)
        ),
        "ACCESS_DENIED",
    )
    assert URBAN in message
    # The decider may, but not on its own peer's endorsement: nothing is written.
    alone = await submit(
        filed, REVIEWER, "SetAsideDecision", set_aside(decision_tx), endorsing_orgs=[URBAN]
    )
    assert alone.status == "ENDORSEMENT_POLICY_FAILURE"
    assert await query(filed, OFFICER, "DecisionSetAsides", "C-1") == []
    assert (await query(filed, OFFICER, "GetCase", "C-1"))["set_asides"] == 0
    endorsed = await submit(
        filed, REVIEWER, "SetAsideDecision", set_aside(decision_tx), endorsing_orgs=[URBAN, MARKET]
    )
    assert ok(endorsed)["org"] == URBAN
    case = await query(filed, OFFICER, "GetCase", "C-1")
    assert (case["holder_org"], case["set_asides"]) == (MARKET, 1)
    subject = await query(filed, OFFICER, "SubjectHistory", SUBJECT)
    assert [v["set_aside"] for v in subject] == ["revoked"]


def _period(org: str, since: str, until: str) -> dict[str, str]:
    return {"org": org, "since": since, "until": until}


async def test_the_ledger_indexes_each_departments_decisions_and_set_asides_by_time(
    filed: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PeriodCases: the cases a bulletin of a department's period accounts for, read from
    the ledger's own index (ChangeStage and SetAsideDecision write it)."""
    decision_tx = await decided(filed)
    history = await query(filed, OFFICER, "CaseHistory", "C-1")
    decided_at = next(e["at"] for e in history if e["tx"] == decision_tx)
    month = _period(URBAN, "2026-01-01T00:00:00.000000Z", "2026-02-01T00:00:00.000000Z")
    auditor = creator(MARKET, "auditor")  # decisions are public: any member reads them
    assert await query(filed, auditor, "PeriodCases", month) == ["C-1"]
    assert await query(filed, auditor, "PeriodCases", month | {"org": MARKET}) == []
    # Until the decision's time (exclusive): not yet; from it: in.
    before = month | {"until": decided_at}
    assert await query(filed, auditor, "PeriodCases", before) == []
    assert await query(filed, auditor, "PeriodCases", month | {"since": decided_at}) == ["C-1"]
    # Its setting aside, later, brings the case into the period it was recorded in.
    record = ok(await submit(filed, REVIEWER, "SetAsideDecision", set_aside(decision_tx)))
    after = month | {"since": record["recorded_at"]}
    assert await query(filed, auditor, "PeriodCases", after) == ["C-1"]
    assert await query(filed, auditor, "PeriodCases", month) == ["C-1"]  # once
    # More than a bulletin holds is refused.
    monkeypatch.setattr("chaincode.contracts.publications.MAX_BULLETIN_DECISIONS", 1)
    message = refused(await submit(filed, auditor, "PeriodCases", month), "VALIDATION_FAILED")
    assert "shorter" in message


@pytest.mark.parametrize(
    "period",
    [
        _period(URBAN, "2026-01-01T00:00:00.000000Z", "2026-02-02T00:00:00.000000Z"),  # 32 days
        _period(URBAN, "2026-01-02T00:00:00.000000Z", "2026-01-01T00:00:00.000000Z"),
        _period(URBAN, "2026-01-01", "2026-01-02"),
        _period("not an org!", "2026-01-01T00:00:00.000000Z", "2026-01-02T00:00:00.000000Z"),
        {"org": URBAN, "since": "2026-01-01T00:00:00.000000Z"},
    ],
)
async def test_a_malformed_period_is_refused(filed: Harness, period: dict[str, str]) -> None:
    refused(await submit(filed, OFFICER, "PeriodCases", period), "VALIDATION_FAILED")
