"""Ledger proofs on the real network: blocks and transactions read back through qscc from
another department's peer, parsed, and checked the way an offline verifier will check them."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from cryptography import x509
from fabric_protos.common import common_pb2, configtx_pb2

from node.consortium.clients import department_contract
from node.consortium.network import Network
from node.crypto.signing import verify_signature
from node.fabric import (
    BlockView,
    Contract,
    Identity,
    KVWrite,
    LedgerQueries,
    NotFoundOnLedger,
    TransactionView,
    verify_chain,
)

pytestmark = pytest.mark.network


def _contract(network: Network, index: int) -> Contract:
    layout = network.layout
    return department_contract(layout, layout.consortium.departments[index])


def _ledger(network: Network, index: int) -> LedgerQueries:
    contract = _contract(network, index)
    return LedgerQueries(contract.gateway, contract.channel)


async def _eventually(fetch: Callable[[], Awaitable[bytes]], timeout: float = 20) -> bytes:
    """A peer receives a block a moment after the one the submitter heard the commit from."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            return await fetch()
        except NotFoundOnLedger:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.2)


def _signed_by(identity: Identity, message: bytes, signature: bytes) -> bool:
    key = x509.load_pem_x509_certificate(identity.cert_pem).public_key()
    return verify_signature(key, message, signature)


async def test_a_put_is_proven_by_another_departments_ledger(network: Network) -> None:
    consortium = network.layout.consortium
    writer = consortium.departments[0]
    submitted = await _contract(network, 0).submit("Put", "proof-key", "proof-value")
    ledger = _ledger(network, 2)

    block = BlockView.from_bytes(await _eventually(lambda: ledger.block_by_tx_id(submitted.tx_id)))
    assert block.number == submitted.block_number
    assert block.data_hash == block.computed_data_hash
    index = block.index_of(submitted.tx_id)
    assert index is not None
    tx = block.transaction_at(index)
    assert tx.tx_id == submitted.tx_id
    assert tx.channel == consortium.channel
    assert tx.type == "ENDORSER_TRANSACTION"
    assert tx.creator is not None
    assert tx.creator.msp_id == writer.msp_id
    assert tx.chaincode == consortium.chaincode.name
    assert tx.args[0].endswith(b"Put")
    assert tx.args[1:] == (b"proof-key", b"proof-value")
    assert KVWrite("ping~proof-key", b"proof-value", is_delete=False) in tx.writes(tx.chaincode)
    assert tx.validation_code == "VALID"
    endorsers = {e.endorser.msp_id for e in tx.endorsements}
    assert len(tx.endorsements) >= 2
    assert len(endorsers) == len(tx.endorsements)  # a majority of distinct departments

    # Every signature verifies over the bytes the views reconstruct.
    assert _signed_by(tx.creator, tx.payload, tx.signature)
    for endorsement in tx.endorsements:
        assert _signed_by(endorsement.endorser, endorsement.signed_bytes, endorsement.signature)
    assert block.signatures
    for sig in block.signatures:
        assert sig.signer is not None
        assert sig.signer.msp_id == consortium.orderers.msp_id
        assert _signed_by(sig.signer, sig.signed_bytes, sig.signature)

    processed = TransactionView.from_processed_transaction(
        await ledger.transaction_by_id(submitted.tx_id)
    )
    assert processed.validation_code == "VALID"
    assert processed.envelope == block.envelopes[index]  # re-encoding is byte-exact
    assert processed == tx

    # The next block links to this one by its header hash.
    later = await _contract(network, 1).submit("Put", "proof-key-2", "v2")
    assert later.block_number > block.number
    following = BlockView.from_bytes(
        await _eventually(lambda: ledger.block_by_number(block.number + 1))
    )
    assert following.previous_hash == block.header_hash()


async def test_the_whole_chain_verifies_from_bytes_on_disk(
    network: Network, tmp_path: Path
) -> None:
    mine = await _contract(network, 0).submit("Put", "chain-key", "v")
    ledger = _ledger(network, 1)
    info = await ledger.chain_info()
    for n in range(info.height):
        (tmp_path / f"{n}.block").write_bytes(await ledger.block_by_number(n))

    blocks = [
        BlockView.from_bytes((tmp_path / f"{n}.block").read_bytes()) for n in range(info.height)
    ]
    assert verify_chain(blocks) == []
    assert blocks[-1].header_hash() == info.current_block_hash
    assert blocks[-2].header_hash() == info.previous_block_hash
    assert blocks[0].previous_hash is None
    # Other scenario tests on this network commit invalid transactions on purpose (policy
    # failures); every transaction still parses with a validation code, and ours is VALID.
    codes = {tx.tx_id: tx.validation_code for b in blocks for tx in b.transactions()}
    assert codes[mine.tx_id] == "VALID"
    assert all(code for code in codes.values())


async def test_the_latest_config_block_holds_the_channel_config(network: Network) -> None:
    ledger = _ledger(network, 2)
    info = await ledger.chain_info()
    block = BlockView.from_bytes(await ledger.config_block())
    assert block.number <= info.last_block_number
    assert block.is_config
    (tx,) = block.transactions()
    assert tx.type == "CONFIG"
    config = configtx_pb2.ConfigEnvelope.FromString(tx.data).config
    orgs = set(config.channel_group.groups["Application"].groups)
    assert len(orgs) == len(network.layout.consortium.departments)

    last = BlockView.from_bytes(await ledger.block_by_number(info.last_block_number))
    assert last.last_config_index == block.number
    # Fabric 3 reads it from the SIGNATURES metadata's OrdererBlockMetadata. The orderer still
    # writes the legacy LAST_CONFIG metadata, but index 0 (proto3's default) encodes as empty.
    raw_last = common_pb2.Block.FromString(last.raw)
    signatures = common_pb2.Metadata.FromString(raw_last.metadata.metadata[0])
    ordered = common_pb2.OrdererBlockMetadata.FromString(signatures.value)
    assert ordered.last_config.index == block.number
    legacy = common_pb2.Metadata.FromString(raw_last.metadata.metadata[1])
    assert common_pb2.LastConfig.FromString(legacy.value).index == block.number


async def test_an_unknown_transaction_or_block_is_not_found(network: Network) -> None:
    ledger = _ledger(network, 1)
    unknown = "0" * 64
    for query in (ledger.block_by_tx_id, ledger.transaction_by_id):
        with pytest.raises(NotFoundOnLedger) as info:
            await query(unknown)
        assert unknown in str(info.value)
        assert info.value.tx_id == unknown
    with pytest.raises(NotFoundOnLedger) as block_info:
        await ledger.block_by_number(10**9)
    assert block_info.value.block_number == 10**9
