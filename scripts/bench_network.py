#!/usr/bin/env python3
"""Benchmark: consortium start-up and the ledger path through our client and runtime.

Prints, as medians over --runs fresh networks:
  * `network up` time from built binaries (nothing to a committed check transaction),
  * each process's peak RSS (VmHWM) after a load phase,
  * transactions/s and p50/p99 commit latency at 1, 10 and 100 in flight through our
    Gateway client and chaincode runtime, with a baseline measured in the same run: the
    time for the same number of evaluate (query) calls, which exercise the same client,
    peer and chaincode without ordering and commit.

Reproduce:  EVNET_FABRIC_BIN=/path/to/fabric/bin .venv/bin/python scripts/bench_network.py
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

# scripts/ is on sys.path when a benchmark is run as a file.
from benchreport import record

from node.cli.network import network_from
from node.consortium.clients import department_contract
from node.consortium.network import Network
from node.fabric import Contract, EndorseError
from node.settings import Settings

PROJECT = Path(__file__).resolve().parents[1]


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def _load(
    contract: Contract, in_flight: int, total: int, submit: bool
) -> tuple[float, list[float]]:
    latencies: list[float] = []
    sem = asyncio.Semaphore(in_flight)

    async def one(i: int) -> None:
        async with sem:
            t = time.perf_counter()
            if submit:
                await contract.submit("Put", f"bench-{in_flight}-{i}", "x" * 64)
            else:
                await contract.evaluate("Ping")
            latencies.append(time.perf_counter() - t)

    start = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(total)))
    return time.perf_counter() - start, latencies


async def _measure(net: Network, tx: int) -> dict[int, tuple[float, float, float, float]]:
    # The gRPC channel belongs to the event loop it was made in: make it here.
    contract = department_contract(net.layout, net.layout.consortium.departments[0])
    # A fresh network's gateway learns the other departments' peers through gossip a few
    # seconds after start; until then it cannot satisfy the endorsement policy.
    for _ in range(120):
        try:
            await contract.submit("Put", "bench-warmup", "x")
            break
        except EndorseError:
            await asyncio.sleep(0.5)
    out: dict[int, tuple[float, float, float, float]] = {}
    for level in (1, 10, 100):
        total = min(tx, 20) if level == 1 else tx
        elapsed, lat = await _load(contract, level, total, submit=True)
        q_elapsed, _ = await _load(contract, level, total, submit=False)
        out[level] = (total / elapsed, _pct(lat, 0.5), _pct(lat, 0.99), total / q_elapsed)
    return out


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--tx", type=int, default=200, help="transactions per in-flight level")
    args = parser.parse_args()
    base = Settings.from_environment()
    up_times: list[float] = []
    rss: dict[str, list[float]] = {}
    rows: dict[int, list[tuple[float, float, float, float]]] = {1: [], 10: [], 100: []}
    for run in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="evnet-bench-") as tmp:
            net = network_from(replace(base, state_dir=Path(tmp)), verbose=False)
            t = time.perf_counter()
            net.up()
            up_times.append(time.perf_counter() - t)
            try:
                for level, row in asyncio.run(_measure(net, args.tx)).items():
                    rows[level].append(row)
                for status in net.status():
                    if status.pid:
                        rss.setdefault(status.name, []).append(_peak_rss_mb(status.pid))
            finally:
                net.down()
        print(f"run {run + 1}/{args.runs} done", flush=True)
    print(f"\nmachine: {os.cpu_count()} cores; runs: {args.runs}; medians\n")
    print(f"network up (fresh state, built binaries): {statistics.median(up_times):.1f} s")
    print("\n| in flight | submit tx/s | p50 ms | p99 ms | evaluate/s (baseline) | ratio |")
    print("|---|---|---|---|---|---|")
    for level, vals in rows.items():
        tps, p50, p99, qps = (statistics.median(v[i] for v in vals) for i in range(4))
        print(f"| {level} | {tps:.1f} | {p50 * 1000:.0f} | {p99 * 1000:.0f} | {qps:.1f} | "
              f"{tps / qps:.3f} |")  # fmt: skip
        record("network", f"submit at {level} in flight", tps, "tx/s", baseline=qps,
               baseline_name="evaluate/s, same level", work=f"{args.tx} tx")  # fmt: skip
        record("network", f"commit p99 at {level} in flight", p99 * 1000, "ms",
               better="lower", work=f"{args.tx} tx")  # fmt: skip
    print("\n| process | peak RSS MB |\n|---|---|")
    for name, values in rss.items():
        print(f"| {name} | {statistics.median(values):.0f} |")


if __name__ == "__main__":
    main()
