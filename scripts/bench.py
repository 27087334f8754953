#!/usr/bin/env python3
"""The system benchmark: run every component benchmark and write one report.

Each component benchmark (scripts/bench_*.py) prints its own table and records its headline
figures through scripts/benchreport.py, each with the baseline it measured in the same run.
This script runs them one after another as subprocesses (so one's memory and threads never
disturb the next), collects the figures, and writes ``<out>.md`` and ``<out>.json`` with the
machine they ran on, every figure, its baseline, the ratio, the target, and how each cost
grows from 1x to 10x work.

Benchmarks that need a real network run when the Fabric toolchain is available
(``EVNET_FABRIC_BIN`` or ``evnet toolchain path``); otherwise the report names them as not
run, and the script exits non-zero.

Reproduce (the figures in docs/bench-report.md):
  EVNET_FABRIC_BIN=/path/to/fabric/bin .venv/bin/python scripts/bench.py
  .venv/bin/python scripts/bench.py --quick --out /tmp/bench-quick   # a smoke run, ~10 min
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ROOT / "scripts"


@dataclass(frozen=True)
class Bench:
    """One run of one component benchmark; ``scale`` groups 1x and 10x runs of one cost."""

    name: str
    script: str
    full: tuple[str, ...]
    quick: tuple[str, ...]
    network: bool = False
    scale: str = ""


BENCHES: tuple[Bench, ...] = (
    Bench("sealing", "bench_sealing.py", ("--mb", "256", "--runs", "5"), ("--mb", "32")),
    Bench(
        "ingest",
        "bench_ingest.py",
        ("--mb", "256", "--runs", "5"),
        ("--mb", "32", "--runs", "3"),
    ),
    Bench(
        "ingest-ledger-1x",
        "bench_ingest.py",
        ("--network-only", "--items", "20"),
        ("--network-only", "--items", "10"),
        network=True,
        scale="ingest with the ledger",
    ),
    Bench(
        "ingest-ledger-10x",
        "bench_ingest.py",
        ("--network-only", "--items", "200"),
        ("--network-only", "--items", "100"),
        network=True,
        scale="ingest with the ledger",
    ),
    Bench(
        "search-1x",
        "bench_index.py",
        ("--rows", "100000"),
        ("--rows", "10000", "--queries", "50"),
        scale="search",
    ),
    Bench(
        "search-10x",
        "bench_index.py",
        ("--rows", "1000000"),
        ("--rows", "100000", "--queries", "50"),
        scale="search",
    ),
    Bench(
        "console-1x",
        "bench_console.py",
        ("--cases", "1000", "--items", "10000"),
        ("--cases", "100", "--items", "1000", "--rounds", "1", "--requests", "10"),
        scale="console",
    ),
    Bench(
        "console-10x",
        "bench_console.py",
        ("--cases", "10000", "--items", "100000"),
        ("--cases", "1000", "--items", "10000", "--rounds", "1", "--requests", "10"),
        scale="console",
    ),
    Bench("chaincode", "bench_chaincode.py", ("--reps", "200"), ("--reps", "30")),
    Bench(
        "disclosure",
        "bench_disclosure.py",
        ("--decisions", "20000", "--runs", "7"),
        ("--decisions", "2000", "--runs", "3"),
    ),
    Bench(
        "ledger",
        "bench_network.py",
        ("--runs", "3", "--tx", "200"),
        ("--runs", "1", "--tx", "50"),
        network=True,
    ),
    Bench(
        "clients",
        "bench_clients.py",
        ("--tx", "500", "--rounds", "2", "--port-shift", "5500"),
        ("--tx", "100", "--rounds", "1", "--seq-tx", "5", "--port-shift", "5500"),
        network=True,
    ),
    Bench(
        "detectors",
        "bench_detectors.py",
        ("--frames", "398", "--runs", "3"),
        ("--frames", "40", "--runs", "1", "--events", "20"),
    ),
    Bench(
        "package-1x",
        "bench_package.py",
        ("--items", "20", "--mb", "100", "--port-shift", "5700"),
        ("--items", "5", "--mb", "20", "--runs", "1", "--port-shift", "5700"),
        network=True,
        scale="package",
    ),
    Bench(
        "package-10x",
        "bench_package.py",
        ("--items", "200", "--mb", "1000", "--port-shift", "5700"),
        ("--items", "50", "--mb", "200", "--runs", "1", "--port-shift", "5700"),
        network=True,
        scale="package",
    ),
)


def machine() -> dict[str, Any]:
    """The facts a reader needs to compare this report with another machine's."""
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = 0.0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_gib = int(line.split()[1]) / (1 << 20)
    except OSError:
        pass
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "commit": commit + ("+changes" if dirty else ""),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(mem_gib, 1),
        "python": platform.python_version(),
        "system": f"{platform.system()} {platform.release()}",
    }


