"""Cases: thin routes over the chaincode, each signed by the caller's own identity."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Path, Query
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ValidationError

from gateway.auth import Principal
from gateway.deps import Deps, ledger_of, require
from gateway.models import (
    CaseFilingIn,
    CaseSearchResult,
    CaseSummaryView,
    CaseView,
    GrantIn,
    GrantView,
    ServiceIn,
    ServiceView,
    SetAsideIn,
    SetAsideView,
    StageChangeIn,
    StageView,
    TransferAnswerIn,
    TransferIn,
    TransferView,
)
from gateway.problems import Problem, strict_request
from node.crypto.subjects import SubjectKeyer
from node.index.cases import CaseQuery, search_cases
from node.ledger import LedgerRefused
from schemas.glossary import Role, Stage, ViolationType
from schemas.ledger import (
    CaseFiling,
    DecisionSetAside,
    DocumentService,
    GrantRequest,
    LedgerErrorCode,
    StageDetails,
    SubjectKind,
    TargetKind,
    TransferAnswer,
    TransferProposal,
)

router = APIRouter(prefix="/cases", tags=["cases"])

M = TypeVar("M", bound=BaseModel)
CaseId = Annotated[str, Path(max_length=128)]
OrgId = Annotated[str, Path(max_length=64)]


def _json(model: BaseModel, **extra: Any) -> dict[str, Any]:
    # A party's identifier never goes further than this gateway: only its key does.
    doc = model.model_dump(mode="json", exclude_none=True, exclude={"subject"})
    return {**doc, **extra}


def subject_key_of(subjects: SubjectKeyer, kind: SubjectKind, identifier: str) -> str:
    """The consortium's key for a party, or a 422 problem for an identifier of nothing."""
    try:
        return subjects.key_of(kind, identifier)
    except ValueError:
        raise Problem(422, "INVALID_REQUEST", "subject: no identifier left") from None


@router.post("", response_model=CaseView, status_code=201)
async def file_case(
    body: CaseFilingIn, deps: Deps, who: Annotated[Principal, require(Role.OFFICER)]
) -> CaseView:
    if (body.subject is None) == (body.subject_key is None):
        raise Problem(422, "INVALID_REQUEST", "subject: give either subject or subject_key")
    key = body.subject_key
    if body.subject is not None:
        key = subject_key_of(deps.subjects, body.subject_kind, body.subject)
    filing = strict_request(CaseFiling, _json(body, subject_key=key))
    committed = await ledger_of(deps, who).file_case(filing)
    return CaseView.of(committed.value, committed.tx_id)


@router.get("", response_model=CaseSearchResult)
async def search(
    deps: Deps,
    _: Annotated[Principal, require(Role.OFFICER, Role.REVIEWER, Role.AUDITOR)],
    text: Annotated[str, Query(max_length=64, description="part of the case id")] = "",
    violation_type: ViolationType | None = None,
    stage: Stage | None = None,
    holder_org: Annotated[str, Query(max_length=64)] = "",
    since: Annotated[dt.datetime | None, Query(description="last change at or after")] = None,
    until: Annotated[dt.datetime | None, Query(description="last change before")] = None,
    page_size: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: Annotated[str, Query(max_length=512)] = "",
) -> CaseSearchResult:
    """The cases this department's index knows (filed here, transferred in, granted, held
    before), newest change first, paged. Partners list nothing: they open the cases they
    were granted by id."""
    try:
        query = CaseQuery(
            text=text,
            violation_type=violation_type,
            stage=stage,
            holder_org=holder_org,
            since=since,
            until=until,
            page_size=page_size,
            cursor=cursor,
        )
    except ValidationError as err:
        raise Problem(422, "INVALID_REQUEST", "invalid search parameters") from err
    # A cursor this index did not issue raises SearchError: 422 INVALID_SEARCH.
    page = await run_in_threadpool(search_cases, deps.index, query)
    return CaseSearchResult(
        cases=[CaseSummaryView(**vars(c)) for c in page.cases], next_cursor=page.next_cursor
    )


