"""Period reports (日报、周报、月报): what happened in a department in one day, week or month,
as its index shows it — flags raised and how they stand, evidence taken, cases filed and
closed, and who accessed evidence, granted or denied.

Counted in the index (SQL aggregates), not on the ledger: the ledger is not a query engine.
The index follows the ledger's events, so a report is as current as the follower; each
report says when it was made. A period is a calendar day, ISO week (Monday first) or month
in the department's UTC offset (China: +08:00).
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Select, and_, func, or_, select

from node.index.database import IndexDatabase
from node.index.schema import AccessRow, CaseRow, EvidenceRow, FlagRow
from schemas.glossary import Period as Period  # re-exported: the reports' periods
from schemas.glossary import Stage, ViolationStatus

CLOSED_STAGES = (Stage.CLOSURE.value, Stage.CLOSED_WITHOUT_PENALTY.value)
TOP_CAMERAS = 10
DEFAULT_UTC_OFFSET = "+08:00"
# Far enough for any real period; bounded so that a month's end is always a date.
EARLIEST, LATEST = dt.date(2000, 1, 1), dt.date(2999, 12, 1)
_OFFSET = re.compile(r"^([+-])(\d\d):(\d\d)$")


def parse_utc_offset(text: str) -> dt.timezone:
    """``+HH:MM`` or ``-HH:MM`` (at most 14 hours) as a zone.

    Raises:
        ValueError: anything else, said for a person.
    """
    match = _OFFSET.match(text)
    if match is None or int(match[3]) >= 60 or int(match[2]) > 14:
        raise ValueError(f"utc_offset: +HH:MM or -HH:MM, at most 14 hours, not {text[:16]!r}")
    sign = -1 if match[1] == "-" else 1
    return dt.timezone(sign * dt.timedelta(hours=int(match[2]), minutes=int(match[3])))


def report_day(on: dt.date | None, zone: dt.timezone, now: dt.datetime) -> dt.date:
    """``on``, or today in ``zone``; within the years a report covers.

    Raises:
        ValueError: a date out of range, said for a person.
    """
    day = on or now.astimezone(zone).date()
    if not EARLIEST <= day <= LATEST:
        raise ValueError(f"on: a date from {EARLIEST} to {LATEST}, not {day}")
    return day


def period_bounds(
    period: Period, on: dt.date, offset: dt.timezone
) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) of the ``period`` holding the date ``on``, in the zone ``offset``."""
    if period is Period.DAY:
        first, last = on, on + dt.timedelta(days=1)
    elif period is Period.WEEK:
        first = on - dt.timedelta(days=on.weekday())
        last = first + dt.timedelta(days=7)
    else:
        first = on.replace(day=1)
        last = (first + dt.timedelta(days=32)).replace(day=1)
    start = dt.datetime.combine(first, dt.time(), tzinfo=offset)
    return start, dt.datetime.combine(last, dt.time(), tzinfo=offset)


class _Figures(BaseModel):
    model_config = ConfigDict(frozen=True)


class FlagFigures(_Figures):
    """Flags the department's cameras raised in the period, and where each stands now."""

    raised: int
    by_type: dict[str, int]
    by_status_now: dict[str, int]
    reviewed: int  # no longer waiting in the queue
    rejected: int  # false positives and the like, as the reviewers decided
    false_positive_rate: float | None  # rejected / reviewed; None when none was reviewed
    rectified: int  # closed by the co-governance loop, without a case
    cases_filed: int
    top_cameras: dict[str, int]  # the cameras that raised the most, at most ten


class EvidenceFigures(_Figures):
    """Evidence this department took in the period (captured then), its own items only."""

    items: int
    bytes: int
    by_type: dict[str, int]
    cameras: int  # distinct cameras and handhelds


class CaseFigures(_Figures):
    filed: int  # filed by this department in the period
    filed_by_type: dict[str, int]
    closed: int  # closed in the period by this department, with or without a penalty
    closed_without_penalty: int
    open_by_stage: dict[str, int]  # held here and open, now (a snapshot, not the period's)


