"""Cases through their stages, penalties from the subject's history, and transfers."""

from __future__ import annotations

from typing import Any

import pytest
from ledgerkit import (
    MARKET,
    POLICE,
    SUBJECT,
    URBAN,
    change,
    creator,
    digest,
    filing,
    ok,
    query,
    refused,
    submit,
    walk_to,
)

from chaincode import state
from chaincode.runtime.harness import Harness, TxResult
from schemas.ledger import case_state_key, stage_entry_keys

OFFICER, REVIEWER = creator(URBAN, "officer"), creator(URBAN, "reviewer")
M_OFFICER = creator(MARKET, "officer")


async def test_a_case_walks_all_eight_stages_with_history(filed: Harness) -> None:
    closed = await walk_to(filed, "closure")
    assert closed["stage"] == "closure"
    assert closed["stage_changes"] == 7
    assert closed["penalty"]["amount_cents"] == 20000  # first violation, not rectified
    history = await query(filed, OFFICER, "CaseHistory", "C-1")
    assert [h["to_stage"] for h in history] == [
        "preliminary_check",
        "filing_approval",
        "investigation",
        "advance_notice",
        "decision",
        "execution",
        "closure",
    ]
    assert history[2]["role"] == "reviewer"
    assert history[3]["details"]["statement_right"]
    assert history[4]["penalty"]["legal_basis"].startswith("城市市容")
    refused(
        await submit(filed, OFFICER, "ChangeStage", change("execution")), "INVALID_STAGE_TRANSITION"
    )
    subject = await query(filed, OFFICER, "SubjectHistory", SUBJECT)
    assert [(v["case_id"], v["amount_cents"]) for v in subject] == [("C-1", 20000)]


async def test_stage_changes_are_the_holders_and_each_event_says_so(filed: Harness) -> None:
    refused(
        await submit(filed, M_OFFICER, "ChangeStage", change("preliminary_check")), "ACCESS_DENIED"
    )
    refused(
        await submit(filed, creator(URBAN, "partner"), "ChangeStage", change("preliminary_check")),
        "ACCESS_DENIED",
    )
    refused(
        await submit(filed, OFFICER, "ChangeStage", change("preliminary_check", "C-404")),
        "NOT_FOUND",
    )
    refused(await submit(filed, OFFICER, "ChangeStage", change("arrest")), "VALIDATION_FAILED")
    moved = await submit(filed, OFFICER, "ChangeStage", change("preliminary_check"))
    assert ok(moved)["stage"] == "preliminary_check"
    assert moved.event is not None
    assert moved.event[0] == "CaseStageChanged"


async def test_first_rectified_violation_closes_without_penalty_once(filed: Harness) -> None:
    close = change("closed_without_penalty", document_hash=digest("no-penalty"), rectified=True)
    refused(await submit(filed, OFFICER, "ChangeStage", close), "ACCESS_DENIED")  # reviewer's call
    closed = ok(await submit(filed, REVIEWER, "ChangeStage", close))
    assert closed["stage"] == "closed_without_penalty"
    assert closed["penalty"]["exempt"]
    # The same merchant again: no second exemption, and the decision steps up.
    ok(await submit(filed, OFFICER, "FileCase", filing("C-2")))
    message = refused(
        await submit(filed, REVIEWER, "ChangeStage", {**close, "case_id": "C-2"}),
        "INVALID_STAGE_TRANSITION",
    )
    assert "1 prior road_occupation violation" in message
    decided = await walk_to(filed, "decision", "C-2")
    assert (decided["penalty"]["amount_cents"], decided["penalty"]["step"]) == (50000, 2)


async def test_simple_procedure_decides_on_the_spot_within_the_legal_limit(filed: Harness) -> None:
    ok(await submit(filed, OFFICER, "FileCase", filing("S-1", procedure="simple_procedure")))
    decided = ok(
        await submit(
            filed, OFFICER, "ChangeStage", change("decision", "S-1", document_hash=digest("ticket"))
        )
    )
    assert decided["penalty"]["amount_cents"] == 20000
    ok(await submit(filed, OFFICER, "FileCase", filing("S-2", procedure="simple_procedure")))
    message = refused(
        await submit(
            filed, OFFICER, "ChangeStage", change("decision", "S-2", document_hash=digest("t2"))
        ),
        "INVALID_STAGE_TRANSITION",
    )
    assert "general procedure" in message


