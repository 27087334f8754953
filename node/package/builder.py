"""Build a case's evidence package: record the export on the ledger first, then stream the
evidence, the proofs, the trail and the signed manifest into one tar archive."""

from __future__ import annotations

import asyncio
import enum
import functools
import io
import os
import tarfile
import tempfile
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from node.crypto.sealing import IntegrityError
from node.department import NodeParts
from node.durable import sync_directory
from node.fabric.blocks import BlockView, TransactionView
from node.fabric.identity import Identity, Signer
from node.fabric.ledger import LedgerQueries, LedgerQueryError
from node.ledger import LedgerClient, LedgerRefused
from node.package import evidence_files
from node.package import manifest as layout
from node.package.archive_file import ArchiveFile, StagedArchive
from node.package.archive_stream import ArchiveStream
from node.package.claims_archive import ClaimsArchive, ClaimsNotArchived
from node.package.manifest import DeviceClaims, Item, Manifest, Member
from node.store.errors import BlobNotFound
from schemas.canonical import canonical_json
from schemas.glossary import AccessKind, Outcome
from schemas.hashes import Digest
from schemas.ledger import (
    MAX_PACKAGE_BATCH,
    MAX_PAGE_SIZE,
    AccessRecord,
    AccessRequest,
    CaseRecord,
    EvidenceRecord,
    LedgerErrorCode,
    PackageAccessRequest,
    TargetKind,
    TrailBy,
    TrailQuery,
    case_state_key,
    record_tx_id,
)

if TYPE_CHECKING:  # (node.redaction at run time would bring OpenCV into every verifier)
    from node.exchange.client import Released
    from node.redaction.archive import CopyArchive

DEFAULT_PURPOSE = "evidence_package"
IN_FLIGHT = 32
# Each item's first trail page in the bulk read: an answer for 100 items stays near 1 MB.
FIRST_TRAIL_PAGE = 20
BLOCKS_IN_FLIGHT = 16  # qscc block reads at a time: each block parses on the peer and here
COPY_SIZE = 1 << 20  # reads when copying another department's fetched item into the archive
FETCHES_IN_FLIGHT = 4  # other departments' items fetched at a time
T = TypeVar("T")


class PackageRefused(Exception):
    """The ledger denied the ``package`` access to an item (nothing was written)."""

    def __init__(self, evidence_id: str, reason: str, tx_id: str) -> None:
        super().__init__(f"{evidence_id}: package access denied ({reason}), record {tx_id}")
        self.evidence_id = evidence_id
        self.reason = reason
        self.tx_id = tx_id


class ForeignEvidenceUnavailable(Exception):
    """The case holds items of other departments and this exporter cannot fetch them (no
    exchange is configured). Raised before anything is recorded."""

    def __init__(self, owners: list[str]) -> None:
        super().__init__(
            f"the case holds items of {', '.join(owners)}; this node has no exchange to fetch "
            "them from their owners"
        )
        self.owners = owners


class ForeignEvidence(Protocol):
    """Fetches another department's item from its owner's node (:mod:`node.exchange`)."""

    async def fetch(self, item: EvidenceRecord, access_tx: str, destination: Path) -> Released:
        """Write the item's plaintext, released against the committed access record
        ``access_tx`` and checked against the ledger's digest, to ``destination``; return
        what was released, with the item's claims or derivation description."""
        ...


class _Limit:
    """At most ``n`` ledger calls in flight: ``await limited(fn, *args)``. The call is made
    only once its turn comes, so one cancelled while waiting leaves no coroutine behind."""

    def __init__(self, n: int) -> None:
        self._gate = asyncio.Semaphore(n)

    async def __call__(self, fn: Callable[..., Awaitable[T]], /, *args: Any, **kwargs: Any) -> T:
        async with self._gate:
            return await fn(*args, **kwargs)


