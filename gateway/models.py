"""What the API returns and accepts (never a ledger record or a storage row as is)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
    model_validator,
)

from node.ingest import Ingested
from schemas.claims import MAX_MEDIA, MAX_NOTE, CaseDocumentClaims, MediaRef, Place
from schemas.glossary import (
    AccessKind,
    Procedure,
    Role,
    ServiceMethod,
    SetAsideAuthority,
    SetAsideGround,
    SetAsideReason,
    Stage,
    ViolationType,
)
from schemas.hashes import Digest
from schemas.ledger import (
    AccessRecord,
    CaseRecord,
    CaseSource,
    ExecutionResult,
    GrantRecord,
    Ident,
    ServiceRecord,
    SetAsideRecord,
    StageEntry,
    StatementRight,
    SubjectKind,
    TransferRecord,
)


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class IngestedItem(_Out):
    evidence_id: str
    file_name: str
    ledger_tx: str
    duplicate: bool

    @classmethod
    def of(cls, item: Ingested) -> IngestedItem:
        return cls(
            evidence_id=item.evidence_id,
            file_name=item.media_name,
            ledger_tx=item.ledger_tx,
            duplicate=item.duplicate,
        )


class SubmissionResult(_Out):
    event_id: str
    # A capture: the flag it raised in the review queue (GET /violations/{flag_id}) and the
    # FlagViolation tx. A rectification report: the reminded flag it answers (no new flag).
    flag_id: str
    flag_tx: str | None
    items: list[IngestedItem]
    rectification: str | None = None  # a report's outcome: rectified | not_rectified


class CaptureIn(BaseModel):
    """An officer's capture on the spot, as the handheld sends it beside the files: what the
    officer asserts, and each file's SHA-256 and size as the handheld took them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_id: Ident  # the handheld's id for this capture: a retry sends the same one
    camera_id: Ident  # the handheld or body-worn recorder
    captured_at: AwareDatetime
    violation_type: ViolationType
    place: Place | None = None
    note: Annotated[str, StringConstraints(max_length=MAX_NOTE)] = ""
    case_id: Ident | None = None  # attach the files to this case (held here, open)
    # Report it (上报): the capture raises a flag in the review queue, the officer's own, and
    # the violation loop (review, the reminders the schedule asks, a case) follows from it.
    flag: StrictBool = False
    media: Annotated[list[MediaRef], Field(min_length=1, max_length=MAX_MEDIA)]

    @model_validator(mode="after")
    def _case_or_flag(self) -> CaptureIn:
        if self.flag and self.case_id is not None:
            raise ValueError("a capture joins a case or raises a flag, not both")
        return self


class AttachedItem(_Out):
    evidence_id: str
    tx_id: str  # the AttachEvidence transaction


class CaptureResult(_Out):
    event_id: str
    items: list[IngestedItem]
    case_id: str | None = None
    attached: list[AttachedItem] = []
    flag_id: str | None = None  # a reported capture: its flag in the review queue
    flag_tx: str | None = None  # the FlagViolation transaction


class FiledDocument(_Out):
    """A step's document in the case file."""

    case_id: str
    step: int
    stage: Stage
    evidence_id: str
    sha256: str
    media_type: str
    ledger_tx: str  # the FileDocument transaction (empty if the index has not followed yet)
    duplicate: bool

    @classmethod
    def of(
        cls, claims: CaseDocumentClaims, evidence_id: str, ledger_tx: str, *, duplicate: bool
    ) -> FiledDocument:
        (media,) = claims.media
        return cls(
            case_id=claims.case_id,
            step=claims.step,
            stage=claims.stage,
            evidence_id=evidence_id,
            sha256=str(media.sha256),
            media_type=media.media_type,
            ledger_tx=ledger_tx,
            duplicate=duplicate,
        )


