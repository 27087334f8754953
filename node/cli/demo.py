"""``evnet demo``: bring up the local consortium and show it working end to end.

It grows as the product does; today: the consortium, each department's node and its keys,
a device-signed camera flag ingested, a case through its stages and a transfer, an access
refused then granted and the photo fetched from the owner's node, the audit trail and the
integrity sweep (see node/walkthrough.py).
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from node import walkthrough
from node.cli.network import network_from
from node.settings import Settings
from schemas.glossary import DEPARTMENT_ZH


def add_parser(sub: Any) -> None:
    parser = sub.add_parser("demo", help="run the end-to-end demo on the local consortium")
    parser.add_argument("--down", action="store_true", help="stop the demo network")
    parser.set_defaults(handler=_demo)


def _demo(args: argparse.Namespace, settings: Settings) -> int:
    network = network_from(settings)
    if args.down:
        print(f"stopped {len(network.down())} process(es)")
        return 0
    print("== 1. consortium: 3 Raft orderers, 3 departments, TLS everywhere")
    network.up()
    layout = network.layout
    urban, police, market = layout.consortium.departments[:3]
    for dep in (urban, police, market):
        zh = next((v for k, v in DEPARTMENT_ZH.items() if k.value == dep.name), "")
        print(f"   {dep.name} {zh} peer {dep.peer.address}")

    outcome = asyncio.run(walkthrough.run(layout, print, settings.state_dir / "demo"))
    print("== done.")
    print(f"   evidence {outcome.evidence_id}, case {outcome.case_id}")
    print(f"   the photo PublicSecurity fetched: {outcome.fetched_to}")
    print(f"   integrity sweep: {len(outcome.problems)} problem(s)")
    print("   The network keeps running:")
    print("   .venv/bin/evnet network status    # processes, pids, ports, health")
    print("   .venv/bin/evnet network logs      # recent log lines of every process")
    print("   .venv/bin/evnet demo --down       # stop it")
    return 0
