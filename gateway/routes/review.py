"""The review queue and the co-governance loop: thin routes over the Violations contract,
each step signed by the acting reviewer's or officer's own identity."""

from __future__ import annotations

import logging
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from chaincode.rules.violations import NEXT, STEPS
from gateway.auth import Principal
from gateway.deps import Deps, GatewayDeps, Ledger, ledger_of, require
from gateway.problems import Problem, strict_request
from gateway.routes.cases import subject_key_of
from node.crypto.subjects import SubjectKeyer
from node.ledger import LedgerRefused
from node.package import ClaimsNotArchived
from schemas.claims import CaptureClaims, parse_device_claims
from schemas.glossary import Role, ViolationStatus
from schemas.ledger import MAX_CASE_EVIDENCE, MAX_PAGE_SIZE, LedgerErrorCode, SubjectKind
from schemas.rectification import RectificationRequest
from schemas.violations import (
    ViolationEntry,
    ViolationQuery,
    ViolationRecord,
    ViolationReview,
    ViolationStep,
)

router = APIRouter(prefix="/violations", tags=["review"])
log = logging.getLogger("gateway")

FlagId = Annotated[str, Path(max_length=128)]
_READERS = (Role.REVIEWER, Role.OFFICER, Role.AUDITOR)


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CaseIn(_In):
    """The case a flag opens. ``subject`` (a licence plate, a shop's registration number, a
    person's id) is hashed here and never stored in clear on the ledger; without it the case
    is opened against an unidentified subject of this flag."""

    case_id: str | None = Field(default=None, max_length=128)
    subject: str | None = Field(default=None, min_length=1, max_length=200)
    subject_kind: SubjectKind = SubjectKind.PERSON


class ReviewIn(CaseIn):
    decision: Literal["confirmed", "rejected"]
    reason: str = Field(max_length=64, description="a reason code, e.g. false_positive")
    action: Literal["reminder", "case"] | None = None


class RectifiedIn(_In):
    evidence_ids: list[str] = Field(min_length=1, max_length=MAX_CASE_EVIDENCE)


class ReasonIn(_In):
    reason: str = Field(max_length=64, description="a reason code, e.g. not_rectified")


class ViolationView(BaseModel):
    flag_id: str
    org: str
    camera_id: str
    violation_type: str
    detected_at: str
    evidence_ids: list[str]
    confidence: float
    status: ViolationStatus
    case_id: str | None
    updated_at: str
    tx_id: str | None = None

    @classmethod
    def of(cls, record: ViolationRecord, tx_id: str | None = None) -> ViolationView:
        return cls(**record.model_dump(include=set(cls.model_fields) - {"tx_id"}), tx_id=tx_id)


class QueuePage(BaseModel):
    items: list[ViolationView]
    bookmark: str


class StepView(BaseModel):
    seq: int
    from_status: ViolationStatus | None
    to_status: ViolationStatus
    by: str
    by_org: str
    role: Role
    at: str
    tx_id: str
    reason: str
    evidence_ids: list[str]
    case_id: str | None

    @classmethod
    def of(cls, entry: ViolationEntry) -> StepView:
        return cls(**entry.model_dump(include=set(cls.model_fields)))


# --- the co-governance rule, for people to see what is next ---------------------------------

# The reminders a flag has had by its status: the loop has one path through them. Only to
# show what is still owed; the chaincode counts the flag's history and decides.
_GIVEN = {
    ViolationStatus.REMINDED: 1,
    ViolationStatus.ESCALATED: 1,
    ViolationStatus.COMMUNITY_REMINDED: 2,
}
# The later steps of the loop, each as its route under /violations/{flag_id}, in the loop's
# order; which follows which and who takes it are the chaincode's own rules.
_ROUTES = {
    ViolationStatus.REMINDED: "remind",
    ViolationStatus.RECTIFIED: "rectified",
    ViolationStatus.ESCALATED: "escalate",
    ViolationStatus.COMMUNITY_REMINDED: "community-remind",
    ViolationStatus.CASE_FILED: "file-case",
}


