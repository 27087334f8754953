"""A step's legal document into the case file (FileDocument): only the document the step
bound by its hash, only by the holder's officers and reviewers, the same filing idempotent."""

from __future__ import annotations

import json
from typing import Any

import pytest
from ledgerkit import (
    MARKET,
    URBAN,
    creator,
    digest,
    evidence,
    ok,
    query,
    refused,
    submit,
    walk_to,
)

from chaincode.runtime.harness import Harness

OFFICER, REVIEWER = creator(URBAN, "officer"), creator(URBAN, "reviewer")


def document(step: int, text: str, evidence_id: str = "DOC-1", **changes: Any) -> dict[str, Any]:
    """A filing of the document whose bytes are ``text`` (``digest(text)``) for ``step``."""
    doc = evidence(
        evidence_id,
        plaintext_hash=digest(text),
        media_type="application/pdf",
        device_id="officer-1",
        camera_id="case-file",
    )
    doc.update(case_id="C-1", step=step)
    doc.update(changes)
    return doc


async def test_officers_and_reviewers_file_the_documents_their_steps_bound(filed: Harness) -> None:
    await walk_to(filed, "investigation")  # steps 1 (no document), 2 (filing form), 3 (approval)
    result = await submit(filed, OFFICER, "FileDocument", document(2, "filing form"))
    form = ok(result)
    assert form["registered_role"] == "officer"
    assert result.event is not None
    assert result.event[0] == "EvidenceRegistered"
    assert json.loads(result.event[1]) == {
        "evidence_id": "DOC-1",
        "owner_org": URBAN,
        "case_id": "C-1",
        "step": 2,
    }
    approval = ok(await submit(filed, REVIEWER, "FileDocument", document(3, "approval", "DOC-2")))
    assert approval["registered_role"] == "reviewer"
    page = await query(filed, OFFICER, "CaseEvidence", "C-1", "10", "")
    assert sorted(page["evidence_ids"]) == ["DOC-1", "DOC-2", "E-1"]

    again = await submit(filed, OFFICER, "FileDocument", document(2, "filing form"))
    assert ok(again) == form
    assert again.event is None  # nothing new written


async def test_a_closed_case_still_takes_its_closing_document(filed: Harness) -> None:
    closed = await walk_to(filed, "closure")
    step = closed["stage_changes"]
    ok(await submit(filed, OFFICER, "FileDocument", document(step, "closure report")))
    assert (await query(filed, OFFICER, "GetEvidence", "DOC-1"))["plaintext_hash"] == digest(
        "closure report"
    )


@pytest.mark.parametrize(
    ("who", "filing", "code"),
    [
        (creator(URBAN, "device"), document(2, "filing form"), "ACCESS_DENIED"),
        (creator(URBAN, "partner"), document(2, "filing form"), "ACCESS_DENIED"),
        # Not the holder: another department's officer, for its own or the holder's item.
        (creator(MARKET, "officer"), document(2, "filing form"), "ACCESS_DENIED"),
        (creator(MARKET, "officer"), document(2, "filing form", owner_org=MARKET), "ACCESS_DENIED"),
        (OFFICER, document(2, "filing form", case_id="C-404"), "NOT_FOUND"),
        (OFFICER, document(9, "filing form"), "NOT_FOUND"),
        (OFFICER, document(1, "filing form"), "DOCUMENT_MISMATCH"),  # bound no document
        (OFFICER, document(2, "another form"), "DOCUMENT_MISMATCH"),
        (OFFICER, document(3, "filing form"), "DOCUMENT_MISMATCH"),  # another step's
        (OFFICER, document(0, "filing form"), "VALIDATION_FAILED"),
        (OFFICER, {k: v for k, v in document(2, "x").items() if k != "step"}, "VALIDATION_FAILED"),
        (OFFICER, document(2, "filing form", evidence_id="E-1"), "EVIDENCE_CONFLICT"),
    ],
)
async def test_refused_filings_write_nothing(
    filed: Harness, who: bytes, filing: dict[str, Any], code: str
) -> None:
    await walk_to(filed, "investigation")
    message = refused(await submit(filed, who, "FileDocument", filing), code)
    assert message
    page = await query(filed, OFFICER, "CaseEvidence", "C-1", "10", "")
    assert page["evidence_ids"] == ["E-1"]
    refused(await submit(filed, OFFICER, "GetEvidence", "DOC-1"), "NOT_FOUND")


async def test_a_mismatch_says_what_the_step_bound(filed: Harness) -> None:
    await walk_to(filed, "investigation")
    message = refused(
        await submit(filed, OFFICER, "FileDocument", document(2, "another form")),
        "DOCUMENT_MISMATCH",
    )
    assert f"bound the document {digest('filing form')}" in message
    assert "filing_approval" in message
    message = refused(
        await submit(filed, OFFICER, "FileDocument", document(1, "x")), "DOCUMENT_MISMATCH"
    )
    assert "bound no document" in message
