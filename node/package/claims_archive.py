"""The device-signed capture claims of each ingested item, kept by the owner node.

The ledger holds only each item's ``claims_hash``; a package carries the claims themselves
with the device's signature and certificate, so a court can check what the camera asserted.
One file per item: ``<node root>/claims/<evidence_id>.json``, written atomically.
"""

from __future__ import annotations

import base64
import json
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from schemas.canonical import canonical_json, parse_json

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


class ClaimsNotArchived(LookupError):
    """No claims are archived for this evidence id."""


@dataclass(frozen=True)
class SignedClaims:
    """The claims exactly as the device sent them, its signature (DER) and certificate (PEM)."""

    claims_json: bytes
    signature: bytes
    certificate_pem: bytes

    def to_json(self) -> dict[str, object]:
        return {
            "claims": json.loads(self.claims_json),
            "signature": base64.b64encode(self.signature).decode(),
            "certificate": self.certificate_pem.decode(),
        }


class ClaimsArchive:
    """Signed claims by evidence id under ``root`` (created on first write)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, evidence_id: str) -> Path:
        if not _ID.match(evidence_id):
            raise ValueError("not an evidence id")
        return self.root / f"{evidence_id}.json"

    def put(self, evidence_id: str, claims_json: bytes, signature: bytes, cert_pem: bytes) -> None:
        """Keep the signed claims of ``evidence_id`` (replacing any earlier copy).

        Raises:
            ValueError: ``evidence_id`` is not an id or ``claims_json`` is not JSON.
            OSError: the file could not be written.
        """
        doc = SignedClaims(claims_json, signature, cert_pem).to_json()
        self.root.mkdir(parents=True, exist_ok=True)
        target = self._path(evidence_id)
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".claims-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(json.dumps(doc, sort_keys=True).encode())
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def holds_other(self, evidence_id: str, canonical_claims: bytes) -> bool:
        """Whether claims other than ``canonical_claims`` (canonical JSON) are kept for
        ``evidence_id``: a replay that would replace what the ledger's ``claims_hash`` binds.

        None kept, or an unreadable copy, is not "other": the caller archives again.
        """
        try:
            kept = self.get(evidence_id)
            return canonical_json(parse_json(kept.claims_json)) != canonical_claims
        except (ClaimsNotArchived, ValueError, KeyError):
            return False

    def get(self, evidence_id: str) -> SignedClaims:
        """The signed claims of ``evidence_id``.

        Raises:
            ClaimsNotArchived: none kept. ValueError: the id is malformed or the file corrupt.
        """
        try:
            doc = json.loads(self._path(evidence_id).read_bytes())
        except FileNotFoundError as exc:
            raise ClaimsNotArchived(evidence_id) from exc
        return SignedClaims(
            json.dumps(doc["claims"]).encode(),
            base64.b64decode(doc["signature"]),
            str(doc["certificate"]).encode(),
        )
