"""Keeping the block archive in step with the department's peer: the peer's block stream
from the archive's height on, each block appended as it commits."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import Protocol

from node.chain.archive import BlockArchive
from node.fabric.deliver import deliver_blocks
from node.fabric.gateway import Gateway

log = logging.getLogger(__name__)


class BlockSource(Protocol):
    """What :class:`ChainFollower` reads blocks from (:func:`deliver_blocks`)."""

    def __call__(
        self, gateway: Gateway, channel: str, *, start: int
    ) -> AsyncGenerator[bytes, None]: ...


class ChainFollower:
    """Appends ``channel``'s blocks, as ``gateway``'s peer delivers them, to ``archive``.

    ``gateway``'s identity must be a reader of the channel (the node reads as its org admin).
    """

    def __init__(
        self,
        gateway: Gateway,
        channel: str,
        archive: BlockArchive,
        *,
        blocks: BlockSource = deliver_blocks,
    ) -> None:
        self.gateway, self.channel, self.archive = gateway, channel, archive
        self._blocks = blocks

    async def run(self, *, until_height: int | None = None) -> int:
        """Archive blocks from the archive's height on until cancelled, or until the archive
        holds ``until_height`` blocks; return how many were archived.

        Raises:
            BlockRefused: the peer sent a block that does not continue the archived chain
                (nothing of it was stored).
            DeliverError, grpc.aio.AioRpcError: the stream was refused or broke.
        """
        archived = 0
        if until_height is not None and self.archive.height >= until_height:
            return archived
        stream = self._blocks(self.gateway, self.channel, start=self.archive.height)
        async with aclosing(stream) as blocks:
            async for raw in blocks:
                # SQLite commits off the event loop: the gateway serves requests meanwhile.
                await asyncio.to_thread(self.archive.append, raw)
                archived += 1
                if until_height is not None and self.archive.height >= until_height:
                    break
        return archived


async def follow_chain(follower: ChainFollower, *, retry_seconds: float = 5.0) -> None:
    """Run ``follower`` until cancelled; when the stream breaks or a block is refused, log
    it and reopen from the archive's height after ``retry_seconds`` (a refused block stays
    refused: the log names it, and exports read such blocks from the peer meanwhile)."""
    while True:
        try:
            await follower.run()
        except asyncio.CancelledError:
            raise
        except Exception:  # any stream failure or refused block: log it, reopen
            log.exception(
                "block archive: stream of %s failed at height %d; reopening in %.0f s",
                follower.channel,
                follower.archive.height,
                retry_seconds,
            )
        await asyncio.sleep(retry_seconds)
