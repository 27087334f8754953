"""The blob-store seam: content-addressed, immutable byte blobs named by their SHA-256."""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO, Protocol

from node.streams import Readable
from schemas.hashes import Digest


class BlobStore(Protocol):
    """Where a department keeps sealed evidence. Blobs are immutable; the name is the hash."""

    def put(self, stream: Readable, *, max_bytes: int | None = None) -> Digest:
        """Store everything ``stream`` yields; return its SHA-256. Storing existing content is a
        no-op that returns the same digest.

        Raises:
            BlobTooLarge: more than ``max_bytes`` (or the store's limit); nothing is left behind.
            StoreError: the store could not write.
            Whatever ``stream`` raises, after cleaning up.
        """
        ...

    def open(self, digest: Digest) -> BinaryIO:
        """A readable binary stream of the blob; the caller closes it.

        Raises:
            BlobNotFound: no such blob.
        """
        ...

    def exists(self, digest: Digest) -> bool: ...

    def delete(self, digest: Digest) -> None:
        """Raises: BlobNotFound: no such blob."""
        ...

    def iter_digests(self) -> Iterator[Digest]:
        """Digests of all stored blobs, in no particular order."""
        ...

    def verify(self, digest: Digest) -> None:
        """Re-hash the stored bytes.

        Raises:
            BlobNotFound: no such blob.
            BlobCorrupted: the bytes do not hash to ``digest``.
        """
        ...
