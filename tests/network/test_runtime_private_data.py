"""Private data through our chaincode runtime on the real network: implicit org collections
written from the transient map, and a read the peer fails (PrivateNotes contract).

The owner is UrbanManagement; PublicSecurity and MarketSupervision are outside its
implicit collection, so their peers hold only the hashes of its notes.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from typing import Any

import grpc
import pytest
from fabric_protos.common import common_pb2
from fabric_protos.msp import identities_pb2
from fabric_protos.peer import transaction_pb2

from node.consortium.clients import department_contract
from node.consortium.config import Department
from node.consortium.network import Network
from node.fabric import Contract, EndorseError, EvaluateError, GatewayError

pytestmark = pytest.mark.network

PEER_REFUSAL = "private data matching public hash version is not available"


def _deps(network: Network) -> tuple[Department, Department, Department]:
    owner, police, market = network.layout.consortium.departments
    return owner, police, market


def _as(network: Network, who: Department, via: Department | None = None) -> Contract:
    """The chaincode as ``who``'s admin, through ``via``'s gateway peer (default: own)."""
    return department_contract(network.layout, via or who, identity_of=who)


def _key() -> str:
    return f"note-{uuid.uuid4().hex}"


def _refusal(exc: GatewayError) -> dict[str, Any]:
    """The chaincode's ``{"code", "message"}`` as the first peer reported it.

    Decoded here rather than with ``chaincode_code`` because the peer's own text inside
    the message (``{BlockNum: 10, TxNum: 0}``) contains braces.
    """
    for detail in exc.details:
        start = detail.message.find('{"code"')
        if start >= 0:
            doc, _ = json.JSONDecoder().raw_decode(detail.message[start:])
            assert isinstance(doc, dict)
            return doc
    raise AssertionError(f"no chaincode refusal in {exc}")


async def _put(network: Network, key: str, value: bytes, *, name_owner: bool = True) -> Any:
    owner = _deps(network)[0]
    orgs = [owner.msp_id] if name_owner else []
    return await _as(network, owner).submit(
        "PutPrivateNote", key, transient={"value": value}, endorsing_orgs=orgs
    )


async def _hash_eventually(contract: Contract, org: str, key: str, timeout: float = 20) -> str:
    """The note's hash from ``contract``'s peer, once that peer has the block."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            doc = json.loads(await contract.evaluate("PrivateNoteHash", org, key))
            return str(doc["sha256"])
        except EvaluateError as exc:
            if exc.chaincode_code != "NOT_FOUND" or loop.time() > deadline:
                raise
            await asyncio.sleep(0.2)


async def _block_of(contract: Contract, tx_id: str, timeout: float = 20) -> bytes:
    """The block holding ``tx_id`` as ``contract``'s peer stores it."""
    qscc = contract.gateway.contract(contract.channel, "qscc")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            return await qscc.evaluate("GetBlockByTxID", contract.channel, tx_id)
        except EvaluateError:
            if loop.time() > deadline:
                raise
            await asyncio.sleep(0.2)


def _endorsers(raw_block: bytes) -> list[str]:
    block = common_pb2.Block.FromString(raw_block)
    envelope = common_pb2.Envelope.FromString(block.data.data[0])
    payload = common_pb2.Payload.FromString(envelope.payload)
    tx = transaction_pb2.Transaction.FromString(payload.data)
    action = transaction_pb2.ChaincodeActionPayload.FromString(tx.actions[0].payload)
    return [
        identities_pb2.SerializedIdentity.FromString(e.endorser).mspid
        for e in action.action.endorsements
    ]


async def test_the_owner_writes_through_the_transient_map_and_reads_back(
    network: Network,
) -> None:
    owner = _deps(network)[0]
    key, value = _key(), "罚单草稿: 车牌 浙A12345".encode()
    result = await _put(network, key, value)
    doc = json.loads(result.result)
    assert doc["collection"] == f"_implicit_org_{owner.msp_id}"
    assert doc["sha256"] == hashlib.sha256(value).hexdigest()
    got = json.loads(await _as(network, owner).evaluate("GetPrivateNote", owner.msp_id, key))
    assert got == {"org": owner.msp_id, "key": key, "value": value.decode()}


