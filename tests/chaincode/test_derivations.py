"""RecordDerivation, GetDerivations, GetDerivedFrom: the link of a redacted copy to its
original, through the harness peer."""

from __future__ import annotations

import json
from typing import Any

import pytest
from ledgerkit import (
    MARKET,
    URBAN,
    bootstrap,
    creator,
    digest,
    evidence,
    ok,
    query,
    refused,
    subject_of,
    submit,
)

from chaincode.runtime.harness import Harness

OFFICER = creator(URBAN, "officer")
REVIEWER = creator(URBAN, "reviewer")
DESCRIPTION = digest("description of E-2")


def ask(target_id: str = "E-1", purpose: str = "redaction", kind: str = "view") -> dict[str, str]:
    return {"target": "evidence", "target_id": target_id, "purpose": purpose, "kind": kind}


def link(access_record: str, **changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "original_id": "E-1",
        "derived_id": "E-2",
        "method": "haar_pixelate_v1",
        "description_hash": DESCRIPTION,
        "access_record": access_record,
    }
    doc.update(changes)
    return doc


@pytest.fixture
async def items(ledger: Harness) -> tuple[Harness, str]:
    """E-1 (the original), E-2 (its copy, claims = the description), a granted redaction
    view of E-1 by the Urban officer; returns the access record's tx id."""
    await bootstrap(ledger)
    device = creator(URBAN, "device")
    ok(await submit(ledger, device, "RegisterEvidence", evidence("E-1")))
    copy = evidence("E-2", claims_hash=DESCRIPTION, media_type="image/png")
    ok(await submit(ledger, OFFICER, "RegisterEvidence", copy))
    access = await submit(ledger, OFFICER, "RequestAccess", ask())
    assert ok(access)["outcome"] == "granted"
    return ledger, access.tx_id


async def test_the_owner_records_a_copy_and_anyone_reads_the_link(
    items: tuple[Harness, str],
) -> None:
    ledger, access_tx = items
    result = await submit(ledger, OFFICER, "RecordDerivation", link(access_tx))
    record = ok(result)
    assert record["recorded_tx"] == result.tx_id
    assert record["recorded_by"] == subject_of(URBAN, "officer")
    assert (record["owner_org"], record["access_record"]) == (URBAN, access_tx)
    assert result.event is not None
    assert result.event[0] == "EvidenceDerived"
    assert json.loads(result.event[1]) == {
        "original_id": "E-1",
        "derived_id": "E-2",
        "method": "haar_pixelate_v1",
    }
    partner = creator(MARKET, "partner")
    assert await query(ledger, partner, "GetDerivations", "E-1") == [record]
    assert await query(ledger, partner, "GetDerivedFrom", "E-2") == record
    assert await query(ledger, partner, "GetDerivations", "E-2") == []
    # The original's record is untouched.
    original = await query(ledger, partner, "GetEvidence", "E-1")
    assert original["claims_hash"] == digest("claims E-1")


async def test_a_reviewer_of_the_owner_may_record_too(items: tuple[Harness, str]) -> None:
    ledger, _ = items
    access = await submit(ledger, REVIEWER, "RequestAccess", ask())
    record = ok(await submit(ledger, REVIEWER, "RecordDerivation", link(access.tx_id)))
    assert record["recorded_role"] == "reviewer"


async def test_a_replay_is_a_conflict_and_writes_nothing(items: tuple[Harness, str]) -> None:
    ledger, access_tx = items
    ok(await submit(ledger, OFFICER, "RecordDerivation", link(access_tx)))
    before = dict(ledger.ledger.state)
    refused(
        await submit(ledger, OFFICER, "RecordDerivation", link(access_tx)), "DERIVATION_CONFLICT"
    )
    assert ledger.ledger.state == before


