"""Department configuration files: zero-config defaults, and errors naming file, key and fault."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest

from node import walkthrough
from node.consortium import load_consortium
from node.ops.config import (
    DepartmentConfigError,
    DepartmentRuntime,
    config_path,
    department_runtime,
    load_department_config,
)
from node.settings import PROJECT_ROOT

CONSORTIUM = PROJECT_ROOT / "network-config" / "consortium.yaml"
URBAN = load_consortium(CONSORTIUM).department("UrbanManagement")


def _write(tmp_path: Path, text: str) -> Path:
    path = config_path(tmp_path, "UrbanManagement")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _error(tmp_path: Path, text: str) -> str:
    path = _write(tmp_path, text)
    with pytest.raises(DepartmentConfigError) as caught:
        department_runtime(tmp_path, URBAN)
    message = str(caught.value)
    assert message.startswith(f"{path}: "), message
    return message.removeprefix(f"{path}: ")


def test_no_file_means_the_local_defaults(tmp_path: Path) -> None:
    runtime = department_runtime(tmp_path, URBAN)
    node = tmp_path / "nodes" / "UrbanManagement"
    assert runtime.paths.root == node
    assert runtime.index_url == f"sqlite:///{node / 'node.sqlite'}"
    assert (runtime.host, runtime.port) == ("127.0.0.1", URBAN.peer.port + 5)
    assert runtime.work_dir == node / "gateway"
    assert runtime.registrar_user == "device1"
    assert runtime.detectors == ()


def test_a_full_file_is_honoured(tmp_path: Path) -> None:
    node_dir = tmp_path / "elsewhere"
    node_dir.mkdir()
    _write(
        tmp_path,
        f"""
[gateway]
port = 18080
registrar_user = "cam-group-7"
max_upload_mb = 8
[node]
dir = "{node_dir}"
index_url = "postgresql+psycopg://evnet@127.0.0.1/urban"
[[detectors]]
name = "cam7"
argv = ["python", "-m", "detectors"]
env = {{EVNET_X = "1"}}
""",
    )
    runtime = department_runtime(tmp_path, URBAN)
    assert runtime.port == 18080
    assert runtime.registrar_user == "cam-group-7"
    assert runtime.max_upload_bytes == 8 << 20
    assert runtime.paths.root == node_dir
    assert runtime.index_url.startswith("postgresql+psycopg://")
    assert [(d.name, d.env) for d in runtime.detectors] == [("cam7", {"EVNET_X": "1"})]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[gateway]\nprot = 8080\n", "gateway.prot: unknown key"),
        ("[gatway]\nport = 8080\n", "gatway: unknown key"),
        ("[gateway]\nport = 80\n", "gateway.port: Input should be greater than or equal to 1024"),
        ("[gateway]\nport = 70000\n", "gateway.port: Input should be less than or equal to 65535"),
        ('[gateway]\nport = "x"\n', "gateway.port: Input should be a valid integer"),
        ('[gateway]\nhost = "0.0.0.0"\n', "gateway.host: '0.0.0.0' is not a loopback address"),
        ('[node]\ndir = "/nonexistent/evnet"\n', "node.dir: directory '/nonexistent/evnet' does"),
        ('[node]\nindex_url = "mysql://x"\n', "node.index_url: expected a sqlite:/// or"),
        ("[[detectors]]\nname = 'a'\n", "detectors.0.argv: Field required"),
        (
            "[[detectors]]\nname='a'\nargv=['x']\n[[detectors]]\nname='a'\nargv=['y']\n",
            "detectors: detector names must be unique",
        ),
        ("[gateway\n", "malformed TOML"),
    ],
)
def test_each_fault_is_named(tmp_path: Path, text: str, expected: str) -> None:
    assert _error(tmp_path, text).startswith(expected)


def test_several_faults_are_counted(tmp_path: Path) -> None:
    assert _error(tmp_path, "[gateway]\nport = 1\nprot = 2\n").endswith("(+1 more)")


def test_a_required_file_must_exist(tmp_path: Path) -> None:
    with pytest.raises(DepartmentConfigError, match="configuration file not found"):
        load_department_config(tmp_path / "missing.toml", required=True)


def test_a_file_that_is_not_utf8_is_named(tmp_path: Path) -> None:
    path = tmp_path / "UrbanManagement.toml"
    path.write_bytes("[gateway]\n# 网关\n".encode("gbk"))
    with pytest.raises(DepartmentConfigError, match="not UTF-8 text"):
        load_department_config(path)


def test_the_cli_reports_a_bad_file_with_its_code_and_exit_2(tmp_path: Path) -> None:
    path = _write(tmp_path, "[gateway]\nport = 80\n")
    env = {**os.environ, "EVNET_STATE_DIR": str(tmp_path), "EVNET_CONSORTIUM": str(CONSORTIUM)}
    done = subprocess.run(
        [sys.executable, "-m", "node.cli", "status"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"evnet: DEPARTMENT_CONFIG_INVALID: {path}: gateway.port:" in done.stderr


def test_runtime_is_built_only_through_of(tmp_path: Path) -> None:
    # The defaults come from the consortium: another department gets its own port.
    police = load_consortium(CONSORTIUM).department("PublicSecurity")
    runtime = DepartmentRuntime.of(load_department_config(tmp_path / "none.toml"), tmp_path, police)
    assert runtime.port == police.peer.port + 5
    assert runtime.port != department_runtime(tmp_path, URBAN).port


def test_areas_give_officers_their_cameras(tmp_path: Path) -> None:
    _write(
        tmp_path,
        """
