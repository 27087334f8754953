"""``evnet network up|down|status|logs``."""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

from node.consortium import load_consortium
from node.consortium.launch import Layout
from node.consortium.network import Network
from node.consortium.toolchain import Toolchain
from node.settings import PROJECT_ROOT, Settings


def add_parser(sub: Any) -> None:
    parser = sub.add_parser("network", help="run the local consortium")
    verbs = parser.add_subparsers(dest="verb", required=True)
    up = verbs.add_parser("up", help="start (or resume) the network; no-op if running")
    up.add_argument("--org", help="start only this org's processes (multi-host)")
    up.set_defaults(handler=_up)
    down = verbs.add_parser("down", help="stop the processes this state directory started")
    down.add_argument("--org", help="stop only this org's processes")
    down.add_argument("--purge", action="store_true", help="also delete all network state")
    down.set_defaults(handler=_down)
    status = verbs.add_parser("status", help="list processes with pid, ports and health")
    status.set_defaults(handler=_status)
    logs = verbs.add_parser("logs", help="print the tail of each process log")
    logs.add_argument("name", nargs="?", help="one process (e.g. orderer1, peer0.UrbanManagement)")
    logs.add_argument("-n", type=int, default=20, help="lines per log")
    logs.set_defaults(handler=_logs)


def network_from(settings: Settings, *, verbose: bool = True) -> Network:
    layout = Layout(
        consortium=load_consortium(settings.consortium_file),
        state_dir=settings.state_dir,
        toolchain=Toolchain(settings.fabric_bin),
        fabric_config_dir=settings.fabric_config_dir,
        builder_dir=PROJECT_ROOT / "network-config" / "builders" / "ccaas",
        base_env={k: os.environ[k] for k in ("PATH", "HOME", "LANG") if k in os.environ},
    )
    started = time.monotonic()

    def progress(msg: str) -> None:
        if verbose:
            print(f"[{time.monotonic() - started:5.1f}s] {msg}", flush=True)

    return Network(layout, progress)


def _up(args: argparse.Namespace, settings: Settings) -> int:
    started = time.monotonic()
    network_from(settings).up(args.org)
    print(f"network up ({time.monotonic() - started:.1f} s); state in {settings.state_dir}")
    return 0


def _down(args: argparse.Namespace, settings: Settings) -> int:
    stopped = network_from(settings).down(args.org, purge=args.purge)
    print(f"stopped {len(stopped)} process(es)" + (", state purged" if args.purge else ""))
    return 0


def _status(args: argparse.Namespace, settings: Settings) -> int:
    rows = network_from(settings, verbose=False).status()
    print(f"{'process':28} {'pid':>8}  {'health':8} ports")
    for row in rows:
        health = {None: "-", True: "ok", False: "FAILING"}[row.healthy]
        pid = str(row.pid) if row.pid else "stopped"
        ports = " ".join(f"{k}={v}" for k, v in row.ports.items())
        print(f"{row.name:28} {pid:>8}  {health:8} {ports}")
    return 0 if all(r.pid for r in rows) else 3


def _logs(args: argparse.Namespace, settings: Settings) -> int:
    log_dir = settings.state_dir / "logs"
    files = sorted(log_dir.glob("*.log")) if log_dir.exists() else []
    if args.name:
        files = [f for f in files if f.stem == args.name]
    for path in files:
        print(f"==> {path} <==")
        print("\n".join(path.read_text(errors="replace").splitlines()[-args.n :]))
    return 0
