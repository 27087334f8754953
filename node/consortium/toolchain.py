"""The Fabric toolchain: building peer, orderer, configtxgen and osnadmin, and finding them.

Fabric's go.mod says ``module github.com/hyperledger/fabric`` (no ``/v3``), so its v3 tags
are not valid module versions: ``@v3.1.5`` is rejected and ``@latest`` resolves to v2.1.1.
We ask for the release commit instead, which Go resolves to a pseudo-version.
Binaries are build outputs: they live in a cache directory outside the checkout, keyed by
version and commit, so a fresh clone on the same machine reuses them.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from node.consortium.errors import ToolchainError

FABRIC_MODULE = "github.com/hyperledger/fabric"
FABRIC_VERSION = "v3.1.5"
FABRIC_COMMIT = "86c1172bec37"
MIN_GO = (1, 26, 4)
COMMANDS = ("peer", "orderer", "configtxgen", "osnadmin")
_STAMP = "fabric.version"

Runner = Callable[..., "subprocess.CompletedProcess[str]"]


def default_bin_dir(cache_home: Path) -> Path:
    """Where the install step puts the binaries under a cache root (e.g. ``~/.cache``)."""
    return cache_home / "evidencenet" / "fabric" / f"{FABRIC_VERSION}-{FABRIC_COMMIT}" / "bin"


@dataclass(frozen=True)
class Toolchain:
    """A directory holding every Fabric command the consortium runs."""

    bin_dir: Path

    def binary(self, name: str) -> Path:
        """Path of the Fabric command ``name``.

        Raises:
            ToolchainError: the command is not installed in ``bin_dir``.
        """
        path = self.bin_dir / name
        if not (path.is_file() and path.stat().st_mode & 0o111):
            raise ToolchainError(
                f"missing Fabric binary '{name}' in {self.bin_dir}: run scripts/install "
                f"(builds Fabric {FABRIC_VERSION} with Go >= {'.'.join(map(str, MIN_GO))})"
            )
        return path


def locate(bin_dir: Path) -> Toolchain:
    """A toolchain whose every command is present.

    Raises:
        ToolchainError: a command is missing (the message names the first one).
    """
    toolchain = Toolchain(bin_dir)
    for name in COMMANDS:
        toolchain.binary(name)
    return toolchain


def is_installed(bin_dir: Path) -> bool:
    """True when every command and the version stamp of this exact release are present."""
    stamp = bin_dir / _STAMP
    try:
        if stamp.read_text().strip() != f"{FABRIC_VERSION} {FABRIC_COMMIT}":
            return False
        locate(bin_dir)
    except (OSError, ToolchainError):
        return False
    return True


def parse_go_version(text: str) -> tuple[int, int, int]:
    """Parse ``go version`` output (``go version go1.26.8 linux/amd64``).

    Raises:
        ToolchainError: the text is not a Go version line.
    """
    match = re.search(r"\bgo(\d+)\.(\d+)(?:\.(\d+))?", text)
    if match is None:
        raise ToolchainError(f"cannot read the Go version from {text.strip()!r}")
    major, minor, patch = match.groups()
    return int(major), int(minor), int(patch or 0)


def check_go(go: str | None, run: Runner = subprocess.run) -> tuple[int, int, int]:
    """The version of the Go toolchain at ``go``.

    Raises:
        ToolchainError: Go is missing or older than Fabric's go.mod requires.
    """
    need = ".".join(map(str, MIN_GO))
    if go is None:
        raise ToolchainError(f"Go is not installed: install Go >= {need} (https://go.dev/dl/)")
    proc = run([go, "version"], capture_output=True, text=True, check=False)
    version = parse_go_version(proc.stdout)
    if version < MIN_GO:
        have = ".".join(map(str, version))
        raise ToolchainError(f"Go {have} is too old to build Fabric: install Go >= {need}")
    return version


def _explain_go_failure(stderr: str) -> str:
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    if any("403" in ln for ln in lines):
        # The proxy's own words follow "server response:"; keep them, drop the URL.
        reason = next(
            (ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("server response:")),
            "403 Forbidden",
        )
        return (
            f"the Go module proxy refused {FABRIC_MODULE}@{FABRIC_COMMIT} (403: {reason}); "
            "Fabric cannot be built on this machine"
        )
    tail = lines[-1][-200:] if lines else "no output"
    return f"go install of Fabric {FABRIC_VERSION} failed: {tail}"


def install(
    bin_dir: Path,
    go: str | None,
    run: Runner = subprocess.run,
    env: dict[str, str] | None = None,
) -> bool:
    """Build the Fabric commands into ``bin_dir`` unless this release is already there.

    Returns True when it built, False when everything was already installed. The build
    goes to a temporary directory first so an interrupted build never looks complete.

    Raises:
        ToolchainError: Go is missing or too old, or the build failed (one-line reason).
    """
    if is_installed(bin_dir):
        return False
    check_go(go, run)
    assert go is not None
    bin_dir.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=bin_dir.parent, prefix=".build-") as tmp:
        targets: Sequence[str] = [f"{FABRIC_MODULE}/cmd/{c}@{FABRIC_COMMIT}" for c in COMMANDS]
        ldflags = f"-X {FABRIC_MODULE}/common/metadata.Version={FABRIC_VERSION}"
        build_env = {**(env or {}), "GOBIN": tmp}
        proc = run(
            [go, "install", "-ldflags", ldflags, *targets],
            capture_output=True,
            text=True,
            check=False,
            env=build_env,
        )
        if proc.returncode != 0:
            raise ToolchainError(_explain_go_failure(proc.stderr))
        staged = Path(tmp)
        (staged / _STAMP).write_text(f"{FABRIC_VERSION} {FABRIC_COMMIT}\n")
        if bin_dir.exists():
            shutil.rmtree(bin_dir)
        staged.rename(bin_dir)
        # TemporaryDirectory would try to remove the renamed path; recreate an empty one.
        staged.mkdir()
    return True
