"""Publishing a file so that it survives a crash: its bytes are synced before it is renamed
into place, and the rename is durable only once its directory entry is synced too."""

from __future__ import annotations

import os
from pathlib import Path


def sync_directory(path: Path) -> None:
    """Sync the directory ``path``: the renames and unlinks made in it so far are on disk
    once this returns. Raises OSError."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