class Destination(enum.Enum):
    """What becomes of a package's archive, which decides how it is written."""

    KEPT = "kept"
    """A file the caller keeps (``evnet package --out``): written around the page cache,
    since nothing on this node reads it again, and synced before it appears at its path,
    its directory after: a package reported built survives a crash, as every other file
    the node publishes does."""

    SPOOL = "spool"
    """Read back at once and removed: written through the page cache, where that read finds
    it instead of going to the disk; no disk blocks reserved and not synced, since it is
    usually removed before the kernel writes it out. The gateway's download was built so
    until it was streamed (:func:`stream_package`); ``scripts/bench_package.py
    --destination spool`` measures it against the stream (docs/BENCHMARKS.md, "Evidence
    packages")."""


@dataclass(frozen=True)
class Exporter:
    """The exporting department: the ledger as its officer, its node, and its signing key."""

    ledger: LedgerClient
    queries: LedgerQueries
    parts: NodeParts
    claims: ClaimsArchive
    identity: Identity
    signer: Signer
    # Other departments' items (a case transferred here, or holding a partner's item) come
    # from their owners' nodes against this export's own access records.
    foreign: ForeignEvidence | None = None
    # The node's redacted copies: a copy in the case carries its derivation description.
    copies: CopyArchive | None = None


