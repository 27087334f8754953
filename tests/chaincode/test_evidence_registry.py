"""RegisterEvidence, AttachEvidence, ExpireEvidence: rules and refusals, through the harness."""

from __future__ import annotations

import asyncio
import json

import pytest
from ledgerkit import (
    MARKET,
    POLICE,
    URBAN,
    bootstrap,
    creator,
    evidence,
    filing,
    ok,
    query,
    refused,
    submit,
)

from chaincode import state
from chaincode.runtime.harness import Harness

OFFICER, DEVICE = creator(URBAN, "officer"), creator(URBAN, "device")


async def test_registration_stores_hashes_and_codes_and_emits_an_event(ledger: Harness) -> None:
    record = ok(result := await submit(ledger, DEVICE, "RegisterEvidence", evidence()))
    assert record["evidence_id"] == "E-1"
    assert record["registered_role"] == "device"
    assert record["captured_at"] == "2026-01-05T00:30:00.000000Z"  # normalised to UTC
    assert record["registered_tx"] == result.tx_id
    assert record["status"] == "active"
    assert result.event is not None
    assert result.event[0] == "EvidenceRegistered"
    assert json.loads(result.event[1])["evidence_id"] == "E-1"
    assert await query(ledger, OFFICER, "GetEvidence", "E-1") == record


async def test_registering_the_same_content_again_changes_nothing(ledger: Harness) -> None:
    first = ok(await submit(ledger, DEVICE, "RegisterEvidence", evidence()))
    again = await submit(ledger, OFFICER, "RegisterEvidence", evidence())
    assert ok(again) == first
    assert again.event is None


async def test_same_id_with_other_content_is_a_conflict(ledger: Harness) -> None:
    ok(await submit(ledger, DEVICE, "RegisterEvidence", evidence()))
    changed = evidence(plaintext_hash="sha256:" + "0" * 64, size=1)
    message = refused(
        await submit(ledger, DEVICE, "RegisterEvidence", changed), "EVIDENCE_CONFLICT"
    )
    assert message.endswith("different plaintext_hash, size")


@pytest.mark.parametrize(
    ("who", "doc", "code"),
    [
        (creator(URBAN, "partner"), evidence(), "ACCESS_DENIED"),
        (creator(URBAN, "admin"), evidence(), "ACCESS_DENIED"),
        (creator(MARKET, "officer"), evidence(), "ACCESS_DENIED"),  # not the owner org
        (OFFICER, evidence(plaintext_hash="ab12"), "VALIDATION_FAILED"),
        (OFFICER, evidence(evidence_id="../../etc/passwd"), "VALIDATION_FAILED"),
        (OFFICER, evidence(violation_type="jaywalking"), "VALIDATION_FAILED"),
        (OFFICER, evidence(size=0), "VALIDATION_FAILED"),
        (OFFICER, evidence(size="10"), "VALIDATION_FAILED"),  # no coercion
        (OFFICER, evidence(captured_at="2026-01-05T08:30:00"), "VALIDATION_FAILED"),  # naive
        (OFFICER, evidence(locator="has space"), "VALIDATION_FAILED"),
        (OFFICER, evidence(place="Jiangbei Rd 12"), "VALIDATION_FAILED"),  # no free text
        (OFFICER, evidence(case_id="C-404"), "NOT_FOUND"),
    ],
)
async def test_bad_registrations_are_refused_with_a_stable_code(
    ledger: Harness, who: bytes, doc: dict[str, object], code: str
) -> None:
    refused(await submit(ledger, who, "RegisterEvidence", doc), code)
    assert not ledger.ledger.state  # nothing written


async def test_malformed_and_oversized_arguments_are_refused(ledger: Harness) -> None:
    assert "invalid EvidenceRegistration" in refused(
        await ledger.submit(OFFICER, "RegisterEvidence", "{not json"), "VALIDATION_FAILED"
    )
    big = json.dumps(evidence(device_id="d" * 20000))
    assert "exceeds" in refused(
        await ledger.submit(OFFICER, "RegisterEvidence", big), "VALIDATION_FAILED"
    )
    refused(await ledger.submit(OFFICER, "RegisterEvidence"), "VALIDATION_FAILED")
    refused(await ledger.submit(OFFICER, "RegisterEvidence", b"\xff\xfe"), "VALIDATION_FAILED")
    refused(await ledger.submit(OFFICER, "NoSuchFunction"), "UNKNOWN_FUNCTION")
    refused(await ledger.submit(OFFICER, "GetEvidence", "E-404"), "NOT_FOUND")


