"""The plain-file baselines the package benchmarks measure their work against."""

from __future__ import annotations

import hashlib
from pathlib import Path

CHUNK = 1 << 20


def hash_files(paths: list[Path]) -> None:
    """Read and SHA-256 each file: what any verifier does at least."""
    for path in paths:
        h = hashlib.sha256()
        with path.open("rb") as f:
            while chunk := f.read(CHUNK):
                h.update(chunk)


def copy_files(paths: list[Path], out: Path) -> None:
    """The floor of any build that writes the evidence into an archive on this disk: the
    same bytes copied into one new file ``out`` (no crypto, no ledger), then removed."""
    with out.open("wb") as dst:
        for path in paths:
            with path.open("rb") as f:
                while chunk := f.read(CHUNK):
                    dst.write(chunk)
    out.unlink()
