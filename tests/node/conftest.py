"""Builders shared by the node tests."""

from __future__ import annotations

import functools
import hashlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest


class RecordingRandom:
    """Deterministic stand-in for os.urandom that remembers what it handed out."""

    def __init__(self, seed: bytes = b"seed") -> None:
        self._seed = seed
        self._counter = 0
        self.outputs: list[bytes] = []

    def __call__(self, n: int) -> bytes:
        self._counter += 1
        out = hashlib.shake_256(self._seed + self._counter.to_bytes(8, "big")).digest(n)
        self.outputs.append(out)
        return out


@pytest.fixture
def det_random() -> Callable[[bytes], RecordingRandom]:
    return RecordingRandom


# --- a private PostgreSQL server for the index tests -------------------------------------


def _pg_bin() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not found:
        pytest.fail(
            "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): run "
            "scripts/install, which installs the Debian package postgresql"
        )
    return found[-1].parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A throwaway PostgreSQL cluster on 127.0.0.1, started for this test session only.

    The server refuses to run as root, so as root it runs as the Debian ``postgres`` user,
    in a directory of its own (pytest's temporary directories are private to root).
    """
    bin_dir = _pg_bin()
    root = Path(tempfile.mkdtemp(prefix="evnet-pg-"))
    data, sockets = root / "data", root / "sock"
    sockets.mkdir()
    as_user: list[str] = []
    if os.geteuid() == 0:
        pw = pwd.getpwnam("postgres")
        for path in (root, sockets):
            os.chown(path, pw.pw_uid, pw.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    port = _free_port()
    run = functools.partial(subprocess.run, check=True, capture_output=True, timeout=120)
    run(
        [
            *as_user,
            str(bin_dir / "initdb"),
            "-D",
            str(data),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
        ]
    )
    options = f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off"
    run(
        [
            *as_user,
            str(bin_dir / "pg_ctl"),
            "-D",
            str(data),
            "-o",
            options,
            "-w",
            "-l",
            str(root / "server.log"),
            "start",
        ]
    )
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        run([*as_user, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"])
        shutil.rmtree(root, ignore_errors=True)
