"""Byte streams as the node passes them around: the two protocols and the adapters between them.

Evidence can be 2 GB, so every layer (sealing, blob store, exchange) takes a readable stream and
pulls bounded pieces from it; nothing here ever reads a whole stream into memory.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Protocol, runtime_checkable


@runtime_checkable
class Readable(Protocol):
    """Anything with ``read(size)``: binary files, sockets' makefile(), :class:`IterReader`.

    ``read`` may return fewer bytes than asked (like a raw stream) and returns ``b""`` only at
    end of stream; consumers loop (see :func:`read_exact`).
    """

    def read(self, size: int = -1, /) -> bytes: ...


class Writable(Protocol):
    """Anything with ``write(data)``: binary files, ``hashlib`` wrappers, sockets."""

    def write(self, data: bytes, /) -> object: ...


def read_exact(reader: Readable, size: int) -> bytes:
    """Read ``size`` bytes, or fewer only if the stream ends first."""
    first = reader.read(size)
    if len(first) == size or not first:
        return first
    parts = [first]
    got = len(first)
    while got < size:
        piece = reader.read(size - got)
        if not piece:
            break
        parts.append(piece)
        got += len(piece)
    return b"".join(parts)


class IterReader:
    """A :class:`Readable` over an iterable of byte chunks (e.g. a generator of frames).

    The iterable is pulled lazily, one chunk at a time, so a consumer that stops reading (a size
    limit, an error) leaves the rest of the generator unconsumed. When a chunk fits the request
    it is returned as is, without copying.
    """

    __slots__ = ("_buf", "_chunks", "_pos")

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks: Iterator[bytes] = iter(chunks)
        self._buf = b""
        self._pos = 0

    def read(self, size: int = -1, /) -> bytes:
        if size is None or size < 0:
            rest = [self._buf[self._pos :], *self._chunks]
            self._buf, self._pos = b"", 0
            return b"".join(bytes(c) for c in rest)
        while self._pos >= len(self._buf):
            nxt = next(self._chunks, None)
            if nxt is None:
                return b""
            self._buf, self._pos = bytes(nxt), 0
        if self._pos == 0 and len(self._buf) <= size:
            out, self._buf = self._buf, b""
            return out
        out = self._buf[self._pos : self._pos + size]
        self._pos += len(out)
        return out