def fabric_available() -> bool:
    if os.environ.get("EVNET_FABRIC_BIN"):
        return True
    evnet = ROOT / ".venv" / "bin" / "evnet"
    probe = subprocess.run([str(evnet), "toolchain", "path"], capture_output=True, check=False)
    return probe.returncode == 0


def run_one(bench: Bench, quick: bool, logs: Path) -> dict[str, Any]:
    """Run ``bench``; return its outcome and the figures it recorded."""
    args = bench.quick if quick else bench.full
    with tempfile.NamedTemporaryFile(prefix=f"bench-{bench.name}-", suffix=".jsonl") as sink:
        env = {**os.environ, "EVNET_BENCH_JSON": sink.name, "PYTHONPATH": str(ROOT)}
        log = logs / f"{bench.name}.log"
        command = [sys.executable, str(SCRIPTS / bench.script), *args]
        print(f"[bench] {bench.name}: {' '.join(command[1:])}  (log {log})", flush=True)
        start = time.monotonic()
        with log.open("w") as out:
            code = subprocess.run(
                command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, check=False
            ).returncode
        seconds = time.monotonic() - start
        lines = Path(sink.name).read_text().splitlines()
    figures = [json.loads(line) for line in lines if line.strip()]
    status = "ok" if code == 0 else f"failed (exit {code})"
    print(f"[bench] {bench.name}: {status}, {len(figures)} figures, {seconds:.0f} s", flush=True)
    return {
        "bench": bench.name,
        "command": ".venv/bin/python scripts/" + " ".join([bench.script, *args]),
        "status": status,
        "seconds": round(seconds, 1),
        "scale": bench.scale,
        "figures": figures,
        "log": str(log),
    }


