#!/usr/bin/env python3
"""Benchmark: the console's pages with 10,000 cases and 100,000 evidence items in the index
(issue 9 target: no page over 300 ms server time).

The gateway app runs in this process over a real SQLite index (WAL) and a real ingest
service (store, vault, keys); the ledger is the test suite's in-memory fake at the ledger
client's seam, so the figures are the gateway's own work — queries, rendering, decryption —
and not the network's (the ledger's latency is measured by bench_network.py). The index is
loaded with --items synthetic evidence rows over the last year and --cases cases of 10
items each across every stage; thirty device submissions are ingested for real (flags for
the queue, items to view), a case of twenty of those items moves through three stages, and
one item is viewed fifty times (its access trail).

Each page is requested --requests times per round, --rounds rounds, as the role that uses
it; p50 and p99 over all requests, and the median of the rounds' p99s. Baseline in the same
run, through the same app and session: the console's stylesheet (a static file).

Reproduce:  .venv/bin/python scripts/bench_console.py --cases 10000 --items 100000
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# The fake ledger and the signed device submissions are the gateway tests' own builders.
sys.path[:0] = [str(ROOT / "tests" / "gateway"), str(ROOT / "tests" / "node")]

from bench_index import evidence_row  # noqa: E402 - scripts/ is on sys.path as a file
from benchreport import record  # noqa: E402
from consolekit import file_case, sign_in  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402
from gatewaykit import Kit, build, submit  # noqa: E402

from node.index.cases import CaseQuery, search_cases  # noqa: E402
from node.index.schema import CaseItemRow, CaseRow  # noqa: E402
from schemas.glossary import Stage, ViolationType  # noqa: E402

TARGET_MS = 300.0
ORGS = ["UrbanManagementMSP"] * 4 + ["MarketSupervisionMSP"]


def load_index(kit: Kit, items: int, cases: int, seed: int = 7) -> float:
    """``items`` evidence rows over the year before now, ``cases`` cases of 10 items each."""
    rnd = random.Random(seed)  # noqa: S311 - synthetic data, not security
    now = dt.datetime.now(dt.UTC)
    year_ago = now - dt.timedelta(days=365)
    index = kit.deps.index
    start = time.perf_counter()
    batch: list[dict[str, Any]] = []
    for i in range(items):
        batch.append(evidence_row(i, rnd, year_ago))
        if len(batch) == 10_000:
            index.upsert_evidence(batch)
            batch = []
    index.upsert_evidence(batch)
    stages = [s.value for s in Stage]
    types = [v.value for v in ViolationType]
    rows, links = [], []
    for c in range(cases):
        case_id = f"CASE-2026-{c:06d}"
        rows.append(
            {
                "case_id": case_id,
                "holder_org": rnd.choice(ORGS),
                "stage": rnd.choice(stages),
                "violation_type": rnd.choice(types),
                "subject_key": f"{rnd.randrange(50_000):064x}",
                "updated_at": year_ago + dt.timedelta(minutes=rnd.randrange(365 * 24 * 60)),
            }
        )
        picked = {f"E-{rnd.randrange(items):08d}" for _ in range(10)}
        links += [{"case_id": case_id, "evidence_id": e} for e in picked]
    index.upsert_rows(CaseRow, rows, ["case_id"])
    index.upsert_rows(CaseItemRow, links, ["case_id", "evidence_id"])
    index.analyze()
    return time.perf_counter() - start


def live_data(kit: Kit) -> dict[str, str]:
    """Real submissions through the gateway: flags, items, a case of twenty items with a
    history, an item's trail."""
    done = [submit(kit, event_id=f"evt-bench-{i:04d}", camera_id=f"cam-{i % 7}") for i in range(30)]
    case_id = "CASE-2026-BENCH"
    file_case(kit, case_id)
    items = [item["evidence_id"] for d in done[:10] for item in d["items"]]
    attach = {"evidence_ids": items}
    resp = kit.client.post(f"/cases/{case_id}/evidence", json=attach, headers=kit.token("officer1"))
    assert resp.status_code == 200, resp.text
    officer, csrf = sign_in(kit, "officer1")
    for to in ("preliminary_check", "filing_approval", "investigation"):
        moved = officer.post(f"/console/cases/{case_id}/stage", data={"csrf": csrf, "to": to})
        assert moved.status_code == 200, moved.text
    # What the index follower would copy from the ledger's events.
    case = kit.chain.cases[case_id]
    kit.deps.index.upsert_case(
        {
            "case_id": case_id,
            "holder_org": case.holder_org,
            "stage": case.stage.value,
            "violation_type": case.violation_type.value,
            "subject_key": case.subject_key,
            "updated_at": dt.datetime.now(dt.UTC),
        },
        items,
    )
    reviewer, _ = sign_in(kit, "reviewer1")
    item = done[1]["items"][0]["evidence_id"]
    for _ in range(50):
        assert reviewer.get(f"/console/evidence/{item}/content").status_code == 200
    return {"case_id": case_id, "item": item}


