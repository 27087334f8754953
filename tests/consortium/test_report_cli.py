"""``evnet report``: a department's period from its node's index, as text or CSV; every bad
argument one line with a code, and no node created for a report."""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path

from test_cli import _evnet

from node.department import NodePaths
from node.index import open_index
from node.index.schema import FlagRow

CN = dt.timezone(dt.timedelta(hours=8))


def _node_with_flags(tmp_path: Path) -> None:
    node = NodePaths.of(tmp_path / "s", "UrbanManagement")
    node.root.mkdir(parents=True)
    index = open_index(node.index_url)
    at = dt.datetime(2026, 11, 18, 10, tzinfo=CN)
    index.upsert_rows(
        FlagRow,
        [
            {
                "flag_id": f"evt-{i}",
                "org": "UrbanManagementMSP",
                "camera_id": "cam-1",
                "violation_type": "road_occupation",
                "detected_at": at,
                "status": status,
                "updated_at": at,
                "case_id": None,
            }
            for i, status in enumerate(["rejected", "case_filed", "detected"])
        ],
        ["flag_id"],
    )


def test_a_week_as_csv_and_as_text(tmp_path: Path) -> None:
    _node_with_flags(tmp_path)
    args = ("report", "--org", "UrbanManagement", "--period", "week", "--on", "2026-11-20")
    proc = _evnet(tmp_path, *args, "--csv")
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.reader(io.StringIO(proc.stdout)))
    figures = {(r[0], r[1]): r[2] for r in rows[1:]}
    assert figures[("report", "since")] == "2026-11-16T00:00:00+08:00"
    assert figures[("flags", "raised")] == "3"
    assert figures[("flags", "false_positive_rate")] == "0.5"
    text = _evnet(tmp_path, *args)
    assert text.returncode == 0, text.stderr
    assert any(line.split() == ["flags.cases_filed", "1"] for line in text.stdout.splitlines()), (
        text.stdout
    )
    # The week before holds none of them.
    before = _evnet(tmp_path, "report", "--org", "UrbanManagement", "--on", "2026-11-15", "--csv")
    assert "flags,raised,0" in before.stdout


def test_bad_arguments_are_one_line_each(tmp_path: Path) -> None:
    _node_with_flags(tmp_path)
    for extra, said in [
        (("--on", "2026-02-30"), "evnet: BAD_ARGUMENT: "),
        (("--on", "1850-01-01"), "evnet: BAD_ARGUMENT: on: a date from 2000-01-01"),
        (("--utc-offset", "+8"), "evnet: BAD_ARGUMENT: utc_offset: +HH:MM"),
        (("--index-url", "mysql:/x"), "evnet: BAD_ARGUMENT: --index-url:"),
    ]:
        proc = _evnet(tmp_path, "report", "--org", "UrbanManagement", *extra)
        assert proc.returncode == 2, (extra, proc.stderr)
        assert proc.stderr.count("\n") == 1, proc.stderr
        assert proc.stderr.startswith(said), proc.stderr


def test_a_department_without_a_node_is_named_and_none_is_made(tmp_path: Path) -> None:
    proc = _evnet(tmp_path, "report", "--org", "PublicSecurity")
    assert proc.returncode == 2
    assert proc.stderr.startswith("evnet: NODE_NOT_FOUND: PublicSecurity has no node")
    assert not NodePaths.of(tmp_path / "s", "PublicSecurity").root.exists()
    unknown = _evnet(tmp_path, "report", "--org", "Nowhere")
    assert unknown.returncode == 2
    assert unknown.stderr.startswith("evnet: CONSORTIUM_CONFIG_INVALID: unknown department")
