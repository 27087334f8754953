"""Submitting again only when the failed attempt certainly did not take effect.

Two failures qualify:

* a :class:`CommitError` with an MVCC or phantom read conflict: the transaction was ordered
  but invalidated, so its writes were discarded; a fresh proposal re-reads current state;
* an :class:`EndorseError` with gRPC status UNAVAILABLE: no endorsement, so nothing was
  sent for ordering;
* an :class:`EndorseError` whose peers returned different results ("ProposalResponsePayloads
  do not match"): one endorser had not yet committed the latest block. Nothing was sent for
  ordering, and a moment later the peers agree.

Everything else is raised at once. A :class:`SubmitError` or :class:`CommitStatusError`
leaves open whether the transaction will commit, and a second submission could then apply
the same change twice; a chaincode refusal or any other validation code would only fail
again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Protocol

import grpc

from node.fabric.errors import CommitError, EndorseError, GatewayError
from node.fabric.gateway import SubmitResult

log = logging.getLogger(__name__)

RETRYABLE_COMMIT_CODES = frozenset({"MVCC_READ_CONFLICT", "PHANTOM_READ_CONFLICT"})
# The gateway's words when endorsers disagree (fabric internal/pkg/gateway/endorsement.go).
PAYLOAD_MISMATCH = "ProposalResponsePayloads do not match"


class Submitter(Protocol):
    """What :func:`submit_with_retry` needs of a :class:`~node.fabric.Contract`."""

    async def submit(
        self,
        function: str,
        *args: str | bytes,
        transient: Mapping[str, bytes] | None = None,
        endorsing_orgs: Sequence[str] = (),
        on_endorsed: Callable[[], object] | None = None,
    ) -> SubmitResult: ...


def is_retryable(error: GatewayError) -> bool:
    """Whether ``error`` proves the transaction did not and will not take effect."""
    if isinstance(error, CommitError):
        return error.code in RETRYABLE_COMMIT_CODES
    if isinstance(error, EndorseError):
        # A chaincode refusal is not made safe to repeat by the status it arrived with.
        if error.chaincode_code is not None:
            return False
        if error.grpc_code == grpc.StatusCode.UNAVAILABLE:
            return True
        return any(PAYLOAD_MISMATCH in d.message for d in error.details)
    return False


async def submit_with_retry(
    contract: Submitter,
    function: str,
    *args: str | bytes,
    transient: Mapping[str, bytes] | None = None,
    endorsing_orgs: Sequence[str] = (),
    on_endorsed: Callable[[], object] | None = None,
    attempts: int = 3,
    backoff: float = 0.2,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
) -> SubmitResult:
    """``contract.submit(function, *args, ...)``, up to ``attempts`` times.

    Only a failure for which :func:`is_retryable` holds is tried again, after ``backoff``
    seconds, doubling each time. Each attempt is a new proposal with a new transaction id.

    Raises:
        ValueError: ``attempts`` is less than 1.
        GatewayError: the first non-retryable failure, or the last attempt's failure,
            unchanged (the same subclasses as :meth:`Contract.submit`).
    """
    if attempts < 1:
        raise ValueError(f"attempts must be at least 1, got {attempts}")
    delay = backoff
    # Passed on only when given: an attempt's endorsement calls it (again on a retry).
    hook = {} if on_endorsed is None else {"on_endorsed": on_endorsed}
    for attempt in range(1, attempts):
        try:
            return await contract.submit(
                function, *args, transient=transient, endorsing_orgs=endorsing_orgs, **hook
            )
        except (CommitError, EndorseError) as exc:
            if not is_retryable(exc):
                raise
            log.info(
                "%s attempt %d/%d failed (tx %s: %s); retrying in %.2fs",
                function,
                attempt,
                attempts,
                exc.tx_id,
                exc,
                delay,
            )
        await sleep(delay)
        delay *= 2
    return await contract.submit(
        function, *args, transient=transient, endorsing_orgs=endorsing_orgs, **hook
    )
