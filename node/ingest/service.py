"""Ingest: verify the device's claims (or an officer's capture), then seal, store, register
and index each file.

Crash safety comes from the order of durable steps and a journal row in the node database:

1. journal row ``sealing`` (evidence id, claims)         — crash: reconcile drops the row
2. blob sealed into the store (fsync, atomic rename)      — crash: an unreferenced blob;
3. wrapped data key into the vault                          reconcile removes it
4. journal row ``sealed`` with the hashes                 — crash: reconcile registers
5. ``RegisterEvidence`` on the ledger (idempotent by id)    (again: same id, same content)
6. index row and journal deletion, in one transaction      and indexes

A retried upload of an item whose journal row is ``sealed`` (the ledger call failed, maybe
after committing) resumes at step 5 with the stored ciphertext instead of sealing again.

Evidence ids derive from (org, event id, file name), so a retried upload — after a crash,
a timeout, anything — lands on the same ids: registration is a no-op the second time and
the index row is an upsert. Nothing is ever duplicated; the device is told "stored" only
after step 6, and retries anything else.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import weakref
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import delete, select

from node.crypto.key_wrap import KeyRing
from node.evidence_sealing import seal_to_store
from node.index import IndexDatabase
from node.index.schema import EvidenceRow, JournalRow
from node.ingest.devices import DeviceVerifier
from node.ingest.errors import MEDIA_MISMATCH, TOO_LARGE, UNKNOWN_MEDIA, IngestRefused
from node.store import BlobStore, BlobTooLarge
from node.streams import Readable
from node.vault import KeyVault
from schemas.claims import (
    CaseDocumentClaims,
    DeviceClaims,
    EvidenceClaims,
    MediaRef,
    OfficerCaptureClaims,
    canonical_bytes,
    claims_digest,
    evidence_id_for,
    parse_evidence_claims,
)
from schemas.hashes import Digest
from schemas.ledger import DocumentFiling, EvidenceContent, EvidenceRecord, EvidenceRegistration

SEALING, SEALED = "sealing", "sealed"


class Registrar(Protocol):
    """The ledger side (node.ledger.LedgerClient satisfies it)."""

    async def register_evidence(self, reg: EvidenceRegistration) -> Any: ...
    async def file_document(self, filing: DocumentFiling) -> Any: ...


@dataclass(frozen=True)
class Ingested:
    evidence_id: str
    media_name: str
    ledger_tx: str
    duplicate: bool  # True when this upload had already been stored: nothing new was written


def _no_crash(step: str) -> None:
    return None


class IngestService:
    def __init__(
        self,
        *,
        verifier: DeviceVerifier,
        store: BlobStore,
        vault: KeyVault,
        keyring: KeyRing,
        ledger: Registrar,
        index: IndexDatabase,
        max_item_bytes: int,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
        crash_point: Callable[[str], None] = _no_crash,
        also_referenced: Callable[[], Iterable[str]] = lambda: (),
    ) -> None:
        self.verifier, self.store, self.vault, self.keyring = verifier, store, vault, keyring
        # Blobs other writers of this store hold before their index row exists (redacted
        # copies between sealing and indexing): never crash leftovers of an ingest.
        self._also_referenced = also_referenced
        self.ledger, self.index, self.max_item_bytes = ledger, index, max_item_bytes
        self._clock = clock
        # Fault injection for the crash tests: called after each durable step.
        self._crash_point = crash_point
        # One ingest per evidence id at a time: two concurrent uploads of one event (a device
        # retrying while its first request is still in flight) must not seal it twice.
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    async def ingest(
        self,
        claims_json: bytes,
        signature: bytes,
        certificate_pem: bytes,
        files: Mapping[str, Readable],
        *,
        registrar: Registrar | None = None,
    ) -> list[Ingested]:
        """Store every file the claims name; ``registrar`` registers them (default: the
        node's own, for devices; an officer's capture is registered as that officer).

        Raises:
            IngestRefused: bad claims or signature, unknown device, a file missing, extra,
                oversized or different from what the device signed. Files already stored
                stay stored (a retry completes the rest).
        """
        claims = self.verifier.verify(claims_json, signature, certificate_pem)
        named = {m.name for m in claims.media}
        if extra := sorted(set(files) - named):
            raise IngestRefused(UNKNOWN_MEDIA, f"files not named in the claims: {extra}")
        if missing := sorted(named - set(files)):
            raise IngestRefused(UNKNOWN_MEDIA, f"files named in the claims but not sent: {missing}")
        for media in claims.media:
            if media.size > self.max_item_bytes:
                raise IngestRefused(
                    TOO_LARGE,
                    f"{media.name} is {media.size} bytes; the limit is {self.max_item_bytes}",
                )
        ledger = registrar or self.ledger
        return [await self._one(claims, media, files[media.name], ledger) for media in claims.media]

    async def _one(
        self, claims: EvidenceClaims, media: MediaRef, stream: Readable, ledger: Registrar
    ) -> Ingested:
        evidence_id = evidence_id_for(claims, media)
        lock = self._locks.setdefault(evidence_id, asyncio.Lock())
        async with lock:
            return await self._one_locked(claims, media, stream, evidence_id, ledger)

    async def _one_locked(
        self,
        claims: EvidenceClaims,
        media: MediaRef,
        stream: Readable,
        evidence_id: str,
        ledger: Registrar,
    ) -> Ingested:
        existing = self.index.evidence(evidence_id)
        if existing is not None:
            if existing.plaintext_hash != str(media.sha256):
                raise IngestRefused(
                    MEDIA_MISMATCH, f"{evidence_id} is already stored with other content"
                )
            return Ingested(evidence_id, media.name, existing.ledger_tx or "", duplicate=True)
        sealed_before = self._sealed_journal(evidence_id)
        if sealed_before is not None:
            # An earlier attempt sealed and stored this item, then failed at the ledger, maybe
            # after its registration committed (a lost commit status). Sealing again would
            # make another ciphertext, which the ledger refuses as a conflict: finish with the
            # stored one, so the registration is byte for byte the same.
            plaintext, ciphertext = sealed_before
            if plaintext != str(media.sha256):
                raise IngestRefused(
                    MEDIA_MISMATCH, f"{evidence_id} is already sealed with other content"
                )
            return await self._register_and_index(
                evidence_id, claims, media, Digest.parse(ciphertext), ledger
            )
        self._journal(evidence_id, claims, media)
        self._crash_point("journal")
        try:
            sealed = seal_to_store(
                stream,
                evidence_id=evidence_id,
                recipients=[self.keyring.current],
                store=self.store,
                max_bytes=media.size,
            )
        except BlobTooLarge:
            self._drop_journal(evidence_id)
            raise IngestRefused(
                MEDIA_MISMATCH,
                f"{media.name} is larger than the {media.size} bytes the device signed",
            ) from None
        if sealed.plaintext != media.sha256 or sealed.plaintext_size != media.size:
            self.store.delete(sealed.ciphertext)
            self._drop_journal(evidence_id)
            raise IngestRefused(MEDIA_MISMATCH, f"{media.name} differs from what the device signed")
        self._crash_point("store")
        self.vault.put(evidence_id, sealed.wrapped_keys[self.keyring.current.key_id])
        self._crash_point("vault")
        with self.index.session() as session:
            row = session.get(JournalRow, evidence_id)
            assert row is not None  # written above, removed only by this flow or reconcile
            row.state, row.updated_at = SEALED, self._clock()
            row.plaintext_hash, row.ciphertext_hash = str(sealed.plaintext), str(sealed.ciphertext)
        self._crash_point("sealed")
        return await self._register_and_index(evidence_id, claims, media, sealed.ciphertext, ledger)

    async def _register_and_index(
        self,
        evidence_id: str,
        claims: EvidenceClaims,
        media: MediaRef,
        ciphertext: Digest,
        ledger: Registrar,
    ) -> Ingested:
        content = EvidenceContent(
            evidence_id=evidence_id,
            plaintext_hash=media.sha256,
            ciphertext_hash=ciphertext,
            size=media.size,
            media_type=media.media_type,
            captured_at=claims.captured_at,
            device_id=claims.device_id,
            camera_id=claims.camera_id,
            violation_type=claims.violation_type,
            owner_org=claims.org,
            locator=f"blob:{ciphertext}",
            claims_hash=claims_digest(claims),
        )
        if isinstance(claims, CaseDocumentClaims):
            filing = DocumentFiling(**dict(content), case_id=claims.case_id, step=claims.step)
            committed = await ledger.file_document(filing)
        else:
            committed = await ledger.register_evidence(EvidenceRegistration(**dict(content)))
        record: EvidenceRecord = committed.value
        self._crash_point("register")
        place = None if isinstance(claims, CaseDocumentClaims) else claims.place
        row = {
            "evidence_id": evidence_id,
            "owner_org": claims.org,
            "violation_type": claims.violation_type.value,
            "camera_id": claims.camera_id,
            "device_id": claims.device_id,
            "captured_at": claims.captured_at,
            "lat": place.lat if place else None,
            "lon": place.lon if place else None,
            "zone": claims.zone if isinstance(claims, DeviceClaims) else None,
            "subject_key": None,
            "media_type": media.media_type,
            "size": media.size,
            "plaintext_hash": str(media.sha256),
            "ciphertext_hash": str(ciphertext),
            "text": _search_text(claims),
            "status": "registered",
            "ledger_tx": record.registered_tx,
        }
        with self.index.session() as session:
            session.merge(EvidenceRow(**row))
            session.execute(delete(JournalRow).where(JournalRow.evidence_id == evidence_id))
        self._crash_point("index")
        return Ingested(evidence_id, media.name, record.registered_tx, duplicate=False)

    def _journal(self, evidence_id: str, claims: EvidenceClaims, media: MediaRef) -> None:
        with self.index.session() as session:
            session.merge(
                JournalRow(
                    evidence_id=evidence_id,
                    event_id=claims.event_id,
                    state=SEALING,
                    claims_json=canonical_bytes(claims).decode(),
                    media_name=media.name,
                    updated_at=self._clock(),
                )
            )

    def _sealed_journal(self, evidence_id: str) -> tuple[str, str] | None:
        """(plaintext hash, ciphertext hash) of a sealed but unfinished ingest, if any."""
        with self.index.session() as session:
            row = session.get(JournalRow, evidence_id)
            if row is None or row.state != SEALED or not row.ciphertext_hash:
                return None
            return row.plaintext_hash or "", row.ciphertext_hash

    def _drop_journal(self, evidence_id: str) -> None:
        with self.index.session() as session:
            session.execute(delete(JournalRow).where(JournalRow.evidence_id == evidence_id))

    async def reconcile(self) -> dict[str, int]:
        """Finish or clean up what a crash interrupted; run before serving uploads.

        Returns counts: ``finished`` (registered and indexed now), ``dropped`` (journal
        rows that never got sealed) and ``blobs_removed`` (blobs nothing refers to).
        """
        finished = dropped = 0
        with self.index.session() as session:
            rows = list(session.execute(select(JournalRow)).scalars())
        for row in rows:
            claims = parse_evidence_claims(row.claims_json)
            media = next(m for m in claims.media if m.name == row.media_name)
            if row.state == SEALED and isinstance(claims, CaseDocumentClaims):
                # Only an officer or reviewer of the holder may file it, not the node: the
                # sealed blob waits (referenced by its row) for the filer's retry, which
                # resumes here with the same ciphertext.
                continue
            if row.state == SEALED and row.ciphertext_hash:
                # As the node's own registrar, an officer's capture too: its signed claims
                # still name the officer who took it.
                await self._register_and_index(
                    row.evidence_id, claims, media, Digest.parse(row.ciphertext_hash), self.ledger
                )
                finished += 1
            else:
                self.vault.destroy(row.evidence_id)
                self._drop_journal(row.evidence_id)
                dropped += 1
        removed = self._remove_orphans(dropped)
        return {"finished": finished, "dropped": dropped, "blobs_removed": removed}

    def _remove_orphans(self, interrupted: int) -> int:
        """Delete blobs neither the index nor the journal refers to, if they can be the
        leftovers of the ``interrupted`` sealings just dropped (one blob at most each).

        More orphans than that are not crash leftovers but a lost or wrong database (or a
        store restored without its database): then nothing is removed, and `evnet doctor`
        reports them.
        """
        with self.index.session() as session:
            referenced = {c for (c,) in session.execute(select(EvidenceRow.ciphertext_hash))}
            referenced |= {c for (c,) in session.execute(select(JournalRow.ciphertext_hash)) if c}
        referenced |= set(self._also_referenced())
        orphans = [d for d in self.store.iter_digests() if str(d) not in referenced]
        if len(orphans) > interrupted:
            return 0
        for digest in orphans:
            self.store.delete(digest)
        return len(orphans)


def _search_text(claims: EvidenceClaims) -> str:
    """What a person searching the index may type: the zone and rule a device watched, the
    officer's note, or the stage whose document it is."""
    if isinstance(claims, OfficerCaptureClaims):
        return claims.note
    if isinstance(claims, CaseDocumentClaims):
        return f"document {claims.stage}"
    return f"{claims.zone} {claims.rule}"
