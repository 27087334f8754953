"""Cases as this node's index knows them (the index follower copies each case's stage, holder
and last change from the ledger): searched and paged for the console, and counted by stage
with how long each open case has waited in it."""

from __future__ import annotations

import base64
import datetime as dt
import json
from dataclasses import dataclass

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from sqlalchemy import and_, func, or_, select
from sqlalchemy.sql.elements import ColumnElement

from node.index.database import IndexDatabase
from node.index.errors import SearchError
from node.index.schema import CaseItemRow, CaseRow
from schemas.glossary import Stage, ViolationType

CLOSED = (Stage.CLOSURE.value, Stage.CLOSED_WITHOUT_PENALTY.value)


class CaseQuery(BaseModel):
    """Filters of the case list; all optional, newest change first."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    text: str = Field(default="", max_length=64)  # part of the case id
    violation_type: ViolationType | None = None
    stage: Stage | None = None
    holder_org: str = Field(default="", max_length=64)
    # With an offset: the index keeps UTC, and a time without one names no instant.
    since: AwareDatetime | None = None  # last change at or after
    until: AwareDatetime | None = None  # last change before
    page_size: int = Field(default=50, ge=1, le=100)
    cursor: str = Field(default="", max_length=512)


@dataclass(frozen=True)
class CaseSummary:
    case_id: str
    violation_type: str
    stage: str
    holder_org: str
    updated_at: dt.datetime
    items: int


@dataclass(frozen=True)
class CasePage:
    cases: list[CaseSummary]
    next_cursor: str | None


def _cursor(updated_at: dt.datetime, case_id: str) -> str:
    raw = json.dumps([updated_at.isoformat(), case_id]).encode()
    return base64.urlsafe_b64encode(raw).decode()


def _decode(cursor: str) -> tuple[dt.datetime, str]:
    try:
        at, case_id = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        return dt.datetime.fromisoformat(at), str(case_id)
    except (ValueError, TypeError) as exc:
        raise SearchError("malformed case cursor") from exc


def _escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def search_cases(index: IndexDatabase, query: CaseQuery) -> CasePage:
    """One page of cases matching ``query``, newest change first.

    Raises:
        SearchError: a malformed cursor.
    """
    where: list[ColumnElement[bool]] = []
    if query.text.strip():
        where.append(CaseRow.case_id.like(f"%{_escaped(query.text.strip())}%", escape="\\"))
    if query.violation_type is not None:
        where.append(CaseRow.violation_type == query.violation_type.value)
    if query.stage is not None:
        where.append(CaseRow.stage == query.stage.value)
    if query.holder_org:
        where.append(CaseRow.holder_org == query.holder_org)
    if query.since is not None:
        where.append(CaseRow.updated_at >= query.since)
    if query.until is not None:
        where.append(CaseRow.updated_at < query.until)
    if query.cursor:
        at, case_id = _decode(query.cursor)
        where.append(
            or_(CaseRow.updated_at < at, and_(CaseRow.updated_at == at, CaseRow.case_id < case_id))
        )
    items = (
        select(func.count())
        .select_from(CaseItemRow)
        .where(CaseItemRow.case_id == CaseRow.case_id)
        .scalar_subquery()
    )
    stmt = (
        select(CaseRow, items)
        .where(*where)
        .order_by(CaseRow.updated_at.desc(), CaseRow.case_id.desc())
        .limit(query.page_size + 1)
    )
    with index.session() as s:
        rows = s.execute(stmt).all()
    found = [
        CaseSummary(r.case_id, r.violation_type, r.stage, r.holder_org, r.updated_at, int(n))
        for r, n in rows[: query.page_size]
    ]
    more = len(rows) > query.page_size
    last = found[-1] if found else None
    return CasePage(found, _cursor(last.updated_at, last.case_id) if more and last else None)


@dataclass(frozen=True)
class StageAge:
    """Open cases in one stage: how many, the median days since their last change, and how
    many have waited longer than ``limit_days``."""

    stage: str
    open_cases: int
    median_days: float
    over_limit: int
    limit_days: int | None


def stage_ages(index: IndexDatabase, now: dt.datetime, limits: dict[Stage, int]) -> list[StageAge]:
    """For every stage with open cases (closed ones excluded): counts and waiting times."""
    out: list[StageAge] = []
    with index.session() as s:
        counts = dict(
            s.execute(
                select(CaseRow.stage, func.count())
                .where(CaseRow.stage.not_in(CLOSED))
                .group_by(CaseRow.stage)
            ).all()
        )
        for stage in Stage:
            n = int(counts.get(stage.value, 0))
            if n == 0:
                continue
            # The median is the middle row by age; one indexed offset, not all rows.
            middle = s.execute(
                select(CaseRow.updated_at)
                .where(CaseRow.stage == stage.value)
                .order_by(CaseRow.updated_at)
                .offset(n // 2)
                .limit(1)
            ).scalar_one()
            limit = limits.get(stage)
            over = 0
            if limit is not None:
                over = int(
                    s.execute(
                        select(func.count())
                        .select_from(CaseRow)
                        .where(
                            CaseRow.stage == stage.value,
                            CaseRow.updated_at < now - dt.timedelta(days=limit),
                        )
                    ).scalar_one()
                )
            days = (now - middle).total_seconds() / 86400
            out.append(StageAge(stage.value, n, round(days, 1), over, limit))
    return out