async def test_the_owners_peer_alone_endorses_and_other_ledgers_hold_only_the_hash(
    network: Network,
) -> None:
    # The chaincode policy is MAJORITY, yet the owner's endorsement alone commits VALID:
    # writes to an implicit collection are checked against that org's Endorsement policy.
    # Submitted through the owner's gateway without endorsing_orgs, the gateway plans the
    # same (it learns the collection from the first endorser's simulation).
    owner, police, _ = _deps(network)
    key, value = _key(), f"witness statement {uuid.uuid4()}".encode()
    result = await _put(network, key, value, name_owner=False)
    block = await _block_of(_as(network, police), result.tx_id)
    assert _endorsers(block) == [owner.msp_id]
    assert value not in block
    assert hashlib.sha256(value).digest() in block  # the hashed write set's value hash


async def test_another_org_reads_the_hash_and_it_is_the_values_sha256(network: Network) -> None:
    owner, police, market = _deps(network)
    key, value = _key(), b"hash me"
    await _put(network, key, value)
    for reader in (police, market):
        got = await _hash_eventually(_as(network, reader), owner.msp_id, key)
        assert got == hashlib.sha256(value).hexdigest()


async def test_another_org_cannot_read_the_note_on_any_peer(network: Network) -> None:
    # Fabric itself lets any client read an implicit collection on a member's peer (the
    # collection does not restrict readers); the contract refuses other orgs.
    owner, police, _ = _deps(network)
    key = _key()
    await _put(network, key, b"owner only")
    for via in (police, owner):
        with pytest.raises(EvaluateError) as info:
            await _as(network, police, via=via).evaluate("GetPrivateNote", owner.msp_id, key)
        assert info.value.chaincode_code == "ACCESS_DENIED"


async def test_a_peer_outside_the_collection_fails_the_read(network: Network) -> None:
    owner, police, _ = _deps(network)
    key = _key()
    await _put(network, key, b"not on that peer")
    owner_via_police = _as(network, owner, via=police)
    await _hash_eventually(owner_via_police, owner.msp_id, key)  # the block has arrived
    with pytest.raises(EvaluateError) as info:
        await owner_via_police.evaluate("GetPrivateNote", owner.msp_id, key)
    refusal = _refusal(info.value)
    assert refusal["code"] == "INTERNAL"
    assert PEER_REFUSAL in refusal["message"]
    assert [d.msp_id for d in info.value.details] == [police.msp_id]


async def test_a_failed_private_read_fails_the_transaction_and_commits_nothing(
    network: Network,
) -> None:
    # PublicSecurity and MarketSupervision together satisfy the MAJORITY policy, so had
    # the runtime read the peer's error as a value the digest of that error would commit.
    owner, police, market = _deps(network)
    key, dest = _key(), _key()
    await _put(network, key, b"source")
    for peer_of in (police, market):
        await _hash_eventually(_as(network, owner, via=peer_of), owner.msp_id, key)
    with pytest.raises(EndorseError) as info:
        await _as(network, owner, via=police).submit(
            "CopyPrivateNote",
            owner.msp_id,
            key,
            dest,
            endorsing_orgs=[police.msp_id, market.msp_id],
        )
    assert info.value.grpc_code == grpc.StatusCode.ABORTED
    assert sorted(d.msp_id for d in info.value.details) == sorted([police.msp_id, market.msp_id])
    for detail in info.value.details:
        assert '"code":"INTERNAL"' in detail.message
        assert PEER_REFUSAL in detail.message
    for reader in (owner, police, market):
        with pytest.raises(EvaluateError) as absent:
            await _as(network, reader).evaluate("GetPrivateNoteCopy", dest)
        assert absent.value.chaincode_code == "NOT_FOUND"