def _fmt(value: float | None) -> str:
    if value is None:
        return ""
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def scaling(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """For each scaled cost, each figure at 1x and 10x work and their ratio."""
    rows: list[dict[str, Any]] = []
    groups: dict[str, list[dict[str, Any]]] = {}
    for run in runs:
        if run["scale"] and run["status"] == "ok":
            groups.setdefault(run["scale"], []).append(run)
    for scale, members in groups.items():
        if len(members) != 2:
            continue
        small, large = members
        by_figure = {f["figure"]: f for f in large["figures"]}
        for fig in small["figures"]:
            other = by_figure.get(fig["figure"])
            if other is None or not fig["value"] or other["work"] == fig["work"]:
                continue
            rows.append(
                {
                    "cost": scale,
                    "figure": fig["figure"],
                    "unit": fig["unit"],
                    "work_1x": fig["work"],
                    "value_1x": fig["value"],
                    "work_10x": other["work"],
                    "value_10x": other["value"],
                    "growth": other["value"] / fig["value"],
                }
            )
    return rows


def render(report: dict[str, Any]) -> str:
    m = report["machine"]
    out = [
        "# System benchmark report",
        "",
        f"Written by `{report['command']}` on {m['date']} at commit {m['commit']}.",
        "",
        f"Machine: {m['cpu'] or 'unknown CPU'}, {m['cores']} cores, {m['memory_gib']} GiB, "
        f"Python {m['python']}, {m['system']}. Profile: {report['profile']}."
        + (
            " Runs kept from earlier reports ran on the machines the Runs table names."
            if len({r.get("cpu") for r in report["runs"]}) > 1
            else ""
        ),
        "",
        "Every figure comes with a baseline measured in the same run on the same machine; "
        "the ratio (value / baseline) is the number to compare across machines. Lower is "
        "better for times, latencies and memory; higher for rates.",
        "",
        "## Figures",
        "",
        "| component | figure | value | unit | baseline | baseline value | ratio | target | work |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for run in report["runs"]:
        for f in run["figures"]:
            ratio = f"{f['ratio']:.3g}" if f["ratio"] is not None else ""
            out.append(
                f"| {f['component']} | {f['figure']} | {_fmt(f['value'])} | {f['unit']} | "
                f"{f['baseline_name']} | {_fmt(f['baseline'])} | {ratio} | {f['target']} | "
                f"{f['work']} |"
            )
    out += ["", "## Growth from 1x to 10x work", ""]
    if report["scaling"]:
        out += [
            "| cost | figure | 1x work | 1x | 10x work | 10x | growth |",
            "|---|---|---|---|---|---|---|",
        ]
        for s in report["scaling"]:
            out.append(
                f"| {s['cost']} | {s['figure']} ({s['unit']}) | {s['work_1x']} | "
                f"{_fmt(s['value_1x'])} | {s['work_10x']} | {_fmt(s['value_10x'])} | "
                f"{s['growth']:.2f}x |"
            )
    else:
        out.append("No scaled pair completed in this run.")
    out += [
        "",
        "## Runs",
        "",
        "| benchmark | status | seconds | date | machine | command |",
        "|---|---|---|---|---|---|",
    ]
    for run in report["runs"]:
        out.append(
            f"| {run['bench']} | {run['status']} | {run['seconds']} | {run.get('date', '')} | "
            f"{run.get('cpu', '')} | `{run['command']}` |"
        )
    for name in report["not_run"]:
        out.append(f"| {name} | not run: needs the Fabric toolchain | | | | |")
    return "\n".join(out) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="small work sizes, one run each")
    parser.add_argument(
        "--out", type=Path, default=ROOT / "docs" / "bench-report", help="report path stem"
    )
    parser.add_argument("--only", help="comma-separated benchmark names (default: all)")
    parser.add_argument(
        "--update",
        action="store_true",
        help="replace only the benchmarks run now in the existing report at --out",
    )
    args = parser.parse_args()
    chosen = list(BENCHES)
    if args.only:
        names = set(args.only.split(","))
        unknown = names - {b.name for b in BENCHES}
        if unknown:
            parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}; "
                         f"known: {', '.join(b.name for b in BENCHES)}")  # fmt: skip
        chosen = [b for b in BENCHES if b.name in names]
    with_fabric = fabric_available()
    logs = Path(tempfile.mkdtemp(prefix="evnet-bench-logs-"))
    runs, not_run = [], []
    for bench in chosen:
        if bench.network and not with_fabric:
            print(f"[bench] {bench.name}: not run, needs the Fabric toolchain", flush=True)
            not_run.append(bench.name)
            continue
        runs.append(run_one(bench, args.quick, logs))
    command = "scripts/bench.py" + (" --quick" if args.quick else "")
    if args.only:
        command += f" --only {args.only}"
    here = machine()
    for run in runs:
        run["date"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        run["cpu"] = here["cpu"]
    report = {
        "command": command,
        "profile": "quick" if args.quick else "full",
        "machine": here,
        "runs": runs,
        "not_run": not_run,
        "scaling": scaling(runs),
    }
    previous = args.out.with_suffix(".json")
    if args.update and previous.exists():
        # Keep the other benchmarks' runs (in their order), replacing the ones re-run now;
        # each run keeps its own date, and the report says it was updated.
        old = json.loads(previous.read_text())
        fresh = {r["bench"]: r for r in runs}
        order = [b.name for b in BENCHES]
        # A kept run ran on the machine of the report it came from.
        kept = [{"cpu": old["machine"]["cpu"], **r} for r in old["runs"] if r["bench"] not in fresh]
        merged = sorted([*kept, *runs], key=lambda r: order.index(r["bench"]))
        report["runs"] = merged
        report["command"] = f"{old['command']}, then {command} --update"
        report["not_run"] = [n for n in old["not_run"] if n not in fresh] + not_run
        report["scaling"] = scaling(merged)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(report, indent=2, ensure_ascii=False))
    args.out.with_suffix(".md").write_text(render(report))
    print(f"[bench] report: {args.out.with_suffix('.md')} and .json; logs in {logs}")
    failed = [r["bench"] for r in runs if r["status"] != "ok"]
    if failed or not_run:
        print(f"[bench] failed: {failed or 'none'}; not run: {not_run or 'none'}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
