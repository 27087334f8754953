"""The node's block archive: blocks taken only in order and only when they continue the
chain; refused blocks store nothing; exports read from it before asking the peer."""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any

import pytest
from blockkit import Member, block_bytes, envelope
from fabric_protos.common import common_pb2, configtx_pb2, policies_pb2

from node.chain import BlockArchive, BlockRefused, ChainFollower
from node.doctor import Problem, sweep
from node.fabric import BlockView, ChainInfo, LedgerQueries
from node.fabric.gateway import Gateway
from node.index.database import open_index, sqlite_url
from node.store import FilesystemBlobStore
from node.vault import KeyVault

ORDERER = Member.of("OrdererMSP")
T1 = dt.datetime(2026, 3, 3, 9, tzinfo=dt.UTC)  # a transaction's time, the orderer standing
NEW_ORDERER = Member.of("NewOrdererMSP")
STRANGER = Member.of("OrdererMSP")  # the same MSP id, another CA


def _config(orderer: Member, revocations: tuple[bytes, ...] = ()) -> bytes:
    """A config transaction naming ``orderer``'s MSP (with ``revocations``) as the channel's
    ordering org."""
    msp = configtx_pb2.ConfigValue(value=orderer.msp(revocations))
    org = configtx_pb2.ConfigGroup(values={"MSP": msp})
    orderers = configtx_pb2.ConfigGroup(groups={"OrdererOrg": org})
    endorsement = policies_pb2.Policy(
        type=policies_pb2.Policy.IMPLICIT_META,
        value=policies_pb2.ImplicitMetaPolicy(
            rule=policies_pb2.ImplicitMetaPolicy.MAJORITY, sub_policy="Endorsement"
        ).SerializeToString(),
    )
    application = configtx_pb2.ConfigGroup(
        policies={"Endorsement": configtx_pb2.ConfigPolicy(policy=endorsement)}
    )
    channel = configtx_pb2.ConfigGroup(groups={"Orderer": orderers, "Application": application})
    config = configtx_pb2.ConfigEnvelope(config=configtx_pb2.Config(channel_group=channel))
    return envelope("", common_pb2.CONFIG, config.SerializeToString())


def _block(
    number: int,
    previous: bytes,
    tx_ids: list[str],
    *,
    data_hash: bytes | None = None,
    signer: Member | None = ORDERER,
    last_config: int = 0,
    envelopes: list[bytes] | None = None,
) -> bytes:
    """Block ``number`` of transactions ``tx_ids`` (or ``envelopes``), signed by
    ``signer`` (None: unsigned)."""
    return block_bytes(
        number,
        previous,
        envelopes if envelopes is not None else [envelope(t) for t in tx_ids],
        orderer=signer,
        last_config=last_config,
        data_hash=data_hash,
    )


def _hash(raw: bytes) -> bytes:
    return BlockView.from_bytes(raw).header_hash().value


def _chain(length: int) -> list[bytes]:
    """The genesis config (nobody signs it), then blocks the orderer signed."""
    blocks = [_block(0, b"", [], signer=None, envelopes=[_config(ORDERER)])]
    for number in range(1, length):
        blocks.append(_block(number, _hash(blocks[-1]), [f"tx-{number}-a", f"tx-{number}-b"]))
    return blocks


def _tampered(chain: list[bytes], number: int) -> bytes:
    """Block ``number`` with its first transaction replaced, its header left as it was."""
    block = common_pb2.Block.FromString(chain[number])
    block.data.data[0] = envelope("tx-forged")
    return bytes(block.SerializeToString())


def _resigned(raw: bytes, signer: Member | None) -> bytes:
    """The same block (header and data), signed by ``signer`` instead (None: unsigned)."""
    view = BlockView.from_bytes(raw)
    previous = view.previous_hash.value if view.previous_hash is not None else b""
    return _block(
        view.number,
        previous,
        [],
        signer=signer,
        last_config=view.last_config_index,
        envelopes=list(view.envelopes),
    )


@pytest.fixture
def archive(tmp_path: Path) -> BlockArchive:
    return BlockArchive(tmp_path / "chain.sqlite")


