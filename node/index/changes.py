"""A signal that the index changed, so that a feed waiting for news (an officer's handheld
on ``GET /assignments/stream``) wakes when the follower writes, instead of asking the
database again and again.

The signal carries no data: a waiter reads the index itself, after the cursor it holds.
A counter makes a change that lands between that read and the wait count: the waiter
passes the count it saw before reading, and a wait that starts late returns at once.
"""

from __future__ import annotations

import asyncio
import threading


class ChangeSignal:
    """A change counter that coroutines wait past. ``notify`` may be called from any
    thread; each waiter is woken on its own event loop."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._count = 0
        self._waiters: set[asyncio.Future[None]] = set()

    @property
    def count(self) -> int:
        """Changes so far: read it before reading the index, then ``wait`` past it."""
        with self._lock:
            return self._count

    def notify(self) -> None:
        """Something changed: wake every waiter."""
        with self._lock:
            self._count += 1
            waiters, self._waiters = self._waiters, set()
        for waiter in waiters:
            waiter.get_loop().call_soon_threadsafe(_wake, waiter)

    async def wait(self, seen: int, timeout: float) -> bool:
        """Wait until the count passes ``seen``: True, or False once ``timeout`` seconds
        passed without a change."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        with self._lock:
            if self._count != seen:
                return True
            self._waiters.add(waiter)
        try:
            await asyncio.wait_for(waiter, timeout)
        except TimeoutError:
            return False
        finally:
            with self._lock:
                self._waiters.discard(waiter)
        return True


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():  # a waiter that timed out or was cancelled meanwhile
        waiter.set_result(None)
