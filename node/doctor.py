"""The integrity sweep behind ``evnet doctor``: store, vault, index and ledger must agree,
and the node's copy of the chain must still be the chain its peer delivered.

Every stored blob is re-hashed; every index row is compared with its ledger record; every
item the ledger says this department registered must have its blob, its key and its row.
Each discrepancy is reported with the item and what exactly is wrong; nothing is repaired.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import select

from node.crypto.sealing import sealed_size
from node.fabric.blocks import BlockView, ChainProblem
from node.fabric.ledger import ChainInfo
from node.index import IndexDatabase
from node.index.schema import EvidenceRow, JournalRow
from node.ledger import LedgerClient, LedgerRefused
from node.store import BlobCorrupted, BlobNotFound, BlobStore
from node.vault import KeyNotFound, KeyVault
from schemas.hashes import Digest
from schemas.ledger import EvidenceRecord, EvidenceStatus, LedgerErrorCode, parse_ledger_time


class LedgerView(Protocol):
    """What the sweep reads from the ledger (node.ledger.LedgerClient via an adapter)."""

    async def evidence(self, evidence_id: str) -> EvidenceRecord | None: ...

    async def owned_evidence(self, org: str) -> Sequence[str]: ...


class ClientLedgerView:
    """:class:`LedgerView` over the chaincode client (NOT_FOUND becomes None)."""

    def __init__(self, client: LedgerClient) -> None:
        self._client = client

    async def evidence(self, evidence_id: str) -> EvidenceRecord | None:
        try:
            return await self._client.evidence(evidence_id)
        except LedgerRefused as exc:
            if exc.code is LedgerErrorCode.NOT_FOUND:
                return None
            raise

    async def owned_evidence(self, org: str) -> Sequence[str]:
        return await self._client.owned_evidence(org)


@dataclass(frozen=True)
class Problem:
    kind: str  # BLOB_MISSING, BLOB_TRUNCATED, BLOB_ALTERED, KEY_MISSING, INDEX_WITHOUT_LEDGER,
    # INDEX_MISMATCH, LEDGER_WITHOUT_INDEX, UNREFERENCED_BLOB, PENDING_INGEST, ARCHIVE_BROKEN,
    # ARCHIVE_AHEAD_OF_PEER, ARCHIVE_DIVERGES
    subject: str  # evidence id or blob digest
    detail: str

    def __str__(self) -> str:
        return f"{self.kind:22} {self.subject}: {self.detail}"


def _blob_problem(store: BlobStore, row: EvidenceRow) -> Problem | None:
    digest = Digest.parse(row.ciphertext_hash)
    try:
        store.verify(digest)
    except BlobNotFound:
        return Problem("BLOB_MISSING", row.evidence_id, f"no blob {digest}")
    except BlobCorrupted as exc:
        with store.open(digest) as blob:
            size = blob.seek(0, 2)
        expected = sealed_size(row.size)
        if size < expected:
            return Problem(
                "BLOB_TRUNCATED", row.evidence_id, f"{size} bytes on disk, {expected} sealed"
            )
        return Problem(
            "BLOB_ALTERED",
            row.evidence_id,
            f"bytes changed or chunks reordered (now hashes to {exc.actual})",
        )
    return None


_COMPARED = ("plaintext_hash", "ciphertext_hash", "size", "media_type", "camera_id", "device_id")


def _row_vs_ledger(row: EvidenceRow, record: EvidenceRecord) -> list[str]:
    differences = [
        f"{name}: index {getattr(row, name)!r}, ledger {getattr(record, name)!r}"
        for name in _COMPARED
        if getattr(row, name) != getattr(record, name)
    ]
    if row.violation_type != record.violation_type.value:
        differences.append(
            f"violation_type: index {row.violation_type!r}, ledger {record.violation_type.value!r}"
        )
    captured = row.captured_at if row.captured_at.tzinfo else row.captured_at.replace(tzinfo=dt.UTC)
    if captured != parse_ledger_time(record.captured_at):
        differences.append(
            f"captured_at: index {captured.isoformat()}, ledger {record.captured_at}"
        )
    return differences


class ArchivedChain(Protocol):
    """The node's copy of the channel's blocks, as far as the sweep reads it
    (node.chain.BlockArchive)."""

    def verify(self) -> list[ChainProblem]: ...
    @property
    def height(self) -> int: ...
    def block(self, number: int) -> bytes | None: ...


class PeerChain(Protocol):
    """The peer's own chain, read from the peer itself (node.fabric.LedgerQueries without
    an archive, so that its answers are not the archive's own blocks)."""

    async def chain_info(self) -> ChainInfo: ...
    async def block_by_number(self, number: int) -> bytes: ...


