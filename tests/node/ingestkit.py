"""A department node's ingest parts on disk, for the ingest tests and their crash child.

The ledger is a fake at the seam, persisted to a JSON file so it survives a ``kill -9`` of
the child process like a real ledger would.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from node.crypto.key_wrap import EncryptionPrivateKey, KeyRing
from node.crypto.pki import KeyPair, create_ca, issue
from node.crypto.signing import EcdsaSigner
from node.index import open_index
from node.index.database import sqlite_url
from node.ingest import DeviceVerifier, IngestService
from node.store import FilesystemBlobStore
from node.vault import KeyVault, load_or_create_org_key
from schemas.claims import (
    CaptureClaims,
    CaseDocumentClaims,
    EvidenceClaims,
    OfficerCaptureClaims,
    canonical_bytes,
    case_document_event,
)
from schemas.hashes import Digest
from schemas.ledger import DocumentFiling, EvidenceRecord, EvidenceRegistration, ledger_time

ORG = "UrbanManagementMSP"
NOW = dt.datetime(2026, 11, 22, 9, 0, tzinfo=dt.UTC)
KEYFRAME = b"\xff\xd8 keyframe " * 3000
CLIP = b"\x00\x00\x00\x18ftypmp42 clip " * 20000


@dataclass
class Committed:
    value: EvidenceRecord
    tx_id: str


class FileLedger:
    """RegisterEvidence's contract (idempotent by id, conflict on other content), on disk."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def records(self) -> dict[str, Any]:
        return json.loads(self.path.read_text()) if self.path.exists() else {}

    async def register_evidence(self, reg: EvidenceRegistration) -> Committed:
        records = self.records()
        content = reg.model_dump(mode="json", exclude={"case_id"})
        content["captured_at"] = ledger_time(reg.captured_at)
        existing = records.get(reg.evidence_id)
        if existing is not None:
            if existing["content"] != content:
                raise RuntimeError("EVIDENCE_CONFLICT")
        else:
            existing = {
                "content": content,
                "tx": hashlib.sha256(reg.evidence_id.encode()).hexdigest(),
                "registrations": 0,
            }
            records[reg.evidence_id] = existing
        existing["registrations"] += 1
        self.path.write_text(json.dumps(records))
        record = EvidenceRecord(
            **content,
            registered_by="CN=edge-07",
            registered_role="device",
            registered_at=ledger_time(NOW),
            registered_tx=existing["tx"],
        )
        return Committed(record, existing["tx"])

    async def file_document(self, filing: DocumentFiling) -> Committed:
        """FileDocument's registration; the record keeps the case and step it was filed for."""
        content = filing.model_dump_json(exclude={"case_id", "step"})
        committed = await self.register_evidence(EvidenceRegistration.model_validate_json(content))
        records = self.records()
        records[filing.evidence_id]["filed"] = [filing.case_id, filing.step]
        self.path.write_text(json.dumps(records))
        return committed


def make_ca(root: Path) -> KeyPair:
    ca_path = root / "ca.json"
    if ca_path.exists():
        doc = json.loads(ca_path.read_text())
        return KeyPair(doc["cert"].encode(), doc["key"].encode())
    ca = create_ca("ca.urbanmanagement.evnet", "urbanmanagement.evnet", NOW - dt.timedelta(days=1))
    root.mkdir(parents=True, exist_ok=True)
    ca_path.write_text(json.dumps({"cert": ca.cert_pem.decode(), "key": ca.key_pem.decode()}))
    return ca


def device(ca: KeyPair, role: str = "device", name: str = "edge-07") -> KeyPair:
    return issue(
        ca,
        name,
        "urbanmanagement.evnet",
        NOW - dt.timedelta(days=1),
        organizational_unit="client",
        attributes={"role": role},
    )