def test_blocks_are_kept_in_order_and_found_by_number_and_transaction(
    archive: BlockArchive,
) -> None:
    chain = _chain(4)
    assert archive.height == 0
    for raw in chain:
        archive.append(raw)
    assert archive.height == 4
    assert [archive.block(n) for n in range(4)] == chain
    assert archive.block(4) is None
    assert archive.block_of("tx-2-b") == chain[2]
    assert archive.block_of("tx-9-a") is None


def test_the_archive_survives_a_restart_and_goes_on_from_its_height(tmp_path: Path) -> None:
    chain = _chain(3)
    first = BlockArchive(tmp_path / "chain.sqlite")
    first.append(chain[0])
    first.append(chain[1])
    first.close()
    again = BlockArchive(tmp_path / "chain.sqlite")
    assert again.height == 2
    again.append(chain[2])
    assert again.block_of("tx-2-a") == chain[2]


@pytest.mark.parametrize(
    ("offer", "code"),
    [
        (lambda chain: chain[3], "NOT_NEXT"),  # a gap
        (lambda chain: chain[1], "NOT_NEXT"),  # one already archived, again
        (lambda chain: _block(2, b"\x07" * 32, ["tx-x"]), "PREVIOUS_HASH_MISMATCH"),
        (lambda chain: _block(2, b"", ["tx-x"]), "PREVIOUS_HASH_MISMATCH"),
        (lambda chain: _tampered(chain, 2), "DATA_HASH_MISMATCH"),
        (lambda chain: b"\x0a\x03not a block", "MALFORMED_BLOCK"),
    ],
)
def test_a_block_that_does_not_continue_the_chain_is_refused_and_nothing_stored(
    archive: BlockArchive, offer: Any, code: str
) -> None:
    chain = _chain(4)
    archive.append(chain[0])
    archive.append(chain[1])
    with pytest.raises(BlockRefused) as refused:
        archive.append(offer(chain))
    assert refused.value.code == code
    assert archive.height == 2
    assert archive.block(2) is None
    assert archive.block_of("tx-x") is None
    assert archive.block_of("tx-forged") is None
    archive.append(chain[2])  # the true block still goes in
    assert archive.height == 3


@pytest.mark.parametrize(
    ("genesis", "code"),
    [
        (
            _block(0, b"\x01" * 32, [], signer=None, envelopes=[_config(ORDERER)]),
            "GENESIS_HAS_PREVIOUS_HASH",
        ),
        (_block(0, b"", ["tx-0"], signer=None), "GENESIS_NOT_CONFIG"),
    ],
)
def test_a_genesis_block_that_founds_no_channel_is_refused(
    archive: BlockArchive, genesis: bytes, code: str
) -> None:
    with pytest.raises(BlockRefused) as refused:
        archive.append(genesis)
    assert refused.value.code == code
    assert archive.height == 0


@pytest.mark.parametrize(
    ("signer", "code"),
    [
        (None, "ORDERER_SIGNATURE_MISSING"),
        (STRANGER, "ORDERER_SIGNATURE_INVALID"),  # claims the orderers' MSP, another CA
        (NEW_ORDERER, "ORDERER_SIGNATURE_INVALID"),  # an ordering org the config does not name
    ],
)
def test_a_block_the_channels_orderers_did_not_sign_is_refused(
    archive: BlockArchive, signer: Member | None, code: str
) -> None:
    chain = _chain(3)
    archive.append(chain[0])
    archive.append(chain[1])
    with pytest.raises(BlockRefused) as refused:
        archive.append(_resigned(chain[2], signer))
    assert refused.value.code == code
    assert archive.height == 2
    archive.append(chain[2])


def test_a_config_update_changes_whose_signatures_count_from_the_next_block(
    tmp_path: Path,
) -> None:
    chain = _chain(2)
    # Block 2 hands the ordering to another org; the old one still signs it (the config in
    # force until it commits).
    update = _block(2, _hash(chain[1]), [], envelopes=[_config(NEW_ORDERER)], last_config=2)
    after = _block(3, _hash(update), ["tx-3-a"], signer=NEW_ORDERER, last_config=2)
    archive = BlockArchive(tmp_path / "chain.sqlite")
    for raw in [*chain, update]:
        archive.append(raw)
    with pytest.raises(BlockRefused) as refused:
        archive.append(_resigned(after, ORDERER))
    assert refused.value.code == "ORDERER_SIGNATURE_INVALID"
    # Reopened, the archive finds the config in force from its tip.
    archive.close()
    again = BlockArchive(tmp_path / "chain.sqlite")
    with pytest.raises(BlockRefused):
        again.append(_resigned(after, ORDERER))
    again.append(after)
    assert again.verify() == []


