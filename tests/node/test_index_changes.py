"""The index's change signal: a waiter passes the count it saw before reading the index, so
a change that lands between that read and the wait is not missed; a change from another
thread (the follower's, or a test's) wakes a waiter on its own loop."""

from __future__ import annotations

import asyncio
import threading

from node.index.changes import ChangeSignal


async def test_a_wait_past_an_older_count_returns_at_once() -> None:
    signal = ChangeSignal()
    seen = signal.count
    signal.notify()  # between the caller's read and its wait
    assert await asyncio.wait_for(signal.wait(seen, 60), 5) is True
    assert signal.count == seen + 1


async def test_a_quiet_wait_times_out_and_leaves_no_waiter_behind() -> None:
    signal = ChangeSignal()
    assert await signal.wait(signal.count, 0.05) is False
    assert signal._waiters == set()  # nothing left to wake


async def test_a_change_in_another_thread_wakes_every_waiter() -> None:
    signal = ChangeSignal()
    seen = signal.count
    waiters = [asyncio.ensure_future(signal.wait(seen, 60)) for _ in range(3)]
    await asyncio.sleep(0)  # all three are waiting
    threading.Thread(target=signal.notify).start()
    assert await asyncio.wait_for(asyncio.gather(*waiters), 5) == [True, True, True]


async def test_a_cancelled_waiter_is_forgotten() -> None:
    signal = ChangeSignal()
    waiter = asyncio.ensure_future(signal.wait(signal.count, 60))
    await asyncio.sleep(0)
    waiter.cancel()
    await asyncio.gather(waiter, return_exceptions=True)
    assert signal._waiters == set()
    signal.notify()  # nothing to wake, nothing fails
    assert signal.count == 1
