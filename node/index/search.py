"""Evidence search: filters that combine, newest first, keyset pagination.

Keyset (not offset) pagination: the cursor holds the last row's (captured_at, evidence_id),
so page 1,000 costs what page 1 costs and rows added meanwhile never shift a page.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import Select, TextClause, and_, or_, select, text
from sqlalchemy.sql.elements import ColumnElement

from node.index.errors import SearchError
from node.index.schema import CaseItemRow, EvidenceRow

MAX_PAGE = 200


class BoundingBox(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    min_lat: Annotated[float, Field(ge=-90, le=90)]
    min_lon: Annotated[float, Field(ge=-180, le=180)]
    max_lat: Annotated[float, Field(ge=-90, le=90)]
    max_lon: Annotated[float, Field(ge=-180, le=180)]

    @model_validator(mode="after")
    def _ordered(self) -> BoundingBox:
        if self.min_lat > self.max_lat or self.min_lon > self.max_lon:
            raise ValueError("a bounding box needs min <= max for latitude and longitude")
        return self


class EvidenceQuery(BaseModel):
    """Every filter is optional; given filters all apply."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    case_id: str | None = None
    subject_key: str | None = None
    violation_type: str | None = None
    camera_id: str | None = None
    place: BoundingBox | None = None
    since: AwareDatetime | None = None
    until: AwareDatetime | None = None
    text: Annotated[str, Field(max_length=200)] | None = None
    page_size: Annotated[int, Field(ge=1, le=MAX_PAGE)] = 50
    cursor: Annotated[str, Field(max_length=512)] | None = None


class EvidencePage(BaseModel):
    evidence_ids: list[str]
    next_cursor: str | None


def encode_cursor(captured_at: dt.datetime, evidence_id: str) -> str:
    raw = json.dumps([captured_at.astimezone(dt.UTC).isoformat(), evidence_id])
    return base64.urlsafe_b64encode(raw.encode()).decode()


def decode_cursor(cursor: str) -> tuple[dt.datetime, str]:
    """Raises SearchError for anything this index did not issue."""
    try:
        moment, evidence_id = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        when = dt.datetime.fromisoformat(moment)
        if when.tzinfo is None or not isinstance(evidence_id, str):
            raise ValueError
    except (ValueError, TypeError) as exc:
        raise SearchError("the cursor is not one this index issued") from exc
    return when, evidence_id


# SQLite text search runs in two steps (see :func:`plans`): first a substring test over the
# newest rows that pass every other filter, which finds common words at once; only if that
# window holds less than a page does the trigram index answer, and then the word is rare, so
# its match list is short. Either step alone has a slow tail at a million rows.
TEXT_WINDOW = 2000


def _pattern(term: str) -> str:
    """A LIKE pattern matching ``term`` literally anywhere (``%`` and ``_`` escaped)."""
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _like(term: str) -> ColumnElement[bool]:
    return EvidenceRow.text.like(_pattern(term), escape="\\")


def _ilike(term: str) -> ColumnElement[bool]:
    return EvidenceRow.text.ilike(_pattern(term), escape="\\")


def _text_filter(dialect: str, term: str) -> ColumnElement[bool] | TextClause:
    # Trigram indexes need 3 characters; shorter terms fall back to a substring scan.
    if dialect == "sqlite" and len(term) >= 3:
        phrase = '"' + term.replace('"', '""') + '"'  # one phrase: no FTS query syntax
        return text(
            "evidence.rowid IN (SELECT rowid FROM evidence_fts WHERE evidence_fts MATCH :q)"
        ).bindparams(q=phrase)
    if dialect == "postgresql":
        return _ilike(term)
    return _like(term)


def _filtered(query: EvidenceQuery) -> tuple[Select[str, dt.datetime], list[ColumnElement[bool]]]:
    """The base SELECT and every condition except free text."""
    stmt = select(EvidenceRow.evidence_id, EvidenceRow.captured_at)
    conditions: list[ColumnElement[bool]] = []
    if query.case_id is not None:
        stmt = stmt.join(CaseItemRow, CaseItemRow.evidence_id == EvidenceRow.evidence_id)
        conditions.append(CaseItemRow.case_id == query.case_id)
    for column, value in (
        (EvidenceRow.subject_key, query.subject_key),
        (EvidenceRow.violation_type, query.violation_type),
        (EvidenceRow.camera_id, query.camera_id),
    ):
        if value is not None:
            conditions.append(column == value)
    if query.place is not None:
        box = query.place
        conditions += [
            EvidenceRow.lat.between(box.min_lat, box.max_lat),
            EvidenceRow.lon.between(box.min_lon, box.max_lon),
        ]
    if query.since is not None:
        conditions.append(EvidenceRow.captured_at >= query.since)
    if query.until is not None:
        conditions.append(EvidenceRow.captured_at < query.until)
    if query.cursor is not None:
        when, evidence_id = decode_cursor(query.cursor)
        conditions.append(
            or_(
                EvidenceRow.captured_at < when,
                and_(EvidenceRow.captured_at == when, EvidenceRow.evidence_id < evidence_id),
            )
        )
    return stmt, conditions


def _newest(stmt: Select[str, dt.datetime], limit: int) -> Select[str, dt.datetime]:
    return stmt.order_by(EvidenceRow.captured_at.desc(), EvidenceRow.evidence_id.desc()).limit(
        limit
    )


def plans(query: EvidenceQuery, dialect: str) -> list[Select[str, dt.datetime]]:
    """The SELECTs to try in order for one page (each asks one row more than the page, to
    know if another follows); the first that fills the page, or the last, answers.

    Free text of 3 characters or more takes two steps. A common word fills the page from
    the newest rows passing the other filters (the first step looks at the newest
    TEXT_WINDOW of them only); a rare word does not, and the second step starts from the
    trigram index instead (SQLite: FTS5 trigram; PostgreSQL: a materialised set of pg_trgm
    matches, so the planner cannot walk the time index and test every row).
    """
    stmt, conditions = _filtered(query)
    page = query.page_size + 1
    if not query.text:
        return [_newest(stmt.where(and_(*conditions)) if conditions else stmt, page)]
    exact = _newest(stmt.where(and_(*conditions, _text_filter(dialect, query.text))), page)
    if dialect not in ("sqlite", "postgresql") or len(query.text) < 3:
        return [exact]
    substring = _like(query.text) if dialect == "sqlite" else _ilike(query.text)
    window = _newest(stmt.where(and_(*conditions)) if conditions else stmt, TEXT_WINDOW)
    ids = window.with_only_columns(EvidenceRow.evidence_id).scalar_subquery()
    recent = _newest(
        select(EvidenceRow.evidence_id, EvidenceRow.captured_at).where(
            EvidenceRow.evidence_id.in_(ids), substring
        ),
        page,
    )
    if dialect == "postgresql":
        hits = stmt.where(and_(*conditions, substring)).cte("text_hits").prefix_with("MATERIALIZED")
        exact = (
            select(hits.c.evidence_id, hits.c.captured_at)
            .order_by(hits.c.captured_at.desc(), hits.c.evidence_id.desc())
            .limit(page)
        )
    return [recent, exact]
