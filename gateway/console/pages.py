"""The console's pages. Each one calls the same route functions (or ledger calls) as the
API, signed by the user's own identity, so the ledger and the role rules are the API's."""

from __future__ import annotations

import calendar
import datetime as dt
import functools
import hashlib
import re
import secrets
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import urlencode

from fastapi import APIRouter, File, Form, Header, Query, Request, Response, UploadFile
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, RedirectResponse
from pydantic import BaseModel, ValidationError

from chaincode.rules.stages import machine as stage_machine
from gateway.auth import Principal
from gateway.console import overview
from gateway.console.render import page
from gateway.console.session import (
    COOKIE,
    LOGIN,
    ConsoleRoute,
    Session,
    authenticate,
    poster,
    viewer,
)
from gateway.deps import Deps, GatewayDeps, ledger_of
from gateway.models import (
    AccessView,
    CaptureIn,
    GrantIn,
    ServiceIn,
    ServiceView,
    SetAsideIn,
    StageChangeIn,
    StageView,
    TransferAnswerIn,
    TransferIn,
)
from gateway.problems import Problem, strict_request
from gateway.routes import (
    audit,
    captures,
    cases,
    dispatch,
    documents,
    evidence,
    packages,
    reports,
    review,
)
from gateway.uploads import safe_name
from node.disclosure.timeliness import WorkCalendar, due_after
from node.dispatch import DEPARTMENT, Area, areas_of
from node.index.cases import CaseQuery, search_cases
from node.index.flags import assigned_flags, feed_head
from node.index.reports import Period, PeriodReport
from node.package import verify_package
from schemas.claims import MAX_MEDIA
from schemas.glossary import (
    DECIDING_STAGES,
    AccessKind,
    Department,
    Procedure,
    Role,
    ServiceMethod,
    SetAsideAuthority,
    SetAsideGround,
    SetAsideReason,
    Stage,
    ViolationStatus,
    ViolationType,
)
from schemas.ledger import (
    MAX_PAGE_SIZE,
    ExecutionResult,
    StatementRight,
    SubjectKind,
    TrailBy,
    TrailQuery,
    parse_ledger_time,
)
from schemas.violations import REVIEW_REASONS

router = APIRouter(prefix="/console", route_class=ConsoleRoute, include_in_schema=False)

_STATIC = Path(__file__).parent / "static"
_ASSETS = {"console.css": "text/css", "console.js": "text/javascript"}
GENERAL_STAGES = [s for s in Stage if s is not Stage.CLOSED_WITHOUT_PENALTY]
SIMPLE_STAGES = [Stage.SOURCE, Stage.DECISION, Stage.EXECUTION, Stage.CLOSURE]
REJECT_REASONS = [r for r in REVIEW_REASONS if r != "confirmed_on_footage"]
PEOPLE = (Role.OFFICER, Role.REVIEWER, Role.AUDITOR, Role.PARTNER)
QUEUE_READERS = (Role.REVIEWER, Role.OFFICER, Role.AUDITOR)
HOME = {
    Role.REVIEWER: "/console/review",
    Role.AUDITOR: "/console/audit",
    Role.OFFICER: "/console/overview",
    Role.PARTNER: "/console/cases",
}
SessionOf = Annotated[Session, viewer(*PEOPLE)]
M = TypeVar("M", bound=BaseModel)


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


# --- sign in, sign out, assets ----------------------------------------------------------------


@router.get("/static/{name}")
async def static(name: str) -> FileResponse:
    if name not in _ASSETS:
        raise Problem(404, "NOT_FOUND", "no such file")
    return FileResponse(_STATIC / name, media_type=_ASSETS[name])


@router.get("/login")
async def login_form(request: Request) -> Response:
    return page(request, "login.html", {"failed": False})


@router.post("/login")
async def login(
    request: Request, deps: Deps, token: Annotated[str, Form(max_length=256)] = ""
) -> Response:
    """The API's bearer token, checked like the API does, kept in an HttpOnly cookie."""
    who = authenticate(deps, token.strip())
    if who is None or who.role not in PEOPLE:
        return page(request, "login.html", {"failed": True}, status=401)
    response = _see_other("/console")
    response.set_cookie(
        COOKIE,
        token.strip(),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/console",
    )
    return response


@router.post("/logout")
async def logout(_: Annotated[Session, poster(*PEOPLE)]) -> Response:
    """Forget the cookie here; the token itself stays valid for the API until it expires."""
    response = _see_other(LOGIN)
    response.delete_cookie(COOKIE, path="/console")
    return response


@router.get("")
async def home(session: SessionOf) -> Response:
    return _see_other(HOME[session.who.role])


# --- the review queue -------------------------------------------------------------------------


@router.get("/review/stream")
async def review_stream(
    request: Request,
    deps: Deps,
    session: Annotated[Session, viewer(Role.OFFICER, Role.REVIEWER)],
    after: Annotated[str | None, Query(max_length=300)] = None,
    last_event_id: Annotated[str | None, Header(max_length=300)] = None,
) -> Response:
    """The flags the review page follows, each change pushed as ``GET /assignments/stream``
    pushes it to a handheld, the console's cookie standing for the bearer token: an
    officer's areas, or for a reviewer the whole department's (the centre's queue)."""
    followed = _followed(deps, session.who)
    if not followed:
        raise Problem(409, "NO_AREAS", "you answer for no area (片区) yet")

    async def admitted() -> Problem | None:
        now = authenticate(deps, request.cookies.get(COOKIE))
        if now is None:
            return Problem(401, "UNAUTHENTICATED", "sign in again")
        if now != session.who:  # another user, or the same one with another role now
            return Problem(403, "ACCESS_DENIED", "access denied")
        return None

    cursor = dispatch.cursor_of(last_event_id or after)
    return dispatch.assignment_events(deps, session.who, followed, cursor, admitted)