def test_an_orderer_signature_counts_only_while_its_certificate_stood(
    tmp_path: Path,
) -> None:
    # The orderer's certificate runs ten years from 2026-03-01 (blockkit.CA_FROM).
    lapsed = dt.datetime(2036, 6, 1, tzinfo=dt.UTC)
    archive = BlockArchive(tmp_path / "chain.sqlite")
    chain = _chain(2)
    for raw in chain:
        archive.append(raw)
    late = _block(2, _hash(chain[1]), [], envelopes=[envelope("tx-late", at=lapsed)])
    with pytest.raises(BlockRefused) as refused:
        archive.append(late)
    assert refused.value.code == "CERTIFICATE_EXPIRED"
    assert archive.height == 2
    archive.append(_block(2, _hash(chain[1]), [], envelopes=[envelope("tx-in-time", at=T1)]))
    # Its CA revoked it on 1 June 2026 (the list in the channel's config): blocks of
    # transactions made before still stand, one made after does not.
    revoked = BlockArchive(tmp_path / "revoked.sqlite")
    genesis = _block(
        0,
        b"",
        [],
        signer=None,
        envelopes=[_config(ORDERER, (ORDERER.revocation(T1 + dt.timedelta(days=90)),))],
    )
    revoked.append(genesis)
    before = _block(1, _hash(genesis), [], envelopes=[envelope("tx-before", at=T1)])
    revoked.append(before)
    after = [envelope("tx-after", at=T1 + dt.timedelta(days=91))]
    with pytest.raises(BlockRefused) as refused:
        revoked.append(_block(2, _hash(before), [], envelopes=after))
    assert refused.value.code == "CERTIFICATE_REVOKED"
    assert "revoked 2026-06-01" in str(refused.value)
    assert revoked.verify() == []


def test_a_transaction_id_seen_again_stays_with_its_first_block(archive: BlockArchive) -> None:
    chain = _chain(2)
    for raw in chain:
        archive.append(raw)
    # Fabric orders a replayed transaction and marks it DUPLICATE_TXID; the peer's index
    # keeps the first.
    again = _block(2, BlockView.from_bytes(chain[1]).header_hash().value, ["tx-1-a"])
    archive.append(again)
    assert archive.block_of("tx-1-a") == chain[1]


# --- the follower ------------------------------------------------------------------------------


class _Stream:
    """Blocks as a peer would deliver them from ``start``; ``break_after`` ends the stream
    with an error after that many, as a peer restarting would."""

    def __init__(self, chain: list[bytes], break_after: int | None = None) -> None:
        self.chain, self.break_after = chain, break_after
        self.starts: list[int] = []

    async def __call__(
        self, gateway: Gateway, channel: str, *, start: int
    ) -> AsyncGenerator[bytes, None]:
        self.starts.append(start)
        for sent, raw in enumerate(self.chain[start:]):
            if self.break_after is not None and sent == self.break_after:
                raise ConnectionError("the peer went away")
            await asyncio.sleep(0)
            yield raw


async def test_the_follower_archives_from_its_height_and_resumes_after_a_break(
    archive: BlockArchive,
) -> None:
    chain = _chain(6)
    broken = _Stream(chain, break_after=4)
    follower = ChainFollower(Any, "evidence", archive, blocks=broken)  # type: ignore[arg-type]
    with pytest.raises(ConnectionError):
        await follower.run()
    assert archive.height == 4
    whole = _Stream(chain)
    follower = ChainFollower(Any, "evidence", archive, blocks=whole)  # type: ignore[arg-type]
    assert await follower.run(until_height=6) == 2
    assert whole.starts == [4]
    assert [archive.block(n) for n in range(6)] == chain
    assert await follower.run(until_height=6) == 0  # already there: no stream opened
    assert whole.starts == [4]