async def build_package(
    case_id: str,
    exporter: Exporter,
    out: Path,
    purpose: str = DEFAULT_PURPOSE,
    destination: Destination = Destination.KEPT,
) -> Path:
    """Record a ``package`` access for each item of ``case_id`` and write the package to
    ``out`` (a tar archive), as ``destination`` says. Files are streamed; only proofs and
    the manifest sit in memory.

    The archive appears at ``out`` only once every access record committed VALID and every
    item decrypted intact. Items are decrypted into ``<out>.partial``, each from the moment
    the chaincode granted its batch (the endorsement), while the records are ordered and
    committed and while the proofs are read; nothing of it leaves this node before the
    commit, and on any failure the partial file is removed. Another department's item is
    fetched from its owner's node (``exporter.foreign``) once the export's record for it
    committed, staged beside ``out`` and removed once in the archive.

    Raises:
        ForeignEvidenceUnavailable: the case holds other departments' items and
            ``exporter.foreign`` is None (nothing is recorded).
        PackageRefused: the ledger denied an item (no archive is written).
        LedgerRefused, GatewayError, LedgerQueryError: a ledger call failed.
        IntegrityError, BlobNotFound, KeyNotFound: the node cannot produce an item's bytes.
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    kept = destination is Destination.KEPT

    def archive_file(items: list[Item]) -> ArchiveFile:
        file = ArchiveFile(partial, direct=kept, sync=kept)
        if kept:
            # A spool file reserves none: removed before the kernel writes it out, it never
            # needs disk blocks (ext4 allocates them at writeback).
            file.reserve(evidence_files.member_bytes(i.size for i in items))
        return file

    try:
        await _write_package(case_id, exporter, purpose, archive_file, partial, None)
        partial.replace(out)
        if kept:
            sync_directory(out.parent)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return out


async def stream_package(
    case_id: str,
    exporter: Exporter,
    stream: ArchiveStream,
    staging: Path,
    on_open: Callable[[list[str]], object],
    purpose: str = DEFAULT_PURPOSE,
) -> None:
    """Record a ``package`` access for each item of ``case_id`` and write the package into
    ``stream``, as :func:`build_package` writes a file. Its reader is let in
    (:meth:`ArchiveStream.open`, then ``on_open`` with the export's access record ids) only
    once every record committed, every other department's item was fetched (staged as
    ``staging``'s siblings, named after it) and the manifest was signed; a failure before
    leaves nothing read. After it, only this node's own items can fail: the stream then
    fails (:class:`StreamFailed` for its reader). The same errors as :func:`build_package`.
    """

    def opening(records: list[str]) -> None:
        stream.open()
        on_open(records)

    await _write_package(case_id, exporter, purpose, lambda _: stream, staging, opening)


async def _write_package(
    case_id: str,
    exporter: Exporter,
    purpose: str,
    archive_for: Callable[[list[Item]], StagedArchive],
    staging: Path,
    opening: Callable[[list[str]], None] | None,
) -> None:
    """Record the export and write the package into the archive ``archive_for`` gives for
    the case's items (closed once whole, discarded on any failure). ``opening`` is called
    with the export's record ids once only the own items' decryption can still fail."""
    ledger, queries = exporter.ledger, exporter.queries
    case, ids = await asyncio.gather(ledger.case(case_id), ledger.case_evidence(case_id))
    limited = _Limit(IN_FLIGHT)
    batches = [
        PackageAccessRequest(evidence_ids=ids[i : i + MAX_PACKAGE_BATCH], purpose=purpose)
        for i in range(0, len(ids), MAX_PACKAGE_BATCH)
    ]
    # Each batch's items may be decrypted once the chaincode granted that batch (its
    # endorsement), not before: set on this loop, waited on by the decrypting thread.
    grants = [threading.Event() for _ in batches]
    first_granted = asyncio.Event()
    if not batches:  # a case without items: nothing to record or decrypt
        first_granted.set()

    def on_endorsed(n: int) -> None:
        grants[n].set()
        first_granted.set()

    # While the export is endorsed, read the items' records (the decryption needs them).
    reading = asyncio.ensure_future(
        asyncio.gather(*(limited(ledger.evidence_items, b.evidence_ids) for b in batches))
    )
    if exporter.foreign is None:
        # Without an exchange another department's item cannot be packaged: say so before
        # the export is recorded, not after (this read then precedes the endorsement) —
        # unless the ledger would deny the export: a refusal is recorded first, as always.
        owners = {r.owner_org for part in await reading for r in part}
        others = sorted(owners - {exporter.identity.msp_id})
        if others and await _all_granted(ledger, batches, limited):
            raise ForeignEvidenceUnavailable(others)
    exporting = asyncio.ensure_future(_record_export(ledger, batches, limited, on_endorsed))
    started: list[asyncio.Future[Any]] = [reading, exporting]
    stop = threading.Event()
    file: StagedArchive | None = None
    writing: asyncio.Future[None] | None = None
    finishing: asyncio.Future[None] | None = None
    staged: list[Path] = []
    try:
        waiting = asyncio.ensure_future(first_granted.wait())
        started.append(waiting)
        await asyncio.wait([waiting, exporting], return_when=asyncio.FIRST_COMPLETED)
        if not first_granted.is_set():
            await exporting  # refused before any batch was granted: raises
        records = dict(zip(ids, (r for part in await reading for r in part), strict=True))
        items = [_item(i, r, exporter.claims, exporter.copies) for i, r in records.items()]
        own = [i for i in items if i.owner_org == exporter.identity.msp_id]
        remote = [records[i.evidence_id] for i in items if i.owner_org != exporter.identity.msp_id]
        file = archive_for(items)
        ciphertexts = {i: Digest.parse(r.ciphertext_hash) for i, r in records.items()}
        writing = asyncio.ensure_future(
            asyncio.to_thread(
                evidence_files.write_own_evidence,
                file,
                own,
                ciphertexts,
                {i: grants[n] for n, b in enumerate(batches) for i in b.evidence_ids},
                exporter.parts,
                stop,
            )
        )
        started.append(writing)
        # While the export commits, read what it does not change: the items' trails so far
        # and the blocks holding those transactions. The export's own records come back
        # from its transactions; only their block is read after the commit. (Read after the
        # commit, a trail is likelier to hold someone's later access, which a verifier
        # rightly takes for a replayed export.)
        earlier = asyncio.ensure_future(_trails_and_blocks(ledger, queries, records, limited))
        started.append(earlier)
        exports = await exporting
        for grant in grants:  # all committed, so all granted (should a callback be late)
            grant.set()
        fetched: list[tuple[Item, Path]] = []
        fetching: asyncio.Future[list[tuple[Item, Path]]] | None = None
        if remote:
            if exporter.foreign is None:  # evaluated as denied, granted since: recorded now
                raise ForeignEvidenceUnavailable(sorted({r.owner_org for r in remote}))
            fetching = asyncio.ensure_future(
                _fetch_foreign(exporter.foreign, remote, exports, items, staging, staged)
            )
            started.append(fetching)
        trail, blocks = await earlier
        trail.update((r.record_id, r) for r in exports)
        links = await _derivation_links(ledger, items, limited)
        tx_ids = (
            {r.registered_tx for r in records.values()}
            | {record_tx_id(r) for r in trail}
            | set(links.values())
        )
        more, config = await asyncio.gather(
            _blocks_of(queries, tx_ids, blocks), queries.config_block()
        )
        blocks.update(more)
        # The case as the export read it, and the transaction that wrote it (its block joins
        # the proofs), so that a verifier sees the ledger's case, not only the exporter's.
        case, case_tx, version = await _case_as_exported(queries, blocks, exports, case)
        if case_tx is not None:
            tx_ids.add(case_tx)
        # What became of its documents: each served on the party, each decision set aside.
        tx_ids |= await _served_and_set_aside(ledger, queries, blocks, case, version)
        # Every legal step up to the case as exported (read after the export committed, so
        # none is missing; a later one is left out), each with its block: who took it, when,
        # and the hash of its document, proven.
        steps = {e.tx for e in await ledger.case_history(case_id) if e.seq <= case.stage_changes}
        if case.flag_id is not None:
            # And the flag's loop that led to the case (detection, review, the reminders):
            # it ended when the case was opened, so it is whole.
            steps |= {e.tx_id for e in await ledger.violation_history(case.flag_id)}
        if steps - tx_ids:
            tx_ids |= steps
            blocks.update(await _blocks_of(queries, tx_ids, blocks))
        if BlockView.from_bytes(config).number == 0 and 1 not in blocks:
            # Nobody signs the genesis block; block 1, which the orderers signed, names its
            # header hash, and so anchors the config a verifier trusts (docs/PACKAGE.md).
            blocks[1] = BlockView.from_bytes(await queries.block_by_number(1))
        if fetching is not None:
            fetched = await fetching
            # Their claims or derivation descriptions came with them from their owners.
            from_owner = {item.evidence_id: item for item, _ in fetched}
            items = [from_owner.get(i.evidence_id, i) for i in items]
            copies = [i for i in items if i.evidence_id not in links]
            if theirs := await _derivation_links(ledger, copies, limited):
                links.update(theirs)
                tx_ids |= set(theirs.values())
                blocks.update(await _blocks_of(queries, tx_ids, blocks))
        items = [
            i.model_copy(update={"derivation_tx": links[i.evidence_id]})
            if i.evidence_id in links
            else i
            for i in items
        ]
        proofs = _transactions_of(blocks, tx_ids)
        trail_json = canonical_json([r.model_dump(mode="json") for r in trail.values()])
        manifest = Manifest(
            format=layout.FORMAT,
            channel=queries.channel,
            case=case.model_dump(mode="json"),
            exporter_org=exporter.identity.msp_id,
            export_records=[r.record_id for r in exports],
            items=items,
            trail=_member(layout.TRAIL, trail_json),
            config_block=_member(layout.CONFIG_BLOCK, config),
            blocks=[_member(layout.block_path(n), b.raw) for n, b in sorted(blocks.items())],
            transactions=[
                _member(layout.transaction_path(t), p) for t, p in sorted(proofs.items())
            ],
        )
        body = manifest.canonical_bytes()
        signature = exporter.signer.sign(body)
        if opening is not None:
            # Past this point a failure can only cut the reader's stream: first, what can
            # be known without decrypting — every own item's blob and key are here.
            if writing.done():
                writing.result()
            await asyncio.to_thread(_check_readable, own, ciphertexts, exporter.parts)
            opening([r.record_id for r in exports])
        await writing
        # In a thread: a stream's reader may make these writes wait, and must not wait
        # for this loop.
        finishing = asyncio.ensure_future(
            asyncio.to_thread(
                _write_rest,
                file,
                fetched,
                [
                    (layout.TRAIL, trail_json),
                    (layout.CONFIG_BLOCK, config),
                    *((layout.block_path(n), b.raw) for n, b in sorted(blocks.items())),
                    *((layout.transaction_path(t), raw) for t, raw in sorted(proofs.items())),
                    (layout.MANIFEST, body),
                    (layout.SIGNATURE, signature),
                    (layout.SIGNER, exporter.identity.cert_pem),
                ],
            )
        )
        started.append(finishing)
        await finishing
    except BaseException:
        # Evidence bytes are trusted only once their stream verified and their access
        # committed: a package with an item or a record that failed is never published,
        # not even in part.
        stop.set()
        if file is not None:
            file.fail()  # a hand-over waiting for a stream's reader gives up
        for future in started:
            if future not in (writing, finishing):  # a thread cannot be cancelled: the
                future.cancel()  # evidence stops at its next chunk, seeing ``stop``
        await _settle(started)
        if file is not None:
            file.discard()
        raise
    finally:
        for path in staged:
            path.unlink(missing_ok=True)


async def _settle(futures: list[asyncio.Future[Any]]) -> None:
    """Wait until every future is done; their outcomes are superseded by the error at hand."""
    await asyncio.wait(futures)
    for future in futures:
        if not future.cancelled():
            future.exception()  # retrieved, so asyncio does not report it as lost


def _item(
    evidence_id: str,
    record: EvidenceRecord,
    claims: ClaimsArchive,
    copies: CopyArchive | None = None,
) -> Item:
    signed = _claims(claims, evidence_id)
    entry = copies.get(evidence_id) if copies is not None and signed is None else None
    return Item(
        evidence_id=evidence_id,
        path=layout.evidence_path(evidence_id),
        # The ledger's registered digest, not one computed here: the bytes written are
        # authenticated chunk by chunk under the item's own key (see evidence_files), and
        # every verifier hashes the file against this value anyway.
        sha256=record.plaintext_hash,
        size=record.size,
        media_type=record.media_type,
        owner_org=record.owner_org,
        registered_tx=record.registered_tx,
        claims=signed,
        derivation=None if entry is None else entry.description.model_dump(mode="json"),
    )


async def _all_granted(
    ledger: LedgerClient, batches: list[PackageAccessRequest], limited: _Limit
) -> bool:
    """Whether the chaincode would grant the ``package`` access of every item now
    (evaluated, nothing recorded)."""
    asks = [
        AccessRequest(
            target=TargetKind.EVIDENCE, target_id=i, purpose=b.purpose, kind=AccessKind.PACKAGE
        )
        for b in batches
        for i in b.evidence_ids
    ]
    previews = await asyncio.gather(*(limited(ledger.preview_access, a) for a in asks))
    return all(p.outcome is Outcome.GRANTED for p in previews)


async def _record_export(
    ledger: LedgerClient,
    batches: list[PackageAccessRequest],
    limited: _Limit,
    on_endorsed: Callable[[int], object],
) -> list[AccessRecord]:
    """Commit the export's ``package`` records: one RequestPackageAccess transaction per
    batch (each writes its own keys, so they commit side by side); ``on_endorsed(n)``, on
    this loop, once the chaincode granted batch ``n``.

    Raises:
        PackageRefused: an item is denied; its denial is recorded on its own first.
    """
    loop = asyncio.get_running_loop()
    # Every batch runs to its end, so none is still in flight when this returns or raises.
    done = await asyncio.gather(
        *(
            limited(
                ledger.request_package_access,
                b,
                # The ledger client may call from another thread.
                on_endorsed=functools.partial(loop.call_soon_threadsafe, on_endorsed, n),
            )
            for n, b in enumerate(batches)
        ),
        return_exceptions=True,
    )
    records: list[AccessRecord] = []
    for batch, result in zip(batches, done, strict=True):
        if isinstance(result, LedgerRefused) and result.code is LedgerErrorCode.ACCESS_DENIED:
            await _record_denial(ledger, batch, limited)
        if isinstance(result, BaseException):
            raise result
        records.extend(result.value)
    return records


async def _record_denial(
    ledger: LedgerClient,
    batch: PackageAccessRequest,
    limited: _Limit,
) -> None:
    """A refused batch records nothing; find the denied items (evaluated, nothing recorded)
    and record each denial on its own, so every denied item's trail shows the refused
    export like any refused access. Returns if every item is granted by now (the caller
    re-raises the refusal).

    Raises:
        PackageRefused: naming the first denied item and its committed denial.
    """
    asks = [
        AccessRequest(
            target=TargetKind.EVIDENCE,
            target_id=i,
            purpose=batch.purpose,
            kind=AccessKind.PACKAGE,
        )
        for i in batch.evidence_ids
    ]
    previews: list[AccessRecord] = await asyncio.gather(
        *(limited(ledger.preview_access, a) for a in asks)
    )
    denied = [a for a, p in zip(asks, previews, strict=True) if p.outcome is not Outcome.GRANTED]
    recorded = await asyncio.gather(*(limited(ledger.request_access, a) for a in denied))
    for ask, denial in zip(denied, recorded, strict=True):
        if denial.value.outcome is not Outcome.GRANTED:
            raise PackageRefused(ask.target_id, denial.value.reason, denial.tx_id)


async def _trails_and_blocks(
    ledger: LedgerClient,
    queries: LedgerQueries,
    records: dict[str, EvidenceRecord],
    limited: _Limit,
) -> tuple[dict[str, AccessRecord], dict[int, BlockView]]:
    """The items' access trails, and the blocks holding those records and registrations."""
    ids = list(records)
    firsts = await asyncio.gather(
        *(
            limited(ledger.item_trails, ids[i : i + MAX_PACKAGE_BATCH], FIRST_TRAIL_PAGE)
            for i in range(0, len(ids), MAX_PACKAGE_BATCH)
        )
    )
    trail: dict[str, AccessRecord] = {}
    rest = []
    for first in (t for part in firsts for t in part):
        trail.update((r.record_id, r) for r in first.records)
        if first.bookmark and first.records:  # a long trail: the rest page by page
            rest.append(limited(_trail, ledger, first.evidence_id, first.bookmark))
    for page in await asyncio.gather(*rest):
        trail.update((r.record_id, r) for r in page)
    tx_ids = {r.registered_tx for r in records.values()} | {record_tx_id(r) for r in trail}
    return trail, await _blocks_of(queries, tx_ids)


async def _derivation_links(
    ledger: LedgerClient, items: list[Item], limited: _Limit
) -> dict[str, str]:
    """The RecordDerivation transaction of each redacted copy among ``items`` (those with a
    derivation description), by copy id. A copy whose link is not on the ledger gets none:
    the verifier names it (DERIVATION_NOT_RECORDED)."""
    copies = [i.evidence_id for i in items if i.derivation is not None]

    async def link(evidence_id: str) -> str | None:
        try:
            return (await ledger.derived_from(evidence_id)).recorded_tx
        except LedgerRefused as err:
            if err.code is LedgerErrorCode.NOT_FOUND:
                return None
            raise

    found = await asyncio.gather(*(limited(link, i) for i in copies))
    return {i: tx for i, tx in zip(copies, found, strict=True) if tx is not None}


async def _blocks_of(
    queries: LedgerQueries, tx_ids: set[str], known: dict[int, BlockView] | None = None
) -> dict[int, BlockView]:
    """The blocks holding those of ``tx_ids`` that no block in ``known`` holds, each fetched
    once: many transactions share a block (an export's batch, registrations ordered
    together), so a worker takes the next transaction no fetched block holds yet. At most
    BLOCKS_IN_FLIGHT queries at a time."""
    blocks: dict[int, BlockView] = {}
    covered = {t for b in (known or {}).values() for t in b.tx_ids() if t is not None}
    pending = sorted(tx_ids - covered)

    async def worker() -> None:
        while pending:
            tx_id = pending.pop()
            if tx_id in covered:
                continue
            block = BlockView.from_bytes(await queries.block_by_tx_id(tx_id))
            blocks[block.number] = block
            covered.update(t for t in block.tx_ids() if t is not None)

    await asyncio.gather(*(worker() for _ in range(min(BLOCKS_IN_FLIGHT, len(pending)))))
    return blocks


async def _fetch_foreign(
    foreign: ForeignEvidence,
    remote: list[EvidenceRecord],
    exports: list[AccessRecord],
    items: list[Item],
    staging: Path,
    staged: list[Path],
) -> list[tuple[Item, Path]]:
    """Fetch each other department's item against the export's committed record for it,
    into a staging file beside ``staging`` (listed in ``staged`` for removal); each item
    with the claims or derivation description its owner released."""
    record_of = {r.target_id: r.record_id for r in exports}
    item_of = {i.evidence_id: i for i in items}
    gate = asyncio.Semaphore(FETCHES_IN_FLIGHT)

    async def one(record: EvidenceRecord) -> tuple[Item, Path]:
        fd, name = tempfile.mkstemp(prefix=f".{staging.name}.", dir=staging.parent)
        os.close(fd)
        path = Path(name)
        staged.append(path)
        async with gate:
            released = await foreign.fetch(record, record_of[record.evidence_id], path)
        claims = released.claims
        item = item_of[record.evidence_id].model_copy(
            update={
                "claims": None if claims is None else DeviceClaims.model_validate(claims),
                "derivation": released.derivation,
            }
        )
        return item, path

    return list(await asyncio.gather(*(one(r) for r in remote)))


def _check_readable(items: list[Item], ciphertexts: dict[str, Digest], parts: NodeParts) -> None:
    """Raises KeyNotFound or BlobNotFound for the first item this node cannot open."""
    for item in items:
        parts.vault.get(item.evidence_id)
        if not parts.store.exists(ciphertexts[item.evidence_id]):
            raise BlobNotFound(ciphertexts[item.evidence_id])


def _write_rest(
    file: StagedArchive, fetched: list[tuple[Item, Path]], members: list[tuple[str, bytes]]
) -> None:
    """After the own evidence's members, the rest of the archive (``tarfile`` goes on from
    the file's position): the other departments' items, then the proofs, and last the
    signed manifest that binds them (verifiers read members by name). Closes ``file``."""
    archive = tarfile.TarFile(
        fileobj=file, mode="w", format=evidence_files.FORMAT, copybufsize=COPY_SIZE
    )
    _add_staged(archive, fetched)
    for name, data in members:
        _add(archive, name, data)
    archive.close()
    file.close()


def _add_staged(archive: tarfile.TarFile, fetched: list[tuple[Item, Path]]) -> None:
    for item, path in fetched:
        info = evidence_files.member_info(item.path, path.stat().st_size)
        if info.size != item.size:  # the fetch checked the digest; a size apart is a bug
            raise IntegrityError()
        with path.open("rb") as f:
            archive.addfile(info, f)
        path.unlink()


async def _case_as_exported(
    queries: LedgerQueries,
    blocks: dict[int, BlockView],
    exports: list[AccessRecord],
    read_before: CaseRecord,
) -> tuple[CaseRecord, str | None, tuple[int, int] | None]:
    """The case as the export's transactions read it, the transaction that wrote it, and
    that write's version (block, index).

    Deciding an item's export reads the cases it is attached to; each read carries the
    version of the case's last write (block, index), and a VALID transaction's reads were
    still current at its commit. The latest version read names the write to prove; its block
    is fetched into ``blocks`` if missing. ``read_before`` (the case as read before the
    export) stands if no export read the case, which a verifier then names.
    """
    key = case_state_key(read_before.case_id)
    versions: list[tuple[int, int]] = []
    for tx_id in dict.fromkeys(record_tx_id(r.record_id) for r in exports):
        tx = _transaction_in(blocks, tx_id)
        if tx is not None:
            versions += [
                r.version for r in tx.reads(layout.CHAINCODE) if r.key == key and r.version
            ]
    if not versions:
        return read_before, None, None
    number, index = max(versions)
    if number not in blocks:
        blocks[number] = BlockView.from_bytes(await queries.block_by_number(number))
    writer = blocks[number].transaction_at(index)
    for write in writer.writes(layout.CHAINCODE):
        if write.key == key and not write.is_delete:
            return CaseRecord.model_validate_json(write.value), writer.tx_id, (number, index)
    return read_before, None, None


async def _served_and_set_aside(
    ledger: LedgerClient,
    queries: LedgerQueries,
    blocks: dict[int, BlockView],
    case: CaseRecord,
    version: tuple[int, int] | None,
) -> set[str]:
    """The transactions that served the case's documents on the party (RecordService) and
    set its decisions aside (SetAsideDecision), up to the case as exported; their blocks
    join ``blocks``.

    Each of them wrote the case (it counts them), so those committed after ``version`` came
    after the export read the case and are left out, as a later step is: the package proves
    exactly as many as its case counts. Without a version (no export read the case) every
    one is taken.
    """
    if not (case.services or case.set_asides):
        return set()
    served, set_aside = await asyncio.gather(
        ledger.case_services(case.case_id), ledger.decision_set_asides(case.case_id)
    )
    wanted = {r.recorded_tx for r in served} | {r.recorded_tx for r in set_aside}
    found = await _blocks_of(queries, wanted, blocks)
    kept: set[str] = set()
    for number, block in {**blocks, **found}.items():
        for tx_id in wanted:
            index = block.index_of(tx_id)
            if index is not None and (version is None or (number, index) <= version):
                kept.add(tx_id)
    blocks.update((n, b) for n, b in found.items() if any(b.index_of(t) is not None for t in kept))
    return kept


def _transaction_in(blocks: dict[int, BlockView], tx_id: str) -> TransactionView | None:
    for block in blocks.values():
        index = block.index_of(tx_id)
        if index is not None:
            return block.transaction_at(index)
    return None


def _transactions_of(blocks: dict[int, BlockView], tx_ids: set[str]) -> dict[str, bytes]:
    """Each transaction's proof (``ProcessedTransaction``), taken from its fetched block."""
    proofs: dict[str, bytes] = {}
    for block in blocks.values():
        for index, tx_id in enumerate(block.tx_ids()):
            if tx_id in tx_ids and tx_id not in proofs:
                proofs[tx_id] = block.processed_transaction(index)
    missing = tx_ids - set(proofs)
    if missing:  # block_by_tx_id checked each answer holds its transaction
        raise LedgerQueryError(
            f"no fetched block holds {sorted(missing)[0]}", function="GetBlockByTxID"
        )
    return proofs


async def _trail(ledger: LedgerClient, evidence_id: str, bookmark: str) -> list[AccessRecord]:
    """The item's trail from ``bookmark`` on."""
    out: list[AccessRecord] = []
    while True:
        page = await ledger.access_trail(
            TrailQuery(
                by=TrailBy.EVIDENCE,
                target_id=evidence_id,
                page_size=MAX_PAGE_SIZE,
                bookmark=bookmark,
            )
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


def _add(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    archive.addfile(evidence_files.member_info(name, len(data)), io.BytesIO(data))


__all__ = [
    "Destination",
    "Exporter",
    "ForeignEvidence",
    "ForeignEvidenceUnavailable",
    "PackageRefused",
    "build_package",
]
