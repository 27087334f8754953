"""Blocking work in a worker thread whose ledger calls still run on the serving loop.

A ledger client (and its gRPC channel) belongs to the event loop it was made in; code that
runs in a worker thread under its own loop reaches it through :class:`OnLoop`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class OnLoop:
    """``inner`` for code running in another thread: its coroutine methods run on ``loop``;
    every other attribute is ``inner``'s own."""

    def __init__(self, inner: object, loop: asyncio.AbstractEventLoop) -> None:
        self._inner, self._loop = inner, loop

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._inner, name)
        if not inspect.iscoroutinefunction(target):
            return target

        async def on_loop(*args: Any, **kwargs: Any) -> Any:
            call: Coroutine[Any, Any, Any] = target(*args, **kwargs)
            return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(call, self._loop))

        return on_loop


async def in_worker_thread(work: Coroutine[Any, Any, T]) -> T:
    """Run ``work`` to completion on a fresh event loop in a worker thread."""
    return await asyncio.to_thread(asyncio.run, work)


async def in_own_thread(work: Coroutine[Any, Any, T], name: str) -> T:
    """Run ``work`` to completion on a fresh event loop in a thread of its own, for work
    that lasts as long as a client takes (a streamed package): in the loop's shared pool
    a few slow clients would hold every thread that other requests' work waits for."""
    outcome: concurrent.futures.Future[T] = concurrent.futures.Future()

    def run() -> None:
        try:
            outcome.set_result(asyncio.run(work))
        except BaseException as error:
            outcome.set_exception(error)

    threading.Thread(target=run, name=name, daemon=True).start()
    return await asyncio.wrap_future(outcome)
