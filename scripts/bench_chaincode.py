#!/usr/bin/env python3
"""Benchmark: the evidence chaincode, per transaction type and under load.

Part 1 (always): execution time of each transaction type through the chaincode runtime
(stream handler, contract, stub) against the in-process harness peer, median of --reps;
baseline measured in the same run: ``Ping``, the smallest transaction. Also the number of
state calls each type makes: on a real peer each is a round trip over the chaincode
stream, so it predicts the cost there.

Part 2 (--network): a fresh local consortium; ``RegisterEvidence`` at 100 in flight
(tx/s, p50/p99 commit latency), against ``Put`` of a 64-byte value at 100 in flight on
the same network in the same run; --rounds rounds, medians.

Reproduce:
  .venv/bin/python scripts/bench_chaincode.py
  EVNET_FABRIC_BIN=/path/to/fabric/bin .venv/bin/python scripts/bench_chaincode.py --network
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import datetime as dt
import hashlib
import json
import os
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

# scripts/ is on sys.path when a benchmark is run as a file.
from benchreport import record
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from chaincode.contracts import default_contracts
from chaincode.runtime import Registry
from chaincode.runtime.harness import Harness, TxResult
from node.cli.network import network_from
from node.consortium.clients import department_contract
from node.consortium.identities import issue_user
from node.crypto.pki import create_ca, issue
from node.fabric import Contract, Identity
from node.ledger.bootstrap import bootstrap, load_schedule
from node.settings import PROJECT_ROOT, Settings
from schemas.glossary import Role

URBAN, POLICE, MARKET = "UrbanManagementMSP", "PublicSecurityMSP", "MarketSupervisionMSP"
NOW = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)
SCHEDULE = PROJECT_ROOT / "network-config" / "penalty-schedule.yaml"


def _sha(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def evidence(evidence_id: str, owner: str = URBAN, case_id: str | None = None) -> str:
    return json.dumps(
        {
            "evidence_id": evidence_id,
            "plaintext_hash": _sha(f"p{evidence_id}"),
            "ciphertext_hash": _sha(f"c{evidence_id}"),
            "size": 183204,
            "media_type": "image/jpeg",
            "captured_at": "2026-01-05T08:30:00Z",
            "device_id": "edge-07",
            "camera_id": "cam-12",
            "violation_type": "road_occupation",
            "owner_org": owner,
            "locator": "blob:" + _sha(f"c{evidence_id}"),
            "claims_hash": _sha(f"claims{evidence_id}"),
            "case_id": case_id,
        }
    )


def _creators() -> dict[tuple[str, str], bytes]:
    out = {}
    for msp in (URBAN, POLICE, MARKET):
        domain = msp.removesuffix("MSP").lower() + ".evnet"
        ca = create_ca(f"ca.{domain}", domain, NOW)
        for role in ("officer", "reviewer", "device", "partner", "auditor", "admin"):
            user = issue(
                ca,
                f"{role}-1",
                domain,
                NOW,
                organizational_unit="client",
                attributes={"role": role},
            )
            out[(msp, role)] = Identity(msp, user.cert_pem).serialize()
    return out


async def _in_process(reps: int) -> list[tuple[str, float, int]]:
    who = _creators()
    key = X25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    org_key = json.dumps({"public_key": base64.b64encode(key).decode()})
    schedule = load_schedule(SCHEDULE).model_dump_json()
    expires = (NOW + dt.timedelta(days=365)).isoformat()
    rows: list[tuple[str, float, int]] = []
    async with Harness(Registry(default_contracts()), start=NOW) as h:
        for msp in (URBAN, POLICE, MARKET):
            await h.submit(who[(msp, "admin")], "PublishOrgKey", org_key)
        await h.submit(who[(URBAN, "admin")], "SetPenaltySchedule", schedule)
        counter = iter(range(10**9))

        def fresh() -> str:
            return str(next(counter))

        async def case_at(stage_steps: int) -> str:
            """A filed case (with one item) moved ``stage_steps`` steps along."""
            n = fresh()
            await h.submit(who[(URBAN, "device")], "RegisterEvidence", evidence(f"E{n}"))
            await h.submit(
                who[(URBAN, "officer")],
                "FileCase",
                json.dumps(
                    {
                        "case_id": f"C{n}",
                        "violation_type": "road_occupation",
                        "subject_key": hashlib.sha256(n.encode()).hexdigest(),
                        "subject_kind": "person",
                        "source": "camera",
                        "evidence_ids": [f"E{n}"],
                    }
                ),
            )
            steps = [
                ("officer", "preliminary_check", {}),
                ("officer", "filing_approval", {"document_hash": _sha("f")}),
            ]
            for role, stage, details in steps[:stage_steps]:
                await h.submit(
                    who[(URBAN, role)],
                    "ChangeStage",
                    json.dumps({"case_id": f"C{n}", "to_stage": stage, "details": details}),
                )
            return n

        async def grant_for(n: str) -> None:
            await h.submit(
                who[(URBAN, "officer")],
                "GrantAccess",
                json.dumps(
                    {
                        "target": "evidence",
                        "target_id": f"E{n}",
                        "grantee_org": POLICE,
                        "purpose": "joint_enforcement",
                        "expires_at": expires,
                    }
                ),
            )

        async def proposed(n: str) -> None:
            await h.submit(
                who[(URBAN, "officer")],
                "ProposeTransfer",
                json.dumps({"case_id": f"C{n}", "to_org": MARKET, "reason": "competence"}),
            )

        # (name, set-up returning context, the measured call)
        Setup = Callable[[], Awaitable[str]]
        Call = Callable[[str], Awaitable[TxResult]]
        cases: list[tuple[str, Setup, Call]] = [
            (
                "Ping (baseline)",
                fresh_async(fresh),
                lambda n: h.submit(who[(URBAN, "officer")], "Ping"),
            ),
            (
                "RegisterEvidence",
                fresh_async(fresh),
                lambda n: h.submit(who[(URBAN, "device")], "RegisterEvidence", evidence(f"R{n}")),
            ),
            (
                "RegisterEvidence into a case",
                lambda: case_at(0),
                lambda n: h.submit(
                    who[(URBAN, "device")], "RegisterEvidence", evidence(f"R{n}", case_id=f"C{n}")
                ),
            ),
            (
                "FileCase with one item",
                lambda: case_at(0),
                lambda n: h.submit(
                    who[(URBAN, "officer")],
                    "FileCase",
                    json.dumps(
                        {
                            "case_id": f"F{n}",
                            "violation_type": "road_occupation",
                            "subject_key": "a" * 64,
                            "subject_kind": "person",
                            "source": "camera",
                            "evidence_ids": [f"E{n}"],
                        }
                    ),
                ),
            ),
            (
                "ChangeStage (approval)",
                lambda: case_at(2),
                lambda n: h.submit(
                    who[(URBAN, "reviewer")],
                    "ChangeStage",
                    json.dumps(
                        {
                            "case_id": f"C{n}",
                            "to_stage": "investigation",
                            "details": {"document_hash": _sha("a")},
                        }
                    ),
                ),
            ),
            ("GrantAccess", lambda: case_at(0), lambda n: grant_case(h, who, n, expires)),
            (
                "RequestAccess (granted)",
                lambda: with_grant(case_at, grant_for),
                lambda n: h.submit(
                    who[(POLICE, "partner")],
                    "RequestAccess",
                    json.dumps(
                        {
                            "target": "evidence",
                            "target_id": f"E{n}",
                            "purpose": "joint_enforcement",
                            "kind": "view",
                        }
                    ),
                ),
            ),
            (
                "RequestAccess (denied)",
                lambda: case_at(0),
                lambda n: h.submit(
                    who[(POLICE, "partner")],
                    "RequestAccess",
                    json.dumps(
                        {
                            "target": "evidence",
                            "target_id": f"E{n}",
                            "purpose": "joint_enforcement",
                            "kind": "view",
                        }
                    ),
                ),
            ),
            (
                "ProposeTransfer",
                lambda: case_at(0),
                lambda n: h.submit(
                    who[(URBAN, "officer")],
                    "ProposeTransfer",
                    json.dumps({"case_id": f"C{n}", "to_org": MARKET, "reason": "competence"}),
                ),
            ),
            (
                "AnswerTransfer (accept)",
                lambda: with_grant(case_at, proposed),
                lambda n: h.submit(
                    who[(MARKET, "officer")],
                    "AnswerTransfer",
                    json.dumps({"case_id": f"C{n}", "accept": True}),
                ),
            ),
            (
                "AccessTrail page of 50 (query)",
                lambda: case_at(0),
                lambda n: h.evaluate(
                    who[(URBAN, "auditor")],
                    "AccessTrail",
                    json.dumps({"by": "time", "page_size": 50}),
                ),
            ),
        ]
        for name, setup, call in cases:
            times, calls = [], 0
            for _ in range(reps):
                n = await setup()
                t = time.perf_counter()
                result = await call(n)
                times.append(time.perf_counter() - t)
                if not result.ok:
                    raise SystemExit(f"{name} failed: {result.status} {result.message}")
                calls = result.state_calls
            rows.append((name, statistics.median(times), calls))
    return rows


def fresh_async(fresh: Callable[[], str]) -> Callable[[], Awaitable[str]]:
    async def setup() -> str:
        return fresh()

    return setup


async def with_grant(
    case_at: Callable[[int], Awaitable[str]], then: Callable[[str], Awaitable[None]]
) -> str:
    n = await case_at(0)
    await then(n)
    return n


async def grant_case(
    h: Harness, who: dict[tuple[str, str], bytes], n: str, expires: str
) -> TxResult:
    return await h.submit(
        who[(URBAN, "officer")],
        "GrantAccess",
        json.dumps(
            {
                "target": "case",
                "target_id": f"C{n}",
                "grantee_org": POLICE,
                "purpose": "joint_enforcement",
                "expires_at": expires,
            }
        ),
    )


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _load(
    run: Callable[[int], Awaitable[Any]], total: int, in_flight: int
) -> tuple[float, list[float]]:
    sem = asyncio.Semaphore(in_flight)
    latencies: list[float] = []

    async def one(i: int) -> None:
        async with sem:
            t = time.perf_counter()
            await run(i)
            latencies.append(time.perf_counter() - t)

    start = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(total)))
    return total / (time.perf_counter() - start), latencies


async def _network_round(
    device: Contract, admin: Contract, tag: str, total: int
) -> tuple[float, float, float, float]:
    reg_tps, lat = await _load(
        lambda i: device.submit("RegisterEvidence", evidence(f"B{tag}-{i}")), total, 100
    )
    put_tps, _ = await _load(lambda i: admin.submit("Put", f"b{tag}-{i}", "x" * 64), total, 100)
    return reg_tps, _pct(lat, 0.5), _pct(lat, 0.99), put_tps


def _network(rounds: int, total: int) -> list[tuple[float, float, float, float]]:
    base = Settings.from_environment()
    with tempfile.TemporaryDirectory(prefix="evnet-bench-cc-") as tmp:
        net = network_from(replace(base, state_dir=Path(tmp)), verbose=False)
        net.up()
        try:
            layout = net.layout
            urban = layout.consortium.departments[0]
            issue_user(
                layout.state_dir,
                layout.consortium,
                urban.name,
                Role.DEVICE,
                "device1",
                dt.datetime.now(dt.UTC),
            )

            async def run() -> list[tuple[float, float, float, float]]:
                keys = {
                    d.name: X25519PrivateKey.generate()
                    .public_key()
                    .public_bytes(Encoding.Raw, PublicFormat.Raw)
                    for d in layout.consortium.departments
                }
                await bootstrap(layout, keys, load_schedule(SCHEDULE))
                device = department_contract(layout, urban, user="device1")
                admin = department_contract(layout, urban)
                await _network_round(device, admin, "warm", 50)
                return [await _network_round(device, admin, str(r), total) for r in range(rounds)]

            return asyncio.run(run())
        finally:
            net.down()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=200, help="runs per transaction type")
    parser.add_argument("--network", action="store_true", help="also measure on a real network")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tx", type=int, default=500, help="transactions per network round")
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores; medians\n")
    rows = asyncio.run(_in_process(args.reps))
    baseline = rows[0][1]
    print(
        f"In-process execution ({args.reps} runs each): chaincode runtime + contract, harness peer"
    )
    print("\n| transaction | median µs | state calls | ratio to Ping |\n|---|---|---|---|")
    for name, median, calls in rows:
        print(f"| {name} | {median * 1e6:.0f} | {calls} | {median / baseline:.1f} |")
        record("chaincode", f"in-process {name}", median * 1e6, "µs", baseline=baseline * 1e6,
               baseline_name="Ping", better="lower", work=f"{args.reps} runs")  # fmt: skip
    if args.network:
        results = _network(args.rounds, args.tx)
        reg, p50, p99, put = (statistics.median(r[i] for r in results) for i in range(4))
        print(f"\nReal network, 100 in flight, {args.tx} tx per round, {args.rounds} rounds")
        print("\n| figure | value |\n|---|---|")
        print(f"| RegisterEvidence tx/s | {reg:.1f} |")
        print(f"| RegisterEvidence p50 / p99 ms | {p50 * 1000:.0f} / {p99 * 1000:.0f} |")
        print(f"| Put tx/s (baseline, same network) | {put:.1f} |")
        print(f"| ratio | {reg / put:.2f} |")
        record("chaincode", "RegisterEvidence at 100 in flight", reg, "tx/s", baseline=put,
               baseline_name="Put on the same network (tx/s)", work=f"{args.tx} tx")  # fmt: skip
        record("chaincode", "RegisterEvidence p99 at 100 in flight", p99 * 1000, "ms",
               better="lower", work=f"{args.tx} tx")  # fmt: skip


if __name__ == "__main__":
    main()
