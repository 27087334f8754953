"""Period reports from the index, on SQLite and on PostgreSQL: the period's bounds in the
department's offset, and every figure counted from rows inside, outside and at the edges of
the period, of this department and of others."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from indexkit import flag_row, put_flags, row

from node.index import IndexDatabase
from node.index.reports import Period, period_bounds, period_report, report_rows
from node.index.schema import AccessRow

URBAN, MARKET = "UrbanManagementMSP", "MarketSupervisionMSP"
CN = dt.timezone(dt.timedelta(hours=8))
# The week of Monday 2026-11-16 to Sunday 2026-11-22, in China.
SINCE = dt.datetime(2026, 11, 16, tzinfo=CN)
UNTIL = dt.datetime(2026, 11, 23, tzinfo=CN)
INSIDE = dt.datetime(2026, 11, 18, 10, tzinfo=CN)
BEFORE = SINCE - dt.timedelta(seconds=1)
NOW = dt.datetime(2026, 11, 23, 1, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("period", "on", "first", "last"),
    [
        (Period.DAY, dt.date(2026, 11, 22), dt.date(2026, 11, 22), dt.date(2026, 11, 23)),
        (Period.WEEK, dt.date(2026, 11, 22), dt.date(2026, 11, 16), dt.date(2026, 11, 23)),
        (Period.WEEK, dt.date(2026, 11, 16), dt.date(2026, 11, 16), dt.date(2026, 11, 23)),
        (Period.MONTH, dt.date(2026, 12, 31), dt.date(2026, 12, 1), dt.date(2027, 1, 1)),
        (Period.MONTH, dt.date(2028, 2, 29), dt.date(2028, 2, 1), dt.date(2028, 3, 1)),
    ],
)
def test_a_period_is_a_calendar_day_iso_week_or_month_in_the_offset(
    period: Period, on: dt.date, first: dt.date, last: dt.date
) -> None:
    since, until = period_bounds(period, on, CN)
    assert (since, until) == (
        dt.datetime.combine(first, dt.time(), tzinfo=CN),
        dt.datetime.combine(last, dt.time(), tzinfo=CN),
    )
    # Midnight in China is 16:00 UTC the day before.
    assert since.astimezone(dt.UTC).hour == 16


def flag(i: int, status: str, at: dt.datetime = INSIDE, **changes: Any) -> dict[str, Any]:
    kind = "road_occupation" if i % 2 else "shopfront_operation"
    camera = "cam-1" if i % 3 else "cam-2"
    return flag_row(f"evt-{i}", at, status, camera, violation_type=kind, **changes)


def case(case_id: str, stage: str, **changes: Any) -> dict[str, Any]:
    return {
        "case_id": case_id,
        "holder_org": URBAN,
        "stage": stage,
        "violation_type": "road_occupation",
        "subject_key": "a" * 64,
        "updated_at": INSIDE,
        "filed_at": INSIDE,
        **changes,
    }


def access(
    i: int, kind: str, outcome: str, at: dt.datetime = INSIDE, **more: Any
) -> dict[str, Any]:
    return {
        "record_id": f"{i:064x}",
        "accessor_org": URBAN,
        "accessor": f"CN=officer{i % 2}",
        "role": "officer",
        "target": "evidence",
        "target_id": f"E-{i:04d}",
        "kind": kind,
        "at": at,
        "outcome": outcome,
        "reason": "grant",
        **more,
    }


@pytest.fixture
def filled(index: IndexDatabase) -> IndexDatabase:
    statuses = ["detected", "rejected", "rejected", "rectified", "case_filed", "reminded"]
    flags = [flag(i, s) for i, s in enumerate(statuses)]
    flags += [
        flag(90, "rejected", at=BEFORE),  # last week
        flag(91, "detected", at=UNTIL),  # next week
        flag(92, "rejected", org=MARKET),  # another department's
    ]
    put_flags(index, *flags)
    index.upsert_evidence(
        [
            row(1, captured_at=INSIDE, size=100, camera_id="cam-1"),
            row(2, captured_at=INSIDE, size=200, camera_id="bodycam-0042"),
            row(3, captured_at=BEFORE, size=400),
            row(4, captured_at=INSIDE, size=800, owner_org=MARKET),  # theirs, in a case of ours
        ]
    )
    index.upsert_case(case("C-open", "investigation"))
    index.upsert_case(case("C-source-old", "source", filed_at=BEFORE))
    index.upsert_case(case("C-closed", "closure"))
    index.upsert_case(case("C-waived", "closed_without_penalty", filed_at=BEFORE))
    index.upsert_case(case("C-closed-before", "closure", updated_at=BEFORE, filed_at=BEFORE))
    # Filed here, then transferred on: filed here, closed there.
    index.upsert_case(case("C-theirs", "closure", holder_org=MARKET, filed_by_org=URBAN))
    # Another department's case, granted to this one: not filed here.
    index.upsert_case(case("C-granted", "investigation", holder_org=MARKET, filed_by_org=MARKET))
    index.upsert_case(case("C-unknown-filing", "decision", filed_at=None))
    index.upsert_rows(
        AccessRow,
        [
            access(1, "view", "granted"),
            access(2, "view", "granted"),
            access(3, "download", "denied", accessor_org=MARKET, accessor="CN=partner1"),
            access(4, "package", "granted"),
            access(5, "view", "granted", at=BEFORE),
            # Another department reading its own item: on the channel, not this report's.
            access(6, "view", "granted", accessor_org=MARKET, target_id="M-0001"),
            # Another department reading this department's case (E-0001 is this one's too).
            access(
                7,
                "view",
                "denied",
                accessor_org=MARKET,
                accessor="CN=officer9,O=market",
                target="case",
                target_id="C-open",
            ),
        ],
        ["record_id"],
    )
    return index


def test_every_figure_counts_the_period_and_the_department(filled: IndexDatabase) -> None:
    report = period_report(filled, URBAN, Period.WEEK, SINCE, UNTIL, NOW)
    assert (report.org, report.period, report.generated_at) == (URBAN, Period.WEEK, NOW)
    f = report.flags
    assert f.raised == 6
    assert f.by_status_now == {
        "detected": 1,
        "rejected": 2,
        "rectified": 1,
        "case_filed": 1,
        "reminded": 1,
    }
    assert f.by_type == {"road_occupation": 3, "shopfront_operation": 3}
    assert (f.reviewed, f.rejected, f.rectified, f.cases_filed) == (5, 2, 1, 1)
    assert f.false_positive_rate == 0.4
    assert f.top_cameras == {"cam-1": 4, "cam-2": 2}
    e = report.evidence
    assert (e.items, e.bytes, e.cameras) == (2, 300, 2)
    assert e.by_type == {"shopfront_operation": 1, "road_occupation": 1}
    c = report.cases
    # C-open, C-closed (rows without a filer: held here), C-theirs (filed here); not those
    # filed before, with no filing time, or filed by the department that granted one.
    assert c.filed == 3
    assert c.filed_by_type == {"road_occupation": 3}
    assert (c.closed, c.closed_without_penalty) == (2, 1)
    assert c.open_by_stage == {"investigation": 1, "source": 1, "decision": 1}
    a = report.access
    assert (a.records, a.denied, a.people) == (5, 2, 4)
    assert a.by_kind == {
        "view": {"granted": 2, "denied": 1},
        "download": {"denied": 1},
        "package": {"granted": 1},
    }
    assert a.by_org == {URBAN: 3, MARKET: 2}


def test_an_empty_period_reports_zeros_and_no_rate(index: IndexDatabase) -> None:
    report = period_report(index, URBAN, Period.DAY, SINCE, SINCE + dt.timedelta(days=1), NOW)
    assert report.flags.raised == 0
    assert report.flags.false_positive_rate is None
    assert report.evidence.bytes == 0
    assert report.access.by_kind == {}


def test_the_report_as_rows_names_every_figure(filled: IndexDatabase) -> None:
    rows = report_rows(period_report(filled, URBAN, Period.WEEK, SINCE, UNTIL, NOW))
    as_dict = {(section, name): value for section, name, value in rows}
    assert as_dict[("report", "since")] == "2026-11-16T00:00:00+08:00"
    assert as_dict[("flags", "false_positive_rate")] == "0.4"
    assert as_dict[("flags", "by_status_now.rejected")] == "2"
    assert as_dict[("access", "by_kind.download.denied")] == "1"
    assert as_dict[("cases", "open_by_stage.investigation")] == "1"