async def reminder_rules(ledger: Ledger) -> dict[str, int]:
    """The reminders the consortium's penalty schedule requires before a case, by violation
    type (only types that require some); none before a schedule is published."""
    try:
        schedule = await ledger.penalty_schedule()
    except LedgerRefused as err:
        if err.code is LedgerErrorCode.NOT_FOUND:
            return {}
        raise
    return {
        vtype.value: entry.reminders_before_case
        for vtype, entry in schedule.entries.items()
        if entry.reminders_before_case
    }


def reminders_owed(status: ViolationStatus, violation_type: str, rules: dict[str, int]) -> int:
    """Reminders a flag in ``status`` still owes before a case, by the schedule's ``rules``."""
    return max(0, rules.get(violation_type, 0) - _GIVEN.get(status, 0))


def next_steps(
    status: ViolationStatus, violation_type: str, role: Role, rules: dict[str, int]
) -> list[str]:
    """The loop's steps ``role`` may take on a flag now (the review aside), as the routes
    that take them; a case only once the reminders the schedule asks for were given."""
    allowed = NEXT.get(status, frozenset())
    return [
        route
        for to, route in _ROUTES.items()
        if to in allowed
        and role in STEPS[to].roles
        and not (to is ViolationStatus.CASE_FILED and reminders_owed(status, violation_type, rules))
    ]


def _opening(flag_id: str, body: CaseIn, subjects: SubjectKeyer) -> dict[str, Any]:
    # Without a subject, the flag itself is the party: its key matches no other case.
    identifier = body.subject or f"unidentified/{flag_id}"
    return {
        "case_id": body.case_id or f"CASE-{flag_id}"[:128],
        "subject_key": subject_key_of(subjects, body.subject_kind, identifier),
        "subject_kind": body.subject_kind.value,
    }


@router.get("", response_model=QueuePage)
async def queue(
    deps: Deps,
    who: Annotated[Principal, require(*_READERS)],
    status: ViolationStatus = ViolationStatus.DETECTED,
    page_size: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 50,
    bookmark: Annotated[str, Query(max_length=512)] = "",
) -> QueuePage:
    """This department's flags in one status; ``detected`` is the review queue."""
    query = strict_request(
        ViolationQuery,
        {"org": deps.org, "status": status.value, "page_size": page_size, "bookmark": bookmark},
    )
    page = await ledger_of(deps, who).violations(query)
    return QueuePage(items=[ViolationView.of(r) for r in page.records], bookmark=page.bookmark)


@router.get("/{flag_id}", response_model=ViolationView)
async def get_violation(
    flag_id: FlagId, deps: Deps, who: Annotated[Principal, require(*_READERS)]
) -> ViolationView:
    return ViolationView.of(await ledger_of(deps, who).violation(flag_id))


@router.get("/{flag_id}/history", response_model=list[StepView])
async def history(
    flag_id: FlagId, deps: Deps, who: Annotated[Principal, require(*_READERS)]
) -> list[StepView]:
    return [StepView.of(e) for e in await ledger_of(deps, who).violation_history(flag_id)]


@router.post("/{flag_id}/review", response_model=ViolationView)
async def review(
    flag_id: FlagId,
    body: ReviewIn,
    deps: Deps,
    who: Annotated[Principal, require(Role.REVIEWER)],
) -> ViolationView:
    """Confirm (with a reminder or a case as the next step) or reject as a false positive."""
    doc: dict[str, Any] = {
        "flag_id": flag_id,
        "decision": body.decision,
        "reason": body.reason,
        "action": body.action,
    }
    if body.action == "case":
        doc["case"] = _opening(flag_id, body, deps.subjects)
    committed = await ledger_of(deps, who).review_violation(strict_request(ViolationReview, doc))
    await _ask_rectification(deps, committed.value)
    return ViolationView.of(committed.value, committed.tx_id)


async def _advance(
    deps: Deps, who: Principal, flag_id: str, to: ViolationStatus, **more: Any
) -> ViolationView:
    step = strict_request(ViolationStep, {"flag_id": flag_id, "to_status": to.value, **more})
    committed = await ledger_of(deps, who).advance_violation(step)
    await _ask_rectification(deps, committed.value)
    return ViolationView.of(committed.value, committed.tx_id)


