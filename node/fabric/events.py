"""Resuming a chaincode event listener from its checkpoint.

Usage::

    checkpointer = FileCheckpointer(state_dir / "listener.json")
    async with aclosing(resume_events(gw, "evidence", "evidence", checkpointer)) as events:
        async for event in events:
            handle(event)
            checkpointer.checkpoint_event(event)
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from typing import Protocol

from node.fabric.checkpoint import Checkpointer
from node.fabric.gateway import ChaincodeEvent


class EventSource(Protocol):
    """What :func:`resume_events` needs of a :class:`~node.fabric.Gateway`."""

    def chaincode_events(
        self,
        channel: str,
        chaincode: str,
        *,
        start_block: int | None = None,
        after_tx_id: str = "",
    ) -> AsyncIterator[ChaincodeEvent]: ...


async def resume_events(
    gateway: EventSource,
    channel: str,
    chaincode: str,
    checkpointer: Checkpointer,
    *,
    start_block: int | None = None,
) -> AsyncGenerator[ChaincodeEvent, None]:
    """Chaincode events from where ``checkpointer`` left off.

    With a checkpoint, the stream starts at its block and the peer skips every event up to
    and including its transaction, so nothing checkpointed is delivered again. Without one,
    it starts at ``start_block`` (default: the next block to be committed); ``start_block``
    is ignored once a checkpoint exists. The caller checkpoints each event after handling
    it; an event handled but not checkpointed before a crash is delivered again.

    Close the generator (``contextlib.aclosing``) to end the subscription promptly.
    Raises whatever the gateway's event stream raises.
    """
    block = checkpointer.block_number
    if block is None:
        block, after_tx_id = start_block, ""
    else:
        after_tx_id = checkpointer.tx_id
    events = gateway.chaincode_events(
        channel, chaincode, start_block=block, after_tx_id=after_tx_id
    )
    try:
        async for event in events:
            yield event
    finally:
        # Close the gateway's stream now rather than whenever it is garbage collected.
        if isinstance(events, AsyncGenerator):
            await events.aclose()
