"""``evnet up|down|status``: the whole local stack (network, chaincode, gateways, detectors)."""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

from node.cli.network import network_from
from node.ops.stack import Stack
from node.settings import Settings


def add_parser(sub: Any) -> None:
    up = sub.add_parser("up", help="start the network and every department's services")
    up.set_defaults(handler=_up)
    down = sub.add_parser("down", help="stop every process this state directory started")
    down.set_defaults(handler=_down)
    status = sub.add_parser("status", help="every process with pid and health")
    status.set_defaults(handler=_status)


def stack_from(settings: Settings, *, verbose: bool = True) -> Stack:
    env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG") if k in os.environ}
    env |= {
        "EVNET_STATE_DIR": str(settings.state_dir),
        "EVNET_CONSORTIUM": str(settings.consortium_file.resolve()),
        "EVNET_FABRIC_BIN": str(settings.fabric_bin),
    }
    return Stack(network_from(settings, verbose=verbose), env)


def _up(args: argparse.Namespace, settings: Settings) -> int:
    began = time.monotonic()
    stack = stack_from(settings)
    started = stack.up()
    print(f"stack up ({time.monotonic() - began:.1f} s), {len(started)} service(s) started")
    for runtime in stack.runtimes():
        print(f"  {runtime.name:20} gateway {runtime.base_url}")
    print(f"  logs in {stack.supervisor.log_dir}")
    return 0


def _down(args: argparse.Namespace, settings: Settings) -> int:
    stopped = stack_from(settings, verbose=False).down()
    print(f"stopped {len(stopped)} process(es)")
    return 0


def _status(args: argparse.Namespace, settings: Settings) -> int:
    rows = stack_from(settings, verbose=False).status()
    print(f"{'process':32} {'pid':>8}  {'health':8} where")
    for row in rows:
        health = {None: "-", True: "ok", False: "FAILING"}[row.healthy]
        pid = str(row.pid) if row.pid else "stopped"
        print(f"{row.name:32} {pid:>8}  {health:8} {row.where}")
    return 0 if all(r.pid and r.healthy is not False for r in rows) else 3
