"""RecordService: the holding department records that a step's document reached the party
(送达), how, when, and the proof; electronic service only with the party's consent."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from ledgerkit import (
    MARKET,
    NOW,
    URBAN,
    creator,
    digest,
    ok,
    query,
    refused,
    submit,
    walk_to,
)

from chaincode.runtime.harness import Harness

OFFICER, REVIEWER = creator(URBAN, "officer"), creator(URBAN, "reviewer")


async def decided(ledger: Harness) -> dict[str, Any]:
    """The case's decision step (its entry)."""
    await walk_to(ledger, "decision")
    history = await query(ledger, OFFICER, "CaseHistory", "C-1")
    entry: dict[str, Any] = next(e for e in history if e["to_stage"] == "decision")
    return entry


def service(step: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """The step's document handed to the party the moment it was made (当场交付)."""
    doc: dict[str, Any] = {
        "case_id": "C-1",
        "step_tx": step["tx"],
        "method": "in_person",
        "served_at": step["at"].replace("Z", "+00:00"),
        "proof_hash": digest("送达回证, signed by the party"),
    }
    doc.update(changes)
    return doc


async def test_an_officer_records_the_decision_served_and_anyone_reads_it(filed: Harness) -> None:
    step = await decided(filed)
    record = ok(await submit(filed, OFFICER, "RecordService", service(step)))
    assert (record["step_seq"], record["stage"], record["method"]) == (
        step["seq"],
        "decision",
        "in_person",
    )
    assert record["document_hash"] == step["details"]["document_hash"]  # the one served
    assert record["served_at"] == step["at"]
    assert (record["org"], record["recorded_role"]) == (URBAN, "officer")
    assert await query(filed, creator(MARKET, "partner"), "CaseServices", "C-1") == [record]


async def test_electronic_service_needs_the_party_s_consent(filed: Harness) -> None:
    step = await decided(filed)
    before = dict(filed.ledger.state)
    message = refused(
        await submit(filed, REVIEWER, "RecordService", service(step, method="electronic")),
        "VALIDATION_FAILED",
    )
    assert "consent" in message
    assert filed.ledger.state == before
    consented = service(step, method="electronic", consent_hash=digest("确认书"))
    assert ok(await submit(filed, REVIEWER, "RecordService", consented))["consent_hash"]


async def test_a_step_is_served_again_by_another_method_but_a_proof_only_once(
    filed: Harness,
) -> None:
    step = await decided(filed)
    ok(await submit(filed, OFFICER, "RecordService", service(step, method="post")))
    refused(
        await submit(filed, OFFICER, "RecordService", service(step, method="post")),
        "CASE_CONFLICT",
    )
    notice = service(step, method="public_notice", proof_hash=digest("公告"))
    ok(await submit(filed, OFFICER, "RecordService", notice))
    served = await query(filed, OFFICER, "CaseServices", "C-1")
    assert [s["method"] for s in served] == ["post", "public_notice"]
    # The case counts them (a package must prove as many); the refused replay did not.
    case = await query(filed, OFFICER, "GetCase", "C-1")
    assert (case["services"], case["updated_at"]) == (2, served[-1]["recorded_at"])


@pytest.mark.parametrize(
    "who",
    [
        creator(URBAN, "auditor"),
        creator(URBAN, "partner"),
        creator(MARKET, "officer"),
        creator(URBAN, "device"),
    ],
)
async def test_only_the_holder_s_officers_and_reviewers_record_service(
    filed: Harness, who: bytes
) -> None:
    step = await decided(filed)
    before = dict(filed.ledger.state)
    refused(await submit(filed, who, "RecordService", service(step)), "ACCESS_DENIED")
    assert filed.ledger.state == before


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"step_tx": "f" * 64}, "NOT_FOUND"),
        ({"case_id": "C-9"}, "NOT_FOUND"),
        ({"served_at": (NOW + dt.timedelta(days=1)).isoformat()}, "VALIDATION_FAILED"),  # future
        ({"served_at": (NOW - dt.timedelta(days=1)).isoformat()}, "VALIDATION_FAILED"),  # before
        ({"served_at": "2026-01-05T09:00:30"}, "VALIDATION_FAILED"),  # no zone
        ({"method": "by_pigeon"}, "VALIDATION_FAILED"),
        ({"proof_hash": "sha256:xyz"}, "VALIDATION_FAILED"),
        ({"note": "extra"}, "VALIDATION_FAILED"),
    ],
)
async def test_a_malformed_or_impossible_service_is_refused(
    filed: Harness, changes: dict[str, Any], code: str
) -> None:
    step = await decided(filed)
    before = dict(filed.ledger.state)
    refused(await submit(filed, OFFICER, "RecordService", service(step, **changes)), code)
    assert filed.ledger.state == before


async def test_a_step_without_a_document_has_nothing_to_serve(filed: Harness) -> None:
    await walk_to(filed, "preliminary_check")
    history = await query(filed, OFFICER, "CaseHistory", "C-1")
    refused(
        await submit(filed, OFFICER, "RecordService", service(history[0])),
        "VALIDATION_FAILED",
    )
