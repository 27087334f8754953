"""``evnet report --org DEPARTMENT [--period day|week|month] [--on DATE]``: a department's
period report (日报、周报、月报) from its node's index, as text or CSV — for a daily job
that mails it, or for a person at the console of the node's host."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from typing import Any

from gateway.spreadsheet import period_report_csv
from node.cli.network import network_from
from node.consortium.config import Department
from node.department import NodePaths
from node.index import IndexConfigError, IndexDatabase, open_index
from node.index.reports import (
    DEFAULT_UTC_OFFSET,
    Period,
    parse_utc_offset,
    period_bounds,
    period_report,
    report_day,
    report_rows,
)
from node.settings import Settings


def add_parser(sub: Any) -> None:
    parser = sub.add_parser("report", help="a department's day, week or month in figures")
    parser.add_argument("--org", required=True, help="department, e.g. UrbanManagement")
    add_period_arguments(parser, Period.DAY)
    parser.add_argument("--index-url", help="index database URL (default: the node's SQLite)")
    parser.add_argument("--csv", action="store_true", help="CSV: section,figure,value")
    parser.set_defaults(handler=_report)


def add_period_arguments(parser: Any, default: Period) -> None:
    """``--period``, ``--on``, ``--utc-offset`` (read by :func:`period_of`)."""
    parser.add_argument(
        "--period",
        choices=[p.value for p in Period],
        default=default.value,
        help=f"({default.value})",
    )
    parser.add_argument("--on", help="a date in the period, YYYY-MM-DD (default: today)")
    parser.add_argument(
        "--utc-offset", default=DEFAULT_UTC_OFFSET, help=f"+HH:MM ({DEFAULT_UTC_OFFSET})"
    )


class NodeIndexUnavailable(Exception):
    """The department's index cannot be opened (``code``: NODE_NOT_FOUND, BAD_ARGUMENT)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def period_of(
    args: argparse.Namespace, now: dt.datetime
) -> tuple[Period, dt.datetime, dt.datetime]:
    """The period asked for (``--period``, ``--on``, ``--utc-offset``) and its bounds.

    Raises:
        ValueError: a bad offset or date, said for a person.
    """
    zone = parse_utc_offset(args.utc_offset)
    on = None if args.on is None else dt.date.fromisoformat(args.on)
    period = Period(args.period)
    return (period, *period_bounds(period, report_day(on, zone, now), zone))


def node_index(
    args: argparse.Namespace, settings: Settings, department: Department
) -> IndexDatabase:
    """The department node's index, or the one ``--index-url`` names.

    Raises:
        NodeIndexUnavailable: no node here and no URL, or a bad URL.
    """
    paths = NodePaths.of(settings.state_dir, department.name)
    if args.index_url is None and not paths.root.is_dir():
        raise NodeIndexUnavailable(
            "NODE_NOT_FOUND",
            f"{department.name} has no node in {settings.state_dir} "
            "(start it with `evnet up`, or give --index-url)",
        )
    try:
        return open_index(args.index_url or paths.index_url)
    except IndexConfigError as err:
        raise NodeIndexUnavailable("BAD_ARGUMENT", f"--index-url: {err}") from None


def _report(args: argparse.Namespace, settings: Settings) -> int:
    now = dt.datetime.now(dt.UTC)
    try:
        period, since, until = period_of(args, now)
    except ValueError as err:
        print(f"evnet: BAD_ARGUMENT: {err}", file=sys.stderr)
        return 2
    department = network_from(settings, verbose=False).layout.consortium.department(args.org)
    try:
        index = node_index(args, settings, department)
    except NodeIndexUnavailable as err:
        print(f"evnet: {err.code}: {err}", file=sys.stderr)
        return 2
    report = period_report(index, department.msp_id, period, since, until, now)
    if args.csv:
        sys.stdout.write(period_report_csv(report).decode())
        return 0
    rows = report_rows(report)
    width = max(len(f"{section}.{name}") for section, name, _ in rows)
    for section, name, value in rows:
        print(f"{f'{section}.{name}':<{width}}  {value}")
    return 0
