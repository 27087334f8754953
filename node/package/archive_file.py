"""The package archive's file on disk, written around the page cache.

A build writes a gigabyte that nothing on this node reads again (the archive is published,
then downloaded or copied once). Written the usual way, each of those bytes is first copied
into a page-cache page allocated for it; on the VMs we measured that allocation is the
build's single largest cost, 1 to 1.6 CPU seconds per gigabyte when the memory was free
for a while (docs/BENCHMARKS.md, "Evidence packages"), on cores the consortium needs at the
same time. Written with ``O_DIRECT`` the disk reads the bytes straight from a few reused
buffers: about 0.15 CPU seconds per gigabyte, the writer waiting on the disk instead.

So :class:`ArchiveFile` gathers the archive's writes in page-aligned buffers (stages) and
writes each full stage at an aligned offset with ``O_DIRECT``, in a thread of its own, while
the next stages fill: the disk stays busy and the archive's writer does not wait for it.
The last, partial stage is written padded to a whole page and the file cut back to its
length. :meth:`ArchiveFile.write_into` lets the evidence be decrypted straight into a stage,
so the package's gigabyte is not copied once more on its way to the disk. Where the
platform or the filesystem refuses direct I/O (at the open, or at a write), the same object
writes through the page cache: the bytes on disk are the same either way.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import io
import logging
import mmap
import os
import sys
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer

log = logging.getLogger(__name__)

# Bytes per write: eight sealing chunks. A chunk decrypted in place that runs past a stage's
# end is copied to the next one's start; with 1 MiB stages nearly every chunk would be, with
# 8 MiB about one in eight. Builds were fastest with these among 1, 4, 8 and 16 MiB
# (docs/BENCHMARKS.md, "Evidence packages").
STAGE: Final = 8 << 20
STAGES: Final = 3  # one filling, one being written, one queued for the disk
# Room after a stage for what :meth:`ArchiveFile.write_into` lets run past its end: one
# sealing chunk, moved to the start of the next stage once the full stage is handed over.
SPILL: Final = 1 << 20
_PAGE: Final = mmap.PAGESIZE  # covers every block device's direct-I/O alignment here
_O_DIRECT: Final = getattr(os, "O_DIRECT", 0)
_FALLOC_FL_KEEP_SIZE: Final = 1


class StagedArchive(io.RawIOBase):
    """An archive written sequentially through a few reused, page-aligned buffers (stages).

    ``write`` copies into the current stage and :meth:`write_into` lets the caller fill it
    in place; a full stage is handed to :meth:`_write_stage` in a thread of its own (one at
    a time, in order) while the next fills, and the last at :meth:`close`, which raises any
    hand-over's error. After an error, or without :meth:`close`, call :meth:`discard`; a
    ``with`` block does: it closes the archive when it ends normally and discards it when
    it ends with an error. Where the stages go is the subclass's: a file
    (:class:`ArchiveFile`) or a reader (:class:`node.package.archive_stream.ArchiveStream`).
    """

    def __init__(self, thread_name: str) -> None:
        super().__init__()
        # Page-aligned, as direct I/O needs; each with room to spill past its end.
        self._stages = [mmap.mmap(-1, STAGE + SPILL) for _ in range(STAGES)]
        self._scratch = bytearray()  # for write_into beyond SPILL (a rare, larger chunk)
        self._views = [memoryview(m) for m in self._stages]
        self._current = 0  # the stage being filled
        self._fill = 0  # bytes in it
        self._offset = 0  # where it goes in the archive: the bytes handed over so far
        self._disk = ThreadPoolExecutor(1, thread_name_prefix=thread_name)
        self._writing: list[Future[None]] = []  # stages handed over, oldest first

    def __exit__(self, error_type: type[BaseException] | None, *_: object) -> None:
        if error_type is None:
            self.close()
        else:  # what is left is not written, and the error raised is the block's
            self.discard()

    def writable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._offset + self._fill

    def write(self, data: ReadableBuffer, /) -> int:
        if self.closed:
            raise ValueError("write to a closed archive file")
        with memoryview(data) as given, given.cast("B") as src:
            size = len(src)
            done = 0
            while done < size:
                n = min(STAGE - self._fill, size - done)
                self._views[self._current][self._fill : self._fill + n] = src[done : done + n]
                self._fill += n
                done += n
                if self._fill == STAGE:
                    self._hand_over(STAGE)
        return size

    def write_into(self, size: int, fill: Callable[[memoryview], int]) -> int:
        """Let ``fill`` write the archive's next bytes in place: it is given a writable view
        of ``size`` bytes at the current position, fills it from the start, and returns how
        many bytes it wrote (0 to ``size``); the archive goes on after them. If ``fill``
        raises, nothing is written (the view's content is then undefined: write again or
        discard). Up to :data:`SPILL` bytes the view is in the current stage itself (a
        sealed chunk decrypts straight into the archive); beyond, in a buffer of its own,
        copied afterwards."""
        if self.closed:
            raise ValueError("write to a closed archive file")
        if size > SPILL:
            if len(self._scratch) < size:
                self._scratch = bytearray(size)
            with memoryview(self._scratch) as scratch, scratch[:size] as room:
                return self.write(room[: _filled(fill(room), size)])
        # Fill is below STAGE after every call, so the stage's SPILL room covers the view.
        with self._views[self._current][self._fill : self._fill + size] as room:
            n = _filled(fill(room), size)
        self._fill += n
        if self._fill >= STAGE:
            spilled = self._fill - STAGE
            full = self._current
            self._hand_over(STAGE)
            if spilled:
                self._views[self._current][:spilled] = self._views[full][STAGE:][:spilled]
                self._fill = spilled
        return n

    def flush(self) -> None:
        """Nothing to do: a partial stage can only be written once, at :meth:`close`."""

    def fail(self) -> None:
        """The build failed: no hand-over may wait any longer (the writers are then waited
        for, and the archive discarded)."""

    def discard(self) -> None:
        """Close the archive without handing over what is left and without raising the
        hand-overs' errors: the build failed (a file's caller removes it)."""
        if self.closed:
            return
        for writing in self._writing:
            writing.cancel()
        for writing in self._writing:
            if not writing.cancelled():
                writing.exception()  # waited for, its error superseded
        self._writing.clear()
        self._release()

    def _hand_over(self, size: int) -> None:
        """Hand the current stage (its first ``size`` bytes) over and fill the next, once
        that one's own hand-over is done."""
        self._writing.append(
            self._disk.submit(self._write_stage, self._current, size, self._offset)
        )
        self._offset += size
        self._current = (self._current + 1) % STAGES
        self._fill = 0
        if len(self._writing) == STAGES:
            self._writing.pop(0).result()  # the next stage's bytes are gone: reuse it

    def _drain(self) -> None:
        while self._writing:
            self._writing.pop(0).result()

    def _release(self) -> None:
        self._disk.shutdown(wait=True)
        for view in self._views:
            view.release()
        for stage in self._stages:
            # A fill that raised may leave a view of its stage in its traceback (an evidence
            # chunk that failed its tag): then the mapping goes when that does.
            with contextlib.suppress(BufferError):
                stage.close()
        super().close()

    def _write_stage(self, stage: int, size: int, offset: int) -> None:
        """In the hand-over thread: send the stage's first ``size`` bytes, which go at
        ``offset`` in the archive."""
        raise NotImplementedError