class CaseDocumentView(_Out):
    """A step that bound a document, and the item holding it once filed (else null)."""

    step: int
    stage: Stage
    at: str
    actor: str
    role: str
    document_hash: str
    evidence_id: str | None

    @classmethod
    def of(cls, e: StageView, evidence_id: str | None) -> CaseDocumentView:
        return cls(
            step=e.seq,
            stage=e.to_stage,
            at=e.at,
            actor=e.actor,
            role=e.role,
            document_hash=str(e.details["document_hash"]),
            evidence_id=evidence_id,
        )


class CaseView(_Out):
    case_id: str
    violation_type: str
    procedure: Procedure
    stage: Stage
    holder_org: str
    filed_by_org: str
    filed_by: str
    filed_at: str
    pending_transfer_to: str | None
    tx_id: str | None = None

    @classmethod
    def of(cls, case: CaseRecord, tx_id: str | None = None) -> CaseView:
        pending = case.pending_transfer
        return cls(
            case_id=case.case_id,
            violation_type=case.violation_type.value,
            procedure=case.procedure,
            stage=case.stage,
            holder_org=case.holder_org,
            filed_by_org=case.filed_by_org,
            filed_by=case.filed_by,
            filed_at=case.filed_at,
            pending_transfer_to=pending.to_org if pending is not None else None,
            tx_id=tx_id,
        )


class StageView(_Out):
    seq: int
    from_stage: Stage
    to_stage: Stage
    actor_org: str
    actor: str
    role: str
    at: str
    tx: str
    # What the step recorded: its document's hash, a statement deadline, a waiver, ...
    details: dict[str, object] = {}

    @classmethod
    def of(cls, e: StageEntry) -> StageView:
        return cls(
            seq=e.seq,
            from_stage=e.from_stage,
            to_stage=e.to_stage,
            actor_org=e.actor_org,
            actor=e.actor,
            role=e.role,
            at=e.at,
            tx=e.tx,
            details={k: v for k, v in e.details.items() if v is not None},
        )


class TransferView(_Out):
    """A transfer; ``tx_id`` is the call's transaction (in a history: the latest of its
    proposal and its answer)."""

    case_id: str
    seq: int
    from_org: str
    to_org: str
    status: str
    reason: str
    proposed_by: str
    proposed_at: str
    answered_by: str | None
    answered_at: str | None
    answer_reason: str | None
    tx_id: str

    @classmethod
    def of(cls, t: TransferRecord, tx_id: str | None = None) -> TransferView:
        return cls(
            case_id=t.case_id,
            seq=t.seq,
            from_org=t.from_org,
            to_org=t.to_org,
            status=t.status.value,
            reason=t.reason,
            proposed_by=t.proposed_by,
            proposed_at=t.proposed_at,
            answered_by=t.answered_by,
            answered_at=t.answered_at,
            answer_reason=t.answer_reason,
            tx_id=tx_id or t.answered_tx or t.proposed_tx,
        )


class GrantView(_Out):
    """A grant; ``tx_id`` is the call's transaction (in a list: the latest of its grant and
    its revocation)."""

    target: str
    target_id: str
    grantee_org: str
    purpose: str
    kinds: list[str]
    expires_at: str
    granted_by: str
    granted_by_org: str
    granted_at: str
    revoked: bool
    revoked_at: str | None
    tx_id: str

    @classmethod
    def of(cls, g: GrantRecord, tx_id: str | None = None) -> GrantView:
        return cls(
            target=g.target.value,
            target_id=g.target_id,
            grantee_org=g.grantee_org,
            purpose=g.purpose,
            kinds=[k.value for k in g.kinds],
            expires_at=g.expires_at,
            granted_by=g.granted_by,
            granted_by_org=g.granted_by_org,
            granted_at=g.granted_at,
            revoked=g.revoked_at is not None,
            revoked_at=g.revoked_at,
            tx_id=tx_id or g.revoked_tx or g.granted_tx,
        )


