"""The violation review loop's requests and records, as the chaincode stores them.

A flag holds ids, hashes, codes and times only (like an evidence record): place, zone and
detections stay in the device-signed claims off the ledger, and a reviewer's reason is a
code (``false_positive``), never free text, because a package's proof carries whole blocks
and anything on the ledger travels with other cases' packages.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AwareDatetime, Field

from schemas.glossary import Role, ViolationStatus, ViolationType
from schemas.hashes import Digest
from schemas.ledger import (
    MAX_CASE_EVIDENCE,
    MAX_PAGE_SIZE,
    Code,
    Ident,
    MspId,
    SubjectKey,
    SubjectKind,
    _Record,
    _Request,
)

# Reasons a console offers; the chaincode accepts any code, so a department can add its own.
REVIEW_REASONS = (
    "confirmed_on_footage",
    "false_positive",
    "not_in_zone",
    "permitted_activity",
    "duplicate",
)
EvidenceIds = Annotated[list[Ident], Field(min_length=1, max_length=MAX_CASE_EVIDENCE)]


class ViolationFlag(_Request):
    """An AI flag, raised by the device (or an officer) of the org that owns its evidence.
    The flag id is the detector's event id."""

    flag_id: Ident
    camera_id: Ident
    violation_type: ViolationType
    detected_at: AwareDatetime
    evidence_ids: EvidenceIds
    confidence: Annotated[float, Field(ge=0.0, le=1.0)]
    claims_hash: Digest


class CaseOpening(_Request):
    """What a case opened from a flag needs beyond the flag itself (its violation type,
    camera source and evidence come from the flag)."""

    case_id: Ident
    subject_key: SubjectKey
    subject_kind: SubjectKind


class ViolationReview(_Request):
    """A reviewer's decision: confirmed, with the next step (a co-governance reminder or a
    case), or rejected as a false positive; either with a reason."""

    flag_id: Ident
    decision: Literal["confirmed", "rejected"]
    reason: Code
    action: Literal["reminder", "case"] | None = None
    case: CaseOpening | None = None


class ViolationStep(_Request):
    """A later step of the loop: reminded, rectified (with evidence), escalated,
    community_reminded or case_filed (with the case)."""

    flag_id: Ident
    to_status: ViolationStatus
    reason: Code | None = None
    evidence_ids: Annotated[list[Ident], Field(max_length=MAX_CASE_EVIDENCE)] = Field(
        default_factory=list
    )
    case: CaseOpening | None = None


class ViolationQuery(_Request):
    """The queue: one org's flags in one status, a page at a time."""

    org: MspId
    status: ViolationStatus = ViolationStatus.DETECTED
    page_size: Annotated[int, Field(ge=1, le=MAX_PAGE_SIZE)] = 50
    bookmark: str = ""


class ViolationRecord(_Record):
    flag_id: str
    org: str
    camera_id: str
    violation_type: ViolationType
    detected_at: str
    evidence_ids: list[str]
    confidence: float
    claims_hash: str
    status: ViolationStatus
    flagged_by: str
    flagged_tx: str
    updated_at: str
    steps: int  # how many history entries exist (ViolationHistory)
    case_id: str | None = None


class ViolationEntry(_Record):
    """One step of a flag's history: who moved it, from where to where, and why."""

    flag_id: str
    seq: int
    from_status: ViolationStatus | None
    to_status: ViolationStatus
    by: str  # certificate subject
    by_org: str
    role: Role
    at: str
    tx_id: str
    reason: str = ""
    evidence_ids: list[str] = Field(default_factory=list)
    case_id: str | None = None


class ViolationPage(_Record):
    records: list[ViolationRecord]
    bookmark: str


__all__ = [
    "REVIEW_REASONS",
    "CaseOpening",
    "ViolationEntry",
    "ViolationFlag",
    "ViolationPage",
    "ViolationQuery",
    "ViolationRecord",
    "ViolationReview",
    "ViolationStep",
]
