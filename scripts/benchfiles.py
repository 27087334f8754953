"""The plain-file baselines the package benchmarks measure their work against."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

from node.package.archive_file import ArchiveFile

CHUNK = 1 << 20


def hash_files(paths: list[Path]) -> None:
    """Read and SHA-256 each file: what any verifier does at least."""
    for path in paths:
        h = hashlib.sha256()
        with path.open("rb") as f:
            while chunk := f.read(CHUNK):
                h.update(chunk)


def copy_files(paths: list[Path], out: Path, *, direct: bool = True) -> None:
    """The floor of any build that writes the evidence into an archive on this disk: the
    same bytes copied into one new file ``out`` (no crypto, no ledger), then removed;
    written as the package builder writes (:class:`ArchiveFile`: around the page cache),
    or through the page cache (``direct=False``). Each chunk is read straight into the
    archive's stage, as the builder decrypts into it: a new buffer per chunk would cost
    this copy a page fault per page of the gigabyte, which the build never pays (on a VM
    that hands freed memory back to its host, more than the writing itself)."""
    with ArchiveFile(out, direct=direct) as dst:
        for path in paths:
            with path.open("rb", buffering=0) as f:
                while dst.write_into(CHUNK, f.readinto):
                    pass
    out.unlink()


def evict_files(paths: list[Path]) -> None:
    """Drop these files' pages from the page cache (written out first), so that the next
    read comes from the disk."""
    for path in paths:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


MEMORY_STATES = ("as-is", "cold")
MEMORY_HELP = (
    "the machine before each timed step: as-is, or cold (5 s idle first; on this VM, whose "
    "balloon device reports free memory to the host, writing new data then costs several "
    "times more, while reading cached files does not)"
)


def prepare_memory(state: str) -> None:
    """Put the machine in ``state`` (see MEMORY_HELP) before a timed step."""
    if state == "cold":
        time.sleep(5)