async def test_a_copy_cannot_become_an_original_of_its_original(
    items: tuple[Harness, str],
) -> None:
    ledger, access_tx = items
    ok(await submit(ledger, OFFICER, "RecordDerivation", link(access_tx)))
    # E-2 → E-1 would close a cycle: E-1 is already an original of copies.
    again = await submit(ledger, OFFICER, "RequestAccess", ask("E-2"))
    message = refused(
        await submit(
            ledger,
            OFFICER,
            "RecordDerivation",
            link(again.tx_id, original_id="E-2", derived_id="E-1"),
        ),
        "DERIVATION_CONFLICT",
    )
    assert "original of derived copies" in message


@pytest.mark.parametrize(
    ("who", "changes", "code"),
    [
        (creator(URBAN, "partner"), {}, "ACCESS_DENIED"),  # role
        (creator(URBAN, "auditor"), {}, "ACCESS_DENIED"),
        (creator(URBAN, "device"), {}, "ACCESS_DENIED"),
        (creator(MARKET, "officer"), {}, "ACCESS_DENIED"),  # another org
        (OFFICER, {"original_id": "E-404"}, "NOT_FOUND"),
        (OFFICER, {"derived_id": "E-404"}, "NOT_FOUND"),
        (OFFICER, {"access_tx": "0" * 64}, "NOT_FOUND"),
        (OFFICER, {"derived_id": "E-1"}, "VALIDATION_FAILED"),  # derived == original
        (OFFICER, {"description_hash": digest("other")}, "VALIDATION_FAILED"),
        (OFFICER, {"method": "Pixelate Faces"}, "VALIDATION_FAILED"),  # a code, no text
        (OFFICER, {"description_hash": "ab12"}, "VALIDATION_FAILED"),
        (OFFICER, {"original_id": "../E-1"}, "VALIDATION_FAILED"),
        (OFFICER, {"note": "x"}, "VALIDATION_FAILED"),  # unknown field
    ],
)
async def test_bad_requests_are_refused_with_a_stable_code(
    items: tuple[Harness, str], who: bytes, changes: dict[str, Any], code: str
) -> None:
    ledger, access_tx = items
    before = dict(ledger.ledger.state)
    access_tx = changes.pop("access_tx", access_tx)
    refused(await submit(ledger, who, "RecordDerivation", link(access_tx, **changes)), code)
    assert ledger.ledger.state == before


async def test_the_access_record_must_be_a_granted_redaction_view_of_the_original(
    items: tuple[Harness, str],
) -> None:
    ledger, _ = items
    wrong = [
        await submit(ledger, OFFICER, "RequestAccess", ask(purpose="joint_enforcement")),
        await submit(ledger, OFFICER, "RequestAccess", ask(kind="download")),
        await submit(ledger, OFFICER, "RequestAccess", ask("E-2")),  # another item
        await submit(ledger, creator(MARKET, "officer"), "RequestAccess", ask()),  # denied
    ]
    for access in wrong:
        ok(access)
        refused(
            await submit(ledger, OFFICER, "RecordDerivation", link(access.tx_id)), "ACCESS_DENIED"
        )


async def test_a_copy_of_another_org_cannot_be_linked(items: tuple[Harness, str]) -> None:
    ledger, access_tx = items
    market_copy = evidence("E-3", owner_org=MARKET, claims_hash=DESCRIPTION)
    ok(await submit(ledger, creator(MARKET, "officer"), "RegisterEvidence", market_copy))
    refused(
        await submit(ledger, OFFICER, "RecordDerivation", link(access_tx, derived_id="E-3")),
        "ACCESS_DENIED",
    )


async def test_malformed_arguments_are_refused(items: tuple[Harness, str]) -> None:
    ledger, _ = items
    refused(await submit(ledger, OFFICER, "RecordDerivation", "not json"), "VALIDATION_FAILED")
    refused(await submit(ledger, OFFICER, "RecordDerivation", "x" * 20000), "VALIDATION_FAILED")
    refused(await ledger.evaluate(OFFICER, "GetDerivations", "E-404"), "NOT_FOUND")
    refused(await ledger.evaluate(OFFICER, "GetDerivedFrom", "E-1"), "NOT_FOUND")
