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
import threading
from collections.abc import AsyncIterator

from node.package.archive_file import StagedArchive


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

    def open(self) -> None:
        """Let the reader have the archive's bytes: the builder's call, once nothing but
        its own items can fail any more."""
        with self._state:
            self._opened = True
            self._state.notify_all()

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
                self._state.notify_all()
        finally:
            self._release()

    def fail(self) -> None:
        with self._state:
            self._failed = True
            self._state.notify_all()

    def discard(self) -> None:
        self.fail()  # first: the hand-over thread may be waiting for the reader
        super().discard()

    def cancel(self) -> None:
        """The reader's call when it stops reading (its client went away, or it failed)."""
        with self._state:
            self._cancelled = True
            self._state.notify_all()

    async def chunks(self) -> AsyncIterator[memoryview]:
        """The archive's bytes in order, from :meth:`open` to :meth:`close`: each a view of
        a stage, the reader's until it asks for the next (the stage is then filled again),
        so nothing is copied on its way to the reader.

        Raises:
            StreamFailed: the build failed after the reader was let in.
        """
        while (chunk := await asyncio.to_thread(self._take)) is not None:
            yield chunk

    def _take(self) -> memoryview | None:
        with self._state:
            if self._lent is not None:  # the reader is done with it
                self._lent = None
                self._state.notify_all()
            while True:
                if self._failed:
                    raise StreamFailed("the package could not be built to its end")
                if self._cancelled:
                    raise StreamCancelled()
                if self._opened and self._chunk is not None:
                    self._lent, self._chunk = self._chunk, None
                    return self._lent
                if self._opened and self._ended:
                    return None
                self._state.wait()

    def _write_stage(self, stage: int, size: int, offset: int) -> None:
        # Lent to the reader as it is, and only once it is given back may the stage be
        # filled again (this returns then).
        view = self._views[stage][:size]
        with self._state:
            self._chunk = view
            self._state.notify_all()
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
