"""Private notes: transient input, the caller's implicit collection, hashes, and a read the
peer fails. Scenario tests on the real network are in tests/network/test_runtime_private_data.py.
"""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from fabric_protos.peer import chaincode_shim_pb2 as shim
from ledgerkit import MARKET, POLICE, URBAN, creator, ok, refused

from chaincode.contracts.private_notes import MAX_NOTE_BYTES
from chaincode.runtime.harness import Harness, _Simulation
from chaincode.runtime.keys import composite_key

URBAN_NOTES = "_implicit_org_UrbanManagementMSP"
OWNER = creator(URBAN, "admin")
OTHER = creator(POLICE, "admin")
# What a real peer outside the collection answered (Fabric v3.1.5), recorded from
# tests/network/test_runtime_private_data.py.
RECORDED_REFUSAL = (
    "GET_STATE failed: transaction ID: 728743c0c532575505968f010225cf05f4b66d104dd30f4ead31e0"
    "2af463235f: private data matching public hash version is not available. Public hash "
    "version = {BlockNum: 10, TxNum: 0}, Private data version = <nil>"
)


async def _put(ledger: Harness, key: str, value: bytes, who: bytes = OWNER) -> Any:
    return await ledger.submit(who, "PutPrivateNote", key, transient={"value": value})


@pytest.fixture
def peer_outside_collection(monkeypatch: pytest.MonkeyPatch) -> None:
    """The harness's peer answers private reads as a peer outside the collection does."""
    answer = _Simulation.answer

    def refuse_private_reads(self: _Simulation, kind: int, payload: bytes) -> bytes:
        if kind == shim.ChaincodeMessage.GET_STATE and shim.GetState.FromString(payload).collection:
            raise ValueError(RECORDED_REFUSAL)
        return answer(self, kind, payload)

    monkeypatch.setattr(_Simulation, "answer", refuse_private_reads)


async def test_the_note_goes_to_the_callers_implicit_collection_only(ledger: Harness) -> None:
    result = ok(await _put(ledger, "n1", b"meet at gate 3"))
    assert result["collection"] == URBAN_NOTES
    assert result["sha256"] == hashlib.sha256(b"meet at gate 3").hexdigest()
    key = composite_key("private_note", ["n1"])
    assert ledger.ledger.private == {(URBAN_NOTES, key): b"meet at gate 3"}
    assert ledger.ledger.state == {}


async def test_the_owner_reads_its_note_back(ledger: Harness) -> None:
    ok(await _put(ledger, "n1", "路口 3 号门".encode()))
    got = ok(await ledger.evaluate(OWNER, "GetPrivateNote", URBAN, "n1"))
    assert got == {"org": URBAN, "key": "n1", "value": "路口 3 号门"}


async def test_another_org_may_not_read_the_note(ledger: Harness) -> None:
    ok(await _put(ledger, "n1", b"v"))
    message = refused(await ledger.submit(OTHER, "GetPrivateNote", URBAN, "n1"), "ACCESS_DENIED")
    assert POLICE in message


async def test_any_org_reads_the_hash(ledger: Harness) -> None:
    ok(await _put(ledger, "n1", b"v"))
    got = ok(await ledger.evaluate(creator(MARKET, "auditor"), "PrivateNoteHash", URBAN, "n1"))
    assert got == {"org": URBAN, "key": "n1", "sha256": hashlib.sha256(b"v").hexdigest()}


async def test_missing_note_and_hash_are_not_found(ledger: Harness) -> None:
    refused(await ledger.submit(OWNER, "GetPrivateNote", URBAN, "nope"), "NOT_FOUND")
    refused(await ledger.submit(OTHER, "PrivateNoteHash", URBAN, "nope"), "NOT_FOUND")


@pytest.mark.parametrize(
    ("transient", "why"),
    [
        (None, "missing"),
        ({"other": b"x"}, "missing"),
        ({"value": b""}, "missing"),
        ({"value": b"x" * (MAX_NOTE_BYTES + 1)}, "exceeds"),
        ({"value": b"\xff\xfe"}, "UTF-8"),
    ],
)
async def test_a_bad_transient_value_is_refused(
    ledger: Harness, transient: dict[str, bytes] | None, why: str
) -> None:
    result = await ledger.submit(OWNER, "PutPrivateNote", "n1", transient=transient)
    assert why in refused(result, "VALIDATION_FAILED")
    assert ledger.ledger.private == {}


async def test_a_note_of_exactly_the_limit_is_accepted(ledger: Harness) -> None:
    ok(await _put(ledger, "n1", b"x" * MAX_NOTE_BYTES))


@pytest.mark.parametrize(("org", "key"), [("", "n1"), ("Bad MSP", "n1"), (URBAN, "")])
async def test_a_bad_org_or_key_is_refused(ledger: Harness, org: str, key: str) -> None:
    refused(await ledger.submit(OWNER, "PrivateNoteHash", org, key), "VALIDATION_FAILED")


async def test_copy_publishes_the_digest_not_the_value(ledger: Harness) -> None:
    ok(await _put(ledger, "n1", b"the plate is ZJ-A12345"))
    copied = ok(await ledger.submit(OWNER, "CopyPrivateNote", URBAN, "n1", "d1"))
    assert copied["sha256"] == hashlib.sha256(b"the plate is ZJ-A12345").hexdigest()
    assert copied["size"] == len(b"the plate is ZJ-A12345")
    assert ok(await ledger.evaluate(OTHER, "GetPrivateNoteCopy", "d1")) == copied
    assert all(b"ZJ-A12345" not in v.value for v in ledger.ledger.state.values())


async def test_only_the_owner_may_copy(ledger: Harness) -> None:
    ok(await _put(ledger, "n1", b"v"))
    refused(await ledger.submit(OTHER, "CopyPrivateNote", URBAN, "n1", "d1"), "ACCESS_DENIED")
    assert ledger.ledger.state == {}


@pytest.mark.usefixtures("peer_outside_collection")
async def test_a_read_the_peer_fails_fails_the_copy_and_writes_nothing(ledger: Harness) -> None:
    ledger.ledger.private[(URBAN_NOTES, composite_key("private_note", ["n1"]))] = b"v"
    result = await ledger.submit(OWNER, "CopyPrivateNote", URBAN, "n1", "d1")
    message = refused(result, "INTERNAL")
    assert "private data matching public hash version is not available" in message
    assert ledger.ledger.state == {}
    refused(await ledger.submit(OWNER, "GetPrivateNoteCopy", "d1"), "NOT_FOUND")


@pytest.mark.usefixtures("peer_outside_collection")
async def test_a_read_the_peer_fails_is_an_error_not_a_missing_note(ledger: Harness) -> None:
    refused(await ledger.submit(OWNER, "GetPrivateNote", URBAN, "n1"), "INTERNAL")
