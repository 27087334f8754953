"""Throughput of seal_to_store against the raw primitives it is built from (not a test).

Baseline: SHA-256 of the plaintext + AES-256-GCM per 1 MiB chunk + write + fsync, with nothing
else. Ours: seal_to_store into a FilesystemBlobStore (which also hashes the ciphertext, twice:
once in the sealer, once in the store, and fsyncs the file and directory). Prints the median
MB/s over several runs and the ratio; the target is >= 0.7.

    .venv/bin/python scripts/bench_sealing.py [--mb 256] [--runs 5] [--dir /tmp]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

# scripts/ is on sys.path when a benchmark is run as a file.
from benchreport import record
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from node.crypto.key_wrap import EncryptionPrivateKey
from node.crypto.sealing import DEFAULT_CHUNK_SIZE
from node.evidence_sealing import seal_to_store
from node.store import FilesystemBlobStore
from node.streams import IterReader

CHUNK = DEFAULT_CHUNK_SIZE


def frames(total_mb: int) -> Iterator[bytes]:
    # Distinct-looking but cheap data; the same object is yielded to keep the source free.
    block = os.urandom(CHUNK)
    for _ in range(total_mb):
        yield block


def baseline(total_mb: int, workdir: Path) -> None:
    aead = AESGCM(os.urandom(32))
    prefix = os.urandom(8)
    h = hashlib.sha256()
    path = workdir / "baseline.bin"
    with path.open("wb") as out:
        for i, block in enumerate(frames(total_mb)):
            h.update(block)
            out.write(aead.encrypt(prefix + i.to_bytes(4, "big"), block, None))
        out.flush()
        os.fsync(out.fileno())
    h.digest()
    path.unlink()


def ours(total_mb: int, workdir: Path) -> None:
    store = FilesystemBlobStore(workdir / "store", max_blob_bytes=4 * total_mb * CHUNK)
    recipient = EncryptionPrivateKey.generate().public_key()
    item = seal_to_store(
        IterReader(frames(total_mb)),
        evidence_id="bench-0001",
        recipients=[recipient],
        store=store,
        max_bytes=total_mb * CHUNK,
    )
    store.delete(item.ciphertext)


def median_mb_s(run: Callable[[int, Path], None], total_mb: int, runs: int, root: Path) -> float:
    rates = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory(dir=root) as d:
            start = time.perf_counter()
            run(total_mb, Path(d))
            rates.append(total_mb * CHUNK / 1e6 / (time.perf_counter() - start))
    return statistics.median(rates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=256, help="MiB of plaintext per run")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()))
    args = parser.parse_args()

    base = median_mb_s(baseline, args.mb, args.runs, args.dir)
    mine = median_mb_s(ours, args.mb, args.runs, args.dir)
    print(f"data per run      : {args.mb} MiB, {args.runs} runs, median, dir {args.dir}")
    print(f"baseline (raw)    : {base:8.1f} MB/s  sha256 + AES-GCM + write + fsync")
    print(f"seal_to_store     : {mine:8.1f} MB/s")
    print(f"ratio             : {mine / base:8.2f}  (target >= 0.70)")
    record("sealing", "seal_to_store throughput", mine, "MB/s", baseline=base,
           baseline_name="sha256 + AES-GCM + write + fsync", target=">= 0.70",
           work=f"{args.mb} MiB")  # fmt: skip


if __name__ == "__main__":
    main()
