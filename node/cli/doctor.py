"""``evnet doctor --org DEPARTMENT``: the node's integrity sweep (exit 0 clean, 1 problems)."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from node.chain import BlockArchive
from node.cli.network import network_from
from node.consortium.clients import department_contract
from node.department import NodePaths, open_parts
from node.doctor import ClientLedgerView, sweep
from node.fabric import LedgerQueries
from node.ledger import LedgerClient
from node.settings import Settings


def add_parser(sub: Any) -> None:
    parser = sub.add_parser("doctor", help="check a department node's store, index and ledger")
    parser.add_argument("--org", required=True, help="department, e.g. UrbanManagement")
    parser.add_argument("--index-url", help="index database URL (default: the node's SQLite)")
    parser.set_defaults(handler=_doctor)


def _doctor(args: argparse.Namespace, settings: Settings) -> int:
    layout = network_from(settings, verbose=False).layout
    department = layout.consortium.department(args.org)
    paths = NodePaths.of(settings.state_dir, department.name)
    parts = open_parts(paths, args.index_url)
    # The block archive, where the node's gateway keeps one.
    archive = BlockArchive(paths.chain) if paths.chain.exists() else None

    async def run() -> int:
        client = LedgerClient(department_contract(layout, department))
        problems = await sweep(
            org=department.msp_id,
            store=parts.store,
            vault=parts.vault,
            index=parts.index,
            ledger=ClientLedgerView(client),
            archive=archive,
            # Read from the peer itself, not through the archive, to compare the two.
            peer=LedgerQueries(client.contract.gateway, client.contract.channel),
        )
        for problem in problems:
            print(problem)
        print(f"doctor: {department.name}: {len(problems)} problem(s)")
        return 1 if problems else 0

    return asyncio.run(run())
