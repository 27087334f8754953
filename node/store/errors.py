"""Blob-store errors, in one place; each names what failed and carries the digest involved."""

from __future__ import annotations

from schemas.hashes import Digest


class StoreError(Exception):
    """Base of blob-store errors; raised as is for I/O failures of the store itself."""


class BlobNotFound(StoreError):
    """No blob with this digest is stored."""

    def __init__(self, digest: Digest) -> None:
        super().__init__(f"blob {digest} not found")
        self.digest = digest


class BlobTooLarge(StoreError):
    """The stream exceeded the size limit; nothing was stored."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"blob exceeds the limit of {limit} bytes")
        self.limit = limit


class BlobCorrupted(StoreError):
    """The stored bytes no longer hash to the blob's digest."""

    def __init__(self, digest: Digest, actual: Digest) -> None:
        super().__init__(f"blob {digest} is corrupted on disk (hashes to {actual})")
        self.digest = digest
        self.actual = actual
