#!/usr/bin/env python3
"""Benchmark: evidence search at 1 million rows (target: p99 under 50 ms).

Loads --rows synthetic evidence rows (8 violation types, 500 cameras, places spread over
a city, Chinese and Latin address text, 10 % with a subject, 1 in 20 in a case) into a
fresh SQLite index (and, with --postgres or --postgres-url, a PostgreSQL one), then runs
each search kind --queries times with random parameters, first page of 50. Prints p50/p99
per kind and a ratio against a baseline measured in the same run: fetching one row by
primary key.

Reproduce:  .venv/bin/python scripts/bench_index.py --rows 1000000
            .venv/bin/python scripts/bench_index.py --rows 1000000 --postgres --no-sqlite
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# scripts/ is on sys.path when a benchmark is run as a file.
from benchreport import record

from node.index import BoundingBox, EvidenceQuery, IndexDatabase, open_index
from node.index.database import sqlite_url
from schemas.glossary import ViolationType

T0 = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
SPAN_MIN = 365 * 24 * 60
STREETS = [
    "人民路",
    "中山路",
    "解放路",
    "江北大道",
    "庆丰街",
    "Renmin Rd",
    "Zhongshan Rd",
    "文化路",
    "和平街",
    "Harbour St",
]
SHOPS = ["水果店", "小吃店", "五金店", "fruit shop", "noodle bar", "便利店", "服装店"]
TYPES = [v.value for v in ViolationType]


def evidence_row(i: int, rnd: random.Random, t0: dt.datetime = T0) -> dict[str, Any]:
    """Evidence row ``i``, captured within the year after ``t0``."""
    street = rnd.choice(STREETS)
    return {
        "evidence_id": f"E-{i:08d}",
        "owner_org": "UrbanManagementMSP",
        "violation_type": rnd.choice(TYPES),
        "camera_id": f"cam-{rnd.randrange(500):03d}",
        "device_id": f"edge-{rnd.randrange(100):02d}",
        "captured_at": t0 + dt.timedelta(minutes=rnd.randrange(SPAN_MIN)),
        "lat": 29.80 + rnd.random() * 0.2,
        "lon": 121.45 + rnd.random() * 0.2,
        "zone": f"zone-{rnd.randrange(50)}",
        "subject_key": f"{rnd.randrange(50_000):064x}" if rnd.random() < 0.1 else None,
        "media_type": "image/jpeg",
        "size": rnd.randrange(50_000, 500_000),
        "plaintext_hash": f"sha256:{i:064x}",
        "ciphertext_hash": f"sha256:{i + 7:064x}",
        "text": f"{street}{rnd.randrange(1, 300)}号 {rnd.choice(SHOPS)}",
        "status": "registered",
        "ledger_tx": f"{i:064x}",
    }


def load(db: IndexDatabase, rows: int, seed: int = 7) -> float:
    rnd = random.Random(seed)  # noqa: S311 - synthetic data, not security
    start = time.perf_counter()
    batch: list[dict[str, Any]] = []
    for i in range(rows):
        batch.append(evidence_row(i, rnd))
        if len(batch) == 10_000:
            db.upsert_evidence(batch)
            batch = []
    if batch:
        db.upsert_evidence(batch)
    for c in range(rows // 20 // 10):  # cases of 10 items each
        items = [f"E-{rnd.randrange(rows):08d}" for _ in range(10)]
        db.upsert_case(
            {
                "case_id": f"C-{c:07d}",
                "holder_org": "UrbanManagementMSP",
                "stage": "investigation",
                "violation_type": "road_occupation",
                "subject_key": "0" * 64,
                "updated_at": T0,
            },
            items,
        )
    db.analyze()  # as an operator does after a bulk load
    return time.perf_counter() - start


def kinds(rows: int) -> dict[str, Callable[[random.Random], EvidenceQuery]]:
    def window(rnd: random.Random) -> tuple[dt.datetime, dt.datetime]:
        start = T0 + dt.timedelta(minutes=rnd.randrange(SPAN_MIN - 7 * 24 * 60))
        return start, start + dt.timedelta(days=7)

    def box(rnd: random.Random) -> BoundingBox:
        lat, lon = 29.80 + rnd.random() * 0.19, 121.45 + rnd.random() * 0.19
        return BoundingBox(min_lat=lat, min_lon=lon, max_lat=lat + 0.01, max_lon=lon + 0.01)

    return {
        "newest (no filter)": lambda rnd: EvidenceQuery(),
        "case": lambda rnd: EvidenceQuery(case_id=f"C-{rnd.randrange(rows // 200):07d}"),
        "subject": lambda rnd: EvidenceQuery(subject_key=f"{rnd.randrange(50_000):064x}"),
        "violation type + week": lambda rnd: EvidenceQuery(
            violation_type=rnd.choice(TYPES), since=window(rnd)[0], until=window(rnd)[1]
        ),
        "camera": lambda rnd: EvidenceQuery(camera_id=f"cam-{rnd.randrange(500):03d}"),
        "place (1 km box)": lambda rnd: EvidenceQuery(place=box(rnd)),
        "time range (week)": lambda rnd: EvidenceQuery(since=window(rnd)[0], until=window(rnd)[1]),
        "free text (street+number)": lambda rnd: EvidenceQuery(
            text=f"{rnd.choice(STREETS)}{rnd.randrange(1, 300)}号"
        ),
        "free text + type": lambda rnd: EvidenceQuery(
            text=rnd.choice(SHOPS), violation_type=rnd.choice(TYPES)
        ),
    }


def measure(db: IndexDatabase, rows: int, queries: int) -> list[tuple[str, float, float]]:
    rnd = random.Random(11)  # noqa: S311 - synthetic queries
    out = []
    lookups = []
    for _ in range(queries):
        t = time.perf_counter()
        db.evidence(f"E-{rnd.randrange(rows):08d}")
        lookups.append(time.perf_counter() - t)
    out.append(("baseline: one row by primary key", _pct(lookups, 0.5), _pct(lookups, 0.99)))
    for name, make in kinds(rows).items():
        times = []
        for _ in range(queries):
            q = make(rnd)
            t = time.perf_counter()
            db.search(q)
            times.append(time.perf_counter() - t)
        out.append((name, _pct(times, 0.5), _pct(times, 0.99)))
    return out


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def report(label: str, db: IndexDatabase, rows: int, queries: int) -> None:
    seconds = load(db, rows)
    print(f"\n{label}: {rows:,} rows loaded in {seconds:.0f} s ({rows / seconds:,.0f} rows/s)")
    results = measure(db, rows, queries)
    base = results[0][2]
    print(
        f"\n| search (first page of 50, {queries} random queries) | p50 ms | p99 ms | "
        "p99 / baseline p99 |\n|---|---|---|---|"
    )
    for name, p50, p99 in results:
        print(f"| {name} | {p50 * 1000:.2f} | {p99 * 1000:.2f} | {p99 / base:.1f} |")
    print(f"\nslowest p99: {max(r[2] for r in results[1:]) * 1000:.1f} ms (target < 50 ms)")
    for name, _, p99 in results[1:]:
        record("search", f"{label} p99: {name}", p99 * 1000, "ms", baseline=base * 1000,
               baseline_name="one row by primary key (p99)", better="lower",
               target="< 50 ms", work=f"{rows:,} rows")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--postgres-url", help="also run against this (empty) PostgreSQL database")
    parser.add_argument(
        "--postgres",
        action="store_true",
        help="also run against a throwaway local PostgreSQL cluster (fsync on) started here",
    )
    parser.add_argument("--no-sqlite", action="store_true", help="skip the SQLite run")
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores; statistics over {args.queries} queries per kind")
    if not args.no_sqlite:
        with tempfile.TemporaryDirectory(prefix="evnet-bench-index-") as tmp:
            report(
                "SQLite (WAL)",
                open_index(sqlite_url(Path(tmp) / "index.sqlite")),
                args.rows,
                args.queries,
            )
    if args.postgres_url:
        report("PostgreSQL", open_index(args.postgres_url), args.rows, args.queries)
    if args.postgres:
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "node"))
        from pgcluster import throwaway_cluster

        with throwaway_cluster(durable=True) as url:
            report("PostgreSQL", open_index(url), args.rows, args.queries)


if __name__ == "__main__":
    main()