async def _ask_rectification(deps: GatewayDeps, flag: ViolationRecord) -> None:
    """After a reminder, ask the camera that raised the flag to watch its zone.

    The zone and the device come from the device's own signed claims, kept with the flag's
    evidence; a flag whose claims this node does not hold asks nothing (said in the log).
    The reminder is already on the ledger, so nothing here can undo it.
    """
    if flag.status is not ViolationStatus.REMINDED or deps.rectifications is None:
        return
    capture = capture_of(deps, flag)
    if capture is None:
        log.info("no claims for flag %s: no rectification request", flag.flag_id)
        return
    now = deps.clock()
    policy = deps.rectification_policy
    request = RectificationRequest(
        flag_id=flag.flag_id,
        device_id=capture.device_id,
        camera_id=capture.camera_id,
        zone=capture.zone,
        requested_at=now,
        deadline=now + policy.within,
        clear_seconds=policy.clear_seconds,
    )
    await run_in_threadpool(deps.rectifications.open, request)


@router.get("/{flag_id}/rectification", response_model=RectificationRequest)
async def rectification(
    flag_id: FlagId, deps: Deps, who: Annotated[Principal, require(*_READERS)]
) -> RectificationRequest:
    """What the camera was asked after the reminder, and its report once it came: outcome
    and the evidence ids an officer cites to move the flag to ``rectified``."""
    request = None if deps.rectifications is None else deps.rectifications.get(flag_id)
    if request is None:
        raise Problem(404, "NOT_FOUND", f"no rectification was requested for {flag_id}")
    return request


@router.post("/{flag_id}/remind", response_model=ViolationView)
async def remind(
    flag_id: FlagId, deps: Deps, who: Annotated[Principal, require(Role.OFFICER, Role.REVIEWER)]
) -> ViolationView:
    """The co-governance reminder (a confirmed flag's first step)."""
    return await _advance(deps, who, flag_id, ViolationStatus.REMINDED)


@router.post("/{flag_id}/rectified", response_model=ViolationView)
async def rectified(
    flag_id: FlagId,
    body: RectifiedIn,
    deps: Deps,
    who: Annotated[Principal, require(Role.OFFICER)],
) -> ViolationView:
    """Rectified, with the evidence that shows it (this department's items)."""
    return await _advance(
        deps, who, flag_id, ViolationStatus.RECTIFIED, evidence_ids=body.evidence_ids
    )


@router.post("/{flag_id}/escalate", response_model=ViolationView)
async def escalate(
    flag_id: FlagId,
    body: ReasonIn,
    deps: Deps,
    who: Annotated[Principal, require(Role.OFFICER, Role.REVIEWER)],
) -> ViolationView:
    return await _advance(deps, who, flag_id, ViolationStatus.ESCALATED, reason=body.reason)


@router.post("/{flag_id}/community-remind", response_model=ViolationView)
async def community_remind(
    flag_id: FlagId, deps: Deps, who: Annotated[Principal, require(Role.OFFICER)]
) -> ViolationView:
    return await _advance(deps, who, flag_id, ViolationStatus.COMMUNITY_REMINDED)


@router.post("/{flag_id}/file-case", response_model=ViolationView)
async def file_case(
    flag_id: FlagId,
    body: CaseIn,
    deps: Deps,
    who: Annotated[Principal, require(Role.OFFICER, Role.REVIEWER)],
) -> ViolationView:
    """Open the case (from a confirmed, escalated or community-reminded flag), once the
    reminders the penalty schedule requires for its type were given (409
    REMINDERS_REQUIRED otherwise)."""
    return await _advance(
        deps, who, flag_id, ViolationStatus.CASE_FILED, case=_opening(flag_id, body, deps.subjects)
    )


def capture_of(deps: GatewayDeps, flag: ViolationRecord | ViolationView) -> CaptureClaims | None:
    """The device's signed capture claims of ``flag`` (zone, rule, detections), as this node
    kept them with its first item; None when it keeps none."""
    if deps.claims is None or not flag.evidence_ids:
        return None
    try:
        capture = parse_device_claims(deps.claims.get(flag.evidence_ids[0]).claims_json)
    except (ClaimsNotArchived, ValueError):
        return None
    return capture if isinstance(capture, CaptureClaims) else None
