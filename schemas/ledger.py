"""What the chaincode accepts and stores: requests and ledger records, version 1.

Every value here travels in blocks that other cases' packages carry (a package proves a
transaction with its whole block), so the ledger holds ids, hashes, codes, org names and
times only — never names, addresses, coordinates or free text. A "code" is a short
lower-case identifier (``court_proceedings``); the documents it refers to stay off-chain,
bound by their hashes.

Requests are strict (unknown fields are refused, types are not coerced); records are what
``model_dump(mode="json")`` stores as canonical JSON. Times on the ledger are fixed-width UTC
strings (:func:`ledger_time`) so that they sort as text in composite keys.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from schemas.glossary import (
    AccessKind,
    Outcome,
    Period,
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

SCHEMA_VERSION = 1

# Evidence, case and device ids: letters and digits first, then a few separators.
Ident = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")]
CODE_PATTERN = r"^[a-z][a-z0-9_]{0,63}$"
Code = Annotated[str, StringConstraints(pattern=CODE_PATTERN)]
MspId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9.-]{0,63}$")]
MediaType = Annotated[str, StringConstraints(pattern=r"^[a-z]{1,32}/[a-z0-9][a-z0-9.+-]{0,63}$")]
# A storage locator is the owner node's own reference (e.g. "blob:sha256:…"); printable
# ASCII without spaces so it can never smuggle text onto the ledger.
Locator = Annotated[str, StringConstraints(pattern=r"^[!-~]{1,256}$")]
# HMAC-SHA256 of the subject's real identifier under the consortium's subject key.
SubjectKey = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
LedgerTime = Annotated[str, StringConstraints(pattern=r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")]
TxId = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
# A citation of law or a discretion benchmark: short, printable, no control characters.
Citation = Annotated[
    str, StringConstraints(min_length=1, max_length=128, pattern=r"^[^\x00-\x1f\x7f]+$")
]

MAX_REQUEST_BYTES = 16 * 1024
MAX_CASE_EVIDENCE = 100
MAX_PAGE_SIZE = 200
# Items per RequestPackageAccess transaction: 100 ids of the longest form still fit in one
# request of MAX_REQUEST_BYTES; a larger export is a few such transactions.
MAX_PACKAGE_BATCH = 100
# A flag's loop holds two reminders: the first one and, after an escalation, the community's.
MAX_REMINDERS = 2


def ledger_time(moment: dt.datetime) -> str:
    """Fixed-width UTC text (microseconds, ``Z``): sorts chronologically as a string."""
    if moment.tzinfo is None:
        raise ValueError("ledger times must be timezone-aware")
    # Not strftime: glibc's %Y writes the year 999 as "999", which is neither fixed-width
    # nor a ledger time; isoformat always writes four digits.
    utc = moment.astimezone(dt.UTC).replace(tzinfo=None)
    return utc.isoformat(timespec="microseconds") + "Z"


def parse_ledger_time(text: str) -> dt.datetime:
    return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.UTC)


class LedgerErrorCode(StrEnum):
    """Stable codes the chaincode refuses with; clients branch on these, never on text."""

    VALIDATION_FAILED = "VALIDATION_FAILED"
    UNKNOWN_FUNCTION = "UNKNOWN_FUNCTION"
    NOT_FOUND = "NOT_FOUND"
    ACCESS_DENIED = "ACCESS_DENIED"
    EVIDENCE_CONFLICT = "EVIDENCE_CONFLICT"
    CASE_CONFLICT = "CASE_CONFLICT"
    INVALID_STAGE_TRANSITION = "INVALID_STAGE_TRANSITION"
    TRANSFER_CONFLICT = "TRANSFER_CONFLICT"
    SCHEDULE_CONFLICT = "SCHEDULE_CONFLICT"
    VIOLATION_CONFLICT = "VIOLATION_CONFLICT"
    INVALID_VIOLATION_TRANSITION = "INVALID_VIOLATION_TRANSITION"
    DOCUMENT_MISMATCH = "DOCUMENT_MISMATCH"
    REMINDERS_REQUIRED = "REMINDERS_REQUIRED"
    EVIDENCE_UNDER_FLAG = "EVIDENCE_UNDER_FLAG"
    PUBLICATION_CONFLICT = "PUBLICATION_CONFLICT"
    INTERNAL = "INTERNAL"


class TargetKind(StrEnum):
    EVIDENCE = "evidence"
    CASE = "case"


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    schema_version: int = SCHEMA_VERSION


# --- organisations and their evidence-encryption keys -------------------------------------


class OrgKeyPublication(_Request):
    """An org's X25519 public key (raw 32 bytes, standard base64)."""

    algorithm: Literal["X25519"] = "X25519"
    public_key: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9+/]{43}=$")]