@router.get("/{case_id}", response_model=CaseView)
async def get_case(
    case_id: CaseId,
    deps: Deps,
    who: Annotated[Principal, require(Role.OFFICER, Role.REVIEWER, Role.AUDITOR, Role.PARTNER)],
) -> CaseView:
    return CaseView.of(await ledger_of(deps, who).case(case_id))


@router.get("/{case_id}/history", response_model=list[StageView])
async def history(
    case_id: CaseId,
    deps: Deps,
    who: Annotated[Principal, require(Role.OFFICER, Role.REVIEWER, Role.AUDITOR)],
) -> list[StageView]:
    return [StageView.of(e) for e in await ledger_of(deps, who).case_history(case_id)]


@router.get("/{case_id}/transfers", response_model=list[TransferView])
async def transfers(
    case_id: CaseId,
    deps: Deps,
    who: Annotated[Principal, require(Role.OFFICER, Role.REVIEWER, Role.AUDITOR)],
) -> list[TransferView]:
    """Every transfer of the case, oldest first: proposed, then accepted or rejected."""
    return [TransferView.of(t) for t in await ledger_of(deps, who).transfer_history(case_id)]


@router.get("/{case_id}/grants", response_model=list[GrantView])
async def grants(
    case_id: CaseId,
    deps: Deps,
    who: Annotated[Principal, require(Role.OFFICER, Role.REVIEWER, Role.AUDITOR)],
) -> list[GrantView]:
    """The case's grants to other departments, revoked ones included (``revoked``)."""
    found = await ledger_of(deps, who).grants(TargetKind.CASE, case_id)
    return [GrantView.of(g) for g in found]


@router.post("/{case_id}/stage", response_model=CaseView)
async def advance(
    case_id: CaseId,
    body: StageChangeIn,
    deps: Deps,
    who: Annotated[Principal, require(Role.OFFICER, Role.REVIEWER)],
) -> CaseView:
    details = strict_request(StageDetails, _json(body.model_copy(update={"to": None})))
    committed = await ledger_of(deps, who).change_stage(case_id, body.to, details)
    return CaseView.of(committed.value, committed.tx_id)


@router.post("/{case_id}/set-asides", response_model=SetAsideView, status_code=201)
async def set_aside(
    case_id: CaseId,
    body: SetAsideIn,
    deps: Deps,
    who: Annotated[Principal, require(Role.REVIEWER, Role.ADMIN)],
) -> SetAsideView:
    """Record that a decision of the case was set aside (行政处罚法 第四十八条): varied,
    revoked, confirmed illegal or confirmed invalid, by a reconsideration body, a court or the
    department itself, for one of the law's reasons (`SetAsideReason`), with the setting-aside
    document's SHA-256 and date (the three working days to withdraw run from it). For a
    reviewer or an admin of the department that took the decision, even after a transfer (the
    chaincode's rule; the holder's peer then endorses too, by the case key's policy). The
    decision stays in the case history; its withdrawal goes into the department's next
    bulletin (docs/DISCLOSURE.md), and a revoked or void decision stops counting as the
    subject's prior violation.

    404 `NOT_FOUND` for no such decision on the case; 409 `CASE_CONFLICT` if it was set
    aside already; 422 `INVALID_REQUEST` for a malformed body (a reason outside the law's
    list, free text among them), `VALIDATION_FAILED` for a document dated after today or
    before the decision.
    """
    req = strict_request(DecisionSetAside, _json(body, case_id=case_id))
    committed = await ledger_of(deps, who).set_aside_decision(req)
    return SetAsideView.of(committed.value)


