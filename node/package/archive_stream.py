"""A package archive sent to its reader as it is written: the gateway's download.

Spooled to a file first, a gigabyte's package is written once and read back once before
the response ends, and on a VM every page of it is memory the kernel must first get back
from the host: on the VMs we measured, that alone took 1 to 1.2 s per gigabyte whenever the
memory had been free for a few seconds (docs/BENCHMARKS.md, "Evidence packages"). A
stream's bytes pass through the archive's three reused stages, lent to the reader, so a
package of any size takes the same 27 MB, the client has its first bytes
as soon as the export is recorded, and no plaintext is ever written to the gateway's disk.

The price is where a failure can still be said: the reader is only let in once every
access is recorded, every other department's item fetched and the manifest signed
(:meth:`ArchiveStream.open`, called by the builder). After that, only this node's own
items can still fail (a sealed chunk that fails its tag); the reader then gets
:class:`StreamFailed` instead of the rest, and the client a cut-off download, which no
verifier accepts.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Callable
from typing import Final

from node.package.archive_file import StagedArchive

_END: Final = object()  # what _take gives after the last chunk


class StreamCancelled(Exception):
    """The reader went away: nobody wants the rest of the archive."""


class StreamFailed(Exception):
    """The archive's writer failed after the reader was let in: what was read is no package."""


class ArchiveStream(StagedArchive):
    """An archive handed to one reader (:meth:`chunks`) stage by stage, as it is written.

    Nothing is readable before :meth:`open`; until then the writer may run at most its
    three stages ahead, and then waits, as it waits for a slow reader. The reader
    ends at :meth:`close`; :meth:`discard` (the build failed) makes it raise
    :class:`StreamFailed`; :meth:`cancel` (the reader stops) makes the writer's next
    hand-over raise :class:`StreamCancelled`.
    """

    def __init__(self) -> None:
        super().__init__("archive-stream")
        self._state = threading.Condition()
        self._chunk: memoryview | None = None  # handed over, not yet taken by the reader
        self._lent: memoryview | None = None  # taken, not yet given back
        self._opened = False
        self._ended = False
        self._failed = False
        self._cancelled = False
        self._wake: Callable[[], None] | None = None  # the reader's loop, told of changes

    def open(self) -> None:
        """Let the reader have the archive's bytes: the builder's call, once nothing but
        its own items can fail any more."""
        with self._state:
            self._opened = True
            self._changed()

    def close(self) -> None:
        """Hand over what is left and end the reader's stream; raises the first hand-over's
        error (:class:`StreamCancelled` if the reader went away)."""
        if self.closed:
            return
        try:
            if self._fill:
                self._hand_over(self._fill)
            self._drain()
            with self._state:
                self._ended = True
                self._changed()
        finally:
            self._release()

    def fail(self) -> None:
        with self._state:
            self._failed = True
            self._changed()

    def discard(self) -> None:
        self.fail()  # first: the hand-over thread may be waiting for the reader
        super().discard()

    def cancel(self) -> None:
        """The reader's call when it stops reading (its client went away, or it failed)."""
        with self._state:
            self._cancelled = True
            self._changed()

    async def chunks(self) -> AsyncIterator[memoryview]:
        """The archive's bytes in order, from :meth:`open` to :meth:`close`: each a view of
        a stage, the reader's until it asks for the next (the stage is then filled again),
        so nothing is copied on its way to the reader. The reader waits on its own loop,
        told of each change by the writer's thread: it holds no thread while it waits (a
        pool's threads, all held by readers waiting for writers that wait for a pool
        thread, would never be given back).

        Raises:
            StreamFailed: the build failed after the reader was let in.
        """
        loop = asyncio.get_running_loop()
        changed = asyncio.Event()

        def wake() -> None:
            with contextlib.suppress(RuntimeError):  # the reader's loop is gone
                loop.call_soon_threadsafe(changed.set)

        with self._state:
            self._wake = wake
        while True:
            changed.clear()  # before looking: a change after the look wakes the wait
            taken = self._take()
            if isinstance(taken, memoryview):
                yield taken
            elif taken is _END:
                return
            else:
                await changed.wait()

    def _take(self) -> memoryview | object | None:
        """The next chunk, :data:`_END` after the last, or None for not yet. Gives the
        chunk taken before back first: the reader is done with it."""
        with self._state:
            if self._lent is not None:
                self._lent = None
                self._state.notify_all()  # the writer waits for it; the reader is here
            if self._failed:
                raise StreamFailed("the package could not be built to its end")
            if self._cancelled:
                raise StreamCancelled()
            if self._opened and self._chunk is not None:
                self._lent, self._chunk = self._chunk, None
                return self._lent
            if self._opened and self._ended:
                return _END
            return None

    def _changed(self) -> None:
        """Under the lock: tell both sides that the state changed."""
        self._state.notify_all()
        if self._wake is not None:
            self._wake()

    def _write_stage(self, stage: int, size: int, offset: int) -> None:
        # Lent to the reader as it is, and only once it is given back may the stage be
        # filled again (this returns then).
        view = self._views[stage][:size]
        with self._state:
            self._chunk = view
            self._changed()
            while (self._chunk is view or self._lent is view) and not (
                self._cancelled or self._failed
            ):
                self._state.wait()
            if self._chunk is view:
                self._chunk = None
            if self._cancelled:
                raise StreamCancelled()
            if self._failed:
                raise StreamFailed("the package's build failed")