class OrgKeyRecord(_Record):
    org: MspId
    version: int
    key_id: str  # sha256 of the raw key, "sha256:<hex>"
    algorithm: str
    public_key: str
    published_by: str
    published_at: LedgerTime
    published_tx: str


# --- evidence -----------------------------------------------------------------------------


class EvidenceContent(_Request):
    """What identifies an evidence item; registering it twice must give the same content."""

    evidence_id: Ident
    plaintext_hash: Digest
    ciphertext_hash: Digest
    size: Annotated[int, Field(gt=0, le=1 << 40)]
    media_type: MediaType
    captured_at: AwareDatetime
    device_id: Ident
    camera_id: Ident
    violation_type: ViolationType
    owner_org: MspId
    locator: Locator
    claims_hash: Digest


class EvidenceRegistration(EvidenceContent):
    """Registration request: the content, optionally attached to a case held by the owner."""

    case_id: Ident | None = None


MAX_CASE_STEPS = 10_000


class DocumentFiling(EvidenceContent):
    """A step's legal document (审批表, 告知书, 决定书...) into the case file: the content of
    its item, the case, and the step whose recorded ``document_hash`` it must be."""

    case_id: Ident
    step: Annotated[int, Field(ge=1, le=MAX_CASE_STEPS)]  # the stage entry's seq


class EvidenceStatus(StrEnum):
    ACTIVE = "active"
    RETENTION_EXPIRED = "retention_expired"


class EvidenceRecord(_Record):
    evidence_id: str
    plaintext_hash: str
    ciphertext_hash: str
    size: int
    media_type: str
    captured_at: LedgerTime
    device_id: str
    camera_id: str
    violation_type: ViolationType
    owner_org: str
    locator: str
    claims_hash: str
    registered_by: str
    registered_role: Role
    registered_at: LedgerTime
    registered_tx: str
    status: EvidenceStatus = EvidenceStatus.ACTIVE
    expired_at: LedgerTime | None = None
    expired_tx: str | None = None


# --- grants and access records ------------------------------------------------------------

DEFAULT_GRANT_KINDS = (AccessKind.VIEW, AccessKind.DOWNLOAD, AccessKind.PACKAGE)


class GrantRequest(_Request):
    target: TargetKind
    target_id: Ident
    grantee_org: MspId
    purpose: Code
    expires_at: AwareDatetime
    kinds: Annotated[list[AccessKind], Field(min_length=1, max_length=4)] = list(
        DEFAULT_GRANT_KINDS
    )


class GrantRecord(_Record):
    target: TargetKind
    target_id: str
    grantee_org: str
    purpose: str
    kinds: list[AccessKind]
    expires_at: LedgerTime
    granted_by_org: str
    granted_by: str
    granted_at: LedgerTime
    granted_tx: str
    revoked_at: LedgerTime | None = None
    revoked_by: str | None = None
    revoked_tx: str | None = None


class AccessRequest(_Request):
    target: TargetKind
    target_id: Ident
    purpose: Code
    kind: AccessKind


class PackageAccessRequest(_Request):
    """The ``package`` access of several items, recorded by one transaction (an export)."""

    evidence_ids: Annotated[list[Ident], Field(min_length=1, max_length=MAX_PACKAGE_BATCH)]
    purpose: Code


def package_record_id(tx_id: str, index: int) -> str:
    """The id of the ``index``-th access record written by a RequestPackageAccess
    transaction: ``<tx id>.<nn>`` (two digits: a batch holds at most 100)."""
    return f"{tx_id}.{index:02d}"


def record_tx_id(record_id: str) -> str:
    """The transaction that wrote an access record (Fabric transaction ids are hex)."""
    return record_id.partition(".")[0]


def stage_entry_keys(case_id: str) -> str:
    """The prefix of the world-state keys of a case's stage entries (``\x00case_stage\x00
    <id>\x00<seq, six digits>\x00``): a package's verifier finds the case's steps by it."""
    return f"\x00case_stage\x00{case_id}\x00"