class AccessView(_Out):
    record_id: str
    accessor_org: str
    accessor: str
    role: str
    target: str
    target_id: str
    purpose: str
    kind: AccessKind
    at: str
    outcome: str
    reason: str
    shared_with: str | None = None  # kind ``share``: the department it was shared with

    @classmethod
    def of(cls, r: AccessRecord) -> AccessView:
        return cls(
            record_id=r.record_id,
            accessor_org=r.accessor_org,
            accessor=r.accessor,
            role=r.role,
            target=r.target.value,
            target_id=r.target_id,
            purpose=r.purpose,
            kind=r.kind,
            at=r.at,
            outcome=r.outcome.value,
            reason=r.reason,
            shared_with=r.shared_with,
        )


class TrailView(_Out):
    records: list[AccessView]
    next_bookmark: str | None


class EvidenceSearchResult(_Out):
    evidence_ids: list[str]
    next_cursor: str | None


class CaseSummaryView(_Out):
    """A case as this node's index copied it from the ledger (read the ledger's own record
    with ``GET /cases/{case_id}``)."""

    case_id: str
    violation_type: str
    stage: str
    holder_org: str
    updated_at: dt.datetime  # the last change the index saw
    items: int  # evidence items attached


class CaseSearchResult(_Out):
    cases: list[CaseSummaryView]
    next_cursor: str | None


class CaseFilingIn(BaseModel):
    """What an officer sends to file a case (the ledger's CaseFiling, checked on conversion)."""

    model_config = ConfigDict(extra="forbid")
    case_id: str
    violation_type: ViolationType
    # The party: its identifier (a plate, a registration number, an id), which the gateway
    # turns into the consortium's subject key and does not keep; or that key itself.
    subject: str | None = Field(default=None, min_length=1, max_length=200)
    subject_key: str | None = None
    subject_kind: SubjectKind
    source: CaseSource
    procedure: Procedure = Procedure.GENERAL
    evidence_ids: list[str] = []


class StageChangeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    to: Stage
    document_hash: str | None = None
    statement_right: StatementRight | None = None
    statement_deadline: dt.datetime | None = None
    party_waived: bool = False
    rectified: bool = False
    execution_result: ExecutionResult | None = None


class TransferIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    to_org: str
    reason: str


class SetAsideIn(BaseModel):
    """A decision of the case set aside (行政处罚法 第四十八条): which (its transaction), how,
    by whom, why (one of the law's reasons), and the document that did it, by its SHA-256
    and its date."""

    model_config = ConfigDict(extra="forbid")
    decision_tx: str
    ground: SetAsideGround
    authority: SetAsideAuthority
    reason: SetAsideReason
    document_hash: str
    set_aside_on: dt.date  # the date of the document that set the decision aside


class SetAsideView(_Out):
    case_id: str
    decision_tx: str
    decided_at: str
    org: str
    ground: SetAsideGround
    authority: SetAsideAuthority
    reason: SetAsideReason
    document_hash: Digest
    set_aside_on: dt.date
    recorded_by: str
    recorded_role: Role
    recorded_at: str
    recorded_tx: str

    @classmethod
    def of(cls, record: SetAsideRecord) -> SetAsideView:
        return cls(**record.model_dump(exclude={"schema_version"}))


class ServiceIn(BaseModel):
    """A step's document served on the party (送达): which step (its transaction), how, when
    it reached them (with a zone), the proof's SHA-256, and for electronic service the
    party's signed consent's SHA-256."""

    model_config = ConfigDict(extra="forbid")
    step_tx: str
    method: ServiceMethod
    served_at: AwareDatetime
    proof_hash: str
    consent_hash: str | None = None


class ServiceView(_Out):
    case_id: str
    step_tx: str
    step_seq: int
    stage: Stage
    document_hash: Digest
    method: ServiceMethod
    served_at: str
    proof_hash: Digest
    consent_hash: Digest | None
    org: str
    recorded_by: str
    recorded_role: Role
    recorded_at: str
    recorded_tx: str

    @classmethod
    def of(cls, record: ServiceRecord) -> ServiceView:
        return cls(**record.model_dump(exclude={"schema_version"}))


class TransferAnswerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    accept: bool
    reason: str | None = None


class GrantIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    grantee_org: str
    purpose: str
    expires_at: dt.datetime
    kinds: list[AccessKind] = [AccessKind.VIEW, AccessKind.DOWNLOAD]
