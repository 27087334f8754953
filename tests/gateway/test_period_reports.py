"""Period reports over HTTP: JSON and CSV for the department's staff, the period taken in
the given offset, every bad parameter a problem, other roles refused."""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path
from typing import Any

import pytest
from gatewaykit import Kit, build
from indexkit import flag_row, put_flags
from ingestkit import NOW, ORG
from test_gateway_devices import assert_problem

CN = dt.timezone(dt.timedelta(hours=8))


@pytest.fixture
def kit(tmp_path: Path) -> Kit:
    kit = build(tmp_path, clock=lambda: NOW)
    # NOW is 2026-11-22 09:00 UTC, 17:00 in China. One flag that morning in China, one the
    # next morning in China (which is still 2026-11-22 in UTC).
    flags = [
        ("evt-1", dt.datetime(2026, 11, 22, 8, tzinfo=CN), "rejected"),
        ("evt-2", dt.datetime(2026, 11, 23, 7, tzinfo=CN), "detected"),
    ]
    put_flags(kit.deps.index, *(flag_row(i, at, status) for i, at, status in flags))
    return kit


def get(kit: Kit, path: str, user: str = "reviewer1", **params: Any) -> Any:
    return kit.client.get(path, params=params, headers=kit.token(user))


@pytest.mark.parametrize("user", ["officer1", "reviewer1", "auditor1"])
def test_today_in_china_by_default(kit: Kit, user: str) -> None:
    resp = get(kit, "/reports/day", user)
    assert resp.status_code == 200, resp.text
    doc = resp.json()
    assert doc["since"] == "2026-11-22T00:00:00+08:00"
    assert doc["until"] == "2026-11-23T00:00:00+08:00"
    assert doc["flags"]["raised"] == 1
    assert doc["flags"]["false_positive_rate"] == 1.0
    assert doc["generated_at"].startswith(NOW.isoformat()[:19])


def test_the_offset_moves_the_day(kit: Kit) -> None:
    doc = get(kit, "/reports/day", on="2026-11-22", utc_offset="+00:00").json()
    assert doc["flags"]["raised"] == 2  # both are on 2026-11-22 in UTC
    week = get(kit, "/reports/week", on="2026-11-20").json()
    assert (week["since"], week["flags"]["raised"]) == ("2026-11-16T00:00:00+08:00", 1)
    after = get(kit, "/reports/week", on="2026-11-23").json()
    assert (after["since"], after["flags"]["raised"]) == ("2026-11-23T00:00:00+08:00", 1)
    month = get(kit, "/reports/month", on="2026-10-05").json()
    assert month["flags"]["raised"] == 0


def test_csv_has_one_figure_a_row(kit: Kit) -> None:
    resp = get(kit, "/reports/week.csv", on="2026-11-20")
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("text/csv")
    assert "report-week-2026-11-16.csv" in resp.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(resp.text)))
    assert rows[0] == ["section", "figure", "value"]
    figures = {(r[0], r[1]): r[2] for r in rows[1:]}
    assert figures[("flags", "raised")] == "1"
    assert figures[("flags", "by_status_now.rejected")] == "1"
    assert figures[("report", "org")] == ORG


@pytest.mark.parametrize(
    ("path", "params", "status", "code"),
    [
        ("/reports/year", {}, 422, "INVALID_REQUEST"),
        ("/reports/day", {"on": "2026-13-01"}, 422, "INVALID_REQUEST"),
        ("/reports/day", {"on": "1999-12-31"}, 422, "INVALID_REQUEST"),
        ("/reports/month", {"on": "9999-12-31"}, 422, "INVALID_REQUEST"),
        ("/reports/day", {"utc_offset": "+8"}, 422, "INVALID_REQUEST"),
        ("/reports/day", {"utc_offset": "+15:00"}, 422, "INVALID_REQUEST"),
        ("/reports/day", {"utc_offset": "+08:60"}, 422, "INVALID_REQUEST"),
        ("/reports/day.csv", {"utc_offset": "Asia/Shanghai"}, 422, "INVALID_REQUEST"),
    ],
)
def test_bad_parameters_are_named(
    kit: Kit, path: str, params: dict[str, str], status: int, code: str
) -> None:
    assert_problem(get(kit, path, **params), status, code)


@pytest.mark.parametrize("user", ["partner1", "edge-07", "admin"])
def test_other_roles_are_refused(kit: Kit, user: str) -> None:
    assert_problem(get(kit, "/reports/day", user), 403, "ACCESS_DENIED")
    assert_problem(get(kit, "/reports/day.csv", user), 403, "ACCESS_DENIED")


def test_no_token(kit: Kit) -> None:
    assert_problem(kit.client.get("/reports/day"), 401, "UNAUTHENTICATED")