async def test_filing_rules(filed: Harness) -> None:
    assert (
        ok(await submit(filed, OFFICER, "FileCase", filing(evidence_ids=["E-1"])))["case_id"]
        == "C-1"
    )
    refused(
        await submit(filed, OFFICER, "FileCase", filing(subject_kind="organization")),
        "CASE_CONFLICT",
    )
    refused(await submit(filed, REVIEWER, "FileCase", filing("C-9")), "ACCESS_DENIED")
    refused(
        await submit(filed, M_OFFICER, "FileCase", filing("C-9", evidence_ids=["E-1"])),
        "ACCESS_DENIED",
    )
    refused(
        await submit(filed, OFFICER, "FileCase", filing("C-9", evidence_ids=["E-404"])), "NOT_FOUND"
    )
    refused(
        await submit(filed, OFFICER, "FileCase", filing("C-9", subject_key="张三 330102")),
        "VALIDATION_FAILED",
    )
    refused(
        await submit(
            filed, OFFICER, "FileCase", filing("C-9", evidence_ids=[f"E-{i}" for i in range(101)])
        ),
        "VALIDATION_FAILED",
    )


async def test_decision_needs_a_published_schedule(ledger: Harness) -> None:
    ok(await submit(ledger, OFFICER, "FileCase", filing("S-1", procedure="simple_procedure")))
    message = refused(
        await submit(
            ledger, OFFICER, "ChangeStage", change("decision", "S-1", document_hash=digest("t"))
        ),
        "NOT_FOUND",
    )
    assert "penalty schedule" in message


# --- transfers ---------------------------------------------------------------------------


def propose(to: str = MARKET, case_id: str = "C-1") -> dict[str, str]:
    return {"case_id": case_id, "to_org": to, "reason": "business_licence_matter"}


def answer(accept: bool, case_id: str = "C-1") -> dict[str, Any]:
    return {"case_id": case_id, "accept": accept, "reason": None if accept else "not_competent"}


async def request_view(ledger: Harness, who: bytes) -> Any:
    ask = {"target": "evidence", "target_id": "E-1", "purpose": "investigation", "kind": "view"}
    return ok(await submit(ledger, who, "RequestAccess", ask))


async def test_transfer_accepted_by_the_receiver_moves_the_case_and_access(filed: Harness) -> None:
    assert (await request_view(filed, M_OFFICER))["outcome"] == "denied"
    proposed = await submit(filed, OFFICER, "ProposeTransfer", propose())
    assert ok(proposed)["status"] == "proposed"
    refused(
        await submit(filed, OFFICER, "ChangeStage", change("preliminary_check")),
        "INVALID_STAGE_TRANSITION",
    )  # frozen while pending
    refused(await submit(filed, OFFICER, "AnswerTransfer", answer(True)), "ACCESS_DENIED")
    refused(
        await submit(filed, creator(POLICE, "officer"), "AnswerTransfer", answer(True)),
        "ACCESS_DENIED",
    )
    # The case key now needs MarketSupervision's peer: an answer endorsed without it fails.
    unendorsed = await submit(
        filed, M_OFFICER, "AnswerTransfer", answer(True), endorsing_orgs=[URBAN, POLICE]
    )
    assert unendorsed.status == "ENDORSEMENT_POLICY_FAILURE"
    accepted = await submit(
        filed, M_OFFICER, "AnswerTransfer", answer(True), endorsing_orgs=[MARKET, URBAN]
    )
    assert ok(accepted)["status"] == "accepted"
    assert accepted.event is not None
    assert accepted.event[0] == "TransferAccepted"
    case = await query(filed, OFFICER, "GetCase", "C-1")
    assert (case["holder_org"], case["pending_transfer"]) == (MARKET, None)
    assert (await request_view(filed, M_OFFICER))["reason"] == "holder"
    holders = await query(filed, OFFICER, "CaseHolders", "C-1")
    assert [h["org"] for h in holders] == [URBAN, MARKET]
    assert holders[0]["until"]
    # Now only the new holder moves the case, and only its peer can endorse that.
    refused(
        await submit(filed, OFFICER, "ChangeStage", change("preliminary_check")), "ACCESS_DENIED"
    )
    moved = await submit(
        filed, M_OFFICER, "ChangeStage", change("preliminary_check"), endorsing_orgs=[URBAN, POLICE]
    )
    assert moved.status == "ENDORSEMENT_POLICY_FAILURE"
    ok(
        await submit(
            filed,
            M_OFFICER,
            "ChangeStage",
            change("preliminary_check"),
            endorsing_orgs=[MARKET, POLICE],
        )
    )


