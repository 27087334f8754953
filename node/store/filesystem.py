"""A blob store on a local filesystem: ``<root>/ab/cd/<64 hex>``, named by SHA-256.

Durability recipe for each put: stream into a temporary file under ``<root>/.tmp`` (same
filesystem, so the rename is atomic), fsync it, rename it into place, fsync the directory.
A reader therefore sees either no blob or the whole blob, never a partial one, even across a
crash. Paths are built only from a :class:`~schemas.hashes.Digest`, whose text form is
validated to 64 lowercase hex digits, so no caller-supplied string ever reaches the filesystem.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Final

from node.durable import sync_directory
from node.store.errors import BlobCorrupted, BlobNotFound, BlobTooLarge, StoreError
from node.streams import Readable
from schemas.hashes import Digest, Hasher, InvalidDigest

log = logging.getLogger(__name__)

_COPY_SIZE: Final = 4 * 1024 * 1024
_FANOUT = re.compile(r"[0-9a-f]{2}\Z")
_TMP_DIR: Final = ".tmp"


@contextmanager
def _store_io(action: str) -> Iterator[None]:
    """Translate the store's own OSErrors (not the source stream's) into StoreError."""
    try:
        yield
    except OSError as exc:
        raise StoreError(f"blob store failed {action}: {exc}") from exc


class FilesystemBlobStore:
    """A :class:`~node.store.BlobStore` rooted at ``root``.

    ``max_blob_bytes`` bounds every put; a put may ask for a lower bound.
    """

    def __init__(self, root: Path, *, max_blob_bytes: int, copy_size: int = _COPY_SIZE) -> None:
        if max_blob_bytes < 0 or copy_size <= 0:
            raise ValueError("max_blob_bytes must be >= 0 and copy_size > 0")
        self._root = root
        self._tmp = root / _TMP_DIR
        self._max = max_blob_bytes
        self._copy_size = copy_size

    @property
    def root(self) -> Path:
        return self._root

    def _path(self, digest: Digest) -> Path:
        # The type check is the path-traversal guard: only a parsed Digest names a file.
        if not isinstance(digest, Digest):
            raise TypeError("blobs are addressed by Digest only")
        h = digest.hex
        return self._root / h[0:2] / h[2:4] / h

    def _ensure_dir(self, directory: Path) -> None:
        for d in (directory.parent, directory):
            try:
                d.mkdir()
            except FileExistsError:
                continue
            sync_directory(d.parent)

    def put(self, stream: Readable, *, max_bytes: int | None = None) -> Digest:
        """Store ``stream``'s bytes; see :meth:`node.store.BlobStore.put`.

        Raises:
            BlobTooLarge: the stream went past the limit; reading stopped there and the
                temporary file was removed.
            StoreError: the store could not write.
            Whatever ``stream.read`` raises, after cleaning up.
        """
        limit = self._max if max_bytes is None else min(max_bytes, self._max)
        with _store_io("creating a temporary file"):
            self._tmp.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(dir=self._tmp, prefix="put-")
        tmp = Path(name)
        try:
            hasher = Hasher()
            with os.fdopen(fd, "wb") as out:
                while piece := stream.read(self._copy_size):
                    # Check before writing: an oversized stream never reaches the disk beyond
                    # the limit and the source is not read further.
                    if hasher.size + len(piece) > limit:
                        raise BlobTooLarge(limit)
                    hasher.update(piece)
                    with _store_io("writing"):
                        out.write(piece)
                with _store_io("flushing"):
                    out.flush()
                    os.fsync(out.fileno())
            digest = hasher.digest()
            final = self._path(digest)
            with _store_io("publishing the blob"):
                if final.exists():
                    # Immutable, content-addressed: identical bytes are already in place.
                    tmp.unlink()
                    return digest
                self._ensure_dir(final.parent)
                os.replace(tmp, final)
                sync_directory(final.parent)
            return digest
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def open(self, digest: Digest) -> BinaryIO:
        """Raises: BlobNotFound: no such blob."""
        try:
            return self._path(digest).open("rb")
        except FileNotFoundError:
            raise BlobNotFound(digest) from None

    def exists(self, digest: Digest) -> bool:
        return self._path(digest).is_file()

    def delete(self, digest: Digest) -> None:
        """Raises: BlobNotFound: no such blob. StoreError: the unlink failed otherwise."""
        path = self._path(digest)
        try:
            path.unlink()
        except FileNotFoundError:
            raise BlobNotFound(digest) from None
        with _store_io("deleting"):
            sync_directory(path.parent)

    def iter_digests(self) -> Iterator[Digest]:
        """Digests of stored blobs; stray files that are not blobs are logged and skipped."""
        if not self._root.is_dir():
            return
        for first in sorted(self._root.iterdir()):
            if not (first.is_dir() and _FANOUT.match(first.name)):
                continue
            for second in sorted(first.iterdir()):
                if not (second.is_dir() and _FANOUT.match(second.name)):
                    continue
                for entry in sorted(second.iterdir()):
                    try:
                        digest = Digest.parse("sha256:" + entry.name)
                    except InvalidDigest:
                        log.warning("skipping stray file %s in blob store", entry)
                        continue
                    if self._path(digest) != entry or not entry.is_file():
                        log.warning("skipping misplaced entry %s in blob store", entry)
                        continue
                    yield digest

    def verify(self, digest: Digest) -> None:
        """Raises: BlobNotFound: no such blob. BlobCorrupted: its bytes no longer match."""
        hasher = Hasher()
        with self.open(digest) as f:
            while piece := f.read(self._copy_size):
                hasher.update(piece)
        actual = hasher.digest()
        if actual != digest:
            raise BlobCorrupted(digest, actual)

    def remove_stale_temp_files(self, *, now: float, max_age_seconds: float) -> int:
        """Remove temporary files older than ``max_age_seconds`` (left by a crash mid-put).

        ``now`` is a POSIX timestamp passed in by the caller. Choose an age well above the
        longest put, or a put in progress loses its file. Returns how many were removed.
        """
        removed = 0
        if not self._tmp.is_dir():
            return 0
        for entry in self._tmp.iterdir():
            try:
                if now - entry.stat().st_mtime > max_age_seconds:
                    entry.unlink()
                    removed += 1
            except FileNotFoundError:
                continue
        return removed
