"""Period reports for the bureau's leaders and auditors: a day, a week or a month of flags,
evidence, cases and access, counted in this department's index (node.index.reports)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from gateway.auth import Principal
from gateway.deps import Deps, GatewayDeps, require
from gateway.problems import Problem
from gateway.spreadsheet import period_report_csv
from node.index.reports import (
    DEFAULT_UTC_OFFSET,
    Period,
    PeriodReport,
    parse_utc_offset,
    period_bounds,
    period_report,
    report_day,
)
from schemas.glossary import Role

router = APIRouter(prefix="/reports", tags=["reports"])

Staff = Annotated[Principal, require(Role.OFFICER, Role.REVIEWER, Role.AUDITOR)]
On = Annotated[
    dt.date | None,
    Query(description="A date in the period (YYYY-MM-DD); default: today at `utc_offset`."),
]
Offset = Annotated[
    str,
    Query(
        max_length=6,
        description="The department's UTC offset, `+HH:MM` or `-HH:MM` (China: +08:00).",
    ),
]


@router.get(
    "/{period}.csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}, "description": "section, figure, value"}},
)
async def report_csv(
    period: Period, deps: Deps, who: Staff, on: On = None, utc_offset: Offset = DEFAULT_UTC_OFFSET
) -> Response:
    """The same report as CSV (UTF-8, one figure a row), for a spreadsheet."""
    return report_csv_response(await build_report(deps, period, on, utc_offset))


def report_csv_response(report: PeriodReport) -> Response:
    """The report as a CSV attachment, one figure a row."""
    body = period_report_csv(report)
    name = f"report-{report.period.value}-{report.since.date().isoformat()}.csv"
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get("/{period}", response_model=PeriodReport)
async def report(
    period: Period, deps: Deps, who: Staff, on: On = None, utc_offset: Offset = DEFAULT_UTC_OFFSET
) -> PeriodReport:
    """This department's day, ISO week or month holding `on`: flags its cameras raised and
    where they stand now (false-positive rate, rectified, filed), evidence it took, cases
    filed and closed (and open now by stage), access records by kind and outcome."""
    return await build_report(deps, period, on, utc_offset)


async def build_report(
    deps: GatewayDeps, period: Period, on: dt.date | None, offset: str = DEFAULT_UTC_OFFSET
) -> PeriodReport:
    """The department's report for the ``period`` holding ``on`` (default: today).

    Raises:
        Problem: 422 INVALID_REQUEST for an offset or a date out of range.
    """
    now = deps.clock()
    since, until = period_window(period, on, offset, now)
    return await run_in_threadpool(period_report, deps.index, deps.org, period, since, until, now)


def period_window(
    period: Period, on: dt.date | None, offset: str, now: dt.datetime
) -> tuple[dt.datetime, dt.datetime]:
    """[since, until) of the ``period`` holding ``on`` (default: today at ``offset``).

    Raises:
        Problem: 422 INVALID_REQUEST for an offset or a date out of range.
    """
    try:
        zone = parse_utc_offset(offset)
        day = report_day(on, zone, now)
    except ValueError as err:
        raise Problem(422, "INVALID_REQUEST", str(err)) from None
    return period_bounds(period, day, zone)
