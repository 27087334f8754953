"""Unusual access patterns, computed from access records alone (pure; no I/O).

- ``REPEATED_DENIALS``: one accessor denied at least 3 times within 1 hour.
- ``BULK_DOWNLOAD``: one accessor downloading at least 20 distinct items within 1 hour.
- ``OFF_HOURS``: a granted access before 07:00 or from 20:00 local time (UTC+8), or at a
  weekend.
- ``ACCESS_OUTSIDE_CASE``: a granted view, download or share of an item attached to no
  case, by anyone but a reviewer.

Reviewers look at AI-flagged items before any case exists, so their case-less reads are
expected; a package is an export of a case and is never "outside" one.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from schemas.glossary import AccessKind, Outcome
from schemas.ledger import AccessRecord, parse_ledger_time

WINDOW = dt.timedelta(hours=1)
DENIALS_PER_WINDOW = 3
DOWNLOADS_PER_WINDOW = 20
LOCAL_TIME = dt.timezone(dt.timedelta(hours=8), "UTC+8")
WORK_START, WORK_END = dt.time(7, 0), dt.time(20, 0)
MAX_RECORD_IDS = 50


@dataclass(frozen=True)
class Thresholds:
    window: dt.timedelta = WINDOW
    denials: int = DENIALS_PER_WINDOW
    downloads: int = DOWNLOADS_PER_WINDOW
    local_time: dt.tzinfo = LOCAL_TIME
    work_start: dt.time = WORK_START
    work_end: dt.time = WORK_END


@dataclass(frozen=True)
class Flag:
    code: str
    accessor: str
    accessor_org: str
    count: int  # records (or, for BULK_DOWNLOAD, distinct items) behind the flag
    first_at: str
    last_at: str
    record_ids: list[str] = field(default_factory=list)  # the first MAX_RECORD_IDS


def flags(records: Iterable[AccessRecord], limits: Thresholds = Thresholds()) -> list[Flag]:
    """Every flag raised by ``records`` (any order), sorted by code, accessor, time."""
    by_accessor: dict[tuple[str, str], list[AccessRecord]] = defaultdict(list)
    for r in records:
        by_accessor[(r.accessor_org, r.accessor)].append(r)
    out: list[Flag] = []
    for (org, accessor), mine in sorted(by_accessor.items()):
        mine.sort(key=lambda r: (r.at, r.record_id))
        denied = [r for r in mine if r.outcome is Outcome.DENIED]
        out += _bursts("REPEATED_DENIALS", denied, limits.denials, limits.window, org, accessor)
        downloads = [
            r for r in mine if r.outcome is Outcome.GRANTED and r.kind is AccessKind.DOWNLOAD
        ]
        out += _bursts(
            "BULK_DOWNLOAD",
            downloads,
            limits.downloads,
            limits.window,
            org,
            accessor,
            distinct=True,
        )
        granted = [r for r in mine if r.outcome is Outcome.GRANTED]
        off = [r for r in granted if _off_hours(r, limits)]
        if off:
            out.append(_flag("OFF_HOURS", off, org, accessor, len(off)))
        outside = [
            r
            for r in granted
            if not r.case_ids and r.kind is not AccessKind.PACKAGE and r.role != "reviewer"
        ]
        if outside:
            out.append(_flag("ACCESS_OUTSIDE_CASE", outside, org, accessor, len(outside)))
    return sorted(out, key=lambda f: (f.code, f.accessor_org, f.accessor, f.first_at))


def _off_hours(r: AccessRecord, limits: Thresholds) -> bool:
    local = parse_ledger_time(r.at).astimezone(limits.local_time)
    if local.weekday() >= 5:
        return True
    return not (limits.work_start <= local.time() < limits.work_end)


def _bursts(
    code: str,
    records: Sequence[AccessRecord],
    threshold: int,
    window: dt.timedelta,
    org: str,
    accessor: str,
    *,
    distinct: bool = False,
) -> list[Flag]:
    """One flag per maximal run of records in which some ``window`` holds ``threshold``
    of them (distinct targets if ``distinct``); runs that overlap are merged."""
    times = [parse_ledger_time(r.at) for r in records]
    hot: set[int] = set()
    start = 0
    for end in range(len(records)):
        while times[end] - times[start] > window:
            start += 1
        span = records[start : end + 1]
        size = len({r.target_id for r in span}) if distinct else len(span)
        if size >= threshold:
            hot.update(range(start, end + 1))
    out: list[Flag] = []
    run: list[AccessRecord] = []
    for i, r in enumerate(records):
        if i in hot:
            run.append(r)
            continue
        if run:
            out.append(_flag(code, run, org, accessor, _size(run, distinct)))
            run = []
    if run:
        out.append(_flag(code, run, org, accessor, _size(run, distinct)))
    return out


def _size(run: Sequence[AccessRecord], distinct: bool) -> int:
    return len({r.target_id for r in run}) if distinct else len(run)


def _flag(code: str, rs: Sequence[AccessRecord], org: str, accessor: str, count: int) -> Flag:
    return Flag(
        code=code,
        accessor=accessor,
        accessor_org=org,
        count=count,
        first_at=rs[0].at,
        last_at=rs[-1].at,
        record_ids=[r.record_id for r in rs[:MAX_RECORD_IDS]],
    )
