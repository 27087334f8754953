"""What the gateway is built from (passed in; nothing read from the environment here) and the
request dependencies every route shares: the caller, its role check, its own ledger client."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Protocol

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from gateway.auth import IdentityDirectory, Principal, TokenStore
from gateway.feeds import StreamPolicy, StreamSlots
from gateway.problems import Problem
from gateway.rectification import RectificationPolicy, RectificationRequests
from gateway.remote import RemoteEvidence
from gateway.tls import client_certificate
from node.crypto.key_wrap import KeyRing
from node.crypto.subjects import SubjectKeyer
from node.disclosure.timeliness import WorkCalendar
from node.dispatch import Area
from node.doctor import ArchivedChain, PeerChain
from node.fabric.identity import Identity, Signer
from node.index import IndexDatabase
from node.index.changes import ChangeSignal
from node.ingest import IngestService
from node.ledger import Committed
from node.package import ClaimsArchive, Exporter
from node.store import BlobStore
from node.vault import KeyVault
from schemas.glossary import Period, Role, Stage
from schemas.ledger import (
    AccessRecord,
    AccessRequest,
    BulletinRecord,
    BulletinRecording,
    CaseFiling,
    CaseRecord,
    DecisionSetAside,
    DocumentFiling,
    DocumentService,
    EvidenceRecord,
    EvidenceRegistration,
    GrantRecord,
    GrantRequest,
    Penalty,
    PenaltySchedule,
    ServiceRecord,
    SetAsideRecord,
    StageDetails,
    StageEntry,
    SubjectViolation,
    TargetKind,
    TrailPage,
    TrailQuery,
    TransferAnswer,
    TransferProposal,
    TransferRecord,
)
from schemas.violations import (
    ViolationEntry,
    ViolationFlag,
    ViolationPage,
    ViolationQuery,
    ViolationRecord,
    ViolationReview,
    ViolationStep,
)


class Ledger(Protocol):
    """The part of :class:`node.ledger.LedgerClient` the routes use."""

    async def evidence(self, evidence_id: str) -> EvidenceRecord: ...
    async def owned_evidence(self, org: str) -> list[str]: ...
    async def case_evidence(self, case_id: str) -> list[str]: ...
    async def attach_evidence(self, case_id: str, evidence_id: str) -> str: ...
    async def register_evidence(self, reg: EvidenceRegistration) -> Committed[EvidenceRecord]: ...
    async def file_document(self, filing: DocumentFiling) -> Committed[EvidenceRecord]: ...
    async def request_access(self, req: AccessRequest) -> Committed[AccessRecord]: ...
    async def access_trail(self, query: TrailQuery) -> TrailPage: ...
    async def file_case(self, filing: CaseFiling) -> Committed[CaseRecord]: ...
    async def case(self, case_id: str) -> CaseRecord: ...
    async def case_history(self, case_id: str) -> list[StageEntry]: ...
    async def change_stage(
        self, case_id: str, to: Stage, details: StageDetails | None = None
    ) -> Committed[CaseRecord]: ...
    async def propose_transfer(self, req: TransferProposal) -> Committed[TransferRecord]: ...
    async def answer_transfer(
        self, req: TransferAnswer, *, endorsing_orgs: Sequence[str] = ()
    ) -> Committed[TransferRecord]: ...
    async def transfer_history(self, case_id: str) -> list[TransferRecord]: ...
    async def grant_access(self, req: GrantRequest) -> Committed[GrantRecord]: ...
    async def record_share_denial(self, req: GrantRequest) -> Committed[AccessRecord]: ...
    async def grants(self, target: TargetKind, target_id: str) -> list[GrantRecord]: ...
    async def revoke_access(
        self, target: TargetKind, target_id: str, grantee_org: str
    ) -> Committed[GrantRecord]: ...
    async def flag_violation(self, flag: ViolationFlag) -> Committed[ViolationRecord]: ...
    async def review_violation(self, review: ViolationReview) -> Committed[ViolationRecord]: ...
    async def advance_violation(self, step: ViolationStep) -> Committed[ViolationRecord]: ...
    async def violation(self, flag_id: str) -> ViolationRecord: ...
    async def violation_history(self, flag_id: str) -> list[ViolationEntry]: ...
    async def violations(self, query: ViolationQuery) -> ViolationPage: ...
    async def subject_history(self, subject_key: str) -> list[SubjectViolation]: ...
    async def penalty_schedule(self) -> PenaltySchedule: ...
    async def assess_penalty(
        self, subject_key: str, violation_type: str, rectified: bool
    ) -> Penalty: ...
    async def record_bulletin(self, recording: BulletinRecording) -> Committed[BulletinRecord]: ...
    async def set_aside_decision(self, req: DecisionSetAside) -> Committed[SetAsideRecord]: ...
    async def decision_set_asides(self, case_id: str) -> list[SetAsideRecord]: ...
    async def period_cases(self, org: str, since: dt.datetime, until: dt.datetime) -> list[str]: ...
    async def record_service(self, req: DocumentService) -> Committed[ServiceRecord]: ...
    async def case_services(self, case_id: str) -> list[ServiceRecord]: ...
    async def bulletin_records(
        self, org: str, period: Period, since: str
    ) -> list[BulletinRecord]: ...


@dataclass
class GatewayDeps:
    """One department's gateway.

    ``ledger_for(user)`` returns a ledger client signed by that user's own identity, so the
    ledger names the officer; it is called inside the serving event loop.
    """

    org: str  # this department's MSP id
    tokens: TokenStore
    identities: IdentityDirectory
    ledger_for: Callable[[str], Ledger]
    ingest: IngestService
    index: IndexDatabase
    store: BlobStore
    vault: KeyVault
    keyring: KeyRing
    spool_dir: Path
    subjects: SubjectKeyer  # subject keys: the consortium's keyed hash of a party's id
    remote: RemoteEvidence | None = None  # items of other departments; None: 501
    # Packages: the exporter acting as a user (None: 501); the device claims kept for them.
    exporter_for: Callable[[str], Exporter] | None = None
    claims: ClaimsArchive | None = None
    # The acting person's identity and key, to sign what they assert themselves (an
    # officer's capture on the spot); None: captures answer 501.
    signer_for: Callable[[str], tuple[Identity, Signer]] | None = None
    channel: str = ""  # the consortium's channel, named in what the gateway signs
    # Redacted copies' archive (node.redaction); None: beside the claims or spool directory.
    redactions_dir: Path | None = None
    # Rectification requests to devices after a reminder (None: reminders ask nothing).
    rectifications: RectificationRequests | None = None
    rectification_policy: RectificationPolicy = field(default_factory=RectificationPolicy)
    # Areas (片区): which officers get which cameras' flags (GET /assignments).
    areas: tuple[Area, ...] = ()
    # The department's working days (its configuration's [calendar]): deadlines counted in
    # working days (a decision's service, a bulletin's publication) use it.
    calendar: WorkCalendar = field(default_factory=WorkCalendar)
    # The officers' open feeds (GET /assignments/stream): the index follower tells
    # ``flag_changes`` of each flag it writes; how streams live, and how many per person.
    flag_changes: ChangeSignal = field(default_factory=ChangeSignal)
    streams: StreamPolicy = field(default_factory=StreamPolicy)
    stream_slots: StreamSlots = field(default_factory=StreamSlots)
    # The node's copy of the channel's blocks (node.chain): exports read their proofs from
    # it; the integrity report re-checks it. None: the node keeps none.
    archive: ArchivedChain | None = None
    # The peer's own chain, read as a person (not through ``archive``): the integrity
    # report compares the archive with it. None: not compared.
    peer_chain_for: Callable[[str], PeerChain] | None = None
    max_upload_bytes: int = 1 << 30
    max_claims_bytes: int = 256 * 1024
    clock: Callable[[], dt.datetime] = field(default=lambda: dt.datetime.now(dt.UTC))


def gateway_deps(request: Request) -> GatewayDeps:
    deps: GatewayDeps = request.app.state.deps
    return deps


_bearer = HTTPBearer(auto_error=False)


def principal(
    request: Request,
    deps: Annotated[GatewayDeps, Depends(gateway_deps)],
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The caller: from its bearer token, or from the certificate it presented over mutual TLS."""
    challenge = {"WWW-Authenticate": "Bearer"}
    cert = client_certificate(request.scope)
    by_cert = deps.identities.user_of_certificate(cert) if cert is not None else None
    if cert is not None and by_cert is None:
        # Chained to the department's CA, but not a current identity: reissued or removed.
        raise Problem(
            401,
            "UNKNOWN_CERTIFICATE",
            "the client certificate is not a current identity of this department",
        )
    if creds is None:
        if by_cert is None:
            raise Problem(
                401,
                "UNAUTHENTICATED",
                "a bearer token or client certificate is required",
                challenge,
            )
        user: str | None = by_cert
    else:
        user = deps.tokens.user_of(creds.credentials)
        if user is None:
            raise Problem(401, "UNAUTHENTICATED", "the token is unknown or expired", challenge)
        if by_cert is not None and by_cert != user:
            raise Problem(
                401,
                "CREDENTIALS_CONFLICT",
                f"the token acts as {user!r} but the client certificate is {by_cert!r}",
            )
    role = deps.identities.role_of(user) if user is not None else None
    if user is None or role is None:
        raise Problem(401, "UNAUTHENTICATED", "the identity is unknown", challenge)
    who = Principal(user, role)
    request.state.principal = who  # for the request log
    return who


def require(*roles: Role) -> Any:
    """A dependency admitting only callers with one of ``roles``; the chaincode checks again."""

    def check(who: Annotated[Principal, Depends(principal)]) -> Principal:
        if who.role not in roles:
            raise Problem(403, "ACCESS_DENIED", "access denied")
        return who

    return Depends(check)


async def readmitted(
    request: Request, deps: GatewayDeps, who: Principal, *roles: Role
) -> Problem | None:
    """For a response that lasts (an event stream): None while the request's credentials
    still admit ``who`` with one of ``roles``; else the problem (a token revoked or
    expired, a certificate reissued, a role changed since the response began)."""
    try:
        now = principal(request, deps, await _bearer(request))
    except Problem as problem:
        return problem
    if now.user != who.user or now.role not in roles:
        return Problem(403, "ACCESS_DENIED", "access denied")
    return None


def ledger_of(deps: GatewayDeps, who: Principal) -> Ledger:
    return deps.ledger_for(who.user)


Deps = Annotated[GatewayDeps, Depends(gateway_deps)]