def claims(**changes: Any) -> CaptureClaims:
    doc: dict[str, Any] = {
        "event_id": "evt-20261122-0001",
        "org": ORG,
        "device_id": "edge-07",
        "camera_id": "cam-jiangbei-12",
        "captured_at": "2026-11-22T08:59:30+08:00",
        "zone": "pavement_east",
        "rule": "no_vending",
        "violation_type": "road_occupation",
        "place": {"lat": 29.8886, "lon": 121.5561},
        "detections": [
            {"class_name": "person", "confidence": 0.91, "bbox": [10, 20, 110, 220], "track_id": 4}
        ],
        "model_sha256": str(Digest.of(b"ssd-mobilenet-v2")),
        "media": [
            {
                "name": "keyframe.jpg",
                "media_type": "image/jpeg",
                "sha256": str(Digest.of(KEYFRAME)),
                "size": len(KEYFRAME),
            },
            {
                "name": "clip.mp4",
                "media_type": "video/mp4",
                "sha256": str(Digest.of(CLIP)),
                "size": len(CLIP),
            },
        ],
    }
    doc.update(changes)
    return CaptureClaims.model_validate_json(json.dumps(doc))


def officer_capture(**changes: Any) -> OfficerCaptureClaims:
    """An officer's capture on the spot, of the same two files as :func:`claims`."""
    device_claims = claims().model_dump(mode="json")
    doc: dict[str, Any] = {
        "event_id": "hh-0042-0001",
        "org": ORG,
        "device_id": "officer-1",
        "camera_id": "bodycam-0042",
        "captured_at": device_claims["captured_at"],
        "violation_type": "road_occupation",
        "note": "stall on the pavement, owner present",
        "media": device_claims["media"],
    }
    doc.update(changes)
    return OfficerCaptureClaims.model_validate_json(json.dumps(doc))


def case_document(**changes: Any) -> CaseDocumentClaims:
    """A filing approval form (step 2 of case-1), as its filer signs it: the keyframe's bytes
    stand in for the document."""
    keyframe = claims().media[0].model_dump(mode="json")
    doc: dict[str, Any] = {
        "kind": "case_document",
        "event_id": case_document_event("case-1", 2),
        "org": ORG,
        "device_id": "reviewer-1",
        "captured_at": claims().model_dump(mode="json")["captured_at"],
        "violation_type": "road_occupation",
        "case_id": "case-1",
        "step": 2,
        "stage": "filing_approval",
        "media": [{**keyframe, "name": "filing_approval-2.pdf", "media_type": "application/pdf"}],
    }
    doc.update(changes)
    return CaseDocumentClaims.model_validate_json(json.dumps(doc))


def signed(c: EvidenceClaims, key: KeyPair) -> tuple[bytes, bytes, bytes]:
    """(claims JSON, signature, certificate PEM) as a device uploads them."""
    body = canonical_bytes(c)
    return body, EcdsaSigner.from_pem(key.key_pem).sign(body), key.cert_pem


def service(
    root: Path, crash_point: Any = None, max_item_bytes: int = 1 << 30, **more: Any
) -> IngestService:
    ca = make_ca(root)
    org_key = load_or_create_org_key(root / "org.key")
    kwargs: dict[str, Any] = dict(more)
    if crash_point is not None:
        kwargs["crash_point"] = crash_point
    return IngestService(
        verifier=DeviceVerifier(ORG, ca.cert_pem, clock=lambda: NOW),
        store=FilesystemBlobStore(root / "blobs", max_blob_bytes=1 << 31),
        vault=KeyVault(root / "keys"),
        keyring=KeyRing(org_key),
        ledger=FileLedger(root / "ledger.json"),
        index=open_index(sqlite_url(root / "node.sqlite")),
        max_item_bytes=max_item_bytes,
        clock=lambda: NOW,
        **kwargs,
    )


def load_keyring(root: Path) -> KeyRing:
    return KeyRing(EncryptionPrivateKey.from_raw((root / "org.key").read_bytes()))
