"""Build a case's evidence package: record the export on the ledger first, then stream the
evidence, the proofs, the trail and the signed manifest into one tar archive."""

from __future__ import annotations

import asyncio
import io
import tarfile
from collections.abc import Awaitable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from node.crypto.sealing import IntegrityError
from node.department import NodeParts
from node.evidence_sealing import opening_from_store
from node.fabric.blocks import BlockView
from node.fabric.identity import Identity, Signer
from node.fabric.ledger import LedgerQueries
from node.ledger import LedgerClient
from node.package import manifest as layout
from node.package.claims_archive import ClaimsArchive, ClaimsNotArchived
from node.package.manifest import DeviceClaims, Item, Manifest, Member
from schemas.canonical import canonical_json
from schemas.glossary import AccessKind, Outcome
from schemas.hashes import Digest
from schemas.ledger import (
    AccessRecord,
    AccessRequest,
    EvidenceRecord,
    TargetKind,
    TrailBy,
    TrailQuery,
)

DEFAULT_PURPOSE = "evidence_package"
IN_FLIGHT = 32
COPY_SIZE = 1 << 20  # the sealing chunk size: each read is one authenticated chunk
T = TypeVar("T")


class PackageRefused(Exception):
    """The ledger denied the ``package`` access to an item (nothing was written)."""

    def __init__(self, evidence_id: str, reason: str, tx_id: str) -> None:
        super().__init__(f"{evidence_id}: package access denied ({reason}), record {tx_id}")
        self.evidence_id = evidence_id
        self.reason = reason
        self.tx_id = tx_id


@dataclass(frozen=True)
class Exporter:
    """The exporting department: the ledger as its officer, its node, and its signing key."""

    ledger: LedgerClient
    queries: LedgerQueries
    parts: NodeParts
    claims: ClaimsArchive
    identity: Identity
    signer: Signer


async def build_package(
    case_id: str, exporter: Exporter, out: Path, purpose: str = DEFAULT_PURPOSE
) -> Path:
    """Record a ``package`` access for each item of ``case_id``, then write the package to
    ``out`` (a tar archive). Files are streamed; only proofs and the manifest sit in memory.

    Raises:
        PackageRefused: the ledger denied an item (no archive is written).
        LedgerRefused, GatewayError, LedgerQueryError: a ledger call failed.
        IntegrityError, BlobNotFound, KeyNotFound: the node cannot produce an item's bytes.
    """
    ledger = exporter.ledger
    case = await ledger.case(case_id)
    ids = await ledger.case_evidence(case_id)
    gate = asyncio.Semaphore(IN_FLIGHT)

    async def limited(call: Awaitable[T]) -> T:
        async with gate:
            return await call

    # Each request writes its own keys: they commit side by side, without MVCC conflicts.
    requests = [
        AccessRequest(
            target=TargetKind.EVIDENCE, target_id=i, purpose=purpose, kind=AccessKind.PACKAGE
        )
        for i in ids
    ]
    done = await asyncio.gather(*(limited(ledger.request_access(r)) for r in requests))
    for evidence_id, access in zip(ids, done, strict=True):
        if access.value.outcome is not Outcome.GRANTED:
            raise PackageRefused(evidence_id, access.value.reason, access.tx_id)
    exports = [access.tx_id for access in done]
    evidence = await asyncio.gather(*(limited(ledger.evidence(i)) for i in ids))
    records = dict(zip(ids, evidence, strict=True))
    trail: dict[str, AccessRecord] = {}
    for page in await asyncio.gather(*(limited(_trail(ledger, i)) for i in ids)):
        for access_record in page:
            trail[access_record.record_id] = access_record
    tx_ids = sorted({r.registered_tx for r in records.values()} | set(trail))
    queries = exporter.queries
    raw_txs = await asyncio.gather(*(limited(queries.transaction_by_id(t)) for t in tx_ids))
    proofs = dict(zip(tx_ids, raw_txs, strict=True))
    blocks: dict[int, bytes] = {}
    for raw_block in await asyncio.gather(*(limited(queries.block_by_tx_id(t)) for t in tx_ids)):
        blocks[BlockView.from_bytes(raw_block).number] = raw_block
    config = await exporter.queries.config_block()
    trail_json = canonical_json([r.model_dump(mode="json") for r in trail.values()])

    items = [
        Item(
            evidence_id=evidence_id,
            path=layout.evidence_path(evidence_id),
            sha256=record.plaintext_hash,
            size=record.size,
            media_type=record.media_type,
            owner_org=record.owner_org,
            registered_tx=record.registered_tx,
            claims=_claims(exporter.claims, evidence_id),
        )
        for evidence_id, record in records.items()
    ]
    manifest = Manifest(
        format="evidencenet-package/1",
        channel=exporter.queries.channel,
        case=case.model_dump(mode="json"),
        exporter_org=exporter.identity.msp_id,
        export_records=exports,
        items=items,
        trail=_member(layout.TRAIL, trail_json),
        config_block=_member(layout.CONFIG_BLOCK, config),
        blocks=[_member(layout.block_path(n), b) for n, b in sorted(blocks.items())],
        transactions=[_member(layout.transaction_path(t), p) for t, p in proofs.items()],
    )
    body = manifest.canonical_bytes()
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    try:
        with tarfile.TarFile(
            partial, "w", format=tarfile.PAX_FORMAT, copybufsize=COPY_SIZE
        ) as archive:
            _add(archive, layout.MANIFEST, body)
            _add(archive, layout.SIGNATURE, exporter.signer.sign(body))
            _add(archive, layout.SIGNER, exporter.identity.cert_pem)
            for item in items:
                _add_evidence(archive, item, records[item.evidence_id], exporter.parts)
            _add(archive, layout.TRAIL, trail_json)
            _add(archive, layout.CONFIG_BLOCK, config)
            for number, raw in sorted(blocks.items()):
                _add(archive, layout.block_path(number), raw)
            for tx_id, raw in proofs.items():
                _add(archive, layout.transaction_path(tx_id), raw)
        partial.replace(out)
    except BaseException:
        # Evidence bytes are trusted only once their stream verified: a package with an
        # item that failed is never published, not even in part.
        partial.unlink(missing_ok=True)
        raise
    return out


