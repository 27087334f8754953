"""Making a redacted copy: the owner's evidence item in, a new evidence item linked to it out.

The steps, each durable before the next, so a retry after any failure resumes:

1. the original's ledger record (404 if unknown); only its owner makes copies, only of
   JPEG/PNG images — refused here, before anything is recorded;
2. the copy's id is fixed by the original's id and the method, so an already linked copy is
   simply returned (``duplicate``);
3. ``RequestAccess`` (kind ``view``, purpose ``redaction``) as the caller: reading the original
   is an access like any other, and a denial is recorded too;
4. the original is decrypted (checked against its ledger hash), redacted, and the copy sealed
   into the store with its data key in the vault, like an ingested item;
5. an archive entry (the description and the sealed blob's hashes) is written: from here a
   retry re-registers the same bytes instead of sealing again (steps 3-4 are skipped);
6. ``RegisterEvidence`` of the copy as the caller (idempotent by id and content; its
   ``claims_hash`` is the description's SHA-256), then its index row (an upsert);
7. ``RecordDerivation`` links copy and original under the access record of step 3. A conflict
   there (a retry whose earlier attempt committed) reads the committed link back.

The original's blob, key, index row and ledger record are only read.
"""

from __future__ import annotations

import asyncio
import io
import os
import tempfile
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from node.crypto.key_wrap import KeyRing
from node.crypto.sealing import SealingError
from node.evidence_sealing import open_from_store, seal_to_store
from node.index import IndexDatabase
from node.index.schema import EvidenceRow
from node.redaction.archive import CopyArchive, CopyEntry
from node.redaction.errors import (
    ACCESS_DENIED,
    COPY_UNRECOVERABLE,
    EVIDENCE_UNAVAILABLE,
    NOT_OWN_EVIDENCE,
    TOO_LARGE,
    UNSUPPORTED_MEDIA,
    RedactionError,
)
from node.redaction.ledger import DerivationConflict, DerivationLedger
from node.redaction.redactor import METHOD, Redactor
from node.store import BlobStore
from node.store.errors import StoreError
from node.vault import KeyVault, VaultError
from schemas.derivations import (
    DerivationDescription,
    DerivationRecord,
    DerivationRequest,
    derived_evidence_id,
)
from schemas.glossary import AccessKind, Outcome
from schemas.hashes import Digest
from schemas.ledger import (
    AccessRequest,
    EvidenceRecord,
    EvidenceRegistration,
    TargetKind,
    parse_ledger_time,
)

PURPOSE = "redaction"


@dataclass(frozen=True)
class RedactedCopy:
    """A copy linked on the ledger; ``duplicate`` when it had been made before this call."""

    original_id: str
    derived_id: str
    description: DerivationDescription
    access_tx: str
    registration_tx: str
    derivation_tx: str
    duplicate: bool


