"""Child for the real-network ingest crash test: ingest, SIGKILL itself at STEP.

Usage: python ingest_child.py STATE_DIR CONSORTIUM_FILE EVENT_ID STEP
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from ingestnet import node_service, upload

from node.cli.network import network_from
from node.settings import Settings


def main() -> None:
    state, consortium, event_id, step = sys.argv[1:5]
    settings = replace(
        Settings.from_environment(), state_dir=Path(state), consortium_file=Path(consortium)
    )
    layout = network_from(settings, verbose=False).layout

    def crash(at: str) -> None:
        if at == step:
            os.kill(os.getpid(), signal.SIGKILL)

    async def run() -> None:
        body, sig, cert, files = upload(layout, event_id)
        await node_service(layout, crash).ingest(body, sig, cert, files)

    asyncio.run(run())


if __name__ == "__main__":
    main()