class ArchiveFile(StagedArchive):
    """A new file at ``path`` (created or truncated), written sequentially.

    Each full stage goes to disk in the background (:class:`StagedArchive`). Only
    :meth:`close` makes the whole content visible on disk: the caller publishes the file
    after it (the package builder renames it).

    ``direct=False`` writes through the page cache, for a file read back at once (where the
    read then finds it). ``sync=True`` makes :meth:`close` also sync the file, for one kept
    after a crash: a direct write can still sit in the disk's own cache, and its extents
    and size are metadata the filesystem journals later.
    """

    def __init__(self, path: Path, *, direct: bool = True, sync: bool = False) -> None:
        self._sync = sync
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0)
        self._fd = -1
        self._direct = False
        if direct and _O_DIRECT:
            try:
                self._fd = os.open(path, flags | _O_DIRECT, 0o666)
                self._direct = True
            except OSError as e:
                if e.errno != errno.EINVAL:  # EINVAL: this filesystem has no direct I/O
                    raise
        if self._fd < 0:
            self._fd = os.open(path, flags, 0o666)
        super().__init__("archive-file")

    @property
    def direct(self) -> bool:
        """Whether writes still bypass the page cache."""
        return self._direct

    def fileno(self) -> int:
        return self._fd

    def reserve(self, size: int) -> None:
        """Reserve ``size`` bytes of disk blocks from the current position, without
        changing the file's size, so the writes that follow find them allocated (on ext4 a
        gigabyte then writes without the occasional stall of several times its usual time).
        Best effort: where the platform or the filesystem cannot, writes allocate as usual."""
        if size <= 0 or not sys.platform.startswith("linux"):
            return
        try:
            fallocate = ctypes.CDLL(None, use_errno=True).fallocate
        except (OSError, AttributeError):
            return
        fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
        if fallocate(self._fd, _FALLOC_FL_KEEP_SIZE, self.tell(), size) != 0:
            log.debug("could not reserve %d bytes: %s", size, os.strerror(ctypes.get_errno()))

    def close(self) -> None:
        """Write what is left, wait for the disk (and sync the file, if asked to), and close
        it; raises the first write's error (the file's content is then undefined: remove
        it)."""
        if self.closed:
            return
        try:
            length, padded = self.tell(), -(-self._fill // _PAGE) * _PAGE
            if padded:
                self._views[self._current][self._fill : padded] = bytes(padded - self._fill)
                self._hand_over(padded)
            self._drain()
            if padded:
                os.ftruncate(self._fd, length)
            if self._sync:
                os.fsync(self._fd)
        finally:
            self._release()

    def _release(self) -> None:
        try:
            super()._release()
        finally:
            os.close(self._fd)

    def _write_stage(self, stage: int, size: int, offset: int) -> None:
        """In the disk's thread: write the stage's first ``size`` bytes at ``offset``."""
        done = 0
        while done < size:
            try:
                # Views released even on an error, or the stage could not be unmapped.
                with self._views[stage][done:size] as rest:
                    done += os.pwrite(self._fd, rest, offset + done)
            except OSError as e:
                if not (self._direct and e.errno == errno.EINVAL):
                    raise
                # The filesystem opened the file for direct I/O but refuses this write
                # (an alignment it needs beyond a page): go on through the page cache.
                log.debug("direct writes refused (%s): writing through the page cache", e)
                self._direct = False
                flags = fcntl.fcntl(self._fd, fcntl.F_GETFL)
                fcntl.fcntl(self._fd, fcntl.F_SETFL, flags & ~_O_DIRECT)


def _filled(n: int, size: int) -> int:
    """What :meth:`ArchiveFile.write_into`'s ``fill`` returned, checked."""
    if not 0 <= n <= size:
        raise ValueError(f"filled {n} bytes of a {size}-byte view")
    return n
