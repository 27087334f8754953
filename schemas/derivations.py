"""Derived copies (redactions) of evidence items and their link to the originals.

A derived copy is an evidence item of its own (registered like any other), whose
``claims_hash`` is the SHA-256 of its :class:`DerivationDescription` in canonical JSON. The
description (which regions were blurred, with which models) stays with the owner node; the
ledger links the two items with a :class:`DerivationRecord` that carries only ids, codes and
hashes. The original is never altered.
"""

from __future__ import annotations

import hashlib
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from schemas.canonical import canonical_json
from schemas.hashes import Digest
from schemas.ledger import Code, Ident, LedgerTime, MediaType

MAX_REGIONS = 20_000
ModelFile = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")]


class DerivationErrorCode(StrEnum):
    """Refusals of the Derivations contract beyond :class:`schemas.ledger.LedgerErrorCode`."""

    DERIVATION_CONFLICT = "DERIVATION_CONFLICT"


class RegionClass(StrEnum):
    FACE = "face"
    PLATE = "plate"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Region(_Model):
    """One redacted box, in pixels of the image (after the safety margin); in a clip, of the
    frame numbered ``frame`` (from 0)."""

    region_class: RegionClass
    frame: Annotated[int, Field(ge=0)] | None = None
    x: Annotated[int, Field(ge=0)]
    y: Annotated[int, Field(ge=0)]
    width: Annotated[int, Field(gt=0)]
    height: Annotated[int, Field(gt=0)]


class DetectorModel(_Model):
    """A detector file the redaction used, named and pinned by its hash."""

    region_class: RegionClass
    file: ModelFile
    sha256: Digest


class DerivationDescription(_Model):
    """What a derived copy is: the derived item's claims (``claims_hash`` = its digest)."""

    schema_version: Literal[1] = 1
    original_id: Ident
    original_plaintext_hash: Digest
    access_record: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
    method: Code
    media_type: MediaType  # of the derived copy
    models: Annotated[list[DetectorModel], Field(max_length=16)]
    regions: Annotated[list[Region], Field(max_length=MAX_REGIONS)]

    def canonical_bytes(self) -> bytes:
        return canonical_json(self.model_dump(mode="json"))

    def digest(self) -> Digest:
        return Digest("sha256", hashlib.sha256(self.canonical_bytes()).digest())

    def counts(self) -> dict[str, int]:
        """Regions per class (every class named, zero included)."""
        return {c.value: sum(r.region_class is c for r in self.regions) for c in RegionClass}


def derived_evidence_id(original_id: str, method: str) -> str:
    """The id of the copy of ``original_id`` made by ``method``: fixed, so a retry resumes."""
    digest = hashlib.sha256(f"derived\n{original_id}\n{method}".encode()).hexdigest()
    return f"EV-{digest[:24]}"


# --- the ledger side ------------------------------------------------------------------------


class DerivationRequest(BaseModel):
    """RecordDerivation's argument: ids, a method code, the description's hash, and the
    access record under which the original was read to make the copy."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    original_id: Ident
    derived_id: Ident
    method: Code
    description_hash: Digest
    access_record: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]


class DerivationRecord(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: int = 1
    original_id: str
    derived_id: str
    method: str
    description_hash: str
    access_record: str
    owner_org: str
    recorded_by: str
    recorded_role: str
    recorded_at: LedgerTime
    recorded_tx: str
