"""The exporting department's own evidence, decrypted into the package archive.

One thread opens the items in order, chunk after chunk, into a small ring of buffers
allocated once; the archive writes each chunk straight from its buffer and hands the buffer
back. Why this shape (measured, docs/BENCHMARKS.md "Evidence packages"): on two cores
shared with the consortium, a fresh megabyte allocated for every chunk read and every chunk
decrypted, and the filesystem reserving blocks write by write, cost more than decrypting.
So nothing is allocated per chunk, and the archive's blocks for the evidence are reserved
in one call (:meth:`ArchiveFile.reserve <node.package.archive_file.ArchiveFile.reserve>`)
before the first write.

Nothing is hashed here: each chunk's tag authenticates it under the item's own data key
with the item's id, its index and the final flag, so what is written is exactly the
complete plaintext sealed for this item at ingest, whose digest the ledger registered.
Other bytes fail (the wrong blob, a flipped bit, a cut, chunks swapped). Only someone
holding this item's unwrapped key could seal other content that passes, and then the file
does not hash to the manifest's (the ledger's) digest, which every verifier checks
(FILE_HASH_MISMATCH): the package cannot pass for the evidence. Hashing here as well would
cost two SHA-256 passes (ciphertext and plaintext) over every byte.
"""

from __future__ import annotations

import functools
import logging
import queue
import tarfile
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Final

from node.crypto.sealing import DEFAULT_CHUNK_SIZE, ChunkOpener, IntegrityError
from node.department import NodeParts
from node.evidence_sealing import chunks_from_store
from node.package.manifest import Item
from schemas.hashes import Digest

log = logging.getLogger(__name__)

RING: Final = 4  # chunk buffers: the decrypting thread works this far ahead of the writes
_WAIT: Final = 0.05  # seconds between looks at ``stop`` while waiting for the other thread


class Stopped(Exception):
    """The build failed elsewhere: stop decrypting."""


def write_own_evidence(
    archive: tarfile.TarFile,
    items: Sequence[Item],
    ciphertexts: Mapping[str, Digest],
    granted: Mapping[str, threading.Event],
    parts: NodeParts,
    stop: threading.Event,
) -> None:
    """Decrypt each of ``items`` (this department's) into ``archive`` as its member
    ``item.path``, in order, from the blob the ledger registered for it
    (``ciphertexts[evidence_id]``), opening none before its ``granted[evidence_id]`` is
    set (the chaincode granted its export). Gives up at the next chunk once ``stop`` is
    set.

    Raises:
        IntegrityError: an item's sealed bytes failed authentication, or its plaintext is
            not the ledger's size.
        BlobNotFound, KeyNotFound, NoMatchingKey: the node cannot open an item.
        Stopped: ``stop`` was set.
    """
    openings = [
        _Opening(
            granted[item.evidence_id],
            functools.partial(
                chunks_from_store,
                parts.store,
                evidence_id=item.evidence_id,
                ciphertext=ciphertexts[item.evidence_id],
                wrapped_key=parts.vault.get(item.evidence_id),
                keyring=parts.keyring,
            ),
        )
        for item in items
    ]
    with _Decrypting(openings, stop) as decrypting:
        for item in items:
            info = tarfile.TarInfo(item.path)
            info.size = item.size
            info.mode = 0o644
            plain = _ItemReader(decrypting)
            archive.addfile(info, plain)  # type: ignore[arg-type]  # read() gives views
            if plain.finish() != item.size:
                raise IntegrityError()