async def _archive_against_peer(archive: ArchivedChain, peer: PeerChain) -> list[Problem]:
    """The archive's last block against the peer's block of that number. Blocks link by
    hash, so one matching header hash means the whole archived chain is the peer's up to
    there; a mismatch means the two hold different chains (a network set up again under an
    old archive, a peer restored from another channel's ledger)."""
    height = archive.height
    if height == 0:
        return []
    info = await peer.chain_info()
    last = height - 1
    if info.height < height:
        return [
            Problem(
                "ARCHIVE_AHEAD_OF_PEER",
                f"block {last}",
                f"the node's copy holds {height} blocks, its peer {info.height}: the peer's "
                "ledger was reset or rolled back since",
            )
        ]
    ours = archive.block(last)
    if ours is None:  # verify() names a block missing
        return []
    theirs = BlockView.from_bytes(await peer.block_by_number(last)).header_hash()
    kept = BlockView.from_bytes(ours).header_hash()
    if theirs == kept:
        return []
    return [
        Problem(
            "ARCHIVE_DIVERGES",
            f"block {last}",
            f"the node's copy has header hash {kept}, its peer {theirs}: not the same chain",
        )
    ]


async def sweep(
    *,
    org: str,
    store: BlobStore,
    vault: KeyVault,
    index: IndexDatabase,
    ledger: LedgerView,
    archive: ArchivedChain | None = None,
    peer: PeerChain | None = None,
) -> list[Problem]:
    """Every discrepancy between this department's store, vault, index and the ledger, and
    in the node's copy of the chain (``archive``) each block that no longer checks, and,
    with ``peer``, whether it is still the peer's chain.

    Raises:
        LedgerQueryError, MalformedLedgerData: the peer's chain could not be read.
    """
    problems: list[Problem] = []
    if archive is not None:
        problems += [
            Problem("ARCHIVE_BROKEN", f"block {p.block_number}", f"{p.code}: {p.message}")
            for p in archive.verify()
        ]
        if peer is not None and not problems:
            problems += await _archive_against_peer(archive, peer)
    with index.session() as session:
        rows = list(session.execute(select(EvidenceRow)).scalars())
        pending = list(session.execute(select(JournalRow)).scalars())
    problems += [
        Problem(
            "PENDING_INGEST",
            j.evidence_id,
            f"interrupted at {j.state}; restart the node to reconcile",
        )
        for j in pending
    ]
    referenced: set[str] = set()
    indexed: set[str] = set()
    for row in rows:
        indexed.add(row.evidence_id)
        referenced.add(row.ciphertext_hash)
        record = await ledger.evidence(row.evidence_id)
        if record is None:
            problems.append(Problem("INDEX_WITHOUT_LEDGER", row.evidence_id, "no ledger record"))
        else:
            for difference in _row_vs_ledger(row, record):
                problems.append(Problem("INDEX_MISMATCH", row.evidence_id, difference))
        if row.owner_org != org:
            continue  # another department's item in a case this one follows: stored there
        expired = record is not None and record.status is EvidenceStatus.RETENTION_EXPIRED
        if expired:
            continue  # its key was destroyed on purpose; the blob may be purged
        if (blob := _blob_problem(store, row)) is not None:
            problems.append(blob)
        try:
            vault.get(row.evidence_id)
        except KeyNotFound:
            problems.append(Problem("KEY_MISSING", row.evidence_id, "no wrapped data key"))
    for evidence_id in await ledger.owned_evidence(org):
        if evidence_id not in indexed and evidence_id not in {j.evidence_id for j in pending}:
            problems.append(
                Problem(
                    "LEDGER_WITHOUT_INDEX",
                    evidence_id,
                    "registered by this department but not in its index or store",
                )
            )
    referenced |= {j.ciphertext_hash for j in pending if j.ciphertext_hash}
    for digest in store.iter_digests():
        if str(digest) not in referenced:
            problems.append(Problem("UNREFERENCED_BLOB", str(digest), "no index row refers to it"))
    return problems