class RedactionService:
    """One department's redacted copies; ``ledger`` is passed per call (the caller's own)."""

    def __init__(
        self,
        *,
        org: str,
        store: BlobStore,
        vault: KeyVault,
        keyring: KeyRing,
        index: IndexDatabase,
        archive: CopyArchive,
        spool_dir: Path,
        redactor: Callable[[], Redactor] = Redactor.with_opencv_models,
    ) -> None:
        self.org, self.store, self.vault, self.keyring = org, store, vault, keyring
        self.index, self.archive, self.spool_dir = index, archive, spool_dir
        self._make_redactor = redactor
        self._redactor: Redactor | None = None
        # One redaction per copy at a time: two concurrent requests must not seal it twice.
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    def redactor(self) -> Redactor:
        """The redactor, its detectors loaded on first use (REDACTION_MODEL_MISSING)."""
        if self._redactor is None:
            self._redactor = self._make_redactor()
        return self._redactor

    async def redact(self, ledger: DerivationLedger, original_id: str) -> RedactedCopy:
        """Make (or finish, or return) the redacted copy of ``original_id``.

        Raises:
            LedgerRefused: NOT_FOUND for an unknown item, or any refusal of the chaincode.
            RedactionError: NOT_OWN_EVIDENCE, REDACTION_UNSUPPORTED_MEDIA, REDACTION_TOO_LARGE
                (all before anything is recorded); ACCESS_DENIED (``tx_id``: the recorded
                denial), REDACTION_UNDECODABLE, EVIDENCE_UNAVAILABLE, REDACTION_MODEL_MISSING,
                REDACTED_COPY_UNRECOVERABLE.
            DerivationConflict: the copy's id is linked to something else (never by this flow).
            GatewayError: the ledger could not be reached; retry the call to resume.
        """
        original = await ledger.evidence(original_id)
        if original.owner_org != self.org:
            raise RedactionError(
                NOT_OWN_EVIDENCE, f"the item belongs to {original.owner_org}; its owner redacts it"
            )
        redactor = self.redactor()
        if not redactor.supports(original.media_type):
            raise RedactionError(
                UNSUPPORTED_MEDIA,
                f"{original.media_type} cannot be redacted (JPEG and PNG images only)",
            )
        if original.size > redactor.max_bytes:
            raise RedactionError(TOO_LARGE, f"the image is over {redactor.max_bytes} bytes")
        derived_id = derived_evidence_id(original_id, METHOD)
        lock = self._locks.setdefault(derived_id, asyncio.Lock())
        async with lock:
            return await self._redact_locked(ledger, original, derived_id)

    async def _redact_locked(
        self, ledger: DerivationLedger, original: EvidenceRecord, derived_id: str
    ) -> RedactedCopy:
        linked = await ledger.derived_from(derived_id)
        entry = self.archive.get(derived_id)
        if linked is not None:
            copy = await ledger.evidence(derived_id)
            if entry is None:
                raise RedactionError(
                    COPY_UNRECOVERABLE, f"{derived_id} is linked but this node has no record of it"
                )
            return self._result(entry, copy.registered_tx, linked, duplicate=True)
        if entry is None or not self.store.exists(entry.ciphertext_hash):
            entry = await self._make(ledger, original, derived_id)
        registration = EvidenceRegistration(
            evidence_id=derived_id,
            plaintext_hash=entry.plaintext_hash,
            ciphertext_hash=entry.ciphertext_hash,
            size=entry.size,
            media_type=entry.media_type,
            captured_at=parse_ledger_time(original.captured_at),
            device_id=original.device_id,
            camera_id=original.camera_id,
            violation_type=original.violation_type,
            owner_org=original.owner_org,
            locator=f"blob:{entry.ciphertext_hash}",
            claims_hash=entry.description.digest(),
        )
        registered = (await ledger.register_evidence(registration)).value
        await asyncio.to_thread(self._index, entry, original, registered)
        request = DerivationRequest(
            original_id=original.evidence_id,
            derived_id=derived_id,
            method=entry.description.method,
            description_hash=entry.description.digest(),
            access_record=entry.description.access_record,
        )
        try:
            link = (await ledger.record_derivation(request)).value
        except DerivationConflict:
            # An earlier attempt committed the link but did not hear so: read it back.
            found = await ledger.derived_from(derived_id)
            if found is None or found.description_hash != str(request.description_hash):
                raise
            link = found
        return self._result(entry, registered.registered_tx, link, duplicate=False)

    async def _make(
        self, ledger: DerivationLedger, original: EvidenceRecord, derived_id: str
    ) -> CopyEntry:
        ask = AccessRequest(
            target=TargetKind.EVIDENCE,
            target_id=original.evidence_id,
            purpose=PURPOSE,
            kind=AccessKind.VIEW,
        )
        access = await ledger.request_access(ask)
        if access.value.outcome is not Outcome.GRANTED:
            raise RedactionError(ACCESS_DENIED, "access denied", access.tx_id)
        data = await asyncio.to_thread(self._read, original)
        redacted = await asyncio.to_thread(self.redactor().redact, data, original.media_type)
        description = DerivationDescription(
            original_id=original.evidence_id,
            original_plaintext_hash=Digest.parse(original.plaintext_hash),
            access_record=access.tx_id,
            method=redacted.method,
            media_type=redacted.media_type,
            models=redacted.models,
            regions=redacted.regions,
        )
        sealed = await asyncio.to_thread(
            seal_to_store,
            io.BytesIO(redacted.data),
            evidence_id=derived_id,
            recipients=[self.keyring.current],
            store=self.store,
            max_bytes=len(redacted.data),
        )
        self.vault.put(derived_id, sealed.wrapped_keys[self.keyring.current.key_id])
        entry = CopyEntry(
            derived_id=derived_id,
            description=description,
            plaintext_hash=sealed.plaintext,
            ciphertext_hash=sealed.ciphertext,
            size=sealed.plaintext_size,
            media_type=redacted.media_type,
        )
        self.archive.put(entry)
        return entry

    def _read(self, original: EvidenceRecord) -> bytes:
        """The original's plaintext, verified against its ledger hash; the temp file goes."""
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix="redact-", dir=self.spool_dir)
        os.close(fd)
        path = Path(tmp)
        path.unlink()
        try:
            open_from_store(
                self.store,
                evidence_id=original.evidence_id,
                ciphertext=Digest.parse(original.ciphertext_hash),
                wrapped_key=self.vault.get(original.evidence_id),
                keyring=self.keyring,
                expected_plaintext=Digest.parse(original.plaintext_hash),
                destination=path,
            )
            return path.read_bytes()
        except (SealingError, StoreError, VaultError) as err:
            raise RedactionError(
                EVIDENCE_UNAVAILABLE, f"{original.evidence_id} could not be read intact: {err!r}"
            ) from None
        finally:
            path.unlink(missing_ok=True)

    def _index(self, entry: CopyEntry, original: EvidenceRecord, copy: EvidenceRecord) -> None:
        source = self.index.evidence(original.evidence_id)
        row = EvidenceRow(
            evidence_id=entry.derived_id,
            owner_org=copy.owner_org,
            violation_type=copy.violation_type.value,
            camera_id=copy.camera_id,
            device_id=copy.device_id,
            captured_at=parse_ledger_time(copy.captured_at),
            lat=source.lat if source else None,
            lon=source.lon if source else None,
            zone=source.zone if source else None,
            subject_key=source.subject_key if source else None,
            media_type=copy.media_type,
            size=copy.size,
            plaintext_hash=copy.plaintext_hash,
            ciphertext_hash=copy.ciphertext_hash,
            text=f"redacted copy of {original.evidence_id}",
            status="registered",
            ledger_tx=copy.registered_tx,
        )
        with self.index.session() as session:
            session.merge(row)

    @staticmethod
    def _result(
        entry: CopyEntry, registration_tx: str, link: DerivationRecord, *, duplicate: bool
    ) -> RedactedCopy:
        return RedactedCopy(
            original_id=link.original_id,
            derived_id=link.derived_id,
            description=entry.description,
            access_tx=link.access_record,
            registration_tx=registration_tx,
            derivation_tx=link.recorded_tx,
            duplicate=duplicate,
        )
