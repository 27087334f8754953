#!/usr/bin/env python3
"""Benchmark: period reports and an officer's flag feed, over a year of a busy department.

Loads --flags synthetic flags (a year, 500 cameras, the loop's statuses), as many access
records, --flags / 4 evidence items (this department's and another's) and --flags / 40
cases into a fresh SQLite index, then times, --queries times each with random dates: the
day's, the week's and the month's report (node.index.reports), and an officer's feed
(node.index.flags: the first page of the open flags of an area of 25 cameras, then the
page after a cursor a week back). Baseline in the same run: one flag fetched by primary
key. Prints medians and p99 with their ratio to the baseline's.

Reproduce:  .venv/bin/python scripts/bench_reports.py --flags 200000
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# scripts/ is on sys.path when a benchmark is run as a file.
from benchreport import record

from node.dispatch import Area
from node.index import IndexDatabase, open_index
from node.index.database import sqlite_url
from node.index.flags import FlagCursor, assigned_flags
from node.index.reports import Period, period_bounds, period_report
from node.index.schema import AccessRow, FlagRow
from schemas.glossary import AccessKind, Stage, ViolationStatus, ViolationType

ORG, OTHER = "UrbanManagementMSP", "MarketSupervisionMSP"
CN = dt.timezone(dt.timedelta(hours=8))
T0 = dt.datetime(2025, 1, 1, tzinfo=CN)
YEAR_S = 365 * 24 * 3600
TYPES = [v.value for v in ViolationType]
STATUSES = [s.value for s in ViolationStatus]
STAGES = [s.value for s in Stage]
KINDS = [k.value for k in AccessKind]
AREA = Area("renmin-rd", tuple(f"cam-1{n:02d}" for n in range(25)), frozenset({"officer1"}))


def _at(rnd: random.Random) -> dt.datetime:
    return T0 + dt.timedelta(seconds=rnd.randrange(YEAR_S))


def load(db: IndexDatabase, flags: int, seed: int = 7) -> float:
    """The synthetic year; returns the seconds it took."""
    rnd = random.Random(seed)  # noqa: S311 - synthetic data, not security
    start = time.perf_counter()

    def batches(rows: int, make: Callable[[int], dict[str, Any]], put: Callable[..., None]) -> None:
        batch: list[dict[str, Any]] = []
        for i in range(rows):
            batch.append(make(i))
            if len(batch) == 10_000:
                put(batch)
                batch = []
        if batch:
            put(batch)

    def flag(i: int) -> dict[str, Any]:
        at = _at(rnd)
        return {
            "flag_id": f"evt-{i:08d}",
            "org": ORG,
            "camera_id": f"cam-{rnd.randrange(500):03d}",
            "violation_type": rnd.choice(TYPES),
            "detected_at": at,
            "status": rnd.choice(STATUSES),
            "updated_at": at + dt.timedelta(hours=rnd.randrange(72)),
            "case_id": None,
        }

    def item(i: int) -> dict[str, Any]:
        return {
            "evidence_id": f"E-{i:08d}",
            "owner_org": ORG if i % 5 else OTHER,
            "violation_type": rnd.choice(TYPES),
            "camera_id": f"cam-{rnd.randrange(500):03d}",
            "device_id": "edge-1",
            "captured_at": _at(rnd),
            "media_type": "image/jpeg",
            "size": 200_000 + rnd.randrange(100_000),
            "plaintext_hash": f"sha256:{i:064x}",
            "ciphertext_hash": f"sha256:{i + 1:064x}",
            "text": "",
            "status": "registered",
        }

    def access(i: int) -> dict[str, Any]:
        target = "evidence" if i % 4 else "case"
        return {
            "record_id": f"{i:064x}",
            "accessor_org": ORG if i % 3 else OTHER,
            "accessor": f"CN=person{rnd.randrange(200)}",
            "role": "officer",
            "target": target,
            "target_id": (
                f"E-{rnd.randrange(flags // 4):08d}"
                if target == "evidence"
                else f"C-{rnd.randrange(max(1, flags // 40)):07d}"
            ),
            "kind": rnd.choice(KINDS),
            "at": _at(rnd),
            "outcome": "denied" if rnd.random() < 0.05 else "granted",
            "reason": "grant",
        }

    batches(flags, flag, lambda b: db.upsert_rows(FlagRow, b, ["flag_id"]))
    batches(flags // 4, item, db.upsert_evidence)
    batches(flags, access, lambda b: db.upsert_rows(AccessRow, b, ["record_id"]))
    for c in range(flags // 40):
        filed = _at(rnd)
        db.upsert_case(
            {
                "case_id": f"C-{c:07d}",
                "holder_org": ORG if c % 4 else OTHER,
                "stage": rnd.choice(STAGES),
                "violation_type": rnd.choice(TYPES),
                "subject_key": "0" * 64,
                "updated_at": filed + dt.timedelta(days=rnd.randrange(30)),
                "filed_at": filed,
                "filed_by_org": ORG,
            }
        )
    db.analyze()  # as an operator does after a bulk load
    return time.perf_counter() - start


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def measure(db: IndexDatabase, flags: int, queries: int) -> list[tuple[str, float, float]]:
    rnd = random.Random(11)  # noqa: S311 - synthetic queries
    now = T0 + dt.timedelta(days=366)

    def day(r: random.Random) -> dt.date:
        return (T0 + dt.timedelta(days=r.randrange(365))).date()

    def report(period: Period) -> Callable[[random.Random], object]:
        def run(r: random.Random) -> object:
            since, until = period_bounds(period, day(r), CN)
            return period_report(db, ORG, period, since, until, now)

        return run

    def feed_first(_: random.Random) -> object:
        return assigned_flags(db, ORG, [AREA])

    def feed_after(r: random.Random) -> object:
        after = FlagCursor(T0 + dt.timedelta(days=358 + r.randrange(7)), "evt-")
        return assigned_flags(db, ORG, [AREA], after=after)

    def one_flag(r: random.Random) -> object:
        with db.session() as session:
            return session.get(FlagRow, f"evt-{r.randrange(flags):08d}")

    cases: dict[str, Callable[[random.Random], object]] = {
        "baseline: one flag by primary key": one_flag,
        "day's report": report(Period.DAY),
        "week's report": report(Period.WEEK),
        "month's report": report(Period.MONTH),
        "officer's feed: first page (open flags of 25 cameras)": feed_first,
        "officer's feed: changes after a cursor a week back": feed_after,
    }
    out = []
    for name, run in cases.items():
        times = []
        for _ in range(queries):
            t = time.perf_counter()
            run(rnd)
            times.append(time.perf_counter() - t)
        out.append((name, _pct(times, 0.5), _pct(times, 0.99)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flags", type=int, default=200_000)
    parser.add_argument("--queries", type=int, default=50)
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores; {args.queries} runs of each, random dates")
    with tempfile.TemporaryDirectory(prefix="evnet-bench-reports-") as tmp:
        db = open_index(sqlite_url(Path(tmp) / "index.sqlite"))
        seconds = load(db, args.flags)
        print(
            f"\nSQLite (WAL): {args.flags:,} flags, {args.flags:,} access records, "
            f"{args.flags // 4:,} items, {args.flags // 40:,} cases loaded in {seconds:.0f} s"
        )
        results = measure(db, args.flags, args.queries)
    base50 = results[0][1]
    print("\n| query | p50 ms | p99 ms | p50 / baseline p50 |\n|---|---|---|---|")
    for name, p50, p99 in results:
        print(f"| {name} | {p50 * 1000:.2f} | {p99 * 1000:.2f} | {p50 / base50:.0f} |")
    for name, p50, _ in results[1:]:
        record("reports", f"p50: {name}", p50 * 1000, "ms", baseline=base50 * 1000,
               baseline_name="one flag by primary key (p50)", better="lower",
               work=f"{args.flags:,} flags")  # fmt: skip


if __name__ == "__main__":
    main()