async def test_rejected_transfer_leaves_the_holder_and_is_kept(filed: Harness) -> None:
    ok(await submit(filed, OFFICER, "ProposeTransfer", propose()))
    refused(await submit(filed, OFFICER, "ProposeTransfer", propose(POLICE)), "TRANSFER_CONFLICT")
    rejected: TxResult = await submit(filed, M_OFFICER, "AnswerTransfer", answer(False))
    assert ok(rejected)["answer_reason"] == "not_competent"
    assert (await query(filed, OFFICER, "GetCase", "C-1"))["holder_org"] == URBAN
    refused(await submit(filed, M_OFFICER, "AnswerTransfer", answer(True)), "TRANSFER_CONFLICT")
    ok(await submit(filed, OFFICER, "ProposeTransfer", propose(POLICE)))
    history = await query(filed, OFFICER, "TransferHistory", "C-1")
    assert [(t["seq"], t["to_org"], t["status"]) for t in history] == [
        (1, MARKET, "rejected"),
        (2, POLICE, "proposed"),
    ]


@pytest.mark.parametrize(
    ("who", "doc", "code"),
    [
        (M_OFFICER, propose(POLICE), "ACCESS_DENIED"),  # not the holder
        (creator(URBAN, "device"), propose(), "ACCESS_DENIED"),
        (OFFICER, propose(URBAN), "VALIDATION_FAILED"),  # to itself
        (OFFICER, propose("HousingConstructionMSP"), "NOT_FOUND"),  # no published key
        (OFFICER, propose(case_id="C-404"), "NOT_FOUND"),
        (OFFICER, {**propose(), "reason": "they asked nicely"}, "VALIDATION_FAILED"),
    ],
)
async def test_bad_transfer_proposals(
    filed: Harness, who: bytes, doc: dict[str, str], code: str
) -> None:
    refused(await submit(filed, who, "ProposeTransfer", doc), code)


async def test_a_closed_case_cannot_be_transferred(filed: Harness) -> None:
    await walk_to(filed, "closure")
    refused(await submit(filed, OFFICER, "ProposeTransfer", propose()), "TRANSFER_CONFLICT")


async def test_penalty_preview_matches_the_decision(filed: Harness) -> None:
    preview = await query(filed, OFFICER, "AssessPenalty", SUBJECT, "road_occupation", "false")
    decided = await walk_to(filed, "decision")
    assert decided["penalty"] == preview
    refused(
        await filed.evaluate(OFFICER, "AssessPenalty", "Zhang San", "road_occupation", "false"),
        "VALIDATION_FAILED",
    )
    refused(
        await filed.evaluate(OFFICER, "AssessPenalty", SUBJECT, "littering", "false"),
        "VALIDATION_FAILED",
    )


@pytest.mark.parametrize("case_id", ["CASE-1", "案件-2026-0001"])
def test_the_case_key_a_verifier_looks_for_is_the_chaincode_s(case_id: str) -> None:
    assert case_state_key(case_id) == state.case(case_id)
    step = state.stage_entry(case_id, 7)
    assert step.startswith(stage_entry_keys(case_id))
    assert step.removeprefix(stage_entry_keys(case_id)) == "000007\x00"
    # Another case whose id extends this one's is not taken for it.
    assert not state.stage_entry(case_id + "-2", 7).startswith(stage_entry_keys(case_id))
