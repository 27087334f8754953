"""Dispatch (派单): the flags of an officer's areas, for the officer's handheld to poll.

Each officer answers for the areas (片区) the department's configuration gives them
(node.dispatch); the handheld keeps the cursor of its last answer and asks for what changed
after it, so a new flag, a reminder due or a flag settled elsewhere reaches the officer
once, in order, without someone at the centre forwarding it.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from gateway.auth import Principal
from gateway.deps import Deps, ledger_of, require
from gateway.problems import Problem
from gateway.routes.review import next_steps, reminder_rules, reminders_owed
from node.dispatch import areas_of
from node.index.errors import SearchError
from node.index.flags import FlagCursor, assigned_flags
from schemas.glossary import Role, ViolationStatus

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
    and evidence: `GET /violations/{flag_id}`."""
    mine = areas_of(deps.areas, who.user)
    try:
        cursor = None if after is None else FlagCursor.parse(after)
    except SearchError as err:
        raise Problem(422, "INVALID_CURSOR", str(err)) from None
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