def member_bytes(sizes: Iterable[int]) -> int:
    """At least the archive bytes of regular members of these sizes: a header block each,
    the data padded to whole blocks (a long name's extended header comes on top)."""
    block = tarfile.BLOCKSIZE
    return sum(block + -(-size // block) * block for size in sizes)


@dataclass(frozen=True, slots=True)
class _Opening:
    granted: threading.Event
    open: Callable[[], AbstractContextManager[ChunkOpener]]


@dataclass(frozen=True, slots=True)
class _Chunk:
    slot: int
    size: int


@dataclass(frozen=True, slots=True)
class _End:
    plaintext_size: int


class _Decrypting:
    """The items' plaintext in order, decrypted by a thread of its own into ``RING`` buffers
    while the caller writes earlier chunks (AES-GCM and file I/O release the GIL, so on two
    cores they overlap). Messages, in order: a chunk per buffer filled, then each item's
    end with its size, or the error that stopped it."""

    def __init__(self, openings: Sequence[_Opening], stop: threading.Event) -> None:
        self.slots = [bytearray(DEFAULT_CHUNK_SIZE) for _ in range(RING)]
        self._free: queue.SimpleQueue[int] = queue.SimpleQueue()
        for slot in range(RING):
            self._free.put(slot)
        self._ready: queue.SimpleQueue[_Chunk | _End | BaseException] = queue.SimpleQueue()
        self._stop = stop
        self._halt = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(openings,), name="evidence-decrypt", daemon=True
        )

    def __enter__(self) -> _Decrypting:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._halt.set()
        self._thread.join()

    def _run(self, openings: Sequence[_Opening]) -> None:
        try:
            for opening in openings:
                self._wait(opening.granted)
                with opening.open() as opener:
                    for message in self._chunks(opener):
                        self._ready.put(message)
                self._ready.put(_End(opener.plaintext_size))
        except _Halted:
            return
        except BaseException as exc:  # handed to the writing thread, which raises it
            self._ready.put(exc)

    def _chunks(self, opener: ChunkOpener) -> Iterator[_Chunk]:
        while not opener.ended:
            slot = self._take()
            if len(self.slots[slot]) < opener.chunk_size:  # sealed with larger chunks
                self.slots[slot] = bytearray(opener.chunk_size)
            size = opener.open_into(self.slots[slot])
            if size:
                yield _Chunk(slot, size)
            else:  # the empty final chunk of a multiple of the chunk size
                self.release(slot)

    def _take(self) -> int:
        while not self._halted():
            try:
                return self._free.get(timeout=_WAIT)
            except queue.Empty:
                continue
        raise _Halted()

    def _wait(self, granted: threading.Event) -> None:
        while not granted.wait(_WAIT):
            if self._halted():
                raise _Halted()

    def _halted(self) -> bool:
        return self._halt.is_set() or self._stop.is_set()

    def release(self, slot: int) -> None:
        """The writer is done with this buffer."""
        self._free.put(slot)

    def next(self) -> _Chunk | _End:
        """The next message; the decrypting thread's error is raised here.

        Raises:
            Stopped: ``stop`` was set meanwhile.
        """
        while True:
            if self._stop.is_set():
                raise Stopped()
            try:
                message = self._ready.get(timeout=_WAIT)
            except queue.Empty:
                continue
            if isinstance(message, BaseException):
                raise message
            return message


class _Halted(Exception):
    """The writer closed the decryption early (it failed, or the build stopped)."""


class _ItemReader:
    """One item's plaintext for ``tarfile``'s copy: each read returns a view into the ring
    buffer holding it, valid until the next read (the copy writes each piece before it
    reads again); only a read spanning two chunks is copied."""

    def __init__(self, decrypting: _Decrypting) -> None:
        self._decrypting = decrypting
        self._slot: int | None = None
        self._view = memoryview(b"")
        self._size: int | None = None

    def read(self, size: int, /) -> memoryview | bytearray:
        """``size`` bytes (the copy asks for no more than the ledger's size).

        Raises:
            IntegrityError: the item ended first (shorter than the ledger's size).
        """
        if not self._view:
            self._advance()
        if len(self._view) >= size:
            out = self._view[:size]
            self._view = self._view[size:]
            return out
        joined = bytearray()
        while len(joined) < size:
            if self._size is not None:
                raise IntegrityError()
            piece = self._view[: size - len(joined)]
            joined += piece
            self._view = self._view[len(piece) :]
            if not self._view:
                self._advance()
        return joined

    def finish(self) -> int:
        """The item's plaintext size once its last chunk opened.

        Raises:
            IntegrityError: more plaintext than was read (longer than the ledger's size).
        """
        while self._size is None:
            if self._view:
                raise IntegrityError()
            self._advance()
        return self._size

    def _advance(self) -> None:
        """Hand back the buffer read to its end and take the next chunk (or the end)."""
        if self._slot is not None:
            self._decrypting.release(self._slot)
            self._slot = None
        if self._size is not None:
            return
        message = self._decrypting.next()
        if isinstance(message, _End):
            self._size = message.plaintext_size
            return
        self._slot = message.slot
        self._view = memoryview(self._decrypting.slots[message.slot])[: message.size]
