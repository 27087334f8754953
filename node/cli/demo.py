"""``evnet demo``: bring up the local department stack and show the product working end to end.

The consortium (three departments, three Raft orderers, TLS everywhere) with each
department's gateway and node (``evnet up``), then the story of node/walkthrough.py: a
street camera on real footage, the review queue, a case through its stages and a transfer,
an access refused then granted, the evidence package exported and verified offline, the
audit trail and the integrity sweep. Everything keeps running for exploration;
``evnet demo --down`` stops it.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from node import walkthrough
from node.cli.stack import stack_from
from node.settings import Settings
from schemas.glossary import DEPARTMENT_ZH


def add_parser(sub: Any) -> None:
    parser = sub.add_parser("demo", help="run the end-to-end demo on the local consortium")
    parser.add_argument(
        "--down", action="store_true", help="stop everything the demo started (= evnet down)"
    )
    parser.set_defaults(handler=_demo)


def _demo(args: argparse.Namespace, settings: Settings) -> int:
    stack = stack_from(settings)
    if args.down:
        print(f"stopped {len(stack.down())} process(es)")
        return 0
    print("== 1. the stack: 3 Raft orderers, 3 departments (peer, chaincode, node, gateway)")
    if (written := walkthrough.ensure_demo_area(settings.state_dir)) is not None:
        print(f"   the demo officer's area (片区): {written}")
    stack.up()
    layout = stack.layout
    for runtime in stack.runtimes():
        dep = layout.consortium.department(runtime.name)
        zh = next((v for k, v in DEPARTMENT_ZH.items() if k.value == dep.name), "")
        print(f"   {dep.name} {zh}: peer {dep.peer.address}, gateway {runtime.base_url}")

    workdir = settings.state_dir / "demo"
    outcome = asyncio.run(walkthrough.run(layout, print, workdir))
    console = f"{outcome.urban_gateway}/console/"
    print("== done.")
    print(f"   {len(outcome.flags)} flag(s) from the camera; case {outcome.case_id} filed from")
    print(f"   the first, transferred, closed; evidence {outcome.evidence_id} fetched by")
    print(f"   PublicSecurity to {outcome.fetched_to}")
    print(f"   evidence package: {outcome.package}")
    print(f"     check it anywhere: .venv/bin/evnet verify {outcome.package}")
    print(f"   integrity sweep: {len(outcome.problems)} problem(s)")
    print(f"   API docs: {outcome.urban_gateway}/docs   console: {console}")
    print("     a token to log in with: .venv/bin/evnet gateway token issue \\")
    print("       --department UrbanManagement --user demo-reviewer")
    urban = next(r for r in stack.runtimes() if r.name == "UrbanManagement")
    if urban.tls_ca is not None:
        print(f"     HTTPS: the department's CA is {urban.tls_ca}; import it into the")
        print("       browser (or accept the warning once) and curl with --cacert")
    print("   Everything keeps running:")
    print("   .venv/bin/evnet status            # every process, pid and health")
    print(f"   logs in {stack.supervisor.log_dir}")
    print("   .venv/bin/evnet demo --down       # stop it")
    return 0
