"""The lifecycle's command runner waits out a peer that is not listening yet (a restart after
``kill -9`` recovers its ledger before its gRPC port opens) and fails at once on anything
else, naming the command and the last line it printed."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from node.consortium import lifecycle
from node.consortium.lifecycle import LifecycleError


def flaky(tmp_path: Path, failures: int, last_line: str) -> list[str]:
    """A command that prints ``last_line`` and fails ``failures`` times, then succeeds."""
    script = tmp_path / "peer.py"
    counter = tmp_path / "calls"
    script.write_text(
        "import pathlib, sys\n"
        f"c = pathlib.Path({str(counter)!r})\n"
        "n = int(c.read_text()) if c.exists() else 0\n"
        "c.write_text(str(n + 1))\n"
        f"if n < {failures}:\n"
        f"    print({last_line!r}, file=sys.stderr); sys.exit(1)\n"
        "print('Channels peers has joined: evidence')\n"
    )
    return [sys.executable, str(script)]


def calls(tmp_path: Path) -> int:
    return int((tmp_path / "calls").read_text())


def test_a_peer_not_listening_yet_is_waited_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lifecycle.time, "sleep", lambda _: None)
    refused = "Error: dial tcp 10.214.0.2:8451: connect: connection refused"
    out = lifecycle._run(flaky(tmp_path, 3, refused), os.environ, "peer list", retry_for=60)
    assert "evidence" in out
    assert calls(tmp_path) == 4


def test_other_failures_and_an_exhausted_wait_fail_with_the_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lifecycle.time, "sleep", lambda _: None)
    with pytest.raises(LifecycleError, match="peer list failed: Error: access denied"):
        lifecycle._run(
            flaky(tmp_path, 1, "Error: access denied"), os.environ, "peer list", retry_for=60
        )
    assert calls(tmp_path) == 1  # not a readiness problem: no retry
    never = tmp_path / "never"
    never.mkdir()
    with pytest.raises(LifecycleError, match="connection refused"):
        lifecycle._run(
            flaky(never, 10**6, "connection refused"), os.environ, "peer list", retry_for=0
        )
