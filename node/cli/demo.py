"""``evnet demo``: bring up the local consortium and show it working end to end.

It grows as the product does; today it shows the consortium: three departments on one
channel, identities with roles, a write endorsed by two departments and read by a third.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from typing import Any

from node.cli.network import network_from
from node.consortium import lifecycle
from node.consortium.identities import issue_user
from node.settings import Settings
from schemas.glossary import DEPARTMENT_ZH, Role


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

    print("== 2. identities carry roles the chaincode reads")
    name = f"officer-{dt.datetime.now(dt.UTC):%H%M%S}"
    officer = issue_user(
        layout.state_dir, layout.consortium, urban.name, Role.OFFICER, name, dt.datetime.now(dt.UTC)
    )
    pong = json.loads(lifecycle.query(layout, urban, ["Ping"], msp_dir=officer.msp_dir))
    print(f"   {name}: chaincode sees msp_id={pong['msp_id']} role={pong['role']}")

    print("== 3. a write endorsed by two departments, read by a third")
    key = f"demo-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S}"
    lifecycle.invoke(layout, [urban, police], ["Put", key, "shopfront_operation flagged"])
    print(f"   {urban.name} + {police.name} endorsed Put({key}); committed VALID")
    got = json.loads(lifecycle.query(layout, market, ["Get", key]))
    print(f"   {market.name} reads: {got['value']!r}")

    print("== done. The network keeps running:")
    print("   .venv/bin/evnet network status    # processes, pids, ports, health")
    print("   .venv/bin/evnet network logs      # recent log lines of every process")
    print("   .venv/bin/evnet demo --down       # stop it")
    return 0