@router.post("/{case_id}/services", response_model=ServiceView, status_code=201)
async def record_service(
    case_id: CaseId,
    body: ServiceIn,
    deps: Deps,
    who: Annotated[Principal, require(Role.OFFICER, Role.REVIEWER)],
) -> ServiceView:
    """Record that a step's document reached the party (送达, 行政处罚法 第六十一条): the step
    (its transaction: a notice, a decision), the method (`in_person`, `left_at_residence`,
    `entrusted`, `post`, `electronic`, `public_notice`), when it reached them, and the
    proof's SHA-256 (the signed service receipt, the post's or the electronic system's
    delivery record, the notice as published); electronic service also needs the party's
    signed consent's SHA-256. For officers and reviewers of the department holding the case
    (the chaincode's rule). A step may be served again by another method.

    404 `NOT_FOUND` for no such step on the case; 409 `CASE_CONFLICT` for a proof recorded
    already; 422 `INVALID_REQUEST` for a malformed body, `VALIDATION_FAILED` for a step
    that bound no document, a time before the step or in the future, or electronic service
    without consent.
    """
    req = strict_request(DocumentService, _json(body, case_id=case_id))
    committed = await ledger_of(deps, who).record_service(req)
    return ServiceView.of(committed.value)


@router.get("/{case_id}/services", response_model=list[ServiceView])
async def services(
    case_id: CaseId,
    deps: Deps,
    who: Annotated[Principal, require(Role.OFFICER, Role.REVIEWER, Role.AUDITOR)],
) -> list[ServiceView]:
    """How and when each of the case's documents reached the party, step by step."""
    return [ServiceView.of(r) for r in await ledger_of(deps, who).case_services(case_id)]


@router.get("/{case_id}/set-asides", response_model=list[SetAsideView])
async def set_asides(
    case_id: CaseId,
    deps: Deps,
    who: Annotated[Principal, require(Role.OFFICER, Role.REVIEWER, Role.AUDITOR)],
) -> list[SetAsideView]:
    """The case's decisions set aside, each with how, by whom and why."""
    return [SetAsideView.of(r) for r in await ledger_of(deps, who).decision_set_asides(case_id)]


@router.post("/{case_id}/transfers", response_model=TransferView, status_code=201)
async def propose_transfer(
    case_id: CaseId,
    body: TransferIn,
    deps: Deps,
    who: Annotated[Principal, require(Role.OFFICER)],
) -> TransferView:
    proposal = strict_request(TransferProposal, _json(body, case_id=case_id))
    committed = await ledger_of(deps, who).propose_transfer(proposal)
    return TransferView.of(committed.value, committed.tx_id)


@router.post("/{case_id}/transfers/answer", response_model=TransferView)
async def answer_transfer(
    case_id: CaseId,
    body: TransferAnswerIn,
    deps: Deps,
    who: Annotated[Principal, require(Role.OFFICER)],
) -> TransferView:
    answer = strict_request(TransferAnswer, _json(body, case_id=case_id))
    committed = await ledger_of(deps, who).answer_transfer(answer)
    return TransferView.of(committed.value, committed.tx_id)


@router.post("/{case_id}/grants", response_model=GrantView, status_code=201)
async def grant(
    case_id: CaseId,
    body: GrantIn,
    deps: Deps,
    who: Annotated[Principal, require(Role.OFFICER)],
) -> GrantView:
    """Share the case with a partner department. A share the chaincode refuses is recorded
    as a denied `share` in the trails, like a refused read; its record's transaction id is
    in `X-Access-Record`."""
    req = strict_request(GrantRequest, _json(body, target=TargetKind.CASE.value, target_id=case_id))
    ledger = ledger_of(deps, who)
    try:
        committed = await ledger.grant_access(req)
    except LedgerRefused as refused:
        if refused.code is not LedgerErrorCode.ACCESS_DENIED:
            raise
        try:
            denial = await ledger.record_share_denial(req)
        except LedgerRefused:
            raise refused from None  # the refusal stands even if recording it raced a change
        raise Problem(
            403, "ACCESS_DENIED", "access denied", {"X-Access-Record": denial.tx_id}
        ) from None
    return GrantView.of(committed.value, committed.tx_id)


@router.delete("/{case_id}/grants/{grantee_org}", response_model=GrantView)
async def revoke(
    case_id: CaseId,
    grantee_org: OrgId,
    deps: Deps,
    who: Annotated[Principal, require(Role.OFFICER)],
) -> GrantView:
    committed = await ledger_of(deps, who).revoke_access(TargetKind.CASE, case_id, grantee_org)
    return GrantView.of(committed.value, committed.tx_id)
