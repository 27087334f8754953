"""Work on a loop of its own: its result or its error comes back to the caller, and a
thread of its own does not take one from the serving loop's pool."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from gateway.loop_bridge import in_own_thread


async def _named() -> tuple[str, bool]:
    try:
        asyncio.get_running_loop()
        has_loop = True
    except RuntimeError:
        has_loop = False
    return threading.current_thread().name, has_loop


def test_work_runs_on_a_loop_in_a_thread_of_its_own_even_with_the_pool_taken() -> None:
    async def main() -> tuple[str, bool]:
        loop = asyncio.get_running_loop()
        loop.set_default_executor(ThreadPoolExecutor(1))
        release = threading.Event()
        held = loop.run_in_executor(None, release.wait)  # the pool's only thread, taken
        try:
            return await asyncio.wait_for(in_own_thread(_named(), "package-x"), 10)
        finally:
            release.set()
            await held

    assert asyncio.run(main()) == ("package-x", True)


def test_an_error_reaches_the_caller() -> None:
    async def fails() -> None:
        raise LookupError("no such item")

    with pytest.raises(LookupError, match="no such item"):
        asyncio.run(in_own_thread(fails(), "failing"))
