"""Native processes of the consortium: start with a pid file, check health, stop by pid.

A pid file records the pid and the kernel's start time of that process, so ``down`` never
signals an unrelated process that happens to reuse a recorded pid.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from node.consortium.errors import NetworkError, PortInUseError


class ProcessStartError(NetworkError):
    """A process exited or stayed unhealthy while starting; see its log."""

    code = "PROCESS_START_FAILED"


@dataclass(frozen=True)
class ProcessSpec:
    name: str
    argv: Sequence[str]
    env: Mapping[str, str]
    health_url: str | None = None
    cwd: Path | None = None
    health_ca: Path | None = None  # the CA an https health URL's certificate chains to


def _start_time(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Field 22 (starttime) follows the parenthesised command name, which may hold spaces.
    return stat.rsplit(")", 1)[1].split()[19]


class Supervisor:
    """Starts and stops processes recorded in ``<state>/run``; logs go to ``<state>/logs``."""

    def __init__(self, state_dir: Path) -> None:
        self.run_dir = state_dir / "run"
        self.log_dir = state_dir / "logs"

    def log_file(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    def _pid_file(self, name: str) -> Path:
        return self.run_dir / f"{name}.pid"

    def pid(self, name: str) -> int | None:
        """The pid of ``name`` if the process we recorded is still alive."""
        try:
            pid_text, started = self._pid_file(name).read_text().split()
        except (OSError, ValueError):
            return None
        pid = int(pid_text)
        return pid if _start_time(pid) == started else None

    def recorded(self) -> list[str]:
        if not self.run_dir.exists():
            return []
        return sorted(p.stem for p in self.run_dir.glob("*.pid"))

    def start(self, spec: ProcessSpec) -> int:
        """Start ``spec`` detached from our session, logging to its log file."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with self.log_file(spec.name).open("ab") as log:
            proc = subprocess.Popen(
                list(spec.argv),
                env=dict(spec.env),
                cwd=spec.cwd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        started = _start_time(proc.pid)
        self._pid_file(spec.name).write_text(f"{proc.pid} {started}\n")
        return proc.pid

    def wait_healthy(self, spec: ProcessSpec, timeout: float = 60.0) -> None:
        """Wait until the process answers its health URL.

        Raises:
            ProcessStartError: it exited or did not become healthy in time.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.pid(spec.name) is None:
                raise ProcessStartError(
                    f"{spec.name} exited while starting: see {self.log_file(spec.name)}"
                )
            if spec.health_url is None or healthy(spec.health_url, spec.health_ca):
                return
            time.sleep(0.2)
        raise ProcessStartError(
            f"{spec.name} not healthy after {timeout:.0f} s: see {self.log_file(spec.name)}"
        )

    def stop(self, name: str, timeout: float = 15.0, *, hard: bool = False) -> bool:
        """Stop ``name`` (SIGTERM, then SIGKILL after ``timeout``); True if it was running."""
        pid = self.pid(name)
        self._pid_file(name).unlink(missing_ok=True)
        if pid is None:
            return False
        os.kill(pid, signal.SIGKILL if hard else signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _start_time(pid) is not None and time.monotonic() < deadline:
            _reap(pid)
            time.sleep(0.1)
        if _start_time(pid) is not None:
            os.kill(pid, signal.SIGKILL)
            while _start_time(pid) is not None:
                _reap(pid)
                time.sleep(0.05)
        return True


def _reap(pid: int) -> None:
    # Our own children stay zombies (still in /proc) until waited for.
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def healthy(url: str, cafile: Path | None = None) -> bool:
    """True when ``url`` answers 200 (Fabric's operations ``/healthz``), or for a
    ``tcp://host:port`` URL, when the port accepts connections. An https URL's certificate
    must chain to ``cafile``."""
    if url.startswith("tcp://"):
        host, _, port = url.removeprefix("tcp://").rpartition(":")
        try:
            with socket.create_connection((host, int(port)), timeout=1):
                return True
        except OSError:
            return False
    try:
        context = ssl.create_default_context(cafile=str(cafile)) if cafile else None
        with urllib.request.urlopen(url, timeout=2, context=context) as resp:  # noqa: S310 (loopback)
            return int(resp.status) == 200
    except (urllib.error.URLError, OSError):
        return False


def ensure_ports_free(bindings: Sequence[tuple[str, str, int]]) -> None:
    """Check that every (owner, host, port) can be bound.

    Raises:
        PortInUseError: the first port already in use, named with its owner.
    """
    for owner, host, port in bindings:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            # Servers set SO_REUSEADDR too; without it a port in TIME_WAIT looks taken.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((host, port))
            except OSError as exc:
                raise PortInUseError(
                    f"port {port} on {host} (for {owner}) is already in use: stop whatever "
                    "holds it or change the port in the consortium file"
                ) from exc
