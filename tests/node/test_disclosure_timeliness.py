"""A decision's publication deadline in working days, in the department's zone, with the
year's holidays and weekend days worked as the caller names them."""

from __future__ import annotations

import datetime as dt

import pytest

from node.disclosure.timeliness import MAX_CALENDAR_DAYS, WorkCalendar, due_after
from schemas.ledger import parse_ledger_time

BEIJING = dt.timezone(dt.timedelta(hours=8))
# National Day 2026 as a department would name it: 1-7 October off, Sunday 27 September and
# Saturday 10 October worked.
GOLDEN_WEEK = WorkCalendar(
    holidays=frozenset(dt.date(2026, 10, d) for d in (1, 2, 5, 6, 7)),
    workdays=frozenset({dt.date(2026, 9, 27), dt.date(2026, 10, 10)}),
)


def _due(decided_at: str, days: int = 7, calendar: WorkCalendar | None = None) -> dt.datetime:
    day = parse_ledger_time(decided_at).astimezone(BEIJING).date()
    return due_after(day, BEIJING, days, calendar or WorkCalendar())


def test_the_deadline_is_the_end_of_the_nth_working_day_after_the_decisions_day() -> None:
    # Tuesday 3 November 10:00 Beijing: Wed-Fri, then Mon-Thu; due by Thursday's end.
    assert _due("2026-11-03T02:00:00.000000Z") == dt.datetime(2026, 11, 13, tzinfo=BEIJING)
    # A decision on a Saturday counts from Monday.
    assert _due("2026-11-07T02:00:00.000000Z", 1) == dt.datetime(2026, 11, 10, tzinfo=BEIJING)


def test_the_day_is_the_departments_not_utcs() -> None:
    # 17:00 UTC on Tuesday the 3rd is 01:00 on Wednesday the 4th in Beijing.
    assert _due("2026-11-03T17:00:00.000000Z") == dt.datetime(2026, 11, 14, tzinfo=BEIJING)


def test_holidays_and_weekend_days_worked_move_the_deadline() -> None:
    # Wednesday 30 September (01:00 Beijing): 8, 9, Saturday 10, 12, 13, 14, 15 October.
    decided = "2026-09-29T17:00:00.000000Z"
    assert _due(decided, calendar=GOLDEN_WEEK) == dt.datetime(2026, 10, 16, tzinfo=BEIJING)
    assert _due(decided) == dt.datetime(2026, 10, 10, tzinfo=BEIJING)


@pytest.mark.parametrize("days", [0, 61])
def test_a_deadline_out_of_range_is_refused(days: int) -> None:
    with pytest.raises(ValueError, match="working days must be 1 to 60"):
        _due("2026-11-03T02:00:00.000000Z", days)


def test_a_calendar_that_contradicts_itself_or_is_too_long_is_refused() -> None:
    day = dt.date(2026, 10, 1)
    with pytest.raises(ValueError, match="both a holiday and a working day"):
        WorkCalendar(frozenset({day}), frozenset({day}))
    many = frozenset(day + dt.timedelta(days=n) for n in range(MAX_CALENDAR_DAYS + 1))
    with pytest.raises(ValueError, match="at most"):
        WorkCalendar(holidays=many)


def test_a_year_of_holidays_still_ends() -> None:
    year = frozenset(dt.date(2026, 1, 1) + dt.timedelta(days=n) for n in range(MAX_CALENDAR_DAYS))
    due = _due("2025-12-31T02:00:00.000000Z", 60, WorkCalendar(holidays=year))
    assert due.date() > dt.date(2027, 1, 1)
