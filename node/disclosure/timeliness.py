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
deadline runs the same way from the day the setting aside was recorded on the ledger.

What counts as "published" is the bulletin's record on the ledger (RecordBulletin): its time
is the transaction's, which the department does not set alone; the bulletin's own
``issued_at`` is only its signer's claim.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
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


def publication_due(
    decided_at: str, zone: dt.tzinfo, working_days: int, calendar: WorkCalendar
) -> dt.datetime:
    """The moment a decision taken at ``decided_at`` had to be public by: the end of the
    ``working_days``-th working day after its day, in ``zone``.

    Raises:
        ValueError: ``working_days`` outside 1..MAX_WORKING_DAYS.
    """
    if not 1 <= working_days <= MAX_WORKING_DAYS:
        raise ValueError(f"working days must be 1 to {MAX_WORKING_DAYS}")
    day = parse_ledger_time(decided_at).astimezone(zone).date()
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
    return _late(
        bulletin, bulletin.decisions, lambda n: n.decided_at, published_at, working_days, calendar
    )


def late_withdrawals(
    bulletin: Bulletin, published_at: str, working_days: int, calendar: WorkCalendar
) -> list[Late[Withdrawal]]:
    """The withdrawals of ``bulletin`` that were due before ``published_at``, counted from
    when each setting aside was recorded.

    Raises:
        ValueError: ``working_days`` outside 1..MAX_WORKING_DAYS.
    """
    return _late(
        bulletin,
        bulletin.withdrawals,
        lambda w: w.set_aside_at,
        published_at,
        working_days,
        calendar,
    )


def _late(
    bulletin: Bulletin,
    entries: Sequence[E],
    since: Callable[[E], str],
    published_at: str,
    working_days: int,
    calendar: WorkCalendar,
) -> list[Late[E]]:
    published = parse_ledger_time(published_at)
    zone = bulletin.zone
    late = []
    for entry in entries:
        due = publication_due(since(entry), zone, working_days, calendar)
        if published >= due:
            late.append(Late(entry, due))
    return late