async def test_the_follower_stops_at_a_refused_block_with_what_it_had(
    archive: BlockArchive,
) -> None:
    chain = _chain(3)
    forged = [chain[0], chain[1], _block(2, b"\x07" * 32, ["tx-x"])]
    follower = ChainFollower(Any, "evidence", archive, blocks=_Stream(forged))  # type: ignore[arg-type]
    with pytest.raises(BlockRefused):
        await follower.run()
    assert archive.height == 2


# --- exports read from the archive -------------------------------------------------------------


class _Peer:
    """qscc as far as LedgerQueries goes: answers block queries from ``chain``, counting."""

    def __init__(self, chain: list[bytes]) -> None:
        self.chain = chain
        self.asked: list[tuple[str, str]] = []

    def contract(self, channel: str, chaincode: str) -> _Peer:
        return self

    async def evaluate(self, function: str, channel: str, arg: str) -> bytes:
        self.asked.append((function, arg))
        if function == "GetBlockByNumber":
            return self.chain[int(arg)]
        return next(b for b in self.chain if arg in BlockView.from_bytes(b).tx_ids())


async def test_ledger_queries_read_the_archive_first_and_the_peer_for_what_it_lacks(
    archive: BlockArchive,
) -> None:
    chain = _chain(4)
    for raw in chain[:3]:
        archive.append(raw)
    peer = _Peer(chain)
    queries = LedgerQueries(peer, "evidence", archive=archive)  # type: ignore[arg-type]
    assert await queries.block_by_number(1) == chain[1]
    assert await queries.block_by_tx_id("tx-2-b") == chain[2]
    assert peer.asked == []
    # Block 3 committed a moment ago and is not archived yet: the peer answers.
    assert await queries.block_by_tx_id("tx-3-a") == chain[3]
    assert await queries.block_by_number(3) == chain[3]
    assert peer.asked == [("GetBlockByTxID", "tx-3-a"), ("GetBlockByNumber", "3")]
    assert (queries.archived_block_reads, queries.peer_block_reads) == (2, 2)


# --- re-checking the archive (evnet doctor) ----------------------------------------------------


def _archived(tmp_path: Path, length: int = 4) -> tuple[BlockArchive, list[bytes]]:
    archive = BlockArchive(tmp_path / "chain.sqlite")
    chain = _chain(length)
    for raw in chain:
        archive.append(raw)
    return archive, chain


def _edit(archive: BlockArchive, sql: str, *params: object) -> None:
    """Change the file behind the archive's back, as a tamperer with the disk would."""
    with sqlite3.connect(archive.path) as db:
        db.execute(sql, params)


def test_an_untouched_archive_checks_clean(tmp_path: Path) -> None:
    archive, _ = _archived(tmp_path)
    assert archive.verify() == []


@pytest.mark.parametrize(
    ("tamper", "found"),
    [
        # A block's transactions altered, its header left alone.
        (
            lambda a, chain: _edit(
                a, "UPDATE blocks SET raw = ? WHERE number = 1", _tampered(chain, 1)
            ),
            {(1, "DATA_HASH_MISMATCH")},
        ),
        # A block taken out.
        (
            lambda a, chain: _edit(a, "DELETE FROM blocks WHERE number = 2"),
            {(3, "NOT_CONSECUTIVE"), (3, "PREVIOUS_HASH_MISMATCH")},
        ),
        # A whole block replaced by a well-formed one that links to nothing here.
        (
            lambda a, chain: _edit(
                a, "UPDATE blocks SET raw = ? WHERE number = 2", _block(2, b"\x07" * 32, ["x"])
            ),
            {
                (2, "PREVIOUS_HASH_MISMATCH"),
                (2, "HEADER_HASH_MISMATCH"),
                (3, "PREVIOUS_HASH_MISMATCH"),
            },
        ),
        # The stored hash changed, the block not.
        (
            lambda a, chain: _edit(
                a, "UPDATE blocks SET header_hash = ? WHERE number = 3", b"\x00" * 32
            ),
            {(3, "HEADER_HASH_MISMATCH")},
        ),
        (
            # The genesis config broken: no later block can be checked against its orderers.
            lambda a, chain: _edit(a, "UPDATE blocks SET raw = ? WHERE number = 0", b"junk"),
            {(0, "MALFORMED_BLOCK"), *((n, "ORDERER_SIGNATURE_INVALID") for n in (1, 2, 3))},
        ),
        # A block's orderer signature swapped for a stranger's (the header, and so every
        # hash, unchanged: the signature sits in the block's metadata).
        (
            lambda a, chain: _edit(
                a,
                "UPDATE blocks SET raw = ? WHERE number = 2",
                _resigned(chain[2], STRANGER),
            ),
            {(2, "ORDERER_SIGNATURE_INVALID")},
        ),
    ],
)
def test_the_check_names_each_block_changed_behind_the_archives_back(
    tmp_path: Path, tamper: Any, found: set[tuple[int, str]]
) -> None:
    archive, chain = _archived(tmp_path)
    tamper(archive, chain)
    assert {(p.block_number, p.code) for p in archive.verify()} == found