class AccessFigures(_Figures):
    """Access records in the period by this department's people, or on its items and the
    cases it holds: reading, downloading, packaging and sharing evidence."""

    records: int
    denied: int
    by_kind: dict[str, dict[str, int]]  # kind -> outcome -> count
    by_org: dict[str, int]  # the accessors' departments
    people: int  # distinct accessors


class PeriodReport(_Figures):
    org: str
    period: Period
    since: dt.datetime
    until: dt.datetime
    generated_at: dt.datetime
    flags: FlagFigures
    evidence: EvidenceFigures
    cases: CaseFigures
    access: AccessFigures


def period_report(
    index: IndexDatabase,
    org: str,
    period: Period,
    since: dt.datetime,
    until: dt.datetime,
    now: dt.datetime,
) -> PeriodReport:
    """The figures of ``org`` for [``since``, ``until``)."""
    with index.session() as s:

        def counts(query: Select[str, int]) -> dict[str, int]:
            return {str(k): int(n) for k, n in s.execute(query)}

        def scalar(query: Select[Any]) -> int:
            return int(s.execute(query).scalar_one() or 0)

        flagged = and_(
            FlagRow.org == org, FlagRow.detected_at >= since, FlagRow.detected_at < until
        )
        # One pass over the period's flags, every figure summed from its groups.
        by_status: Counter[str] = Counter()
        by_type: Counter[str] = Counter()
        by_camera: Counter[str] = Counter()
        for status, kind, camera, n in s.execute(
            select(FlagRow.status, FlagRow.violation_type, FlagRow.camera_id, func.count())
            .where(flagged)
            .group_by(FlagRow.status, FlagRow.violation_type, FlagRow.camera_id)
        ):
            by_status[str(status)] += int(n)
            by_type[str(kind)] += int(n)
            by_camera[str(camera)] += int(n)
        raised = by_status.total()
        reviewed = raised - by_status.get(ViolationStatus.DETECTED.value, 0)
        rejected = by_status.get(ViolationStatus.REJECTED.value, 0)
        busiest = sorted(by_camera.items(), key=lambda c: (-c[1], c[0]))[:TOP_CAMERAS]
        flags = FlagFigures(
            raised=raised,
            by_type=dict(by_type),
            by_status_now=dict(by_status),
            reviewed=reviewed,
            rejected=rejected,
            false_positive_rate=round(rejected / reviewed, 4) if reviewed else None,
            rectified=by_status.get(ViolationStatus.RECTIFIED.value, 0),
            cases_filed=by_status.get(ViolationStatus.CASE_FILED.value, 0),
            top_cameras=dict(busiest),
        )

        taken = and_(
            EvidenceRow.owner_org == org,
            EvidenceRow.captured_at >= since,
            EvidenceRow.captured_at < until,
        )
        evidence = EvidenceFigures(
            items=scalar(select(func.count()).select_from(EvidenceRow).where(taken)),
            bytes=scalar(select(func.sum(EvidenceRow.size)).where(taken)),
            by_type=counts(
                select(EvidenceRow.violation_type, func.count())
                .where(taken)
                .group_by(EvidenceRow.violation_type)
            ),
            cameras=scalar(select(func.count(func.distinct(EvidenceRow.camera_id))).where(taken)),
        )

        filed = and_(
            # Filed here (a row from before the index kept the filer: held here).
            or_(
                CaseRow.filed_by_org == org,
                and_(CaseRow.filed_by_org.is_(None), CaseRow.holder_org == org),
            ),
            CaseRow.filed_at >= since,
            CaseRow.filed_at < until,
        )
        closed = and_(
            CaseRow.holder_org == org,
            CaseRow.stage.in_(CLOSED_STAGES),
            CaseRow.updated_at >= since,
            CaseRow.updated_at < until,
        )
        closed_by_stage = counts(
            select(CaseRow.stage, func.count()).where(closed).group_by(CaseRow.stage)
        )
        cases = CaseFigures(
            filed=scalar(select(func.count()).select_from(CaseRow).where(filed)),
            filed_by_type=counts(
                select(CaseRow.violation_type, func.count())
                .where(filed)
                .group_by(CaseRow.violation_type)
            ),
            closed=sum(closed_by_stage.values()),
            closed_without_penalty=closed_by_stage.get(Stage.CLOSED_WITHOUT_PENALTY.value, 0),
            open_by_stage=counts(
                select(CaseRow.stage, func.count())
                .where(CaseRow.holder_org == org, CaseRow.stage.not_in(CLOSED_STAGES))
                .group_by(CaseRow.stage)
            ),
        )

        # Every department's index holds the channel's records; the department's are those
        # by its people and those on its items and the cases it holds. Each record of the
        # period is looked at once (the time index), its target by primary key: the
        # department's own index on the accessor would make a planner read every record of
        # the department, and a list of its items grows with the years (bench_reports.py).
        own_item = (
            select(EvidenceRow.evidence_id)
            .where(EvidenceRow.evidence_id == AccessRow.target_id, EvidenceRow.owner_org == org)
            .exists()
        )
        held_case = (
            select(CaseRow.case_id)
            .where(CaseRow.case_id == AccessRow.target_id, CaseRow.holder_org == org)
            .exists()
        )
        ours = or_(
            func.coalesce(AccessRow.accessor_org, "") == org,  # (not by its index: above)
            and_(AccessRow.target == "evidence", own_item),
            and_(AccessRow.target == "case", held_case),
        )
        accessed = and_(AccessRow.at >= since, AccessRow.at < until, ours)
        # One pass over the period's records (each tested once against the department),
        # every figure summed from its groups.
        by_kind: dict[str, Counter[str]] = {}
        by_org: Counter[str] = Counter()
        people: set[str] = set()
        for kind, outcome, accessor_org, accessor, n in s.execute(
            select(
                AccessRow.kind,
                AccessRow.outcome,
                AccessRow.accessor_org,
                AccessRow.accessor,
                func.count(),
            )
            .where(accessed)
            .group_by(AccessRow.kind, AccessRow.outcome, AccessRow.accessor_org, AccessRow.accessor)
        ):
            by_kind.setdefault(str(kind), Counter())[str(outcome)] += int(n)
            by_org[str(accessor_org)] += int(n)
            people.add(str(accessor))
        access = AccessFigures(
            records=by_org.total(),
            denied=sum(o["denied"] for o in by_kind.values()),
            by_kind={k: dict(o) for k, o in by_kind.items()},
            by_org=dict(by_org),
            people=len(people),
        )
    return PeriodReport(
        org=org,
        period=period,
        since=since,
        until=until,
        generated_at=now,
        flags=flags,
        evidence=evidence,
        cases=cases,
        access=access,
    )


def report_rows(report: PeriodReport) -> list[tuple[str, str, str]]:
    """The report as (section, figure, value) rows, for CSV and print."""
    rows: list[tuple[str, str, str]] = [
        ("report", "org", report.org),
        ("report", "period", report.period.value),
        ("report", "since", report.since.isoformat()),
        ("report", "until", report.until.isoformat()),
        ("report", "generated_at", report.generated_at.isoformat()),
    ]
    for section in ("flags", "evidence", "cases", "access"):
        figures: BaseModel = getattr(report, section)
        for name, value in figures.model_dump(mode="json").items():
            if isinstance(value, dict):
                for key, inner in sorted(value.items()):
                    if isinstance(inner, dict):
                        rows.extend(
                            (section, f"{name}.{key}.{k}", str(v)) for k, v in sorted(inner.items())
                        )
                    else:
                        rows.append((section, f"{name}.{key}", str(inner)))
            else:
                rows.append((section, name, "" if value is None else str(value)))
    return rows