async def _trail(ledger: LedgerClient, evidence_id: str) -> list[AccessRecord]:
    out: list[AccessRecord] = []
    bookmark = ""
    while True:
        page = await ledger.access_trail(
            TrailQuery(by=TrailBy.EVIDENCE, target_id=evidence_id, page_size=100, bookmark=bookmark)
        )
        out.extend(page.records)
        if not page.bookmark or not page.records:
            return out
        bookmark = page.bookmark


def _claims(archive: ClaimsArchive, evidence_id: str) -> DeviceClaims | None:
    try:
        signed = archive.get(evidence_id)
    except ClaimsNotArchived:
        return None
    return DeviceClaims.model_validate(signed.to_json())


def _member(path: str, raw: bytes) -> Member:
    return Member(path=path, sha256=str(Digest.of(raw)))


def _add_evidence(
    archive: tarfile.TarFile, item: Item, record: EvidenceRecord, parts: NodeParts
) -> None:
    """Decrypt the item straight into the archive (no plaintext file, no second copy) and
    check it against the ledger's digests once the last byte is in."""
    info = tarfile.TarInfo(item.path)
    info.size = item.size
    info.mode = 0o644
    with opening_from_store(
        parts.store,
        evidence_id=item.evidence_id,
        ciphertext=Digest.parse(record.ciphertext_hash),
        wrapped_key=parts.vault.get(item.evidence_id),
        keyring=parts.keyring,
        expected_plaintext=Digest.parse(record.plaintext_hash),
    ) as plain:
        try:
            archive.addfile(info, plain)
        except tarfile.ReadError:
            # Fewer bytes than the ledger's size: report it as what it is.
            raise IntegrityError() from None
        result = plain.verified()
    if result.plaintext_size != item.size:
        raise IntegrityError()


def _add(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    archive.addfile(info, io.BytesIO(data))


__all__ = ["Exporter", "PackageRefused", "build_package"]
