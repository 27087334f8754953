"""Dispatch (派单): the flags of an officer's areas, pushed to the officer's handheld or asked
for by it.

Each officer answers for the areas (片区) the department's configuration gives them
(node.dispatch). The handheld keeps the cursor of its last answer and gets what changed
after it, so a new flag, a reminder due or a flag settled elsewhere reaches the officer
once, in order, without someone at the centre forwarding it: as an event on an open stream
(``GET /assignments/stream``) the moment the index follower writes the flag, or on the next
poll (``GET /assignments``).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from gateway import feeds
from gateway.auth import Principal
from gateway.deps import Deps, GatewayDeps, ledger_of, readmitted, require
from gateway.problems import Problem, problem_of
from gateway.routes.review import next_steps, reminder_rules, reminders_owed
from node.dispatch import Area, areas_of
from node.index.errors import SearchError
from node.index.flags import FlagCursor, assigned_flags
from schemas.glossary import Role, ViolationStatus

log = logging.getLogger("gateway.dispatch")
router = APIRouter(prefix="/assignments", tags=["review"])

MAX_PAGE = 200


class AssignedView(BaseModel):
    flag_id: str
    area: str
    camera_id: str
    violation_type: str
    detected_at: str
    status: str
    updated_at: str
    case_id: str | None
    # The co-governance rule (小河共治): reminders still owed before a case, and the steps
    # this officer may take now, each a route under /violations/{flag_id}.
    reminders_owed: int
    next_steps: list[str]


class AssignmentsPage(BaseModel):
    areas: list[str]  # the areas the caller answers for; empty: none yet (ask the admin)
    items: list[AssignedView]
    cursor: str | None  # send it back as `after` for the next changes


@router.get("", response_model=AssignmentsPage)
async def assignments(
    deps: Deps,
    who: Annotated[Principal, require(Role.OFFICER)],
    after: Annotated[str | None, Query(max_length=300)] = None,
    page_size: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
) -> AssignmentsPage:
    """The flags of the caller's areas. Without `after`: the open ones (the work at hand),
    oldest change first. With the `cursor` of the last answer as `after`: every change
    since, settling included (rejected, rectified, filed), so the handheld drops what is
    done. Each flag says the reminders it still owes before a case and the steps the
    officer may take now (``next_steps``: routes under ``/violations/{flag_id}``). Details
    and evidence: `GET /violations/{flag_id}`. The same, pushed: `GET /assignments/stream`."""
    return await _page(deps, who, areas_of(deps.areas, who.user), cursor_of(after), page_size)


@router.get(
    "/stream",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "Server-sent events: `assignments` (data: an AssignmentsPage, "
            "id: its cursor) and a last `end` (data: {code, detail}).",
            "content": {feeds.MEDIA_TYPE: {"schema": {"type": "string"}}},
        }
    },
)
async def assignment_stream(
    request: Request,
    deps: Deps,
    who: Annotated[Principal, require(Role.OFFICER)],
    after: Annotated[str | None, Query(max_length=300)] = None,
    last_event_id: Annotated[str | None, Header(max_length=300)] = None,
) -> StreamingResponse:
    """The flags of the caller's areas as server-sent events, each change as the ledger's
    follower writes it into this department's index: first what `GET /assignments` answers
    (with `after`: the changes since), then an `assignments` event for each later change,
    its id the cursor. A reconnecting client sends the last id as `Last-Event-ID` (it
    takes the place of `after`) and misses nothing. The stream ends by itself after a few
    minutes (an `end` event, code `RECONNECT`: connect again), or when the caller's token
    is revoked or expires (code `UNAUTHENTICATED`: do not). 409 `NO_AREAS` for an officer
    who answers for no area (nothing would ever come); 429 `TOO_MANY_STREAMS` while the
    caller already holds as many streams as a person may."""
    cursor = cursor_of(last_event_id or after)
    mine = areas_of(deps.areas, who.user)
    if not mine:
        raise Problem(
            409,
            "NO_AREAS",
            "you answer for no area (片区) yet; ask your department's admin to add you to one",
        )
    return assignment_events(
        deps, who, mine, cursor, functools.partial(readmitted, request, deps, who, Role.OFFICER)
    )


def assignment_events(
    deps: GatewayDeps,
    who: Principal,
    mine: list[Area],
    cursor: FlagCursor | None,
    admitted: Callable[[], Awaitable[Problem | None]],
) -> StreamingResponse:
    """The stream of ``who``'s areas' changes after ``cursor``; ``admitted()`` says, before
    each event and keep-alive, whether the caller's credentials still admit them (None) or
    why not. Raises Problem 429 while ``who`` holds as many streams as a person may."""
    if deps.stream_slots.held(who.user) >= deps.streams.per_user:
        too_many = _too_many(deps.streams)
        raise Problem(429, too_many.code, too_many.detail, too_many.headers)
    return StreamingResponse(
        _events(deps, who, mine, cursor, admitted),
        media_type=feeds.MEDIA_TYPE,
        # Proxies must pass each event on at once, not buffer the stream.
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _events(
    deps: GatewayDeps,
    who: Principal,
    mine: list[Area],
    cursor: FlagCursor | None,
    admitted: Callable[[], Awaitable[Problem | None]],
) -> AsyncIterator[str]:
    """The stream's text: the feed's pages as they change, keep-alives between them."""
    policy, changes = deps.streams, deps.flag_changes
    loop = asyncio.get_running_loop()
    ends_at = loop.time() + policy.lifetime_seconds
    yield feeds.retry(policy.retry_ms)
    # The slot is taken here, not in the route, so that a stream that never starts (its
    # client gone before the first byte) holds none. The route refused when none was free;
    # a concurrent request may have taken the last since.
    if not deps.stream_slots.take(who.user, policy.per_user):
        too_many = _too_many(policy)
        yield feeds.ending(too_many.code, too_many.detail)
        return
    # A client that goes away is noticed by Starlette, which cancels this generator (under
    # an ASGI 2.4 server, at the next keep-alive written): its slot is given back below.
    try:
        first = True
        while True:
            seen = changes.count  # before the read: a change during it wakes the wait below
            try:
                page = await _page(deps, who, mine, cursor, MAX_PAGE)
            except Exception as exc:  # the response has begun: say why it ends, then end
                failed = _ended_by(exc, who)
                yield feeds.ending(failed.code, failed.detail)
                return
            if page.items or first:
                first = False
                yield feeds.event("assignments", page.model_dump_json(), page.cursor)
                cursor = None if page.cursor is None else FlagCursor.parse(page.cursor)
                if len(page.items) == MAX_PAGE:
                    continue  # more changes wait: no need to wait for news
            left = ends_at - loop.time()
            if left <= 0:
                yield feeds.ending("RECONNECT", "the stream's time is up; connect again")
                return
            changed = await changes.wait(seen, min(policy.keepalive_seconds, left))
            # Nothing more reaches a caller whose credentials no longer admit them.
            try:
                refused = await admitted()
            except Exception as exc:  # e.g. a token store the gateway cannot read now
                refused = _ended_by(exc, who)
            if refused is not None:
                yield feeds.ending(refused.code, refused.detail)
                return
            if not changed:  # quiet for a while: keep the connection alive
                yield feeds.keepalive()
    finally:
        deps.stream_slots.give_back(who.user)


def _ended_by(exc: Exception, who: Principal) -> Problem:
    """What a failure inside a stream is to its caller (logged if unexpected)."""
    problem = problem_of(exc)
    if problem is None:
        log.exception("assignment stream of %s failed", who.user, exc_info=exc)
        problem = Problem(500, "INTERNAL", "internal error")
    return problem


def _too_many(policy: feeds.StreamPolicy) -> Problem:
    return Problem(
        429,
        "TOO_MANY_STREAMS",
        f"you already hold {policy.per_user} open streams; close one (or wait "
        f"{policy.keepalive_seconds:.0f} s for a dropped one to be noticed)",
        {"Retry-After": str(max(1, round(policy.keepalive_seconds)))},
    )


def cursor_of(text: str | None) -> FlagCursor | None:
    """The feed's cursor from a request. Raises: Problem 422 INVALID_CURSOR."""
    try:
        return None if text is None else FlagCursor.parse(text)
    except SearchError as err:
        raise Problem(422, "INVALID_CURSOR", str(err)) from None


async def _page(
    deps: GatewayDeps,
    who: Principal,
    mine: list[Area],
    cursor: FlagCursor | None,
    page_size: int,
) -> AssignmentsPage:
    page = await run_in_threadpool(
        assigned_flags, deps.index, deps.org, mine, after=cursor, page_size=page_size
    )
    rules = await reminder_rules(ledger_of(deps, who)) if page.flags else {}
    return AssignmentsPage(
        areas=[a.name for a in mine],
        items=[
            AssignedView(
                flag_id=f.flag_id,
                area=f.area,
                camera_id=f.camera_id,
                violation_type=f.violation_type,
                detected_at=f.detected_at.isoformat(),
                status=f.status,
                updated_at=f.updated_at.isoformat(),
                case_id=f.case_id,
                reminders_owed=reminders_owed(ViolationStatus(f.status), f.violation_type, rules),
                next_steps=next_steps(
                    ViolationStatus(f.status), f.violation_type, Role.OFFICER, rules
                ),
            )
            for f in page.flags
        ],
        cursor=page.cursor,
    )
