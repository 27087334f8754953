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
from node.department import NodePaths
from node.index import IndexConfigError, open_index
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
    parser.add_argument(
        "--period", choices=[p.value for p in Period], default=Period.DAY.value, help="(day)"
    )
    parser.add_argument("--on", help="a date in the period, YYYY-MM-DD (default: today)")
    parser.add_argument(
        "--utc-offset", default=DEFAULT_UTC_OFFSET, help=f"+HH:MM ({DEFAULT_UTC_OFFSET})"
    )
    parser.add_argument("--csv", action="store_true", help="CSV: section,figure,value")
    parser.add_argument("--index-url", help="index database URL (default: the node's SQLite)")
    parser.set_defaults(handler=_report)


def _report(args: argparse.Namespace, settings: Settings) -> int:
    now = dt.datetime.now(dt.UTC)
    try:
        zone = parse_utc_offset(args.utc_offset)
        on = None if args.on is None else dt.date.fromisoformat(args.on)
        day = report_day(on, zone, now)
    except ValueError as err:
        print(f"evnet: BAD_ARGUMENT: {err}", file=sys.stderr)
        return 2
    department = network_from(settings, verbose=False).layout.consortium.department(args.org)
    paths = NodePaths.of(settings.state_dir, department.name)
    if args.index_url is None and not paths.root.is_dir():
        print(
            f"evnet: NODE_NOT_FOUND: {department.name} has no node in {settings.state_dir} "
            "(start it with `evnet up`, or give --index-url)",
            file=sys.stderr,
        )
        return 2
    try:
        index = open_index(args.index_url or paths.index_url)
    except IndexConfigError as err:
        print(f"evnet: BAD_ARGUMENT: --index-url: {err}", file=sys.stderr)
        return 2
    period = Period(args.period)
    since, until = period_bounds(period, day, zone)
    report = period_report(index, department.msp_id, period, since, until, now)
    if args.csv:
        sys.stdout.write(period_report_csv(report).decode())
        return 0
    rows = report_rows(report)
    width = max(len(f"{section}.{name}") for section, name, _ in rows)
    for section, name, value in rows:
        print(f"{f'{section}.{name}':<{width}}  {value}")
    return 0
