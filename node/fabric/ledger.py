"""Ledger proofs: blocks and transactions read from a peer's ledger through the system
chaincode ``qscc`` (``Evaluate`` on the Gateway; nothing is ordered).

The methods return the peer's raw bytes, because a court verifies an evidence package offline
from exactly these; each answer is first checked to be what was asked for. Parse them with
:mod:`node.fabric.blocks`.

Usage::

    ledger = LedgerQueries(gateway, "evidence")
    block = BlockView.from_bytes(await ledger.block_by_tx_id(tx_id))
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

from fabric_protos.common import ledger_pb2
from google.protobuf.message import DecodeError

from node.fabric.blocks import BlockView, MalformedLedgerData, TransactionView
from node.fabric.errors import EvaluateError, PeerDetail
from node.fabric.gateway import Gateway
from schemas.hashes import Digest, InvalidDigest

# What Fabric's block index says when it has no such entry (common/ledger/blkstorage).
_NOT_FOUND = re.compile(r"no such (transaction ID|block number|block hash)")


class LedgerQueryError(Exception):
    """A ledger query failed: the peer refused or was unreachable, or its answer was not what
    was asked for. ``function`` is the qscc function; ``tx_id`` or ``block_number`` what was
    asked for; ``details`` what each peer said."""

    def __init__(
        self,
        message: str,
        *,
        function: str,
        tx_id: str | None = None,
        block_number: int | None = None,
        details: tuple[PeerDetail, ...] = (),
    ) -> None:
        super().__init__(message)
        self.function = function
        self.tx_id = tx_id
        self.block_number = block_number
        self.details = details


class NotFoundOnLedger(LedgerQueryError):
    """The peer's ledger has no such transaction or block (yet: another peer may be ahead)."""


@dataclass(frozen=True)
class ChainInfo:
    """The height of a peer's ledger and the hashes of its last two blocks."""

    height: int
    current_block_hash: Digest
    previous_block_hash: Digest | None

    @property
    def last_block_number(self) -> int:
        return self.height - 1


class BlockLookup(Protocol):
    """A local copy of the channel's blocks (node.chain.BlockArchive): each answer is the
    block's bytes as the peer delivered it, or None if the copy does not hold it (yet)."""

    def block(self, number: int) -> bytes | None: ...
    def block_of(self, tx_id: str) -> bytes | None: ...


