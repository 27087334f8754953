"""The flags of an officer's areas, as a feed: every flag whose camera an area covers, in
the order their last changes happened, after a cursor the caller keeps (``node.dispatch``).
A handheld that polls with the cursor it was last given sees each change once."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, or_, select

from node.dispatch import Area, area_of, like_pattern
from node.index.database import IndexDatabase
from node.index.errors import SearchError
from node.index.schema import FlagRow
from schemas.glossary import ViolationStatus

# Where the loop has ended: nothing is left for an officer to do.
SETTLED = (ViolationStatus.REJECTED, ViolationStatus.RECTIFIED, ViolationStatus.CASE_FILED)
_SEPARATOR = "|"


@dataclass(frozen=True)
class FlagCursor:
    """The last change a feed returned: its time and flag id (text: ``<iso time>|<id>``)."""

    updated_at: dt.datetime
    flag_id: str

    def __str__(self) -> str:
        return f"{self.updated_at.astimezone(dt.UTC).isoformat()}{_SEPARATOR}{self.flag_id}"

    @classmethod
    def parse(cls, text: str) -> FlagCursor:
        """Raises: SearchError: not a cursor this feed gave."""
        at, sep, flag_id = text.partition(_SEPARATOR)
        try:
            when = dt.datetime.fromisoformat(at)
        except ValueError:
            when = None
        if not sep or not flag_id or when is None or when.tzinfo is None:
            raise SearchError("cursor: not a cursor this feed gave (keep the one it returned)")
        return cls(when, flag_id)


@dataclass(frozen=True)
class AssignedFlag:
    flag_id: str
    area: str
    camera_id: str
    violation_type: str
    detected_at: dt.datetime
    status: str
    updated_at: dt.datetime
    case_id: str | None


@dataclass(frozen=True)
class AssignedPage:
    flags: list[AssignedFlag]
    cursor: str | None  # give it back for the next changes; None: nothing seen yet


def assigned_flags(
    index: IndexDatabase,
    org: str,
    areas: Sequence[Area],
    *,
    after: FlagCursor | None = None,
    page_size: int = 50,
) -> AssignedPage:
    """``org``'s flags whose cameras ``areas`` cover, changed after ``after``, oldest change
    first. Without a cursor, the open flags only (the work at hand; settled ones, rejected,
    rectified or filed, are history); with one, every change, settling included, so that
    a handheld drops what is done."""
    covered = _covered(org, areas)
    if covered is None:
        return AssignedPage([], None if after is None else str(after))
    query = select(FlagRow).where(*covered)
    if after is None:
        query = query.where(FlagRow.status.not_in([s.value for s in SETTLED]))
    else:
        query = query.where(
            or_(
                FlagRow.updated_at > after.updated_at,
                and_(FlagRow.updated_at == after.updated_at, FlagRow.flag_id > after.flag_id),
            )
        )
    query = query.order_by(FlagRow.updated_at, FlagRow.flag_id).limit(page_size)
    with index.session() as session:
        rows = list(session.execute(query).scalars())
    flags = [
        AssignedFlag(
            flag_id=r.flag_id,
            area=area_of(areas, r.camera_id) or "",
            camera_id=r.camera_id,
            violation_type=r.violation_type,
            detected_at=r.detected_at,
            status=r.status,
            updated_at=r.updated_at,
            case_id=r.case_id,
        )
        for r in rows
    ]
    last = FlagCursor(rows[-1].updated_at, rows[-1].flag_id) if rows else after
    return AssignedPage(flags, None if last is None else str(last))


def feed_head(index: IndexDatabase, org: str, areas: Sequence[Area]) -> str | None:
    """The cursor of the latest change among ``org``'s flags that ``areas`` cover (None:
    none yet): a page showing the feed as it is now follows it from here."""
    covered = _covered(org, areas)
    if covered is None:
        return None
    query = (
        select(FlagRow.updated_at, FlagRow.flag_id)
        .where(*covered)
        .order_by(FlagRow.updated_at.desc(), FlagRow.flag_id.desc())
        .limit(1)
    )
    with index.session() as session:
        row = session.execute(query).first()
    return None if row is None else str(FlagCursor(row.updated_at, row.flag_id))


def _covered(org: str, areas: Sequence[Area]) -> tuple[ColumnElement[bool], ...] | None:
    """The conditions for ``org``'s flags whose cameras ``areas`` cover (None: no camera)."""
    patterns = [like_pattern(p) for a in areas for p in a.cameras]
    if not patterns:
        return None
    return (
        FlagRow.org == org,
        or_(*(FlagRow.camera_id.like(p, escape="\\") for p in patterns)),
    )