def _followed(deps: GatewayDeps, who: Principal) -> list[Area]:
    """What a review page follows live: an officer's areas; a reviewer's department."""
    if who.role is Role.REVIEWER:
        return [DEPARTMENT]
    return areas_of(deps.areas, who.user) if who.role is Role.OFFICER else []


def _stream_from(deps: GatewayDeps, followed: list[Area]) -> str | None:
    """The review page's stream, from the latest change it shows (None: it follows none)."""
    if not followed:
        return None
    head = feed_head(deps.index, deps.org, followed)
    return "/console/review/stream" + ("" if head is None else "?" + urlencode({"after": head}))


@router.get("/review")
async def review_queue(
    request: Request,
    deps: Deps,
    session: Annotated[Session, viewer(*QUEUE_READERS)],
    status: ViolationStatus = ViolationStatus.DETECTED,
    bookmark: Annotated[str, Query(max_length=512)] = "",
) -> Response:
    queue = await review.queue(deps, session.who, status, MAX_PAGE_SIZE // 2, bookmark)
    rules = await review.reminder_rules(ledger_of(deps, session.who)) if queue.items else {}
    # Zone, rule and what the model saw come from the device's signed claims on this node.
    captures = await run_in_threadpool(
        lambda: {v.flag_id: review.capture_of(deps, v) for v in queue.items}
    )
    done = {k: request.query_params.get(k, "") for k in ("done", "flag", "tx", "case")}
    # An officer's own areas (片区): their open flags, as the handheld's feed gives them.
    mine = areas_of(deps.areas, session.who.user) if session.who.role is Role.OFFICER else []
    assigned = (
        await run_in_threadpool(
            lambda: assigned_flags(deps.index, deps.org, mine, page_size=MAX_PAGE_SIZE).flags
        )
        if mine
        else []
    )
    # Then each later change is pushed to the page (console.js), from what it shows now.
    followed = _followed(deps, session.who)
    stream = await run_in_threadpool(_stream_from, deps, followed)
    return page(
        request,
        "review.html",
        {
            "session": session,
            "areas": [a.name for a in mine],
            "assigned": assigned,
            "stream": stream,
            "queue": queue,
            "captures": captures,
            "status": status,
            "statuses": list(ViolationStatus),
            "reasons": REJECT_REASONS,
            "can_decide": session.who.role is Role.REVIEWER and status is ViolationStatus.DETECTED,
            # The co-governance rule: reminders still owed before a case, and the later steps
            # this person may take on each flag.
            "owed": {
                v.flag_id: review.reminders_owed(v.status, v.violation_type, rules)
                for v in queue.items
            },
            "later": {
                v.flag_id: [
                    step
                    for step in review.next_steps(
                        v.status, v.violation_type, session.who.role, rules
                    )
                    if step in CONSOLE_STEPS
                ]
                for v in queue.items
            },
            "done": done if done["done"] else None,
        },
    )


def _after(action: str, view: review.ViolationView) -> RedirectResponse:
    done = {"done": action, "flag": view.flag_id, "tx": view.tx_id or "", "case": view.case_id}
    return _see_other("/console/review?" + urlencode({k: v for k, v in done.items() if v}))


Reviewer = Annotated[Session, poster(Role.REVIEWER)]
FlagId = review.FlagId


# The party, as the reviewer read it off the footage (a plate, a shop's licence): keyed by
# the consortium's secret before it reaches the ledger, so a repeat violation is counted.
Subject = Annotated[str, Form(max_length=200)]
Kind = Annotated[SubjectKind, Form()]


@router.post("/review/{flag_id}/confirm")
async def confirm(
    flag_id: FlagId,
    deps: Deps,
    session: Reviewer,
    subject: Subject = "",
    subject_kind: Kind = SubjectKind.PERSON,
) -> Response:
    """Confirmed on the footage; the flag opens its case."""
    body = review.ReviewIn(
        decision="confirmed",
        reason="confirmed_on_footage",
        action="case",
        subject=subject.strip() or None,
        subject_kind=subject_kind,
    )
    return _after("confirm", await review.review(flag_id, body, deps, session.who))


@router.post("/review/{flag_id}/remind")
async def remind(flag_id: FlagId, deps: Deps, session: Reviewer) -> Response:
    """Confirmed; the co-governance reminder is the next step (the party is named when a
    case is opened from it)."""
    body = review.ReviewIn(decision="confirmed", reason="confirmed_on_footage", action="reminder")
    return _after("remind", await review.review(flag_id, body, deps, session.who))


Staff = Annotated[Session, poster(Role.OFFICER, Role.REVIEWER)]
# The loop's later steps the console offers as buttons (a rectification needs its evidence,
# which the camera's report or the API brings; a confirmed flag was reminded or made a case
# by its review here).
CONSOLE_STEPS = ("escalate", "community-remind", "file-case")


@router.post("/review/{flag_id}/escalate")
async def escalate(flag_id: FlagId, deps: Deps, session: Staff) -> Response:
    """The reminder was not heeded: on to the community (社区、物业)."""
    body = review.ReasonIn(reason="not_rectified")
    return _after("escalate", await review.escalate(flag_id, body, deps, session.who))


@router.post("/review/{flag_id}/community-remind")
async def community_remind(
    flag_id: FlagId, deps: Deps, session: Annotated[Session, poster(Role.OFFICER)]
) -> Response:
    """The community's reminder, the second one the co-governance rule counts."""
    return _after("community_remind", await review.community_remind(flag_id, deps, session.who))


@router.post("/review/{flag_id}/file-case")
async def file_case_from_flag(
    flag_id: FlagId,
    deps: Deps,
    session: Staff,
    subject: Subject = "",
    subject_kind: Kind = SubjectKind.PERSON,
) -> Response:
    """Reminders given and not heeded: the flag opens its case (the ledger refuses it while
    the schedule's reminders are owed)."""
    body = review.CaseIn(subject=subject.strip() or None, subject_kind=subject_kind)
    return _after("file_case", await review.file_case(flag_id, body, deps, session.who))


@router.post("/review/{flag_id}/reject")
async def reject(
    flag_id: FlagId,
    deps: Deps,
    session: Reviewer,
    reason: Annotated[str, Form(max_length=64)] = "false_positive",
) -> Response:
    if reason not in REJECT_REASONS:
        raise Problem(422, "INVALID_REQUEST", "reason: not a review reason code")
    body = review.ReviewIn(decision="rejected", reason=reason)
    return _after("reject", await review.review(flag_id, body, deps, session.who))


@router.get("/evidence/{evidence_id}/content")
async def evidence_content(
    evidence_id: Annotated[str, PathParam(max_length=128)],
    deps: Deps,
    session: Annotated[Session, viewer(*evidence.READERS)],
) -> Response:
    """A view through the API's access-record flow: recorded on the ledger first (the
    record's tx id is in the X-Access-Record header, which the page shows)."""
    return await evidence.content(
        evidence_id, deps, session.who, purpose="console_view", kind=evidence.ReadKind.VIEW
    )


# --- cases ------------------------------------------------------------------------------------


@router.get("/cases")
async def case_list(
    request: Request,
    deps: Deps,
    session: SessionOf,
    case_id: Annotated[str, Query(max_length=128)] = "",
    text: Annotated[str, Query(max_length=64)] = "",
    violation_type: ViolationType | Literal[""] = "",
    stage: Stage | Literal[""] = "",
    holder_org: Annotated[str, Query(max_length=64)] = "",
    cursor: Annotated[str, Query(max_length=512)] = "",
) -> Response:
    """The cases this node's index knows, newest change first, with filters; an exact case id
    opens that case (partners, who may not list, open cases by id)."""
    if case_id.strip():
        return _see_other("/console/cases/" + case_id.strip())
    form = {
        "text": text,
        "violation_type": violation_type,
        "stage": stage,
        "holder_org": holder_org,
    }
    found = None
    if session.who.role is not Role.PARTNER:  # a partner sees only what it is granted
        query = CaseQuery(
            text=text,
            violation_type=violation_type or None,
            stage=stage or None,
            holder_org=holder_org,
            cursor=cursor,
        )
        found = await run_in_threadpool(search_cases, deps.index, query)
    next_url = (
        "?" + urlencode({**form, "cursor": found.next_cursor})
        if found is not None and found.next_cursor
        else ""
    )
    return page(
        request,
        "case_lookup.html",
        {
            "session": session,
            "form": form,
            "found": found,
            "types": [v.value for v in ViolationType],
            "stages": [s.value for s in Stage],
            "departments": [d.msp_id for d in Department],
            "next_url": next_url,
        },
    )


# The steps that decide a case: what may later be set aside (撤回).


@router.get("/cases/{case_id}")
async def case_page(
    request: Request, case_id: cases.CaseId, deps: Deps, session: SessionOf
) -> Response:
    who = session.who
    case = await cases.get_case(case_id, deps, who)
    insider = who.role is not Role.PARTNER  # partners see the case, not its workings (as the API)
    history = await cases.history(case_id, deps, who) if insider else []
    transfers = await cases.transfers(case_id, deps, who) if insider else []
    grants = await cases.grants(case_id, deps, who) if insider else []
    set_asides = await cases.set_asides(case_id, deps, who) if insider else []
    served = await cases.services(case_id, deps, who) if insider else []
    # This department's decisions on the case not yet set aside: what its reviewer may
    # record a reconsideration body's, a court's or its own setting aside of.
    voided = {s.decision_tx for s in set_asides}
    standing = [
        e
        for e in history
        if e.to_stage in DECIDING_STAGES and e.actor_org == deps.org and e.tx not in voided
    ]
    reached = {case.stage} | {e.to_stage for e in history} | {e.from_stage for e in history}
    acted = {e.to_stage: e for e in history}
    # The ledger says which items the case holds (the index may not have followed yet); the
    # index adds what it knows of each. Opening one is a recorded view, on click.
    ids = await ledger_of(deps, who).case_evidence(case_id)
    gallery = await run_in_threadpool(lambda: [(e, deps.index.evidence(e)) for e in ids[:500]])
    # The case file: the steps' documents among the items (those past the gallery too); none
    # for partners, who see no history.
    items = [*gallery, *((i, None) for i in ids[len(gallery) :])]
    case_file = await documents.case_documents(ledger_of(deps, who), history, items)
    # Only the steps the law allows from here, to this role (the chaincode's own table; it
    # checks again): no button the ledger would refuse.
    steps = stage_machine(case.procedure).get(case.stage, {})
    nxt = [to for to, step in steps.items() if who.role in step.roles]
    officer = who.role is Role.OFFICER  # the API lets officers transfer and grant
    holds = case.holder_org == deps.org
    open_case = case.stage not in (Stage.CLOSURE, Stage.CLOSED_WITHOUT_PENALTY)
    return page(
        request,
        "case.html",
        {
            "session": session,
            "case": case,
            "history": history,
            "stages": SIMPLE_STAGES if case.procedure is Procedure.SIMPLE else GENERAL_STAGES,
            "reached": reached,
            "acted": acted,
            "due": _due(case.stage, history, case.filed_at, deps.clock()),
            "gallery": gallery,
            "more_items": max(0, len(ids) - len(gallery)),
            "transfers": transfers,
            "grants": grants,
            "set_asides": set_asides,
            "services": [
                (x, _appeal_limits(x), _served_late(x, history, deps.calendar)) for x in served
            ],
            # Steps whose document may be served: those that bound one.
            "servable": [e for e in history if e.details.get("document_hash")],
            "can_serve": who.role in (Role.OFFICER, Role.REVIEWER) and holds,
            "service_methods": [m.value for m in ServiceMethod],
            "set_aside_by_tx": {x.decision_tx: x for x in set_asides},
            "standing_decisions": standing,
            "can_set_aside": who.role is Role.REVIEWER and bool(standing),
            "set_aside_grounds": [g.value for g in SetAsideGround],
            "set_aside_authorities": [a.value for a in SetAsideAuthority],
            "set_aside_reasons": [r.value for r in SetAsideReason],
            "today": deps.clock().astimezone(DEADLINE_ZONE).date().isoformat(),
            "can_advance": bool(nxt) and not case.pending_transfer_to,
            "can_package": who.role in EXPORTERS,
            "can_transfer": officer and holds and open_case and not case.pending_transfer_to,
            "can_answer": officer and case.pending_transfer_to == deps.org,
            "can_grant": officer and holds and open_case,
            "can_add_evidence": officer and holds and open_case and deps.signer_for is not None,
            "case_file": case_file,
            "can_file": who.role in (Role.OFFICER, Role.REVIEWER)
            and holds
            and deps.signer_for is not None,
            "unfiled": request.query_params.get("unfiled", ""),
            "can_revoke": officer and holds,
            "departments": [d.msp_id for d in Department if d.msp_id != deps.org],
            "grant_kinds": [k.value for k in GRANTABLE],
            "next_stages": nxt,
            "statement_rights": [r.value for r in StatementRight],
            "execution_results": [r.value for r in ExecutionResult],
            "done_tx": request.query_params.get("tx", ""),
        },
    )


def _due(
    stage: Stage, history: list[StageView], filed_at: str, now: dt.datetime
) -> tuple[str, bool] | None:
    """The current stage's indicative due date (its start plus the overview's limit) and
    whether it has passed; None for stages without a limit."""
    limit = overview.STAGE_LIMIT_DAYS.get(stage)
    if limit is None:
        return None
    since = history[-1].at if history else filed_at
    due = parse_ledger_time(since) + dt.timedelta(days=limit)
    return due.astimezone(DEADLINE_ZONE).date().isoformat(), due < now


MAX_STAGE_DOCUMENT = 20 << 20
# A statement deadline given as a date runs to the end of that day, Beijing time.
DEADLINE_ZONE = dt.timezone(dt.timedelta(hours=8))


async def _spool_document(document: UploadFile | None, spool_dir: Path) -> Path | None:
    """The step's document copied to the spool, within its size limit; None without one."""
    if document is None or not document.filename:
        return None
    spool_dir.mkdir(parents=True, exist_ok=True)
    path = spool_dir / f"console-document-{secrets.token_hex(8)}"
    size = 0
    try:
        with path.open("wb") as out:
            while chunk := await document.read(1 << 20):
                size += len(chunk)
                if size > MAX_STAGE_DOCUMENT:
                    raise Problem(
                        413, "TOO_LARGE", f"the document exceeds {MAX_STAGE_DOCUMENT} bytes"
                    )
                out.write(chunk)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path


async def _document_hash(upload: UploadFile | None, deps: GatewayDeps, stem: str) -> str | None:
    """The SHA-256 of an uploaded legal document (a PDF or scan, within the step documents'
    size limit), the file itself not kept; None without one.

    Raises:
        Problem: 413 TOO_LARGE, 415 UNSUPPORTED_DOCUMENT, 422 EMPTY_FILE.
    """
    spooled = await _spool_document(upload, deps.spool_dir)
    if spooled is None:
        return None
    try:
        media = await run_in_threadpool(documents.describe_document, spooled, stem)
    finally:
        spooled.unlink(missing_ok=True)
    return str(media.sha256)


@router.post("/cases/{case_id}/stage")
async def advance(
    case_id: cases.CaseId,
    deps: Deps,
    session: Annotated[Session, poster(Role.OFFICER, Role.REVIEWER)],
    to: Annotated[Stage, Form()],
    document: Annotated[UploadFile | None, File()] = None,
    statement_right: Annotated[StatementRight | Literal[""], Form()] = "",
    statement_deadline: Annotated[dt.date | Literal[""], Form()] = "",
    party_waived: Annotated[bool, Form()] = False,
    rectified: Annotated[bool, Form()] = False,
    execution_result: Annotated[ExecutionResult | Literal[""], Form()] = "",
) -> Response:
    """One legal step, with what the law asks of it; the chaincode says what is missing.
    The step binds its document by hash; the document itself then goes into the case file
    (signed and registered in the person's name), so a package carries it."""
    deadline = (
        dt.datetime.combine(statement_deadline, dt.time(23, 59), DEADLINE_ZONE)
        if statement_deadline
        else None
    )
    spooled = await _spool_document(document, deps.spool_dir)
    try:
        # Its type and hash before the step: a file the case file cannot take stops here.
        media = (
            None
            if spooled is None
            else await run_in_threadpool(documents.describe_document, spooled, "document")
        )
        change = StageChangeIn(
            to=to,
            document_hash=None if media is None else str(media.sha256),
            statement_right=statement_right or None,
            statement_deadline=deadline,
            party_waived=party_waived,
            rectified=rectified,
            execution_result=execution_result or None,
        )
        view = await cases.advance(case_id, change, deps, session.who)
        unfiled = ""
        if spooled is not None and deps.signer_for is not None:
            try:
                step = await documents.step_of(deps, session.who, case_id, view.tx_id or "")
                await documents.file_case_document(deps, session.who, case_id, step, spooled)
            except Problem as problem:
                # The step is on the ledger; its document can be filed from the case page.
                unfiled = problem.code
    finally:
        if spooled is not None:
            spooled.unlink(missing_ok=True)
    query = {"tx": view.tx_id or ""} | ({"unfiled": unfiled} if unfiled else {})
    return _see_other(f"/console/cases/{case_id}?" + urlencode(query))


@router.post("/cases/{case_id}/documents/{step}")
async def file_document(
    case_id: cases.CaseId,
    step: documents.Step,
    deps: Deps,
    session: Annotated[Session, poster(Role.OFFICER, Role.REVIEWER)],
    document: Annotated[UploadFile, File()],
) -> Response:
    """A step's document into the case file, later (a step taken without it on file)."""
    spooled = await _spool_document(document, deps.spool_dir)
    if spooled is None:
        raise Problem(422, "MISSING_PART", "choose the document to file")
    try:
        filed = await documents.file_case_document(deps, session.who, case_id, step, spooled)
    finally:
        spooled.unlink(missing_ok=True)
    return _done(case_id, filed.ledger_tx)


# --- documents served on the party (送达) -------------------------------------------------------


def _appeal_limits(served: ServiceView) -> tuple[str, str] | None:
    """For a decision served: the last days to apply for reconsideration (60 days,
    行政复议法 第二十条) and to sue (six months, 行政诉讼法 第四十六条), counted from the day
    it was served (Beijing); indicative, as a court counts them. None for other steps."""
    if served.stage is not Stage.DECISION:
        return None
    day = parse_ledger_time(served.served_at).astimezone(DEADLINE_ZONE).date()
    months = day.month - 1 + 6
    year, month = day.year + months // 12, months % 12 + 1
    last = calendar.monthrange(year, month)[1]
    suit = dt.date(year, month, min(day.day, last))
    return (day + dt.timedelta(days=60)).isoformat(), suit.isoformat()


# A decision not handed over on the spot is served within seven days (行政处罚法 第六十一条),
# which that law counts as working days (第八十五条).
SERVICE_WORKING_DAYS = 7


def _served_late(
    served: ServiceView, history: list[StageView], calendar: WorkCalendar
) -> str | None:
    """For a decision served after its seven working days: the day it was due by (Beijing,
    the department's ``calendar``). None if in time, or for other steps."""
    step = next((e for e in history if e.tx == served.step_tx), None)
    if served.stage is not Stage.DECISION or step is None:
        return None
    decided = parse_ledger_time(step.at).astimezone(DEADLINE_ZONE).date()
    due = due_after(decided, DEADLINE_ZONE, SERVICE_WORKING_DAYS, calendar)
    if parse_ledger_time(served.served_at) < due:
        return None
    return (due - dt.timedelta(days=1)).date().isoformat()


@router.post("/cases/{case_id}/services")
async def record_service(
    case_id: cases.CaseId,
    deps: Deps,
    session: Annotated[Session, poster(Role.OFFICER, Role.REVIEWER)],
    step_tx: Annotated[str, Form(max_length=64)],
    method: Annotated[ServiceMethod, Form()],
    served_at: Annotated[dt.datetime, Form()],
    proof: Annotated[UploadFile, File()],
    consent: Annotated[UploadFile | None, File()] = None,
) -> Response:
    """An officer or reviewer of the holder records that a step's document reached the
    party (the API's call): how, when (Beijing time unless a zone is given), the proof (the
    signed receipt, a delivery record; PDF or scan, hashed here, not kept) and for
    electronic service the party's signed consent."""
    proof_hash = await _document_hash(proof, deps, "proof")
    if proof_hash is None:
        raise Problem(422, "MISSING_PART", "choose the proof of service")
    body = _form(
        ServiceIn,
        step_tx=step_tx,
        method=method,
        served_at=served_at if served_at.tzinfo else served_at.replace(tzinfo=DEADLINE_ZONE),
        proof_hash=proof_hash,
        consent_hash=await _document_hash(consent, deps, "consent"),
    )
    view = await cases.record_service(case_id, body, deps, session.who)
    return _done(case_id, view.recorded_tx)


# --- a decision set aside (撤回) ---------------------------------------------------------------


@router.post("/cases/{case_id}/set-asides")
async def set_aside(
    case_id: cases.CaseId,
    deps: Deps,
    session: Annotated[Session, poster(Role.REVIEWER)],
    decision_tx: Annotated[str, Form(max_length=64)],
    ground: Annotated[SetAsideGround, Form()],
    authority: Annotated[SetAsideAuthority, Form()],
    reason: Annotated[SetAsideReason, Form()],
    set_aside_on: Annotated[dt.date, Form()],
    document: Annotated[UploadFile, File()],
) -> Response:
    """A reviewer records that a decision of this department was varied, revoked, confirmed
    illegal or confirmed invalid (the API's call): the document that did it (a
    reconsideration decision, a judgment, a correction decision; PDF or scan, hashed here)
    and its date, from which the three working days to withdraw the published decision run."""
    document_hash = await _document_hash(document, deps, "set-aside")
    if document_hash is None:
        raise Problem(422, "MISSING_PART", "choose the document that set the decision aside")
    body = _form(
        SetAsideIn,
        decision_tx=decision_tx,
        ground=ground,
        authority=authority,
        reason=reason,
        document_hash=document_hash,
        set_aside_on=set_aside_on,
    )
    view = await cases.set_aside(case_id, body, deps, session.who)
    return _done(case_id, view.recorded_tx)


# --- evidence an officer adds to a case -------------------------------------------------------

# One form's files in all: photos and short clips from a phone or recorder, not archives.
MAX_CONSOLE_EVIDENCE = 100 << 20
_MEDIA_TYPE = re.compile(r"^[a-z]{1,32}/[a-z0-9][a-z0-9.+-]{0,63}$")


@router.post("/cases/{case_id}/evidence")
async def add_evidence(
    case_id: cases.CaseId,
    deps: Deps,
    session: Annotated[Session, poster(Role.OFFICER)],
    files: Annotated[list[UploadFile], File()],
    note: Annotated[str, Form(max_length=500)] = "",
    taken_at: Annotated[dt.datetime | Literal[""], Form()] = "",
) -> Response:
    """An officer adds photos or clips taken on the spot to a case this department holds:
    the API's capture (signed with the officer's key, registered in the officer's name,
    attached), hashed here as they arrive. The same files again are the same capture."""
    case = await cases.get_case(case_id, deps, session.who)
    spooled = await _spool_evidence(files, deps.spool_dir)
    try:
        digest = hashlib.sha256(case_id.encode())
        for name, (_, media) in sorted(spooled.items()):
            digest.update(f"\n{name} {media['sha256']}".encode())
        when = taken_at or deps.clock()
        form = CaptureIn.model_validate(
            {
                "event_id": f"console-{digest.hexdigest()[:32]}",
                "camera_id": "console-upload",
                "captured_at": when if when.tzinfo else when.replace(tzinfo=DEADLINE_ZONE),
                "violation_type": case.violation_type,
                "note": note,
                "case_id": case_id,
                "media": [media for _, media in spooled.values()],
            }
        )
        try:
            done = await captures.take_capture(
                deps, session.who, form, {name: path for name, (path, _) in spooled.items()}
            )
        except Problem as problem:
            if problem.code != "EVENT_CONFLICT":
                raise
            # The same files, added before (another time or note): the event is theirs.
            raise Problem(
                409, "ALREADY_IN_CASE", "these files were added to this case before"
            ) from None
    finally:
        for path, _ in spooled.values():
            path.unlink(missing_ok=True)
    return _done(case_id, done.attached[-1].tx_id if done.attached else None)


async def _spool_evidence(
    files: list[UploadFile], spool_dir: Path
) -> dict[str, tuple[Path, dict[str, Any]]]:
    """Each upload copied to the spool while hashed: name -> (path, its media entry)."""
    chosen = [f for f in files if f.filename]
    if not chosen:
        raise Problem(422, "MISSING_PART", "choose at least one file")
    if len(chosen) > MAX_MEDIA:
        raise Problem(422, "TOO_MANY_FILES", f"at most {MAX_MEDIA} files at a time")
    spool_dir.mkdir(parents=True, exist_ok=True)
    spooled: dict[str, tuple[Path, dict[str, Any]]] = {}
    total = 0
    try:
        for upload in chosen:
            name = safe_name(upload.filename or "")
            if name in spooled:
                raise Problem(422, "DUPLICATE_FILE", f"two files are named {name!r}")
            path = spool_dir / f"console-{secrets.token_hex(8)}-{name}"
            digest, size = hashlib.sha256(), 0
            spooled[name] = (path, {})
            with path.open("wb") as out:
                while chunk := await upload.read(1 << 20):
                    size += len(chunk)
                    total += len(chunk)
                    if total > MAX_CONSOLE_EVIDENCE:
                        raise Problem(
                            413, "TOO_LARGE", f"the files exceed {MAX_CONSOLE_EVIDENCE} bytes"
                        )
                    digest.update(chunk)
                    out.write(chunk)
            if size == 0:
                raise Problem(422, "EMPTY_FILE", f"{name} is empty")
            kind = (upload.content_type or "").split(";")[0].strip().lower()
            spooled[name] = (
                path,
                {
                    "name": name,
                    "media_type": kind if _MEDIA_TYPE.match(kind) else "application/octet-stream",
                    "sha256": f"sha256:{digest.hexdigest()}",
                    "size": size,
                },
            )
    except BaseException:
        for path, _ in spooled.values():
            path.unlink(missing_ok=True)
        raise
    return spooled


# --- transfers and grants ---------------------------------------------------------------------

GRANTABLE = (AccessKind.VIEW, AccessKind.DOWNLOAD, AccessKind.PACKAGE)


def _done(case_id: str, tx_id: str | None) -> RedirectResponse:
    return _see_other(f"/console/cases/{case_id}?" + urlencode({"tx": tx_id or ""}))


@router.post("/cases/{case_id}/transfers")
async def propose_transfer(
    case_id: cases.CaseId,
    deps: Deps,
    session: Annotated[Session, poster(Role.OFFICER)],
    to_org: Annotated[str, Form(max_length=64)],
    reason: Annotated[str, Form(max_length=64)],
) -> Response:
    """The holder proposes to hand the case to another department (the API's call)."""
    body = _form(TransferIn, to_org=to_org, reason=reason)
    view = await cases.propose_transfer(case_id, body, deps, session.who)
    return _done(case_id, view.tx_id)


@router.post("/cases/{case_id}/transfers/answer")
async def answer_transfer(
    case_id: cases.CaseId,
    deps: Deps,
    session: Annotated[Session, poster(Role.OFFICER)],
    accept: Annotated[bool, Form()],
    reason: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """The receiving department accepts or rejects a pending transfer."""
    body = _form(TransferAnswerIn, accept=accept, reason=reason or None)
    view = await cases.answer_transfer(case_id, body, deps, session.who)
    return _done(case_id, view.tx_id)


@router.post("/cases/{case_id}/grants")
async def grant_access(
    case_id: cases.CaseId,
    deps: Deps,
    session: Annotated[Session, poster(Role.OFFICER)],
    grantee_org: Annotated[str, Form(max_length=64)],
    purpose: Annotated[str, Form(max_length=64)],
    expires: Annotated[dt.date, Form()],
    kinds: Annotated[list[AccessKind], Form(max_length=4)],
) -> Response:
    """A partner department may read the case's evidence until the end of ``expires``
    (Beijing time), for ``purpose``, in the ways ticked."""
    until = dt.datetime.combine(expires, dt.time(23, 59), DEADLINE_ZONE)
    body = _form(GrantIn, grantee_org=grantee_org, purpose=purpose, expires_at=until, kinds=kinds)
    view = await cases.grant(case_id, body, deps, session.who)
    return _done(case_id, view.tx_id)


@router.post("/cases/{case_id}/grants/{grantee_org}/revoke")
async def revoke_access(
    case_id: cases.CaseId,
    grantee_org: cases.OrgId,
    deps: Deps,
    session: Annotated[Session, poster(Role.OFFICER)],
) -> Response:
    view = await cases.revoke(case_id, grantee_org, deps, session.who)
    return _done(case_id, view.tx_id)


def _form(model: type[M], **fields: Any) -> M:
    """A form's fields as the API's request model: the same checks, a 422 page if wrong."""
    try:
        return model(**fields)
    except ValidationError as err:
        names = ", ".join(".".join(str(p) for p in e["loc"]) for e in err.errors())
        raise Problem(422, "INVALID_REQUEST", names[:300]) from None


# --- the evidence package ----------------------------------------------------------------------

EXPORTERS = (Role.OFFICER, Role.REVIEWER, Role.PARTNER)
PACKAGE_TTL = dt.timedelta(hours=1)


def _package_dir(deps: GatewayDeps) -> Path:
    return deps.spool_dir / "console-packages"


def _forget_old_packages(folder: Path) -> None:
    cutoff = (dt.datetime.now(dt.UTC) - PACKAGE_TTL).timestamp()
    for old in folder.glob("*"):
        if old.stat().st_mtime < cutoff:
            old.unlink(missing_ok=True)


@router.post("/cases/{case_id}/package")
async def build_case_package(
    request: Request,
    case_id: cases.CaseId,
    deps: Deps,
    session: Annotated[Session, poster(*EXPORTERS)],
) -> Response:
    """The API's one-click package (export recorded first), kept for this user for an hour,
    with the offline verifier's report on the page that offers it for download."""
    built = await packages.package(case_id, deps, session.who)
    folder = _package_dir(deps)
    folder.mkdir(parents=True, exist_ok=True)
    await run_in_threadpool(_forget_old_packages, folder)
    name = f"{session.who.user}.{secrets.token_urlsafe(16)}.tar"
    kept = folder / name
    await built.save(kept)  # the API's response is not sent: its stream is kept instead
    # One hashing thread per request, as the API's verification (gateway/routes/packages.py).
    report = await run_in_threadpool(functools.partial(verify_package, kept, hash_workers=1))
    return page(
        request,
        "package.html",
        {
            "session": session,
            "case_id": case_id,
            "name": name,
            "size": kept.stat().st_size,
            "report": report,
        },
    )


@router.get("/packages/{name}")
async def download_package(
    name: Annotated[str, PathParam(max_length=200, pattern=r"^[\w.@-]+\.tar$")],
    deps: Deps,
    session: Annotated[Session, viewer(*EXPORTERS)],
) -> FileResponse:
    """A package this user built from the console (others' names are not found)."""
    path = _package_dir(deps) / name
    if not name.startswith(f"{session.who.user}.") or not path.is_file():
        raise Problem(404, "NOT_FOUND", "no such package")
    return FileResponse(path, media_type="application/x-tar", filename=name)


# --- audit ------------------------------------------------------------------------------------


@router.get("/audit")
async def audit_trail(
    request: Request,
    deps: Deps,
    session: Annotated[Session, viewer(Role.AUDITOR)],
    by: TrailBy | None = None,
    target_id: Annotated[str, Query(max_length=128)] = "",
    org: Annotated[str, Query(max_length=64)] = "",
    accessor: Annotated[str, Query(max_length=512)] = "",
    bookmark: Annotated[str, Query(max_length=1024)] = "",
) -> Response:
    form = {"by": by.value if by else "", "target_id": target_id, "org": org}
    form["accessor"] = accessor
    records: list[AccessView] = []
    flags: audit.FlagsView | None = None
    more = ""
    if by is not None:
        doc: dict[str, Any] = {k: v for k, v in form.items() if v and k != "by"}
        query = strict_request(
            TrailQuery, {"by": by.value, **doc, "page_size": 50, "bookmark": bookmark}
        )
        trail = await ledger_of(deps, session.who).access_trail(query)
        records, more = [AccessView.of(r) for r in trail.records], trail.bookmark
        # The API's flag rules over the same query (its own pages of the trail).
        flags = await audit.flags(deps, session.who, {"by": by, **doc})
    next_url = "?" + urlencode({**form, "bookmark": more}) if more else ""
    return _audit_page(request, session, form, records, next_url, flags, None)


def _audit_page(
    request: Request,
    session: Session,
    form: dict[str, str],
    records: list[AccessView],
    next_url: str,
    flags: audit.FlagsView | None,
    integrity: audit.IntegrityReport | None,
) -> Response:
    return page(
        request,
        "audit.html",
        {
            "session": session,
            "form": form,
            "bys": list(TrailBy),
            "records": records,
            "next_url": next_url,
            "flags": flags,
            "integrity": integrity,
        },
    )


@router.get("/audit/integrity")
async def audit_integrity(
    request: Request, deps: Deps, session: Annotated[Session, viewer(Role.AUDITOR)]
) -> Response:
    """The API's integrity sweep of this node (``evnet doctor``), shown on the audit page."""
    report = await audit.integrity(deps, session.who)
    form = {"by": "", "target_id": "", "org": "", "accessor": ""}
    return _audit_page(request, session, form, [], "", None, report)


# --- period reports ---------------------------------------------------------------------------


@router.get("/reports")
async def reports_page(
    request: Request,
    deps: Deps,
    session: Annotated[Session, viewer(*QUEUE_READERS)],
    period: Period = Period.DAY,
    on: dt.date | None = None,
) -> Response:
    """The department's day, week or month in figures (日报、周报、月报), with its CSV."""
    report = await reports.build_report(deps, period, on)
    query = urlencode({"period": period.value, "on": report.since.date().isoformat()})
    return page(
        request,
        "reports.html",
        {
            "session": session,
            "r": report,
            "periods": list(Period),
            "on": (on or report.since.date()).isoformat(),
            # The period as a person says it: first and last day, and the local time made.
            "first_day": report.since.date().isoformat(),
            "last_day": (report.until - dt.timedelta(days=1)).date().isoformat(),
            "as_of": report.generated_at.astimezone(report.since.tzinfo).strftime("%Y-%m-%d %H:%M"),
            "csv_url": f"/console/reports.csv?{query}",
            "sections": _report_sections(report),
        },
    )


@router.get("/reports.csv")
async def reports_csv(
    deps: Deps,
    session: Annotated[Session, viewer(*QUEUE_READERS)],
    period: Period = Period.DAY,
    on: dt.date | None = None,
) -> Response:
    return reports.report_csv_response(await reports.build_report(deps, period, on))


def _report_sections(report: PeriodReport) -> list[tuple[str, list[tuple[str, Any]]]]:
    """(section, [(figure, value)]) in the report's order; a value is a number, a rate, or
    a {key: number} breakdown (a kind's breakdown by outcome flattened to "kind / outcome")."""
    sections: list[tuple[str, list[tuple[str, Any]]]] = []
    for name in ("flags", "evidence", "cases", "access"):
        figures: list[tuple[str, Any]] = []
        for figure, value in getattr(report, name).model_dump(mode="json").items():
            if isinstance(value, dict) and any(isinstance(v, dict) for v in value.values()):
                value = {
                    f"{kind} / {outcome}": n
                    for kind, outcomes in value.items()
                    for outcome, n in outcomes.items()
                }
            figures.append((figure, value))
        sections.append((name, figures))
    return sections


# --- overview ---------------------------------------------------------------------------------


@router.get("/overview")
async def overview_page(
    request: Request, deps: Deps, session: Annotated[Session, viewer(*QUEUE_READERS)]
) -> Response:
    now = deps.clock()
    summary = await run_in_threadpool(overview.summarise, deps.index, now)
    ages = await run_in_threadpool(overview.stage_table, deps.index, now)

    async def count(status: ViolationStatus, at_most: int) -> int:
        n, bookmark = 0, ""
        while n < at_most:
            got = await review.queue(deps, session.who, status, MAX_PAGE_SIZE, bookmark)
            n += len(got.items)
            bookmark = got.bookmark
            if not bookmark or not got.items:
                break
        return min(n, at_most)

    rate = await overview.rectification_rate(count)
    return page(
        request,
        "overview.html",
        {
            "session": session,
            "o": summary,
            "layers": overview.layers(summary.dots),
            "ages": ages,
            "rate": rate,
            "width": overview.MAP_WIDTH,
            "height": overview.MAP_HEIGHT,
            "since": (now - dt.timedelta(days=30)).date().isoformat(),
        },
    )
