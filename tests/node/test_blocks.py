"""Block and transaction views, built from Fabric's protos at test time (no recorded keys)."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from blockkit import Member, block_bytes
from fabric_protos.common import common_pb2, configtx_pb2
from fabric_protos.ledger.rwset import rwset_pb2
from fabric_protos.ledger.rwset.kvrwset import kv_rwset_pb2
from fabric_protos.peer import (
    chaincode_pb2,
    proposal_pb2,
    proposal_response_pb2,
    transaction_pb2,
)
from google.protobuf import timestamp_pb2

from node.fabric import (
    BlockView,
    KVWrite,
    MalformedLedgerData,
    TransactionView,
    block_header_bytes,
    verify_chain,
)

NOW = dt.datetime(2026, 3, 1, 12, 0, 0, tzinfo=dt.UTC)
CHANNEL = "evidence"


@pytest.fixture(scope="module")
def members() -> dict[str, Member]:
    names = ("UrbanManagementMSP", "PublicSecurityMSP", "MarketRegulationMSP", "OrdererMSP")
    return {name: Member.of(name) for name in names}


# --- builders: blocks as Fabric writes them ---------------------------------------------------


def _envelope(
    header_type: int,
    tx_id: str,
    data: bytes,
    creator: Member | None,
    nonce: bytes = b"n" * 24,
    when: dt.datetime | timestamp_pb2.Timestamp = NOW,
) -> bytes:
    ts = when if isinstance(when, timestamp_pb2.Timestamp) else timestamp_pb2.Timestamp()
    if isinstance(when, dt.datetime):
        ts.FromDatetime(when.replace(tzinfo=None))
    chdr = common_pb2.ChannelHeader(type=header_type, channel_id=CHANNEL, tx_id=tx_id, timestamp=ts)
    shdr = common_pb2.SignatureHeader(
        creator=creator.identity.serialize() if creator else b"", nonce=nonce if creator else b""
    )
    payload = common_pb2.Payload(
        header=common_pb2.Header(
            channel_header=chdr.SerializeToString(), signature_header=shdr.SerializeToString()
        ),
        data=data,
    ).SerializeToString()
    signature = creator.signer.sign(payload) if creator else b""
    return bytes(common_pb2.Envelope(payload=payload, signature=signature).SerializeToString())


def _config_envelope() -> bytes:
    config = configtx_pb2.ConfigEnvelope(config=configtx_pb2.Config(sequence=0))
    return _envelope(common_pb2.CONFIG, "", config.SerializeToString(), None)


def _endorser_envelope(
    tx_id: str, creator: Member, endorsers: list[Member], writes: list[tuple[str, bytes, bool]]
) -> bytes:
    spec = chaincode_pb2.ChaincodeInvocationSpec(
        chaincode_spec=chaincode_pb2.ChaincodeSpec(
            chaincode_id=chaincode_pb2.ChaincodeID(name="evidence"),
            input=chaincode_pb2.ChaincodeInput(args=[b"Put", b"k1", b"value-1"]),
        )
    )
    kv = kv_rwset_pb2.KVRWSet(
        writes=[kv_rwset_pb2.KVWrite(key=k, value=v, is_delete=d) for k, v, d in writes]
    )
    rwset = rwset_pb2.TxReadWriteSet(
        data_model=rwset_pb2.TxReadWriteSet.KV,
        ns_rwset=[
            rwset_pb2.NsReadWriteSet(namespace="_lifecycle", rwset=b""),
            rwset_pb2.NsReadWriteSet(namespace="evidence", rwset=kv.SerializeToString()),
        ],
    )
    cc_action = proposal_pb2.ChaincodeAction(
        results=rwset.SerializeToString(),
        response=proposal_response_pb2.Response(status=200, payload=b'{"ok":true}'),
        chaincode_id=chaincode_pb2.ChaincodeID(name="evidence", version="1"),
    )
    prp = proposal_response_pb2.ProposalResponsePayload(
        proposal_hash=hashlib.sha256(tx_id.encode()).digest(),
        extension=cc_action.SerializeToString(),
    ).SerializeToString()
    endorsements = [
        proposal_response_pb2.Endorsement(
            endorser=e.identity.serialize(), signature=e.signer.sign(prp + e.identity.serialize())
        )
        for e in endorsers
    ]
    action = transaction_pb2.ChaincodeActionPayload(
        chaincode_proposal_payload=proposal_pb2.ChaincodeProposalPayload(
            input=spec.SerializeToString()
        ).SerializeToString(),
        action=transaction_pb2.ChaincodeEndorsedAction(
            proposal_response_payload=prp, endorsements=endorsements
        ),
    )
    tx = transaction_pb2.Transaction(
        actions=[transaction_pb2.TransactionAction(payload=action.SerializeToString())]
    )
    return _envelope(common_pb2.ENDORSER_TRANSACTION, tx_id, tx.SerializeToString(), creator)


_block = block_bytes


@pytest.fixture(scope="module")
def chain(members: dict[str, Member]) -> list[bytes]:
    """Block 0 (config, unsigned as configtxgen writes it), block 1 (one endorser transaction
    endorsed by two orgs), block 2 (two transactions, the second invalid)."""
    urban, police, market, orderer = members.values()
    genesis = _block(0, b"", [_config_envelope()])
    one = _block(
        1,
        BlockView.from_bytes(genesis).header_hash().value,
        [_endorser_envelope("tx-1", urban, [urban, police], [("k1", b"value-1", False)])],
        orderer=orderer,
    )
    two = _block(
        2,
        BlockView.from_bytes(one).header_hash().value,
        [
            _endorser_envelope("tx-2", market, [market, police], [("k1", b"", True)]),
            _endorser_envelope("tx-3", market, [market], [("k2", b"x", False)]),
        ],
        orderer=orderer,
        flags=bytes([0, transaction_pb2.MVCC_READ_CONFLICT]),
    )
    return [genesis, one, two]


# --- DER header bytes --------------------------------------------------------------------------

# Produced by Go's encoding/asn1 with Fabric's asn1Header struct (big.Int, []byte, []byte).
GO_VECTORS = [
    (0, b"", b"\xab" * 32, "3027" + "020100" + "0400" + "0420" + "ab" * 32),
    (127, b"\x01" * 32, b"\x02" * 32, "3047" + "02017f" + "0420" + "01" * 32 + "0420" + "02" * 32),
    (128, b"", b"", "3008" + "02020080" + "0400" + "0400"),
    (256, b"\xff", b"\x5a" * 200, "3081d2" + "02020100" + "0401ff" + "0481c8" + "5a" * 200),
    (
        2**64 - 1,
        b"\x11" * 32,
        b"\x22" * 300,
        "3082015d" + "020900" + "ff" * 8 + "0420" + "11" * 32 + "0482012c" + "22" * 300,
    ),
]


@pytest.mark.parametrize(("number", "previous", "data", "expected"), GO_VECTORS)
def test_header_bytes_match_go_asn1(
    number: int, previous: bytes, data: bytes, expected: str
) -> None:
    assert block_header_bytes(number, previous, data).hex() == expected


@pytest.mark.parametrize("number", [-1, 2**64])
def test_header_number_must_be_uint64(number: int) -> None:
    with pytest.raises(ValueError, match="unsigned 64-bit"):
        block_header_bytes(number, b"", b"")


# --- blocks ------------------------------------------------------------------------------------


def test_genesis_block_parses(chain: list[bytes]) -> None:
    block = BlockView.from_bytes(chain[0])
    assert block.number == 0
    assert block.previous_hash is None
    assert block.data_hash == block.computed_data_hash
    assert block.is_config
    assert block.signatures == ()
    assert block.last_config_index == 0
    (tx,) = block.transactions()
    assert tx.type == "CONFIG"
    assert tx.creator is None
    assert tx.chaincode == ""
    assert configtx_pb2.ConfigEnvelope.FromString(tx.data).config.sequence == 0
    assert block.raw == chain[0]


def test_endorser_transaction_parses_with_everything_a_court_checks(
    chain: list[bytes], members: dict[str, Member]
) -> None:
    block = BlockView.from_bytes(chain[1])
    assert not block.is_config
    assert block.index_of("tx-1") == 0
    assert block.index_of("tx-unknown") is None
    tx = block.transaction_at(0)
    urban, police = members["UrbanManagementMSP"], members["PublicSecurityMSP"]
    assert tx.tx_id == "tx-1"
    assert tx.channel == CHANNEL
    assert tx.type == "ENDORSER_TRANSACTION"
    assert tx.timestamp == NOW
    assert tx.creator == urban.identity
    assert tx.chaincode == "evidence"
    assert tx.function == "Put"
    assert tx.args == (b"Put", b"k1", b"value-1")
    assert tx.result == b'{"ok":true}'
    assert tx.validation_code == "VALID"
    assert tx.writes("evidence") == (KVWrite("k1", b"value-1", is_delete=False),)
    assert tx.writes("_lifecycle") == ()
    assert [e.endorser for e in tx.endorsements] == [urban.identity, police.identity]
    # Signed bytes are reconstructed exactly as Fabric signs them.
    assert urban.verifies(tx.payload, tx.signature)
    for endorsement, member in zip(tx.endorsements, (urban, police), strict=True):
        assert member.verifies(endorsement.signed_bytes, endorsement.signature)
    assert tx.envelope == block.envelopes[0]


def test_orderer_signature_covers_metadata_value_signature_header_and_header(
    chain: list[bytes], members: dict[str, Member]
) -> None:
    block = BlockView.from_bytes(chain[1])
    (sig,) = block.signatures
    orderer = members["OrdererMSP"]
    assert sig.signer == orderer.identity
    assert sig.signed_bytes.endswith(block.header_bytes())
    assert orderer.verifies(sig.signed_bytes, sig.signature)


def test_validation_flags_are_per_transaction(chain: list[bytes]) -> None:
    block = BlockView.from_bytes(chain[2])
    assert block.validation_codes == ("VALID", "MVCC_READ_CONFLICT")
    deleted, conflicted = block.transactions()
    assert deleted.writes("evidence") == (KVWrite("k1", b"", is_delete=True),)
    assert conflicted.validation_code == "MVCC_READ_CONFLICT"
    assert len(conflicted.endorsements) == 1


def test_missing_flags_mean_not_validated_and_a_short_filter_is_malformed(
    members: dict[str, Member],
) -> None:
    env = _endorser_envelope("tx-9", members["UrbanManagementMSP"], [], [])
    block = BlockView.from_bytes(_block(5, b"\x01" * 32, [env], flags=b""))
    assert block.validation_codes == ("NOT_VALIDATED",)
    with pytest.raises(MalformedLedgerData, match="validation flags"):
        BlockView.from_bytes(_block(5, b"\x01" * 32, [env, env], flags=b"\x00"))


def test_last_config_index_from_signatures_metadata_or_legacy_metadata(
    members: dict[str, Member],
) -> None:
    env = _endorser_envelope("tx-9", members["UrbanManagementMSP"], [], [])
    signed = _block(9, b"\x01" * 32, [env], orderer=members["OrdererMSP"], last_config=7)
    assert BlockView.from_bytes(signed).last_config_index == 7
    # As GetLastConfigIndexFromBlock: an empty SIGNATURES value falls back to LAST_CONFIG.
    legacy = _block(9, b"\x01" * 32, [env], legacy_last_config=4)
    assert BlockView.from_bytes(legacy).last_config_index == 4


def test_bft_identifier_header_is_signed_in_place_of_the_signature_header() -> None:
    header = block_header_bytes(3, b"\x01" * 32, hashlib.sha256(b"").digest())
    value = common_pb2.OrdererBlockMetadata(
        last_config=common_pb2.LastConfig(index=2)
    ).SerializeToString()
    md = common_pb2.Metadata(
        value=value,
        signatures=[common_pb2.MetadataSignature(identifier_header=b"ident", signature=b"sig")],
    )
    raw = common_pb2.Block(
        header=common_pb2.BlockHeader(
            number=3, previous_hash=b"\x01" * 32, data_hash=hashlib.sha256(b"").digest()
        ),
        metadata=common_pb2.BlockMetadata(metadata=[md.SerializeToString()]),
    ).SerializeToString()
    block = BlockView.from_bytes(raw)
    assert block.last_config_index == 2
    (sig,) = block.signatures
    assert sig.signer is None
    assert sig.signed_bytes == value + b"ident" + header


def test_processed_transaction_carries_its_own_validation_code(chain: list[bytes]) -> None:
    block = BlockView.from_bytes(chain[2])
    processed = transaction_pb2.ProcessedTransaction(
        transactionEnvelope=common_pb2.Envelope.FromString(block.envelopes[1]),
        validationCode=transaction_pb2.MVCC_READ_CONFLICT,
    ).SerializeToString()
    tx = TransactionView.from_processed_transaction(processed)
    assert tx.tx_id == "tx-3"
    assert tx.validation_code == "MVCC_READ_CONFLICT"
    assert tx.envelope == block.envelopes[1]


@pytest.mark.parametrize(
    "raw",
    [
        b"\xff\xff\xff",
        common_pb2.Block().SerializeToString(),
        common_pb2.Block(
            header=common_pb2.BlockHeader(number=1, data_hash=b"short")
        ).SerializeToString(),
    ],
    ids=["garbage", "no-header", "short-data-hash"],
)
def test_malformed_blocks_are_refused(raw: bytes) -> None:
    with pytest.raises(MalformedLedgerData):
        BlockView.from_bytes(raw)


def test_a_transaction_with_two_actions_is_malformed(members: dict[str, Member]) -> None:
    tx = transaction_pb2.Transaction(
        actions=[transaction_pb2.TransactionAction(), transaction_pb2.TransactionAction()]
    )
    env = _envelope(common_pb2.ENDORSER_TRANSACTION, "tx-2a", tx.SerializeToString(), None)
    with pytest.raises(MalformedLedgerData, match="2 actions"):
        TransactionView.from_envelope(env)


# --- the chain ---------------------------------------------------------------------------------


def test_an_untouched_chain_has_no_problems(chain: list[bytes]) -> None:
    assert verify_chain([BlockView.from_bytes(raw) for raw in chain]) == []


def test_one_tampered_byte_in_a_transaction_is_reported(chain: list[bytes]) -> None:
    at = chain[1].rindex(b"value-1")  # the write set's copy (the args come first)
    tampered = chain[1][:at] + b"value-X" + chain[1][at + 7 :]
    blocks = [BlockView.from_bytes(raw) for raw in (chain[0], tampered, chain[2])]
    assert blocks[1].transaction_at(0).writes("evidence")[0].value == b"value-X"
    (problem,) = verify_chain(blocks)
    assert (problem.block_number, problem.code) == (1, "DATA_HASH_MISMATCH")


def test_one_tampered_byte_in_a_header_breaks_the_next_link(chain: list[bytes]) -> None:
    one = common_pb2.Block.FromString(chain[1])
    one.header.data_hash = bytes([one.header.data_hash[0] ^ 1]) + one.header.data_hash[1:]
    blocks = [BlockView.from_bytes(raw) for raw in (chain[0], one.SerializeToString(), chain[2])]
    codes = [(p.block_number, p.code) for p in verify_chain(blocks)]
    assert codes == [(1, "DATA_HASH_MISMATCH"), (2, "PREVIOUS_HASH_MISMATCH")]


def test_a_gap_or_a_genesis_with_a_parent_is_reported(chain: list[bytes]) -> None:
    blocks = [BlockView.from_bytes(raw) for raw in chain]
    assert [p.code for p in verify_chain([blocks[0], blocks[2]])] == ["NOT_CONSECUTIVE"]
    fake_genesis = BlockView.from_bytes(_block(0, b"\x07" * 32, [_config_envelope()]))
    assert [p.code for p in verify_chain([fake_genesis])] == ["GENESIS_HAS_PREVIOUS_HASH"]


def test_a_blocks_latest_time_is_its_newest_transactions(members: dict[str, Member]) -> None:
    """Blocks carry no time; the orderers signed one after its newest transaction."""
    urban = members["UrbanManagementMSP"]
    later = NOW + dt.timedelta(minutes=5)
    envelopes = [
        _envelope(common_pb2.ENDORSER_TRANSACTION, "tx-b", b"", urban, when=later),
        _envelope(common_pb2.ENDORSER_TRANSACTION, "tx-a", b"", urban, when=NOW),
    ]
    block = BlockView.from_bytes(_block(7, b"\x01" * 32, envelopes))
    assert block.latest_time() == later
    assert block.tx_ids() == ("tx-b", "tx-a")
    assert BlockView.from_bytes(_block(8, b"\x01" * 32, [])).latest_time() is None


@pytest.mark.parametrize(
    "stamp",
    [
        timestamp_pb2.Timestamp(seconds=2**40),  # after year 9999
        timestamp_pb2.Timestamp(seconds=-(2**40)),
        timestamp_pb2.Timestamp(seconds=0, nanos=2**30),
    ],
)
def test_a_time_out_of_range_is_malformed_not_a_crash(
    members: dict[str, Member], stamp: timestamp_pb2.Timestamp
) -> None:
    raw = _envelope(common_pb2.MESSAGE, "tx-t", b"", members["UrbanManagementMSP"], when=stamp)
    with pytest.raises(MalformedLedgerData, match="channel header time"):
        TransactionView.from_envelope(raw)
    block = BlockView.from_bytes(_block(9, b"\x01" * 32, [raw]))
    assert block.tx_ids() == ("tx-t",)  # the id still places it; its parse names the problem
    assert block.latest_time() is None
