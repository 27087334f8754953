"""A department's gateway as a process of its own, for tests that kill it.

Usage: python gateway_child.py STATE_DIR CONSORTIUM_FILE DEPARTMENT HOST PORT WORK_DIR

Tokens are issued by the test into WORK_DIR/tokens.json before it starts. On start the node
first finishes or cleans up whatever an earlier, killed instance left half done
(``IngestService.reconcile``), then serves.
"""

from __future__ import annotations

import asyncio
import sys
from dataclasses import replace
from pathlib import Path

import uvicorn

from gateway.app import create_app
from gateway.wiring import department_gateway
from node.cli.network import network_from
from node.department import NodePaths, open_parts
from node.settings import Settings


def main() -> None:
    state, consortium, department, host, port, work = sys.argv[1:7]
    settings = replace(
        Settings.from_environment(), state_dir=Path(state), consortium_file=Path(consortium)
    )
    layout = network_from(settings, verbose=False).layout
    parts = open_parts(NodePaths.of(layout.state_dir, department))
    deps = department_gateway(
        layout, department, parts, registrar_user="device1", work_dir=Path(work)
    )

    async def serve() -> None:
        outcome = await deps.ingest.reconcile()
        print(f"reconciled: {outcome}", flush=True)
        config = uvicorn.Config(create_app(deps), host=host, port=int(port), log_level="warning")
        await uvicorn.Server(config).serve()

    asyncio.run(serve())


if __name__ == "__main__":
    main()