[[areas]]
name = "renmin-rd"
cameras = ["cam-jiangbei-*", "cam-renmin-3"]
officers = ["officer1", "grid-wang"]
[[areas]]
name = "market-st"
cameras = ["cam-market-?"]
officers = ["officer1"]
""",
    )
    areas = department_runtime(tmp_path, URBAN).areas
    assert [(a.name, a.cameras, sorted(a.officers)) for a in areas] == [
        ("renmin-rd", ("cam-jiangbei-*", "cam-renmin-3"), ["grid-wang", "officer1"]),
        ("market-st", ("cam-market-?",), ["officer1"]),
    ]
    assert areas[0].covers("cam-jiangbei-12")
    assert not areas[0].covers("cam-renmin-30")
    assert areas[1].covers("cam-market-7")


@pytest.mark.parametrize(
    ("text", "said"),
    [
        (
            '[[areas]]\nname = "a"\ncameras = ["cam/1"]\nofficers = ["o"]\n',
            "areas.0.cameras.0: String should match pattern",
        ),
        ('[[areas]]\nname = "a"\ncameras = []\nofficers = ["o"]\n', "areas.0.cameras: List"),
        ('[[areas]]\nname = "a"\ncameras = ["c*"]\n', "areas.0.officers: Field required"),
        (
            '[[areas]]\nname = "a"\ncameras = ["c*"]\nofficers = ["o"]\n' * 2,
            "areas: area names must be unique",
        ),
        ('[[areas]]\nname = "a"\ncameras = ["c*"]\nofficers = ["o"]\nzone = 1\n', "unknown key"),
    ],
)
def test_a_bad_area_is_named(tmp_path: Path, text: str, said: str) -> None:
    assert said in _error(tmp_path, text)


def test_the_calendar_gives_the_year_s_holidays_and_weekend_days_worked(
    tmp_path: Path,
) -> None:
    # National Day 2026: 1-7 October off (the weekdays among them holidays), Saturday the
    # 10th worked instead.
    _write(
        tmp_path,
        "[calendar]\nholidays = [2026-10-01, 2026-10-02, 2026-10-05, 2026-10-06, 2026-10-07]"
        "\nworkdays = [2026-10-10]\n",
    )
    calendar = department_runtime(tmp_path, URBAN).calendar
    assert not calendar.is_working(dt.date(2026, 10, 5))  # a Monday, a holiday
    assert calendar.is_working(dt.date(2026, 10, 10))  # a Saturday, worked
    assert not calendar.is_working(dt.date(2026, 10, 11))  # the Sunday after
    assert calendar.is_working(dt.date(2026, 10, 8))
    # Without a section: Monday to Friday.
    _write(tmp_path, "")
    default = department_runtime(tmp_path, URBAN).calendar
    assert default.is_working(dt.date(2026, 10, 5))
    assert not default.is_working(dt.date(2026, 10, 10))


@pytest.mark.parametrize(
    ("text", "said"),
    [
        (
            "[calendar]\nholidays = [2026-10-01]\nworkdays = [2026-10-01]\n",
            "calendar: 2026-10-01 is named both a holiday and a working day",
        ),
        (
            '[calendar]\nholidays = ["1 October"]\n',
            "calendar.holidays.0: Input should be a valid date",
        ),
        ("[calendar]\nholidays = 2026-10-01\n", "calendar.holidays: Input should be a valid list"),
        (
            "[calendar]\nholidays = [" + ", ".join(["2026-10-01"] * 367) + "]\n",
            "calendar.holidays: List should have at most 366 items",
        ),
        ("[calendar]\nholiday = [2026-10-01]\n", "calendar.holiday: unknown key"),
    ],
)
def test_a_bad_calendar_is_named(tmp_path: Path, text: str, said: str) -> None:
    assert _error(tmp_path, text).startswith(said)


def test_the_demo_gives_its_officer_the_camera_s_area_once(tmp_path: Path) -> None:
    written = walkthrough.ensure_demo_area(tmp_path)
    assert written == config_path(tmp_path, "UrbanManagement")
    [area] = department_runtime(tmp_path, URBAN).areas
    assert area.covers("vtest-yard")
    assert "demo-officer" in area.officers
    # A file the operator wrote is theirs: the demo leaves it alone.
    written.write_text("[gateway]\nport = 18080\n")
    assert walkthrough.ensure_demo_area(tmp_path) is None
    assert department_runtime(tmp_path, URBAN).areas == ()
