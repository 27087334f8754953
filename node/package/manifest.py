"""The package manifest: what the archive holds and the hashes binding every member.

The manifest is canonical JSON (RFC 8785); the exporting department signs its exact bytes
(``manifest.sig``: DER ECDSA, ``signer.pem``: the signer's certificate).
"""

from __future__ import annotations

from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from schemas.canonical import canonical_json

# /2: the package proves every step of its case (each ChangeStage transaction). A /1 package
# (built before) verifies as it did, and its report says its steps are not proven.
# /3: a case opened from an AI flag also proves the flag's co-governance loop (each step of
# its history, from detection to the case), the reminders before enforcement among them.
# /4: it also proves what became of the case's documents: each served on the party
# (RecordService) and each decision set aside (SetAsideDecision), as many as the case counts.
FORMAT: Final = "evidencenet-package/4"
CHAINCODE = "evidence"  # the chaincode (namespace) whose writes and reads a package proves
MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
SIGNER = "signer.pem"
TRAIL = "trail.json"
CONFIG_BLOCK = "proofs/config.block"


def evidence_path(evidence_id: str) -> str:
    return f"evidence/{evidence_id}"


def block_path(number: int) -> str:
    return f"proofs/blocks/{number}.block"


def transaction_path(tx_id: str) -> str:
    return f"proofs/transactions/{tx_id}.ptx"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Member(_Model):
    """One archive member and its SHA-256 (``sha256:<hex>``)."""

    path: str
    sha256: str


class DeviceClaims(_Model):
    """The capture claims as signed by the device: claims object, DER signature (base64),
    device certificate (PEM)."""

    claims: dict[str, Any]
    signature: str
    certificate: str


class Item(_Model):
    evidence_id: str
    path: str
    sha256: str
    size: int
    media_type: str
    owner_org: str
    registered_tx: str
    claims: DeviceClaims | None = None
    # A redacted copy has no device claims: its registered ``claims_hash`` is the SHA-256 of
    # this description in canonical JSON (schemas.derivations.DerivationDescription).
    derivation: dict[str, Any] | None = None
    # The RecordDerivation transaction linking a redacted copy to its original.
    derivation_tx: str | None = None


class Manifest(_Model):
    format: Literal[
        "evidencenet-package/1",
        "evidencenet-package/2",
        "evidencenet-package/3",
        "evidencenet-package/4",
    ]
    channel: str
    case: dict[str, Any]
    exporter_org: str
    export_records: list[str]
    items: list[Item]
    trail: Member
    config_block: Member
    blocks: list[Member]
    transactions: list[Member]

    @classmethod
    def from_json(cls, raw: bytes) -> Manifest:
        """Raises: ValueError (ValidationError) if the bytes are not a manifest."""
        return cls.model_validate_json(raw)

    def canonical_bytes(self) -> bytes:
        return canonical_json(self.model_dump(mode="json"))

    def members(self) -> list[Member]:
        """Every listed member except the manifest, its signature and the signer certificate."""
        items = [Member(path=i.path, sha256=i.sha256) for i in self.items]
        return [*items, self.trail, self.config_block, *self.blocks, *self.transactions]


__all__ = ["FORMAT", "DeviceClaims", "Item", "Manifest", "Member", "ValidationError"]
