"""Finding and building the Fabric toolchain: clear one-line errors, idempotent install."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from node.consortium import ToolchainError
from node.consortium import toolchain as tc


def _fake_go(version_line: str, *, install_rc: int = 0, stderr: str = "") -> tuple[Any, list[Any]]:
    calls: list[Any] = []

    def run(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        calls.append(argv)
        if argv[1] == "version":
            return subprocess.CompletedProcess(argv, 0, version_line, "")
        gobin = Path(kwargs["env"]["GOBIN"])
        if install_rc == 0:
            for name in tc.COMMANDS:
                (gobin / name).write_text("#!/bin/sh\n")
                (gobin / name).chmod(0o755)
        return subprocess.CompletedProcess(argv, install_rc, "", stderr)

    return run, calls


def test_missing_go_says_what_to_install() -> None:
    with pytest.raises(ToolchainError, match=r"Go is not installed: install Go >= 1\.26\.4"):
        tc.check_go(None)


def test_old_go_says_what_to_install() -> None:
    run, _ = _fake_go("go version go1.22.3 linux/amd64\n")
    with pytest.raises(ToolchainError, match=r"Go 1\.22\.3 is too old .* >= 1\.26\.4"):
        tc.check_go("/usr/bin/go", run)


def test_install_builds_the_release_commit_then_skips(tmp_path: Path) -> None:
    bin_dir = tmp_path / "fabric" / "bin"
    run, calls = _fake_go("go version go1.26.8 linux/amd64\n")
    assert tc.install(bin_dir, "/usr/bin/go", run) is True
    install_argv = calls[-1]
    assert f"github.com/hyperledger/fabric/cmd/peer@{tc.FABRIC_COMMIT}" in install_argv
    assert tc.is_installed(bin_dir)
    calls.clear()
    assert tc.install(bin_dir, "/usr/bin/go", run) is False
    assert calls == []  # the second run never invokes go


def test_failed_build_leaves_nothing_that_looks_installed(tmp_path: Path) -> None:
    bin_dir = tmp_path / "fabric" / "bin"
    # Recorded from a real run where the module proxy refused the Fabric module.
    stderr = (
        "go: github.com/hyperledger/fabric/cmd/peer@86c1172bec37: invalid version: reading "
        "https://module-proxy.invalid/...: 403 Forbidden\n\tserver response: This module "
        "version is not available.\n"
    )
    run, _ = _fake_go("go version go1.26.8 linux/amd64\n", install_rc=1, stderr=stderr)
    with pytest.raises(ToolchainError) as info:
        tc.install(bin_dir, "/usr/bin/go", run)
    message = str(info.value)
    assert "Go module proxy refused github.com/hyperledger/fabric@86c1172bec37" in message
    assert "(403: This module version is not available.)" in message
    assert "https://" not in message
    assert "\n" not in str(info.value)
    assert not bin_dir.exists()
    assert not tc.is_installed(bin_dir)


def test_missing_binary_is_named(tmp_path: Path) -> None:
    with pytest.raises(ToolchainError, match="missing Fabric binary 'peer'"):
        tc.locate(tmp_path)