def violation_entry_keys(flag_id: str) -> str:
    """The prefix of the world-state keys of a flag's history entries (``\\x00violation_step
    \\x00<id>\\x00<seq, six digits>\\x00``): a package's verifier finds the loop by it."""
    return f"\x00violation_step\x00{flag_id}\x00"


def service_keys(case_id: str) -> str:
    """The prefix of the world-state keys of a case's services (``\x00service\x00<id>\x00
    <step, six digits>\x00<tx id>\x00``): a package's verifier finds them by it."""
    return f"\x00service\x00{case_id}\x00"


def set_aside_keys(case_id: str) -> str:
    """The prefix of the world-state keys of a case's decisions set aside (``\x00set_aside
    \x00<id>\x00<decision tx id>\x00``): a package's verifier finds them by it."""
    return f"\x00set_aside\x00{case_id}\x00"


def case_state_key(case_id: str) -> str:
    """The world-state key of a case, as the chaincode writes it (a Fabric composite key,
    ``\\x00case\\x00<id>\\x00``): a package's verifier finds the case in a write set by it."""
    return f"\x00case\x00{case_id}\x00"


class AccessRecord(_Record):
    """One attempt to read evidence, granted or denied; written by the attempt itself."""

    # The transaction id; ``<tx id>.<nn>`` for the records of a package batch.
    record_id: str
    accessor_org: str
    accessor: str  # certificate subject
    role: str
    target: TargetKind
    target_id: str
    case_ids: list[str]
    purpose: str
    kind: AccessKind
    at: LedgerTime
    outcome: Outcome
    reason: str
    grant_tx: str | None = None
    # ``share`` records (a grant): the department the target was shared with.
    shared_with: str | None = None


class TrailBy(StrEnum):
    EVIDENCE = "evidence"
    CASE = "case"
    ACCESSOR = "accessor"
    ORG = "org"
    TIME = "time"


class TrailQuery(_Request):
    by: TrailBy
    target_id: Ident | None = None  # by evidence or case
    org: MspId | None = None  # by org or accessor
    accessor: Annotated[str, StringConstraints(min_length=1, max_length=512)] | None = None
    since: AwareDatetime | None = None
    until: AwareDatetime | None = None
    page_size: Annotated[int, Field(ge=1, le=MAX_PAGE_SIZE)] = 50
    bookmark: Annotated[str, StringConstraints(max_length=1024)] = ""


class TrailPage(BaseModel):
    records: list[AccessRecord]
    bookmark: str


class ItemsQuery(_Request):
    """Several items at once, for reads an export makes of every item (at most
    MAX_PACKAGE_BATCH); ``page_size`` bounds each item's trail page."""

    evidence_ids: Annotated[list[Ident], Field(min_length=1, max_length=MAX_PACKAGE_BATCH)]
    page_size: Annotated[int, Field(ge=1, le=MAX_PAGE_SIZE)] = 50


class ItemTrail(BaseModel):
    """The first page of one item's trail; a bookmark means AccessTrail has more."""

    evidence_id: str
    records: list[AccessRecord]
    bookmark: str


# --- penalties and subjects ---------------------------------------------------------------


class ScheduleEntry(_Request):
    legal_basis: Citation
    discretion_benchmark: Citation
    first_violation_exempt: bool
    # Amount for the 1st, 2nd, ... violation within the lookback; the last step repeats.
    steps_cents: Annotated[
        list[Annotated[int, Field(ge=0, le=10**9)]], Field(min_length=1, max_length=10)
    ]
    lookback_days: Annotated[int, Field(ge=1, le=3650)] = 365
    # The co-governance rule (小河共治): how many reminders a flag of this type must have had
    # (the first reminder, then the community's) before it may become a case.
    reminders_before_case: Annotated[int, Field(ge=0, le=MAX_REMINDERS)] = 0


class PenaltySchedule(_Request):
    version: Annotated[int, Field(ge=1)]
    # Orgs whose admins may publish the next version.
    governing_orgs: Annotated[list[MspId], Field(min_length=1, max_length=16)]
    entries: dict[ViolationType, ScheduleEntry]