async def test_200_concurrent_registrations_into_one_case_all_validate(ledger: Harness) -> None:
    """Each registration writes its own keys and only reads the case: no conflicts."""
    await bootstrap(ledger)
    ok(await submit(ledger, OFFICER, "FileCase", filing()))
    results = await asyncio.gather(
        *(
            submit(ledger, OFFICER, "RegisterEvidence", evidence(f"E-{i}", case_id="C-1"))
            for i in range(200)
        )
    )
    assert [r.status for r in results] == ["VALID"] * 200
    ids: list[str] = []
    bookmark = ""
    while True:
        page = await query(ledger, OFFICER, "CaseEvidence", "C-1", "64", bookmark)
        ids += page["evidence_ids"]
        if not (bookmark := page["bookmark"]):
            break
    assert sorted(ids) == sorted(f"E-{i}" for i in range(200))


async def test_attach_needs_the_holder_and_the_owner(ledger: Harness) -> None:
    await bootstrap(ledger)
    ok(await submit(ledger, OFFICER, "FileCase", filing()))
    ok(await submit(ledger, DEVICE, "RegisterEvidence", evidence()))
    market = creator(MARKET, "officer")
    ok(await submit(ledger, market, "RegisterEvidence", evidence("M-1", owner_org=MARKET)))
    refused(await submit(ledger, market, "AttachEvidence", "C-1", "M-1"), "ACCESS_DENIED")
    refused(await submit(ledger, OFFICER, "AttachEvidence", "C-1", "M-1"), "ACCESS_DENIED")
    refused(await submit(ledger, OFFICER, "AttachEvidence", "C-1", "E-404"), "NOT_FOUND")
    attached = await submit(ledger, OFFICER, "AttachEvidence", "C-1", "E-1")
    assert ok(attached) == {"case_id": "C-1", "evidence_id": "E-1"}
    assert attached.event is not None
    assert attached.event[0] == "EvidenceAttached"
    page = await query(ledger, OFFICER, "CaseEvidence", "C-1", "10", "")
    assert page == {"evidence_ids": ["E-1"], "bookmark": ""}


async def test_case_evidence_refuses_a_foreign_bookmark_and_bad_page_size(ledger: Harness) -> None:
    refused(
        await ledger.evaluate(OFFICER, "CaseEvidence", "C-1", "10", "\x00evidence\x00E-1\x00"),
        "VALIDATION_FAILED",
    )
    refused(await ledger.evaluate(OFFICER, "CaseEvidence", "C-1", "0", ""), "VALIDATION_FAILED")
    refused(await ledger.evaluate(OFFICER, "CaseEvidence", "C-1", "ten", ""), "VALIDATION_FAILED")


async def test_retention_expiry_is_recorded_by_the_owner_admin_once(ledger: Harness) -> None:
    ok(await submit(ledger, DEVICE, "RegisterEvidence", evidence()))
    refused(
        await submit(ledger, OFFICER, "ExpireEvidence", "E-1", "retention_ended"), "ACCESS_DENIED"
    )
    refused(
        await submit(ledger, creator(MARKET, "admin"), "ExpireEvidence", "E-1", "retention_ended"),
        "ACCESS_DENIED",
    )
    admin = creator(URBAN, "admin")
    refused(
        await submit(ledger, admin, "ExpireEvidence", "E-1", "Because I said so"),
        "VALIDATION_FAILED",
    )
    expired = ok(await submit(ledger, admin, "ExpireEvidence", "E-1", "retention_ended"))
    assert expired["status"] == "retention_expired"
    assert expired["expired_tx"]
    assert ok(await submit(ledger, admin, "ExpireEvidence", "E-1", "retention_ended")) == expired
    # The record stays: evidence is never deleted from the ledger.
    assert (await query(ledger, OFFICER, "GetEvidence", "E-1"))["status"] == "retention_expired"


