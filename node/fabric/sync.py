"""A thin synchronous wrapper for scripts: the async client on its own event loop thread.

Usage::

    with SyncContract(lambda: department_contract(layout, dep)) as contract:
        contract.submit("Put", "k", "v")
        print(contract.evaluate("Get", "k"))

A gRPC channel belongs to the event loop it was made in, so the contract is made by a
factory called on the wrapper's own loop, never passed in ready-made.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine, Mapping, Sequence
from types import TracebackType
from typing import Any, TypeVar

from node.fabric.gateway import Contract, SubmitResult

_T = TypeVar("_T")


class SyncContract:
    """Blocking ``evaluate`` and ``submit`` with the same arguments, results and errors as
    :class:`~node.fabric.gateway.Contract`. Safe to call from several threads at once."""

    def __init__(self, make_contract: Callable[[], Contract]) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="fabric-sync", daemon=True
        )
        self._thread.start()
        self._closed = False

        async def make() -> Contract:
            return make_contract()

        try:
            self._contract = self._run(make())
        except BaseException:
            self._stop()
            raise

    @property
    def contract(self) -> Contract:
        """The async contract underneath (use it only on this wrapper's loop)."""
        return self._contract

    def _run(self, coro: Coroutine[Any, Any, _T], timeout: float | None = None) -> _T:
        if self._closed:
            coro.close()
            raise RuntimeError("SyncContract is closed")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def evaluate(
        self,
        function: str,
        *args: str | bytes,
        transient: Mapping[str, bytes] | None = None,
        target_orgs: Sequence[str] = (),
    ) -> bytes:
        """See :meth:`Contract.evaluate`. Raises: EvaluateError."""
        return self._run(
            self._contract.evaluate(function, *args, transient=transient, target_orgs=target_orgs)
        )

    def submit(
        self,
        function: str,
        *args: str | bytes,
        transient: Mapping[str, bytes] | None = None,
        endorsing_orgs: Sequence[str] = (),
    ) -> SubmitResult:
        """See :meth:`Contract.submit`.

        Raises:
            EndorseError, SubmitError, CommitStatusError, CommitError.
        """
        return self._run(
            self._contract.submit(
                function, *args, transient=transient, endorsing_orgs=endorsing_orgs
            )
        )

    def close(self) -> None:
        """Close the gRPC channel and stop the loop thread. Idempotent."""
        if self._closed:
            return
        try:
            self._run(self._contract.gateway.channel.close(None))
        finally:
            self._stop()

    def _stop(self) -> None:
        self._closed = True
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    def __enter__(self) -> SyncContract:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
