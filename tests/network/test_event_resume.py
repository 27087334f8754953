"""A restarted chaincode event listener resumes from its file checkpoint on the real network:
nothing missed, nothing repeated."""

from __future__ import annotations

import asyncio
import uuid
from contextlib import aclosing
from pathlib import Path

import pytest

from node.consortium.clients import department_contract
from node.consortium.network import Network
from node.fabric import (
    ChaincodeEvent,
    Checkpointer,
    Contract,
    FileCheckpointer,
    InMemoryCheckpointer,
    resume_events,
)

pytestmark = pytest.mark.network

LISTEN_TIMEOUT = 30.0


def _contract(network: Network, index: int) -> Contract:
    layout = network.layout
    return department_contract(layout, layout.consortium.departments[index])


async def _listen(
    network: Network, checkpointer: Checkpointer, prefix: str, count: int, start_block: int
) -> list[ChaincodeEvent]:
    """Process events until ``count`` of this run's keys were seen, checkpointing each.

    Every event is checkpointed, ours or not, as a real listener would; only ours are
    counted, because other tests share the chaincode.
    """
    # Another department's peer than the submitter's, so resuming does not rely on the
    # peer that endorsed and committed first.
    listener = _contract(network, 2)
    ours: list[ChaincodeEvent] = []
    try:
        async with (
            asyncio.timeout(LISTEN_TIMEOUT),
            aclosing(
                resume_events(
                    listener.gateway,
                    listener.channel,
                    listener.chaincode,
                    checkpointer,
                    start_block=start_block,
                )
            ) as events,
        ):
            async for event in events:
                if event.name == "PingPut" and event.payload.decode().startswith(prefix):
                    ours.append(event)
                checkpointer.checkpoint_event(event)
                if len(ours) == count:
                    break
    finally:
        await listener.gateway.channel.close(None)
    return ours


def _keys(events: list[ChaincodeEvent]) -> list[str]:
    return [e.payload.decode() for e in events]


async def test_restarted_listener_resumes_from_its_file_checkpoint(
    network: Network, tmp_path: Path
) -> None:
    prefix = f"resume-{uuid.uuid4().hex}-"
    keys = [f"{prefix}{i}" for i in range(5)]
    path = tmp_path / "listener.json"
    submitter = _contract(network, 0)

    first = [await submitter.submit("Put", key, "v") for key in keys[:3]]
    start = first[0].block_number

    # First listener: process two events, then stop (as if the process exited).
    before = FileCheckpointer(path)
    assert _keys(await _listen(network, before, prefix, 2, start)) == keys[:2]
    assert before.tx_id == first[1].tx_id
    assert before.block_number == first[1].block_number

    for key in keys[3:]:
        await submitter.submit("Put", key, "v")

    # Restart: a fresh checkpointer on the same file picks up right after the second event.
    after = FileCheckpointer(path)
    assert (after.block_number, after.tx_id) == (first[1].block_number, first[1].tx_id)
    # start_block is deliberately wrong here: a checkpoint must take precedence over it.
    assert _keys(await _listen(network, after, prefix, 3, start_block=0)) == keys[2:]


async def test_listener_resumes_inside_a_block_after_its_last_transaction(
    network: Network, tmp_path: Path
) -> None:
    # Submitted together, the transactions usually share a block, so the checkpoint falls
    # between two events of one block and the peer must deliver the rest of that block.
    prefix = f"resume-block-{uuid.uuid4().hex}-"
    submitter = _contract(network, 1)
    results = await asyncio.gather(
        *(submitter.submit("Put", f"{prefix}{i}", "v") for i in range(4))
    )
    start = min(r.block_number for r in results)
    # The ledger's order, not the submission order, is what a listener sees.
    ledger = await _listen(network, InMemoryCheckpointer(), prefix, 4, start)
    assert {e.tx_id for e in ledger} == {r.tx_id for r in results}

    path = tmp_path / "listener.json"
    assert await _listen(network, FileCheckpointer(path), prefix, 2, start) == ledger[:2]
    assert await _listen(network, FileCheckpointer(path), prefix, 2, start) == ledger[2:]
