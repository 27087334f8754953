"""``evnet up/down/status`` for the services of a stack, with real gateway processes.

The network part is left out here (``with_network=False``; tests/network/test_stack_network.py
runs it whole): each department's gateway is started for real as ``evnet gateway serve``
over generated crypto material, answers /healthz on 127.0.0.1, and is stopped by its pid.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import socket
import ssl
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from node.cli.stack import stack_from
from node.consortium import load_consortium
from node.consortium.identities import (
    ADMIN_USER,
    ensure_consortium_crypto,
    issue_user,
    org_crypto,
)
from node.consortium.processes import PortInUseError
from node.crypto.user_keys import is_sealed, passphrase_path
from node.ops.stack import Stack
from node.settings import PROJECT_ROOT, Settings
from schemas.glossary import Role

CONSORTIUM = PROJECT_ROOT / "network-config" / "consortium.yaml"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    state = tmp_path / "state"
    consortium = load_consortium(CONSORTIUM)
    ensure_consortium_crypto(state, consortium, dt.datetime.now(dt.UTC))
    (state / "departments").mkdir()
    for dep in consortium.departments:
        text = f"[gateway]\nport = {_free_port()}\n"
        if dep.name == "UrbanManagement":
            sleeper = [sys.executable, "-c", "import time; time.sleep(600)"]
            text += f"[[detectors]]\nname = 'cam7'\nargv = {sleeper!r}\n".replace("'", '"')
        (state / "departments" / f"{dep.name}.toml").write_text(text)
    settings = replace(Settings.from_environment(), state_dir=state, consortium_file=CONSORTIUM)
    s = stack_from(settings, verbose=False)
    try:
        yield s
    finally:
        s.down(with_network=False)


def _health(url: str, ca: Path | None) -> int:
    context = ssl.create_default_context(cafile=ca) if ca else None
    with urllib.request.urlopen(url, timeout=5, context=context) as resp:  # noqa: S310 (loopback)
        return int(resp.status)


def test_up_twice_starts_once_and_down_stops_what_it_recorded(stack: Stack) -> None:
    started = stack.up(with_network=False)
    assert sorted(started) == [
        "detector.UrbanManagement.cam7",
        "gateway.MarketSupervision",
        "gateway.PublicSecurity",
        "gateway.UrbanManagement",
    ]
    pids = {n: stack.supervisor.pid(n) for n in started}
    for runtime in stack.runtimes():
        assert runtime.health_url.startswith("https://")  # HTTPS by default
        assert _health(runtime.health_url, runtime.tls_ca) == 200
        assert stack.supervisor.log_file(f"gateway.{runtime.name}").exists()
    # The registrar identity each gateway signs device registrations with was issued.
    assert (
        stack.layout.state_dir / "crypto/UrbanManagement/users/device1/msp/signcerts/cert.pem"
    ).exists()

    assert stack.up(with_network=False) == []
    assert {n: stack.supervisor.pid(n) for n in started} == pids

    rows = {
        r.name: r
        for r in stack.status(with_network=False)
        if r.name.startswith(("gateway.", "detector."))
    }
    assert {n: (r.pid, r.healthy) for n, r in rows.items()} == {
        n: (p, True) for n, p in pids.items()
    }

    stopped = stack.down(with_network=False)
    assert sorted(stopped) == sorted(started)
    assert stopped[0] == "detector.UrbanManagement.cam7"  # detectors go first
    for pid in pids.values():
        assert pid is not None
        assert not Path(f"/proc/{pid}").exists() or _zombie(pid)
    assert stack.down(with_network=False) == []
    assert all(
        r.pid is None for r in stack.status(with_network=False) if r.name.startswith("gateway.")
    )


def _zombie(pid: int) -> bool:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"


def test_a_dead_gateway_is_restarted_and_a_stranger_on_its_port_refused(stack: Stack) -> None:
    stack.up(with_network=False)
    urban = next(r for r in stack.runtimes() if r.name == "UrbanManagement")
    pid = stack.supervisor.pid("gateway.UrbanManagement")
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)  # the test is its parent; `evnet up` exits and leaves it to init
    assert stack.supervisor.pid("gateway.UrbanManagement") is None
    assert stack.up(with_network=False) == ["gateway.UrbanManagement"]
    assert _health(urban.health_url, urban.tls_ca) == 200
    stack.down(with_network=False)

    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind((urban.host, urban.port))
        squatter.listen()
        with pytest.raises(PortInUseError, match=f"port {urban.port}"):
            stack.up(with_network=False)
    # The failed up left nothing running.
    assert stack.service_names() == []


def test_up_keeps_people_s_keys_sealed_and_leaves_devices_and_the_admin(stack: Stack) -> None:
    state, consortium = stack.layout.state_dir, stack.layout.consortium
    now = dt.datetime.now(dt.UTC)
    before = issue_user(state, consortium, "UrbanManagement", Role.REVIEWER, "rev-early", now)
    assert not is_sealed(before.key.read_bytes())
    stack.up(with_network=False)
    assert is_sealed(before.key.read_bytes())
    later = issue_user(state, consortium, "UrbanManagement", Role.OFFICER, "off-late", now)
    assert is_sealed(later.key.read_bytes())  # sealed at issue once the department seals
    crypto = org_crypto(state, consortium, "UrbanManagement")
    assert not is_sealed(crypto.user("device1").key.read_bytes())
    assert not is_sealed(crypto.user(ADMIN_USER).key.read_bytes())
    assert passphrase_path(state, "UrbanManagement").stat().st_mode & 0o077 == 0