async def test_the_doctor_reports_a_broken_archive(tmp_path: Path) -> None:
    archive, chain = _archived(tmp_path)
    _edit(archive, "UPDATE blocks SET raw = ? WHERE number = 1", _tampered(chain, 1))
    # Not compared with the peer: the copy itself no longer checks.
    problems = await _doctor(tmp_path, archive, _PeerChain(chain[:1]))
    assert [(p.kind, p.subject) for p in problems] == [("ARCHIVE_BROKEN", "block 1")]
    assert "DATA_HASH_MISMATCH" in problems[0].detail


class _PeerChain:
    """A peer holding ``chain`` (its own blocks, read from it directly)."""

    def __init__(self, chain: list[bytes]) -> None:
        self.chain = chain

    async def chain_info(self) -> ChainInfo:
        last = BlockView.from_bytes(self.chain[-1])
        return ChainInfo(len(self.chain), last.header_hash(), last.previous_hash)

    async def block_by_number(self, number: int) -> bytes:
        return self.chain[number]


async def _doctor(tmp_path: Path, archive: BlockArchive, peer: _PeerChain) -> list[Problem]:
    """The sweep of a node holding nothing but ``archive``, its peer ``peer``."""
    return await sweep(
        org="UrbanManagementMSP",
        store=FilesystemBlobStore(tmp_path / "blobs", max_blob_bytes=1 << 20),
        vault=KeyVault(tmp_path / "keys"),
        index=open_index(sqlite_url(tmp_path / "index.sqlite")),
        ledger=_NoEvidence(),
        archive=archive,
        peer=peer,
    )


async def _compared(
    tmp_path: Path, archive: BlockArchive, peer: _PeerChain
) -> list[tuple[str, str]]:
    return [(p.kind, p.subject) for p in await _doctor(tmp_path, archive, peer)]


async def test_the_doctor_compares_the_archive_with_its_peers_own_chain(tmp_path: Path) -> None:
    archive, chain = _archived(tmp_path)
    # The same chain, the peer as far (or further: the follower a block behind).
    assert await _compared(tmp_path, archive, _PeerChain(chain)) == []
    longer = [*chain, _block(4, _hash(chain[3]), ["tx-4-a"])]
    assert await _compared(tmp_path, archive, _PeerChain(longer)) == []
    # A network set up again under the old archive: another chain from the same genesis.
    other = chain[:2]
    for number in (2, 3, 4):
        other.append(_block(number, _hash(other[-1]), [f"tx-{number}-other"]))
    assert await _compared(tmp_path, archive, _PeerChain(other)) == [
        ("ARCHIVE_DIVERGES", "block 3")
    ]
    # The peer's ledger reset: it holds fewer blocks than the archive.
    assert await _compared(tmp_path, archive, _PeerChain(chain[:2])) == [
        ("ARCHIVE_AHEAD_OF_PEER", "block 3")
    ]
    # An empty archive has nothing to compare.
    empty = BlockArchive(tmp_path / "empty.sqlite")
    assert await _compared(tmp_path, empty, _PeerChain(other)) == []


class _NoEvidence:
    async def evidence(self, evidence_id: str) -> None:
        return None

    async def owned_evidence(self, org: str) -> list[str]:
        return []
