#!/usr/bin/env python3
"""Benchmark: the package builder's evidence step alone — decrypting sealed items into a tar
archive — against reading and hashing the same plaintext (the package benchmark's baseline)
and against copying it into one new file, all in the same run, with no ledger in the process.
The copy and the archive are each written two ways: "direct" as the builder writes
(node.package.archive_file: O_DIRECT, around the page cache) and "cached" through the page
cache, as the builder wrote before 2026-12-06.

It separates the cost of the step from the machine around it: ``--fsync-every S`` runs a
second process that writes and fsyncs a tiny file every S seconds (as peers and orderers do
with their block stores and Raft logs); ``--network`` brings up an idle local consortium
first (ports shifted by --port-shift).

``--memory cold`` idles 5 s before each timed step: on a VM whose balloon reports free
memory to the host (virtio-balloon free page reporting, as on the machine this project is
developed on), memory freed a few seconds earlier is handed back, and every new page-cache
page then costs a fault on the host (the likely cause; what is measured is that the
writing steps slow down several times, and hashing does not).

Reproduce:
  .venv/bin/python scripts/bench_archive_write.py --items 200 --mb 1000
  .venv/bin/python scripts/bench_archive_write.py --items 200 --mb 1000 --memory cold
  .venv/bin/python scripts/bench_archive_write.py --items 200 --mb 1000 --fsync-every 0.1
  EVNET_FABRIC_BIN=/path/to/fabric/bin .venv/bin/python scripts/bench_archive_write.py \
      --items 200 --mb 1000 --network --port-shift 5700
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

# scripts/ is on sys.path when a benchmark is run as a file.
from benchfiles import MEMORY_HELP, MEMORY_STATES, copy_files, hash_files, prepare_memory

from node.department import NodePaths, open_parts
from node.evidence_sealing import seal_to_store
from node.package import evidence_files
from node.package.archive_file import ArchiveFile
from node.settings import PROJECT_ROOT
from schemas.hashes import Digest

CHUNK = 1 << 20
FSYNCER = """
import os, sys, time
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT, 0o600)
while True:
    os.write(fd, b"x" * 100)
    os.fsync(fd)
    time.sleep(float(sys.argv[2]))
"""


def _archive(
    items: list[Any], ciphertexts: dict[str, Digest], parts: Any, out: Path, direct: bool
) -> None:
    with ArchiveFile(out, direct=direct) as file:
        file.reserve(evidence_files.member_bytes(i.size for i in items))
        granted = threading.Event()
        granted.set()
        evidence_files.write_own_evidence(
            file,
            items,
            ciphertexts,
            dict.fromkeys(ciphertexts, granted),
            parts,
            threading.Event(),
        )
        # The end of the archive, as the builder's tarfile writes it after the evidence.
        tarfile.TarFile(fileobj=file, mode="w", format=evidence_files.FORMAT).close()
    out.unlink()


@contextlib.contextmanager
def _fsyncing(every: float | None, root: Path) -> Iterator[None]:
    if every is None:
        yield
        return
    proc = subprocess.Popen([sys.executable, "-c", FSYNCER, str(root / "fsync.dat"), str(every)])
    try:
        yield
    finally:
        proc.terminate()
        proc.wait()


@contextlib.contextmanager
def _idle_network(enabled: bool, root: Path, port_shift: int) -> Iterator[None]:
    if not enabled:
        yield
        return
    sys.path.insert(0, str(PROJECT_ROOT / "tests" / "network"))
    from netsupport import network_settings, shifted_consortium

    from node.cli.network import network_from

    settings = network_settings(root / "state", shifted_consortium(root / "c.yaml", port_shift))
    net = network_from(settings, verbose=False)
    net.up()
    try:
        yield
    finally:
        net.down()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--items", type=int, default=200)
    parser.add_argument("--mb", type=int, default=1000, help="total size, MB")
    parser.add_argument("--runs", type=int, default=5, help="repeats; medians are printed")
    parser.add_argument("--fsync-every", type=float, help="seconds between a neighbour's fsyncs")
    parser.add_argument("--network", action="store_true", help="an idle consortium alongside")
    parser.add_argument("--port-shift", type=int, default=5700)
    parser.add_argument("--memory", choices=MEMORY_STATES, default="as-is", help=MEMORY_HELP)
    args = parser.parse_args()
    size = args.mb * 1_000_000 // args.items
    with tempfile.TemporaryDirectory(prefix="evnet-bench-archive-") as tmp:
        root = Path(tmp)
        parts = open_parts(NodePaths(root / "node"))
        sources: list[Path] = []
        items: list[Any] = []
        ciphertexts: dict[str, Digest] = {}
        for i in range(args.items):
            block = hashlib.sha256(f"{i}".encode()).digest() * (CHUNK // 32)
            src = root / "src" / f"clip-{i}.mp4"
            src.parent.mkdir(exist_ok=True)
            src.write_bytes((block * (size // CHUNK + 1))[:size])
            sources.append(src)
            evidence_id = f"EV-{i:05d}"
            with src.open("rb") as f:
                sealed = seal_to_store(
                    f,
                    evidence_id=evidence_id,
                    recipients=[parts.keyring.current],
                    store=parts.store,
                    max_bytes=size,
                )
            parts.vault.put(evidence_id, sealed.wrapped_keys[parts.keyring.current.key_id])
            ciphertexts[evidence_id] = sealed.ciphertext
            items.append(SimpleNamespace(evidence_id=evidence_id, path=src.name, size=size))
        steps: dict[str, Callable[[int], None]] = {
            "read + hash": lambda n: hash_files(sources),
            "copy, cached": lambda n: copy_files(sources, root / f"copy-{n}", direct=False),
            "copy, direct": lambda n: copy_files(sources, root / f"copy-{n}"),
            "tar, cached": lambda n: _archive(items, ciphertexts, parts, root / f"{n}.tar", False),
            "tar, direct": lambda n: _archive(items, ciphertexts, parts, root / f"{n}.tar", True),
        }
        runs: dict[str, list[float]] = {name: [] for name in steps}
        with (
            _idle_network(args.network, root, args.port_shift),
            _fsyncing(args.fsync_every, root),
        ):
            for n in range(args.runs):  # interleaved: a noisy moment slows all of them
                for name, work in steps.items():
                    prepare_memory(args.memory)
                    start = time.perf_counter()
                    work(n)
                    runs[name].append(time.perf_counter() - start)
        around = "nothing else"
        if args.network:
            around = "an idle consortium"
        if args.fsync_every is not None:
            around += f", a neighbour fsyncing every {args.fsync_every} s"
        if args.memory != "as-is":
            around += f", memory {args.memory} before each step"
        base = statistics.median(runs["read + hash"])
        print(
            f"{args.items} items, {args.items * size / 1e6:.0f} MB; {around}; "
            f"medians of {args.runs}"
        )
        for name, values in runs.items():
            median = statistics.median(values)
            spread = ", ".join(f"{v:.2f}" for v in values)
            print(f"  {name:13s} {median:.2f} s  ({median / base:.2f}x)  runs: {spread}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
