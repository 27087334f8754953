"""The node's keys: its org's encryption private key and each item's wrapped data key.

Wrapped keys are safe at rest (only the org's private key opens them) but not
rebuildable: losing one loses the item. So each is its own file, written atomically
(temporary file, fsync, rename, fsync of the directory). Destroying an item's wrapped key
is crypto-shredding: the blob stays, unreadable forever.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from node.crypto.key_wrap import EncryptionPrivateKey
from node.crypto.wrapped_key import WrappedKey
from node.durable import sync_directory

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}\Z")


class VaultError(Exception):
    """A key could not be read or written, or an id is unusable as a key name."""


class KeyNotFound(VaultError):
    def __init__(self, evidence_id: str) -> None:
        super().__init__(f"no data key for evidence {evidence_id!r} (never stored or destroyed)")
        self.evidence_id = evidence_id


def _write_atomic(path: Path, data: bytes, mode: int = 0o600) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    sync_directory(path.parent)


def load_or_create_org_key(path: Path) -> EncryptionPrivateKey:
    """The org's X25519 private key from ``path`` (raw 32 bytes, mode 0600), created once."""
    if path.exists():
        raw = path.read_bytes()
        if len(raw) != 32:
            raise VaultError(f"{path}: not a 32-byte X25519 private key")
        return EncryptionPrivateKey.from_raw(raw)
    key = EncryptionPrivateKey.generate()
    _write_atomic(path, key.raw())
    return key


class KeyVault:
    """Wrapped data keys, one file per evidence id under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, evidence_id: str) -> Path:
        # Ids come from requests: the pattern is what makes them safe as file names.
        if not _ID.match(evidence_id):
            raise VaultError(f"unusable evidence id {evidence_id[:40]!r}")
        return self.root / f"{evidence_id}.json"

    def put(self, evidence_id: str, wrapped: WrappedKey) -> None:
        _write_atomic(self._path(evidence_id), wrapped.to_json())

    def get(self, evidence_id: str) -> WrappedKey:
        path = self._path(evidence_id)
        try:
            return WrappedKey.from_json(path.read_bytes())
        except FileNotFoundError:
            raise KeyNotFound(evidence_id) from None

    def destroy(self, evidence_id: str) -> None:
        """Crypto-shred the item: its data key is gone for good."""
        self._path(evidence_id).unlink(missing_ok=True)