class LedgerQueries:
    """Blocks, transactions and chain info of ``channel`` from the gateway's peer.

    With ``archive``, blocks are read from it first and from the peer only when it does not
    hold them yet (a block committed a moment ago): the same bytes, without a query the peer
    answers beside its endorsements. ``peer_block_reads`` and ``archived_block_reads`` count
    where each block came from.
    """

    def __init__(
        self, gateway: Gateway, channel: str, *, archive: BlockLookup | None = None
    ) -> None:
        self.channel = channel
        self._qscc = gateway.contract(channel, "qscc")
        self._archive = archive
        self.peer_block_reads = 0
        self.archived_block_reads = 0

    async def chain_info(self) -> ChainInfo:
        """Raises: LedgerQueryError."""
        raw = await self._evaluate("GetChainInfo")
        try:
            info = ledger_pb2.BlockchainInfo.FromString(raw)
            previous = bytes(info.previousBlockHash)
            return ChainInfo(
                height=int(info.height),
                current_block_hash=Digest("sha256", bytes(info.currentBlockHash)),
                previous_block_hash=Digest("sha256", previous) if previous else None,
            )
        except (DecodeError, InvalidDigest) as exc:
            raise LedgerQueryError(
                "GetChainInfo answered with malformed chain info", function="GetChainInfo"
            ) from exc

    async def block_by_number(self, number: int) -> bytes:
        """The serialized block ``number``.

        Raises:
            NotFoundOnLedger: the peer has no such block. LedgerQueryError: anything else.
        """
        if self._archive is not None:
            archived = self._archive.block(number)
            if archived is not None:
                self.archived_block_reads += 1
                return archived
        function = "GetBlockByNumber"
        self.peer_block_reads += 1
        raw = await self._evaluate(function, str(number), block_number=number)
        block = self._block(raw, function, block_number=number)
        if block.number != number:
            raise LedgerQueryError(
                f"{function} {number} answered with block {block.number}",
                function=function,
                block_number=number,
            )
        return raw

    async def block_by_tx_id(self, tx_id: str) -> bytes:
        """The serialized block that recorded ``tx_id``.

        Raises:
            NotFoundOnLedger: the peer has no such transaction. LedgerQueryError: anything else.
        """
        if self._archive is not None:
            archived = self._archive.block_of(tx_id)
            if archived is not None:
                self.archived_block_reads += 1
                return archived
        function = "GetBlockByTxID"
        self.peer_block_reads += 1
        raw = await self._evaluate(function, tx_id, tx_id=tx_id)
        if self._block(raw, function, tx_id=tx_id).index_of(tx_id) is None:
            raise LedgerQueryError(
                f"{function} answered with a block without transaction {tx_id}",
                function=function,
                tx_id=tx_id,
            )
        return raw

    async def transaction_by_id(self, tx_id: str) -> bytes:
        """The serialized ``ProcessedTransaction`` (validation code and envelope) of ``tx_id``.

        Raises:
            NotFoundOnLedger: the peer has no such transaction. LedgerQueryError: anything else.
        """
        function = "GetTransactionByID"
        raw = await self._evaluate(function, tx_id, tx_id=tx_id)
        try:
            found = TransactionView.from_processed_transaction(raw).tx_id
        except MalformedLedgerData as exc:
            raise LedgerQueryError(
                f"{function} answered with a malformed transaction for {tx_id}",
                function=function,
                tx_id=tx_id,
            ) from exc
        if found != tx_id:
            raise LedgerQueryError(
                f"{function} {tx_id} answered with transaction {found}",
                function=function,
                tx_id=tx_id,
            )
        return raw

    async def config_block(self) -> bytes:
        """The channel's latest config block: the one the last block's metadata names.

        Raises:
            LedgerQueryError: a query failed, or the named block is not a config block.
        """
        info = await self.chain_info()
        last = self._block(
            await self.block_by_number(info.last_block_number),
            "GetBlockByNumber",
            block_number=info.last_block_number,
        )
        raw = await self.block_by_number(last.last_config_index)
        if not self._block(raw, "GetBlockByNumber").is_config:
            raise LedgerQueryError(
                f"block {last.number} names block {last.last_config_index} as the last config "
                "block, which is not a config block",
                function="GetBlockByNumber",
                block_number=last.last_config_index,
            )
        return raw

    async def _evaluate(
        self, function: str, *args: str, tx_id: str | None = None, block_number: int | None = None
    ) -> bytes:
        try:
            return await self._qscc.evaluate(function, self.channel, *args)
        except EvaluateError as exc:
            said = [str(exc), *(d.message for d in exc.details)]
            subject = (
                f"transaction {tx_id}"
                if tx_id is not None
                else f"block {block_number}"
                if block_number is not None
                else f"channel {self.channel}"
            )
            if any(_NOT_FOUND.search(text) for text in said):
                cls: type[LedgerQueryError] = NotFoundOnLedger
                message = f"{subject} is not on the peer's ledger of channel {self.channel}"
            else:
                cls = LedgerQueryError
                message = f"{function} for {subject} failed: {exc}"
            raise cls(
                message,
                function=function,
                tx_id=tx_id,
                block_number=block_number,
                details=exc.details,
            ) from exc

    @staticmethod
    def _block(
        raw: bytes, function: str, *, tx_id: str | None = None, block_number: int | None = None
    ) -> BlockView:
        try:
            return BlockView.from_bytes(raw)
        except MalformedLedgerData as exc:
            raise LedgerQueryError(
                f"{function} answered with a malformed block: {exc}",
                function=function,
                tx_id=tx_id,
                block_number=block_number,
            ) from exc
