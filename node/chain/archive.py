"""The department's own copy of the channel's blocks (区块存档), kept as its peer commits them.

Why a node keeps one: an evidence package proves its case with the blocks that hold its
transactions (docs/PACKAGE.md); read from the peer, each is one signed ``qscc`` query that
the department's peer must answer beside endorsing, on the same cores. Kept here, an export
reads them locally, and an auditor has the chain in the department's hands, checked link
by link, whatever happens to the peer's storage.

Each block is taken only as the next one, and only if it checks: its data hashes to its
header's data hash; its header names the hash of the block before, as stored here; and,
past the genesis block (the channel's founding config, which nobody signs), one of the
channel's orderers signed it, by the config in force: the last config block archived before
it. So the archive is the chain from its genesis, as the ordering service made it, whatever
peer delivered it. A block refused leaves the archive as it was (one SQLite transaction per
block).
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from node.fabric.blocks import BlockView, ChainProblem, MalformedLedgerData, verify_chain
from node.package.trust import ChannelTrust, signed_by

_SCHEMA = """
CREATE TABLE IF NOT EXISTS blocks (
    number INTEGER PRIMARY KEY,
    header_hash BLOB NOT NULL,
    raw BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS block_txs (
    tx_id TEXT PRIMARY KEY,
    number INTEGER NOT NULL
);
"""


class BlockRefused(Exception):
    """A block that does not continue the archived chain; nothing was stored. ``code``:
    ``MALFORMED_BLOCK``, ``NOT_NEXT`` (a gap or a block from an earlier height),
    ``DATA_HASH_MISMATCH``, ``GENESIS_HAS_PREVIOUS_HASH``, ``GENESIS_NOT_CONFIG``,
    ``PREVIOUS_HASH_MISMATCH``, ``ORDERER_SIGNATURE_MISSING``, ``ORDERER_SIGNATURE_INVALID``,
    ``CERTIFICATE_EXPIRED``, ``CERTIFICATE_REVOKED`` (no orderer certificate stood)."""

    def __init__(self, code: str, message: str, *, number: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.number = number


class BlockArchive:
    """Blocks ``0..height-1`` of one channel in a SQLite file, each with its transactions'
    ids; safe to share between threads and readable from other processes at the same time.

    Readers and the writer have a connection each (WAL), so an export reading blocks never
    waits on the follower's commit. Commits are not synced one by one (``synchronous =
    NORMAL``): after a power cut the archive may lack its last blocks, never hold a broken
    one, and the follower fetches them again from its height.
    """

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._write_lock, self._read_lock = threading.Lock(), threading.Lock()
        self._writer = self._connect()
        self._writer.executescript(_SCHEMA)
        self._reader = self._connect()
        # The channel's config in force for the next block (its orderers), from the last
        # config block archived; None before the genesis block.
        self._trust = self._trust_at_tip()

    def _trust_at_tip(self) -> ChannelTrust | None:
        """The config the archived tip names as the last one. None if there is no block yet,
        or if what the file holds does not parse (changed behind the archive's back: then
        no block is taken, and :meth:`verify` says what is wrong)."""
        tip = self._stored("SELECT raw FROM blocks ORDER BY number DESC LIMIT 1")
        try:
            last = None if tip is None else BlockView.from_bytes(tip)
            if last is None or last.is_config:
                config = last
            else:
                named = self._stored(
                    "SELECT raw FROM blocks WHERE number = ?", last.last_config_index
                )
                config = None if named is None else BlockView.from_bytes(named)
            return None if config is None else ChannelTrust.from_config_block(config)
        except MalformedLedgerData:
            return None

    def _stored(self, sql: str, *params: object) -> bytes | None:
        row = self._writer.execute(sql, params).fetchone()
        return None if row is None else bytes(row[0])

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        return db

    def close(self) -> None:
        with self._write_lock, self._read_lock:
            self._writer.close()
            self._reader.close()

    @property
    def height(self) -> int:
        """How many blocks are archived: the number of the next block to take."""
        with self._read_lock:
            row = self._reader.execute("SELECT MAX(number) FROM blocks").fetchone()
        return 0 if row[0] is None else int(row[0]) + 1

    def append(self, raw: bytes) -> BlockView:
        """Store ``raw`` as the next block.

        Raises:
            BlockRefused: it is not the next block, or not well formed, or does not link to
                the block before it, or no orderer of the channel signed it. Nothing is
                stored.
        """
        try:
            block = BlockView.from_bytes(raw)
        except MalformedLedgerData as exc:
            raise BlockRefused("MALFORMED_BLOCK", f"not a block: {exc}") from exc
        with self._write_lock:
            row = self._writer.execute(
                "SELECT number, header_hash FROM blocks ORDER BY number DESC LIMIT 1"
            ).fetchone()
            expected = 0 if row is None else int(row[0]) + 1
            if block.number != expected:
                raise BlockRefused(
                    "NOT_NEXT",
                    f"block {block.number} offered, the archive takes block {expected} next",
                    number=block.number,
                )
            problems = verify_chain([block])  # alone: its data hash, a genesis block's header
            if problems:
                raise BlockRefused(problems[0].code, str(problems[0]), number=block.number)
            if row is not None and (
                block.previous_hash is None or block.previous_hash.value != bytes(row[1])
            ):
                raise BlockRefused(
                    "PREVIOUS_HASH_MISMATCH",
                    f"block {block.number} names previous hash {block.previous_hash}, the "
                    f"archived block {expected - 1} hashes otherwise",
                    number=block.number,
                )
            trust = self._trust
            if block.number == 0 and not block.is_config:
                raise BlockRefused(
                    "GENESIS_NOT_CONFIG", "block 0 is not the channel's config", number=0
                )
            if (signed := _orderer_problem(block, trust)) is not None:
                raise BlockRefused(signed[0], signed[1], number=block.number)
            if block.is_config:
                try:
                    trust = ChannelTrust.from_config_block(block)
                except MalformedLedgerData as exc:
                    raise BlockRefused(
                        "MALFORMED_BLOCK",
                        f"config block {block.number}: {exc}",
                        number=block.number,
                    ) from exc
            tx_ids = [(t, block.number) for t in block.tx_ids() if t]
            self._writer.execute("BEGIN IMMEDIATE")
            try:
                self._writer.execute(
                    "INSERT INTO blocks (number, header_hash, raw) VALUES (?, ?, ?)",
                    (block.number, block.header_hash().value, raw),
                )
                # A transaction id seen again (Fabric marks the copy DUPLICATE_TXID) stays
                # with its first block, as the peer's own index keeps it.
                self._writer.executemany(
                    "INSERT OR IGNORE INTO block_txs (tx_id, number) VALUES (?, ?)", tx_ids
                )
                self._writer.execute("COMMIT")
            except BaseException:
                self._writer.execute("ROLLBACK")
                raise
            self._trust = trust
        return block

    def block(self, number: int) -> bytes | None:
        """Block ``number`` as the peer delivered it, or None if not (yet) archived."""
        return self._read("SELECT raw FROM blocks WHERE number = ?", number)

    def block_of(self, tx_id: str) -> bytes | None:
        """The block that holds transaction ``tx_id``, or None if none archived does."""
        return self._read(
            "SELECT b.raw FROM block_txs t JOIN blocks b ON b.number = t.number WHERE t.tx_id = ?",
            tx_id,
        )

    def _read(self, sql: str, *params: object) -> bytes | None:
        with self._read_lock:
            row = self._reader.execute(sql, params).fetchone()
        return None if row is None else bytes(row[0])

    def verify(self) -> list[ChainProblem]:
        """Read every archived block again and check what :meth:`append` checked, against
        the stored hashes too: what changed in the file since (``evnet doctor``). Codes:
        ``MALFORMED_BLOCK``, ``NOT_CONSECUTIVE`` (a block missing), ``DATA_HASH_MISMATCH``,
        ``GENESIS_HAS_PREVIOUS_HASH``, ``PREVIOUS_HASH_MISMATCH``, ``HEADER_HASH_MISMATCH``
        (the stored hash is not the block's), ``ORDERER_SIGNATURE_MISSING``,
        ``ORDERER_SIGNATURE_INVALID``, ``CERTIFICATE_EXPIRED``, ``CERTIFICATE_REVOKED``."""
        problems: list[ChainProblem] = []
        expected, previous = 0, b""
        trust: ChannelTrust | None = None
        after = -1
        while True:
            with self._read_lock:  # a page at a time: the follower appends meanwhile
                rows = self._reader.execute(
                    "SELECT number, header_hash, raw FROM blocks WHERE number > ? "
                    "ORDER BY number LIMIT 64",
                    (after,),
                ).fetchall()
            if not rows:
                return problems
            for number, stored, raw in rows:
                after = number
                if number != expected:
                    problems.append(
                        ChainProblem(number, "NOT_CONSECUTIVE", f"block {expected} is missing")
                    )
                expected = number + 1
                try:
                    block = BlockView.from_bytes(bytes(raw))
                except MalformedLedgerData as exc:
                    problems.append(ChainProblem(number, "MALFORMED_BLOCK", str(exc)))
                    previous = bytes(stored)
                    continue
                problems += verify_chain([block])
                if number and (
                    block.previous_hash is None or block.previous_hash.value != previous
                ):
                    problems.append(
                        ChainProblem(
                            number,
                            "PREVIOUS_HASH_MISMATCH",
                            f"names previous hash {block.previous_hash}, block {number - 1} "
                            "hashes otherwise",
                        )
                    )
                if block.number != number or block.header_hash().value != bytes(stored):
                    problems.append(
                        ChainProblem(
                            number,
                            "HEADER_HASH_MISMATCH",
                            "the stored block is not the one whose hash was stored with it",
                        )
                    )
                previous = block.header_hash().value
                if (signed := _orderer_problem(block, trust)) is not None:
                    problems.append(ChainProblem(number, signed[0], signed[1]))
                if block.is_config:
                    try:
                        trust = ChannelTrust.from_config_block(block)
                    except MalformedLedgerData as exc:
                        problems.append(ChainProblem(number, "MALFORMED_BLOCK", str(exc)))


def _orderer_problem(block: BlockView, trust: ChannelTrust | None) -> tuple[str, str] | None:
    """Why no orderer of the channel signed ``block`` by the config ``trust`` in force, as
    (code, detail), or None if one did. The genesis block is the channel's founding
    document: nobody signs it.

    A signature counts only if its certificate still stood when the block was signed (no
    earlier than its newest transaction): not lapsed (``CERTIFICATE_EXPIRED``), not revoked
    by a list in the config (``CERTIFICATE_REVOKED``), as a package's verifier judges it,
    so that a key retired or stolen cannot extend the chain kept here."""
    if block.number == 0:
        return None
    if not block.signatures:
        return "ORDERER_SIGNATURE_MISSING", f"block {block.number} carries no orderer signature"
    verified = [
        s.signer
        for s in block.signatures
        if trust is not None
        and s.signer is not None
        and s.signer.msp_id in trust.orderer_msps
        and trust.chains(s.signer)
        and signed_by(s.signer, s.signed_bytes, s.signature)
    ]
    if trust is None or not verified:
        orderers = ", ".join(sorted(trust.orderer_msps)) if trust is not None else "none known"
        return (
            "ORDERER_SIGNATURE_INVALID",
            f"no signature on block {block.number} verifies as one of the channel's orderers "
            f"({orderers})",
        )
    standing = [trust.standing_after(signer, block.latest_time()) for signer in verified]
    if any(problem is None for problem in standing):
        return None
    code, detail = next(p for p in standing if p is not None)
    return code, f"block {block.number}, orderer: {detail}"