async def test_an_org_lists_the_items_it_registered(ledger: Harness) -> None:
    ok(await submit(ledger, DEVICE, "RegisterEvidence", evidence("E-1")))
    ok(await submit(ledger, DEVICE, "RegisterEvidence", evidence("E-2")))
    ok(await submit(ledger, DEVICE, "RegisterEvidence", evidence("E-2")))  # a retry
    market = creator(MARKET, "officer")
    ok(await submit(ledger, market, "RegisterEvidence", evidence("M-1", owner_org=MARKET)))
    page = await query(ledger, OFFICER, "OwnedEvidence", URBAN, "10", "")
    assert page == {"evidence_ids": ["E-1", "E-2"], "bookmark": ""}
    first = await query(ledger, OFFICER, "OwnedEvidence", URBAN, "1", "")
    assert first["evidence_ids"] == ["E-1"]
    rest = await query(ledger, OFFICER, "OwnedEvidence", URBAN, "1", first["bookmark"])
    assert rest["evidence_ids"] == ["E-2"]


async def test_an_item_keeps_the_ids_of_every_case_it_joins(ledger: Harness) -> None:
    """One key per item lists its cases (sorted), so an access decision reads it once."""
    ok(await submit(ledger, DEVICE, "RegisterEvidence", evidence("E-1")))
    assert ledger.ledger.get(state.evidence_cases("E-1")) == b"[]"  # in no case, and says so
    ok(await submit(ledger, OFFICER, "FileCase", filing("C-2", evidence_ids=["E-1"])))
    ok(await submit(ledger, OFFICER, "FileCase", filing("C-1")))
    ok(await submit(ledger, OFFICER, "AttachEvidence", "C-1", "E-1"))
    ok(await submit(ledger, OFFICER, "AttachEvidence", "C-1", "E-1"))  # again: nothing new
    assert json.loads(ledger.ledger.get(state.evidence_cases("E-1")) or b"") == ["C-1", "C-2"]
    record = ok(await submit(ledger, OFFICER, "RequestAccess", view("E-1")))
    assert record["case_ids"] == ["C-1", "C-2"]


async def test_links_an_earlier_chaincode_wrote_still_count(ledger: Harness) -> None:
    """An item linked before ``evidence_cases`` existed has only ``evidence_case`` keys:
    access decisions still see its case, and its next link keeps it."""
    await bootstrap(ledger)
    ok(await submit(ledger, DEVICE, "RegisterEvidence", evidence("E-1")))
    ok(await submit(ledger, OFFICER, "FileCase", filing("C-1", evidence_ids=["E-1"])))
    ledger.ledger.seed(state.evidence_cases("E-1"), None)  # as the earlier version left it
    ledger.ledger.seed(state.evidence_case("E-1", "C-1"), state.INDEX_MARK)
    ok(await submit(ledger, OFFICER, "GrantAccess", case_grant("C-1")))
    seen = ok(await submit(ledger, creator(POLICE, "partner"), "RequestAccess", view("E-1")))
    assert (seen["outcome"], seen["case_ids"]) == ("granted", ["C-1"])
    records = ok(await submit(ledger, OFFICER, "RequestPackageAccess", package("E-1")))
    assert records[0]["case_ids"] == ["C-1"]
    ok(await submit(ledger, OFFICER, "FileCase", filing("C-2")))
    ok(await submit(ledger, OFFICER, "AttachEvidence", "C-2", "E-1"))
    assert json.loads(ledger.ledger.get(state.evidence_cases("E-1")) or b"") == ["C-1", "C-2"]


def view(evidence_id: str) -> dict[str, str]:
    return {
        "target": "evidence",
        "target_id": evidence_id,
        "purpose": "joint_enforcement",
        "kind": "view",
    }


def package(*ids: str) -> dict[str, object]:
    return {"evidence_ids": list(ids), "purpose": "evidence_package"}


def case_grant(case_id: str) -> dict[str, object]:
    return {
        "target": "case",
        "target_id": case_id,
        "grantee_org": POLICE,
        "purpose": "joint_enforcement",
        "expires_at": "2026-03-01T00:00:00+00:00",
    }
