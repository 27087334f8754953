"""Secret files a node keeps outside the crypto tree (``<state>/secrets/``): read only when
no other user may read them, created once, with mode 0600, never overwritten."""

from __future__ import annotations

import os
import stat
from pathlib import Path


class SecretFileError(ValueError):
    """A secret file is missing, unreadable or readable by other users."""


def read_secret(path: Path, what: str) -> bytes:
    """The stripped bytes of ``path``, which holds ``what`` (named in the messages).

    Raises:
        SecretFileError: missing or unreadable, or group/world accessible.
    """
    try:
        mode = path.stat().st_mode
        data = path.read_bytes().strip()
    except OSError as exc:
        raise SecretFileError(f"{path}: cannot read the {what} ({exc.strerror})") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SecretFileError(
            f"{path}: readable by other users (mode {stat.S_IMODE(mode):o}); chmod 600 it"
        )
    return data


def create_secret(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` with mode 0600 unless the file exists (its directory 0700)."""
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
