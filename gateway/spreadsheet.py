"""CSV for people who open it in a spreadsheet."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from node.index.reports import PeriodReport, report_rows


def csv_line(cells: Sequence[str]) -> bytes:
    """One CSV row (UTF-8). A cell a spreadsheet would read as a formula is quoted as text."""
    out = io.StringIO()
    csv.writer(out).writerow([f"'{c}" if c[:1] in ("=", "+", "-", "@") else c for c in cells])
    return out.getvalue().encode()


def period_report_csv(report: PeriodReport) -> bytes:
    """A period report, one figure a row: ``section,figure,value`` under a header row."""
    header = csv_line(("section", "figure", "value"))
    return header + b"".join(csv_line(row) for row in report_rows(report))