Page = tuple[str, str, Callable[[random.Random], str]]


def pages(kit: Kit, live: dict[str, str]) -> list[Page]:
    """(name, user, url maker): each page as the role that uses it."""
    types = [v.value for v in ViolationType]
    stages = [s.value for s in Stage]
    deep = ""
    for _ in range(20):  # the cursor of the 21st page of the unfiltered list
        deep = search_cases(kit.deps.index, CaseQuery(cursor=deep)).next_cursor or ""
    return [
        ("baseline: stylesheet (static file)", "officer1", lambda r: "/console/static/console.css"),
        ("sign-in page", "officer1", lambda r: "/console/login"),
        ("review queue (30 flags)", "reviewer1", lambda r: "/console/review"),
        ("case list, newest", "officer1", lambda r: "/console/cases"),
        (
            "case list, stage + type",
            "officer1",
            lambda r: f"/console/cases?stage={r.choice(stages)}&violation_type={r.choice(types)}",
        ),
        (
            "case list, id text",
            "officer1",
            lambda r: f"/console/cases?text={r.randrange(10_000):04d}",
        ),
        ("case list, page 21", "officer1", lambda r: f"/console/cases?cursor={deep}"),
        ("case page (timeline, items)", "officer1", lambda r: f"/console/cases/{live['case_id']}"),
        (
            "evidence view (access record)",
            "reviewer1",
            lambda r: f"/console/evidence/{live['item']}/content",
        ),
        (
            "audit trail + flags (50 records)",
            "auditor1",
            lambda r: f"/console/audit?by=evidence&target_id={live['item']}",
        ),
        ("overview (counts, map, stage ages)", "auditor1", lambda r: "/console/overview"),
    ]


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def measure(
    clients: dict[str, TestClient], plan: list[Page], rounds: int, requests: int
) -> list[tuple[str, float, float, float]]:
    """(page, p50, p99, median of the rounds' p99) in seconds; pages interleaved per round so
    a noisy minute hits all of them alike."""
    rnd = random.Random(11)  # noqa: S311 - synthetic queries
    samples: dict[str, list[float]] = {name: [] for name, _, _ in plan}
    round_p99: dict[str, list[float]] = {name: [] for name, _, _ in plan}
    for _, user, url in plan:  # warm-up: templates compiled, caches filled
        for _ in range(3):
            clients[user].get(url(rnd))
    for _ in range(rounds):
        for name, user, url in plan:
            times = []
            for _ in range(requests):
                target = url(rnd)
                t = time.perf_counter()
                resp = clients[user].get(target)
                times.append(time.perf_counter() - t)
                if resp.status_code != 200:
                    raise SystemExit(f"{name}: {target} answered {resp.status_code}")
            samples[name] += times
            round_p99[name].append(_pct(times, 0.99))
    return [
        (name, _pct(samples[name], 0.5), _pct(samples[name], 0.99), statistics.median(p99s))
        for name, p99s in round_p99.items()
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=30)
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores; {args.rounds} rounds of {args.requests} per page")
    with tempfile.TemporaryDirectory(prefix="evnet-bench-console-") as tmp:
        kit = build(Path(tmp))
        seconds = load_index(kit, args.items, args.cases)
        print(f"index: {args.items:,} items and {args.cases:,} cases loaded in {seconds:.0f} s")
        live = live_data(kit)
        clients = {u: sign_in(kit, u)[0] for u in ("officer1", "reviewer1", "auditor1")}
        overview = clients["auditor1"].get("/console/overview").text
        total = re.search(r"(\d+) 证据条数", overview)
        print(f"overview counts {total.group(1) if total else '?'} items (sanity check)")
        results = measure(clients, pages(kit, live), args.rounds, args.requests)
    base = results[0][2]
    work = f"{args.cases:,} cases, {args.items:,} items"
    print(
        f"\n| page ({work}) | p50 ms | p99 ms | median of rounds' p99 ms | p99 / baseline |"
        "\n|---|---|---|---|---|"
    )
    for name, p50, p99, med in results:
        print(f"| {name} | {p50 * 1000:.1f} | {p99 * 1000:.1f} | {med * 1000:.1f} | "
              f"{p99 / base:.1f} |")  # fmt: skip
    worst = max(results[1:], key=lambda r: r[2])
    verdict = "met" if worst[2] * 1000 < TARGET_MS else "NOT met"
    print(f"\nslowest p99: {worst[0]} {worst[2] * 1000:.0f} ms (target < 300 ms: {verdict})")
    for name, _, p99, _ in results[1:]:
        record("console", f"p99: {name}", p99 * 1000, "ms", baseline=base * 1000,
               baseline_name="static stylesheet (p99)", better="lower",
               target="< 300 ms", work=work)  # fmt: skip


if __name__ == "__main__":
    main()