class Penalty(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    exempt: bool
    prior_violations: int
    step: int
    amount_cents: int
    legal_basis: str
    discretion_benchmark: str
    schedule_version: int


class SubjectViolation(_Record):
    subject_key: str
    violation_type: ViolationType
    case_id: str
    org: str
    at: LedgerTime
    tx: str
    exempted: bool
    amount_cents: int
    # Set when the decision was set aside (SetAsideDecision); a ground that voids it takes
    # the violation out of the subject's prior violations.
    set_aside: SetAsideGround | None = None

    @property
    def counts(self) -> bool:
        """Whether this violation counts as a prior one for the next penalty."""
        return self.set_aside is None or not self.set_aside.voids


# --- cases, stages and transfers ----------------------------------------------------------


class SubjectKind(StrEnum):
    PERSON = "person"
    ORGANIZATION = "organization"


class CaseSource(StrEnum):
    CAMERA = "camera"
    REPORT = "report"
    INSPECTION = "inspection"
    COMPLAINT = "complaint"


class CaseFiling(_Request):
    case_id: Ident
    violation_type: ViolationType
    subject_key: SubjectKey
    subject_kind: SubjectKind
    source: CaseSource
    procedure: Procedure = Procedure.GENERAL
    evidence_ids: Annotated[list[Ident], Field(max_length=MAX_CASE_EVIDENCE)] = []


class StatementRight(StrEnum):
    STATEMENT = "statement"
    HEARING = "hearing"
    STATEMENT_AND_HEARING = "statement_and_hearing"


class ExecutionResult(StrEnum):
    PAID = "paid"
    RECTIFIED = "rectified"
    ENFORCED = "enforced"
    WARNING_SERVED = "warning_served"


class StageDetails(_Request):
    """What a transition carries; which fields are required depends on the stage."""

    document_hash: Digest | None = None  # the step's legal document (approval form, notice...)
    statement_right: StatementRight | None = None
    statement_deadline: AwareDatetime | None = None
    party_waived: bool = False
    rectified: bool = False
    execution_result: ExecutionResult | None = None


class StageChange(_Request):
    case_id: Ident
    to_stage: Stage
    details: StageDetails = StageDetails()


class PendingTransfer(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    seq: int
    to_org: str


class CaseRecord(_Record):
    case_id: str
    violation_type: ViolationType
    subject_key: str
    subject_kind: SubjectKind
    source: CaseSource
    procedure: Procedure
    stage: Stage
    holder_org: str
    filed_by_org: str
    filed_by: str
    filed_at: LedgerTime
    filed_tx: str
    updated_at: LedgerTime
    stage_changes: int = 0
    transfers: int = 0
    pending_transfer: PendingTransfer | None = None
    statement_deadline: LedgerTime | None = None
    penalty: Penalty | None = None
    # The AI flag the case was opened from: its co-governance loop (reminders, escalation)
    # led here, and a package proves it.
    flag_id: str | None = None
    set_asides: int = 0  # decisions of this case set aside (SetAsideDecision)
    # Documents of this case served on the party (RecordService): a package proves as many.
    services: int = 0

    @property
    def closed(self) -> bool:
        return self.stage in (Stage.CLOSURE, Stage.CLOSED_WITHOUT_PENALTY)


class StageEntry(_Record):
    case_id: str
    seq: int
    from_stage: Stage
    to_stage: Stage
    actor_org: str
    actor: str
    role: str
    at: LedgerTime
    tx: str
    details: dict[str, object]
    penalty: Penalty | None = None


class DecisionSetAside(_Request):
    """A decision of the case set aside by a reconsideration body, a court or the department
    itself (行政处罚法 第四十八条), bound to the document that did it by its hash and its
    date (``set_aside_on``, the day the document was made: the three days to withdraw the
    published decision run from it); the reason is one of the law's (SetAsideReason), never
    free text."""

    case_id: Ident
    decision_tx: TxId
    ground: SetAsideGround
    authority: SetAsideAuthority
    reason: SetAsideReason
    document_hash: Digest
    set_aside_on: dt.date


class SetAsideRecord(_Record):
    case_id: str
    decision_tx: str
    decided_at: LedgerTime
    org: str  # the department that took the decision and recorded its setting aside
    ground: SetAsideGround
    authority: SetAsideAuthority
    reason: SetAsideReason
    document_hash: Digest
    set_aside_on: dt.date  # the document's date, as its maker stated it
    recorded_by: str
    recorded_role: Role
    recorded_at: LedgerTime
    recorded_tx: str


class DocumentService(_Request):
    """A step's document served on the party (送达): how, when it reached them, and the
    proof, by its hash (the signed service receipt 送达回证, the post's delivery record, the
    electronic system's delivery record, the notice as published). Electronic service needs
    the party's signed consent (确认书, 行政处罚法 第六十一条第二款), by its hash too."""

    case_id: Ident
    step_tx: TxId
    method: ServiceMethod
    served_at: AwareDatetime
    proof_hash: Digest
    consent_hash: Digest | None = None


class ServiceRecord(_Record):
    case_id: str
    step_tx: str
    step_seq: int
    stage: Stage  # the step's: which document (a notice, a decision) was served
    document_hash: Digest  # the document the step bound, as served
    method: ServiceMethod
    served_at: LedgerTime
    proof_hash: Digest
    consent_hash: Digest | None
    org: str
    recorded_by: str
    recorded_role: Role
    recorded_at: LedgerTime
    recorded_tx: str


class TransferProposal(_Request):
    case_id: Ident
    to_org: MspId
    reason: Code


class TransferAnswer(_Request):
    case_id: Ident
    accept: bool
    reason: Code | None = None


class TransferStatus(StrEnum):
    PROPOSED = "proposed"
    ACCEPTED = "accepted"
    REJECTED = "rejected"


class TransferRecord(_Record):
    case_id: str
    seq: int
    from_org: str
    to_org: str
    reason: str
    proposed_by: str
    proposed_at: LedgerTime
    proposed_tx: str
    status: TransferStatus = TransferStatus.PROPOSED
    answered_by: str | None = None
    answered_at: LedgerTime | None = None
    answered_tx: str | None = None
    answer_reason: str | None = None


class HolderPeriod(BaseModel):
    """One org's time as the case's holder (``until`` is None for the current holder)."""

    org: str
    since: LedgerTime
    since_tx: str
    until: LedgerTime | None = None


# --- publication of decisions (行政执法公示) -------------------------------------------------

# A month of a large city's decisions, with room: a bulletin is one file a portal serves.
MAX_BULLETIN_DECISIONS = 20_000
# A period's length: a department's offset is fixed (no summer time), so a day is 24 hours.
PERIOD_SPANS: dict[Period, frozenset[dt.timedelta]] = {
    Period.DAY: frozenset({dt.timedelta(days=1)}),
    Period.WEEK: frozenset({dt.timedelta(days=7)}),
    Period.MONTH: frozenset(dt.timedelta(days=n) for n in range(28, 32)),
}


def check_period_span(period: Period, since: str, until: str) -> None:
    """Raises ValueError unless [since, until) is as long as a ``period``."""
    # Ledger times are fixed-width UTC text: they compare as they sort.
    if not since < until:
        raise ValueError("since must come before until")
    span = parse_ledger_time(until) - parse_ledger_time(since)
    if span not in PERIOD_SPANS[period]:
        raise ValueError(f"since to until is {span}, not a {period.value}")


class BulletinRecording(_Request):
    """That a department published a bulletin of its decisions (node.disclosure): which one,
    by the SHA-256 of the bulletin's canonical bytes (what its signature covers), and of which
    period. The ledger adds who and when, so an auditor can tell how soon each decision was
    made public. The bulletin stays off the ledger: it is public on the department's portal,
    and each decision in it is on the ledger already."""

    bulletin_hash: Digest
    period: Period
    since: LedgerTime
    until: LedgerTime
    decisions: Annotated[int, Field(ge=0, le=MAX_BULLETIN_DECISIONS)]

    @model_validator(mode="after")
    def _span(self) -> BulletinRecording:
        check_period_span(self.period, self.since, self.until)
        return self


class BulletinRecord(_Record):
    org: str
    bulletin_hash: Digest
    period: Period
    since: LedgerTime
    until: LedgerTime
    decisions: int
    recorded_by: str
    recorded_role: Role
    recorded_at: LedgerTime
    recorded_tx: str


# The longest period a bulletin covers (a month); PeriodCases reads no longer a range.
MAX_PERIOD_SPAN = dt.timedelta(days=31)


class PeriodQuery(_Request):
    """A department's period [since, until), at most a month: which of its cases a bulletin
    of that period must account for (PeriodCases)."""

    org: MspId
    since: LedgerTime
    until: LedgerTime

    @model_validator(mode="after")
    def _span(self) -> PeriodQuery:
        span = parse_ledger_time(self.until) - parse_ledger_time(self.since)
        if not dt.timedelta(0) < span <= MAX_PERIOD_SPAN:
            raise ValueError("until must follow since by at most 31 days")
        return self
