"""The console's reports page (日报、周报、月报): the period's figures in the page's
language, its CSV for the signed-in person, bad parameters a page not a trace, and the page
kept from those who may not read the department's figures."""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path

import pytest
from consolekit import browser, sign_in
from gatewaykit import Kit, build
from indexkit import flag_row, put_flags
from ingestkit import NOW

CN = dt.timezone(dt.timedelta(hours=8))


@pytest.fixture
def kit(tmp_path: Path) -> Kit:
    kit = build(tmp_path, clock=lambda: NOW)
    at = dt.datetime(2026, 11, 22, 8, tzinfo=CN)
    statuses = ["rejected", "rejected", "case_filed", "detected"]
    put_flags(kit.deps.index, *(flag_row(f"evt-{i}", at, s) for i, s in enumerate(statuses)))
    return kit


def test_today_s_figures_in_chinese_then_the_month_in_english(kit: Kit) -> None:
    reviewer, _ = sign_in(kit, "reviewer1")
    day = reviewer.get("/console/reports")
    assert day.status_code == 200, day.text
    assert "2026-11-22 (北京时间)" in day.text  # one day: its date
    assert "误报率" in day.text
    assert "66.7%" in day.text  # 2 rejected of 3 reviewed
    assert "占道经营" in day.text  # the violation type, as a term
    assert 'href="/console/reports"' in day.text  # in the navigation
    month = reviewer.get(
        "/console/reports", params={"period": "month", "on": "2026-11-05", "lang": "en"}
    )
    assert month.status_code == 200, month.text
    assert "2026-11-01 – 2026-11-30 (Beijing time)" in month.text
    assert "False-positive rate" in month.text


def test_the_csv_is_the_api_s_for_the_signed_in_person(kit: Kit) -> None:
    auditor, _ = sign_in(kit, "auditor1")
    resp = auditor.get("/console/reports.csv", params={"period": "week", "on": "2026-11-20"})
    assert resp.status_code == 200, resp.text
    assert "report-week-2026-11-16.csv" in resp.headers["content-disposition"]
    rows = {(r[0], r[1]): r[2] for r in csv.reader(io.StringIO(resp.text))}
    assert rows[("flags", "raised")] == "4"


def test_a_bad_date_is_an_error_page(kit: Kit) -> None:
    officer, _ = sign_in(kit, "officer1")
    resp = officer.get("/console/reports", params={"on": "1999-01-01"})
    assert resp.status_code == 422
    assert "Traceback" not in resp.text


def test_a_partner_is_kept_out(kit: Kit) -> None:
    client, _ = sign_in(kit, "partner1")
    assert client.get("/console/reports").status_code == 403
    assert client.get("/console/reports.csv").status_code == 403


def test_signed_out_goes_to_the_login(kit: Kit) -> None:
    resp = browser(kit).get("/console/reports", follow_redirects=False)
    assert resp.status_code in (303, 401)
