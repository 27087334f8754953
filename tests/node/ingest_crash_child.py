"""Child process for the ingest crash tests: ingest one upload, SIGKILL itself at a step.

Usage: python ingest_crash_child.py ROOT STEP
"""

from __future__ import annotations

import asyncio
import io
import os
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from ingestkit import CLIP, KEYFRAME, claims, device, make_ca, service, signed


def main() -> None:
    root, step = Path(sys.argv[1]), sys.argv[2]

    def crash(at: str) -> None:
        if at == step:
            os.kill(os.getpid(), signal.SIGKILL)  # no cleanup, no finally: a real crash

    svc = service(root, crash_point=crash)
    body, sig, cert = signed(claims(), device(make_ca(root)))
    files = {"keyframe.jpg": io.BytesIO(KEYFRAME), "clip.mp4": io.BytesIO(CLIP)}
    asyncio.run(svc.ingest(body, sig, cert, files))


if __name__ == "__main__":
    main()
