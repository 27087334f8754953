"""How soon a decision was made public (公示时效): the deadline a published decision had to
meet, in working days, and which decisions of a bulletin missed it.

The State Council's rules for the three systems (国办发〔2018〕118号) ask that decision
information of administrative penalties be public within 7 working days of the decision
(行政处罚的执法决定信息要在执法决定作出之日起7个工作日内公开); local rules may set fewer.
A decision's deadline is the end of the N-th working day after the day it was taken, in
the department's zone. A working day is Monday to Friday unless the calendar says otherwise:
public holidays that fall on weekdays (法定节假日) and the weekend days worked instead
(调休) change every year, so they come from whoever asks, not from this code.

A decision set aside (撤回, 行政处罚法 第四十八条) must be withdrawn, with the reason public,
within three days, which that law counts in working days (第八十五条): the withdrawal's
deadline runs the same way from the date of the document that set the decision aside, as
the ledger's set-aside record keeps it (not from when the department got round to recording
it).

What counts as "published" is the bulletin's record on the ledger (RecordBulletin): its time
is the transaction's, which the department does not set alone; the bulletin's own
``issued_at`` is only its signer's claim.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from node.disclosure.bulletin import Bulletin, DecisionNotice, Withdrawal
from schemas.ledger import parse_ledger_time

E = TypeVar("E", DecisionNotice, Withdrawal)

DEFAULT_WORKING_DAYS = 7
DEFAULT_WITHDRAWAL_WORKING_DAYS = 3
MAX_WORKING_DAYS = 60
MAX_CALENDAR_DAYS = 366  # holidays or worked weekend days a caller may name, each


@dataclass(frozen=True)
class WorkCalendar:
    """Which days are working days: weekdays, less ``holidays``, plus ``workdays``."""

    holidays: frozenset[dt.date] = frozenset()
    workdays: frozenset[dt.date] = frozenset()

    def __post_init__(self) -> None:
        """Raises ValueError: a day named both, or more days than MAX_CALENDAR_DAYS."""
        both = self.holidays & self.workdays
        if both:
            raise ValueError(f"{min(both)} is named both a holiday and a working day")
        if max(len(self.holidays), len(self.workdays)) > MAX_CALENDAR_DAYS:
            raise ValueError(f"at most {MAX_CALENDAR_DAYS} holidays and working days each")

    def is_working(self, day: dt.date) -> bool:
        if day in self.workdays:
            return True
        return day.weekday() < 5 and day not in self.holidays


def due_after(
    day: dt.date, zone: dt.tzinfo, working_days: int, calendar: WorkCalendar
) -> dt.datetime:
    """The end of the ``working_days``-th working day after ``day``, in ``zone`` (the day
    itself does not count, as in every legal period: 期间开始的日不计算在内).

    Raises:
        ValueError: ``working_days`` outside 1..MAX_WORKING_DAYS.
    """
    if not 1 <= working_days <= MAX_WORKING_DAYS:
        raise ValueError(f"working days must be 1 to {MAX_WORKING_DAYS}")
    counted = 0
    # Ends: at most MAX_CALENDAR_DAYS weekdays are off, so working days keep coming.
    while counted < working_days:
        day += dt.timedelta(days=1)
        counted += calendar.is_working(day)
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), zone)


@dataclass(frozen=True)
class Late(Generic[E]):
    """A published decision or withdrawal that went out after its deadline."""

    entry: E
    due: dt.datetime  # in the department's zone


def late_decisions(
    bulletin: Bulletin, published_at: str, working_days: int, calendar: WorkCalendar
) -> list[Late[DecisionNotice]]:
    """The decisions of ``bulletin`` that were due before ``published_at`` (its ledger record).

    Raises:
        ValueError: ``working_days`` outside 1..MAX_WORKING_DAYS.
    """
    zone = bulletin.zone

    def since(n: DecisionNotice) -> dt.date:
        return parse_ledger_time(n.decided_at).astimezone(zone).date()

    return _late(bulletin.decisions, since, zone, published_at, working_days, calendar)


def late_withdrawals(
    bulletin: Bulletin,
    published_at: str,
    working_days: int,
    calendar: WorkCalendar,
    documents_dated: Mapping[str, dt.date],
) -> list[Late[Withdrawal]]:
    """The withdrawals of ``bulletin`` that were due before ``published_at``, counted from
    the date of the document that set each decision aside (``documents_dated``, by decision
    transaction, from the ledger's set-aside records): a department that records a court's
    judgment late is late from the judgment. A withdrawal the ledger does not date counts
    from the day its setting aside was recorded.

    Raises:
        ValueError: ``working_days`` outside 1..MAX_WORKING_DAYS.
    """
    zone = bulletin.zone

    def since(w: Withdrawal) -> dt.date:
        recorded = parse_ledger_time(w.set_aside_at).astimezone(zone).date()
        return min(documents_dated.get(w.decision_tx, recorded), recorded)

    return _late(bulletin.withdrawals, since, zone, published_at, working_days, calendar)


def _late(
    entries: Sequence[E],
    since: Callable[[E], dt.date],
    zone: dt.tzinfo,
    published_at: str,
    working_days: int,
    calendar: WorkCalendar,
) -> list[Late[E]]:
    published = parse_ledger_time(published_at)
    late = []
    for entry in entries:
        due = due_after(since(entry), zone, working_days, calendar)
        if published >= due:
            late.append(Late(entry, due))
    return late
