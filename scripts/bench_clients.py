#!/usr/bin/env python3
"""Benchmark: our Python Gateway client against the official Node client, same network, same run.

On one fresh network (the default consortium with every port moved by --port-shift), the
same chaincode function (`Put` of a 64-byte value, a fresh key per transaction) through the
same gateway peer (the first department's, as its admin), at 1, 10 and 100 in flight:
transactions/s, p50/p99 commit latency (endorse to commit status) and client CPU per
transaction -- ours from time.process_time() over the load, the Node client's from
process.cpuUsage() (tests/interop/client.mjs bench). Which client goes first alternates
between levels and rounds, so neither always meets the fuller ledger; medians over --rounds.

Reproduce:
  scripts/install   # once: Python packages, Fabric toolchain, tests/interop npm packages
  EVNET_FABRIC_BIN=/path/to/fabric/bin .venv/bin/python scripts/bench_clients.py --tx 500
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

import yaml

# scripts/ is on sys.path when a benchmark is run as a file.
from benchreport import record

from node.cli.network import network_from
from node.consortium.clients import department_contract
from node.consortium.identities import ADMIN_USER, org_crypto
from node.consortium.network import Network
from node.fabric import Contract, EndorseError
from node.settings import PROJECT_ROOT, Settings

CLIENT_MJS = PROJECT_ROOT / "tests" / "interop" / "client.mjs"
LEVELS = (1, 10, 100)


@dataclass(frozen=True)
class Row:
    tps: float
    p50_ms: float
    p99_ms: float
    cpu_ms_per_tx: float


def _shifted_consortium(path: Path, shift: int) -> Path:
    doc = yaml.safe_load((PROJECT_ROOT / "network-config" / "consortium.yaml").read_text())

    def move(node: dict[str, object]) -> None:
        for key, value in node.items():
            if key.endswith("port") and isinstance(value, int):
                node[key] = value + shift

    for node in doc["orderers"]["nodes"]:
        move(node)
    for dep in doc["departments"]:
        move(dep["peer"])
        move(dep["chaincode_server"])
    path.write_text(yaml.safe_dump(doc))
    return path


def _pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile, as client.mjs computes it."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


async def _ours(contract: Contract, total: int, in_flight: int) -> Row:
    latencies: list[float] = []
    sem = asyncio.Semaphore(in_flight)

    async def one(i: int) -> None:
        async with sem:
            t = time.perf_counter()
            await contract.submit("Put", f"py-bench-{in_flight}-{i}", "x" * 64)
            latencies.append(time.perf_counter() - t)

    cpu, start = time.process_time(), time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(total)))
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    return Row(
        total / elapsed, _pct(latencies, 0.5) * 1e3, _pct(latencies, 0.99) * 1e3, cpu * 1e3 / total
    )


def _official(net: Network, total: int, in_flight: int) -> Row:
    layout = net.layout
    dep = layout.consortium.departments[0]
    crypto = org_crypto(layout.state_dir, layout.consortium, dep.name)
    env = {
        **os.environ,
        "EVNET_PEER_ENDPOINT": dep.peer.address,
        "EVNET_TLS_CA": str(crypto.tlsca_cert),
        "EVNET_SERVER_NAME": f"{dep.peer.name}.{crypto.domain}",
        "EVNET_MSP_ID": dep.msp_id,
        "EVNET_CERT": str(crypto.user(ADMIN_USER).cert),
        "EVNET_KEY": str(crypto.user(ADMIN_USER).key),
        "EVNET_CHANNEL": layout.consortium.channel,
        "EVNET_CHAINCODE": layout.consortium.chaincode.name,
    }
    node = shutil.which("node") or "node"
    done = subprocess.run(
        [node, str(CLIENT_MJS), "bench", str(total), str(in_flight)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=1800,
    )
    doc = json.loads(done.stdout)
    return Row(doc["tps"], doc["p50_ms"], doc["p99_ms"], doc["cpu_ms_per_tx"])


async def _warm_up(contract: Contract) -> None:
    # A fresh gateway learns the other departments' peers by gossip a few seconds after
    # start; until then it cannot satisfy the endorsement policy.
    for _ in range(240):
        try:
            await contract.submit("Put", "bench-warmup", "x")
            return
        except EndorseError:
            await asyncio.sleep(0.5)
    await contract.submit("Put", "bench-warmup", "x")


def _measure(net: Network, tx: int, seq_tx: int, rounds: int) -> dict[int, tuple[Row, Row]]:
    """Per level, the median row of each client over ``rounds``; which client goes first
    alternates between rounds and levels."""
    samples: dict[int, tuple[list[Row], list[Row]]] = {level: ([], []) for level in LEVELS}

    async def ours(total: int, level: int) -> Row:
        # The gRPC channel belongs to the event loop it was made in: make it here.
        contract = department_contract(net.layout, net.layout.consortium.departments[0])
        try:
            await _warm_up(contract)
            return await _ours(contract, total, level)
        finally:
            await contract.gateway.channel.close(None)

    for r in range(rounds):
        for i, level in enumerate(LEVELS):
            total = seq_tx if level == 1 else tx
            if (r + i) % 2 == 0:
                mine = asyncio.run(ours(total, level))
                theirs = _official(net, total, level)
            else:
                theirs = _official(net, total, level)
                mine = asyncio.run(ours(total, level))
            samples[level][0].append(mine)
            samples[level][1].append(theirs)
            print(f"round {r + 1}, {level} in flight: ours {mine}, official {theirs}", flush=True)
    return {level: (_median(m), _median(t)) for level, (m, t) in samples.items()}


def _median(rows: list[Row]) -> Row:
    return Row(*(statistics.median(getattr(r, f) for r in rows) for f in Row.__annotations__))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tx", type=int, default=500, help="transactions at 10 and 100")
    parser.add_argument("--seq-tx", type=int, default=20, help="transactions at 1 in flight")
    parser.add_argument("--rounds", type=int, default=2, help="repeats; medians are printed")
    parser.add_argument("--port-shift", type=int, default=7500)
    args = parser.parse_args()
    if not (CLIENT_MJS.parent / "node_modules").is_dir():
        raise SystemExit("tests/interop/node_modules is missing: run scripts/install")
    base = Settings.from_environment()
    with tempfile.TemporaryDirectory(prefix="evnet-bench-clients-") as tmp:
        consortium = _shifted_consortium(Path(tmp) / "consortium.yaml", args.port_shift)
        settings = replace(base, state_dir=Path(tmp) / "state", consortium_file=consortium)
        net = network_from(settings, verbose=False)
        net.up()
        try:
            rows = _measure(net, args.tx, args.seq_tx, args.rounds)
        finally:
            net.down()
    print(f"\nmachine: {os.cpu_count()} cores; --tx {args.tx}, --seq-tx {args.seq_tx}, "
          f"medians of {args.rounds} rounds\n")  # fmt: skip
    print("| in flight | client | tx/s | p50 ms | p99 ms | client CPU ms/tx |")
    print("|---|---|---|---|---|---|")
    for level, (mine, theirs) in rows.items():
        for name, r in (("ours (Python)", mine), ("official (Node)", theirs)):
            print(f"| {level} | {name} | {r.tps:.1f} | {r.p50_ms:.0f} | {r.p99_ms:.0f} | "
                  f"{r.cpu_ms_per_tx:.2f} |")  # fmt: skip
        print(f"| {level} | ratio ours/official | {mine.tps / theirs.tps:.2f} | "
              f"{mine.p50_ms / theirs.p50_ms:.2f} | {mine.p99_ms / theirs.p99_ms:.2f} | "
              f"{mine.cpu_ms_per_tx / theirs.cpu_ms_per_tx:.2f} |")  # fmt: skip
        record("client", f"our client at {level} in flight", mine.tps, "tx/s",
               baseline=theirs.tps, baseline_name="official Node client (tx/s)",
               target=">= 1.0 at 100" if level == 100 else "", work=f"{args.tx} tx")  # fmt: skip
        record("client", f"our client CPU per tx at {level} in flight", mine.cpu_ms_per_tx,
               "ms", baseline=theirs.cpu_ms_per_tx, baseline_name="official Node client",
               better="lower")  # fmt: skip


if __name__ == "__main__":
    main()
