"""One peer connection: registration, then many concurrent transactions on one stream.

Outgoing messages go through one queue (a gRPC stream must not be written concurrently:
the PyPI shim's failure under load). The peer's answers to state calls are routed to the
waiting transaction by (channel id, transaction id).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any, TypeAlias

from fabric_protos.peer import chaincode_pb2, proposal_response_pb2
from fabric_protos.peer import chaincode_shim_pb2 as shim

from chaincode.runtime.contract import Registry
from chaincode.runtime.errors import INTERNAL, ContractError, PeerError
from chaincode.runtime.stub import Stub

log = logging.getLogger(__name__)
# The protobuf bindings are untyped; name the message type for readers.
Message: TypeAlias = Any
Msg = shim.ChaincodeMessage


class StreamHandler:
    """Drives one ``Connect`` stream for the chaincode ``chaincode_id``."""

    def __init__(self, registry: Registry, chaincode_id: str) -> None:
        self._registry = registry
        self._chaincode_id = chaincode_id
        self._outbox: asyncio.Queue[Message | None] = asyncio.Queue()
        self._pending: dict[tuple[str, str], asyncio.Future[Message]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        # Records per WRITE_BATCH_STATE and keys per GET_STATE_MULTIPLE, once READY offers them.
        self._write_batch = self._get_multiple = 0

    async def run(self, incoming: AsyncIterator[Message]) -> AsyncIterator[Message]:
        """Yield the messages to send while consuming ``incoming`` from the peer."""
        register = chaincode_pb2.ChaincodeID(name=self._chaincode_id)
        yield Msg(type=Msg.REGISTER, payload=register.SerializeToString())
        reader = asyncio.create_task(self._read(incoming))
        try:
            while True:
                msg = await self._outbox.get()
                if msg is None:
                    break
                yield msg
        finally:
            reader.cancel()
            for task in list(self._tasks):
                task.cancel()

    async def _read(self, incoming: AsyncIterator[Message]) -> None:
        try:
            async for msg in incoming:
                self._dispatch(msg)
        except Exception:  # the stream broke: end this connection, the peer redials
            log.exception("peer stream failed")
        finally:
            for fut in self._pending.values():
                if not fut.done():
                    fut.set_exception(PeerError("peer connection closed"))
            await self._outbox.put(None)

    def _dispatch(self, msg: Message) -> None:
        if msg.type == Msg.READY:
            self._write_batch, self._get_multiple = batch_sizes(bytes(msg.payload))
            log.info(
                "peer ready (write batches of %d, reads of %d keys)",
                self._write_batch,
                self._get_multiple,
            )
        elif msg.type == Msg.REGISTERED:
            log.info("peer registered")
        elif msg.type == Msg.KEEPALIVE:
            self._outbox.put_nowait(msg)
        elif msg.type in (Msg.TRANSACTION, Msg.INIT):
            task = asyncio.create_task(self._transaction(msg))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        elif msg.type in (Msg.RESPONSE, Msg.ERROR):
            fut = self._pending.pop((msg.channel_id, msg.txid), None)
            if fut is not None and not fut.done():
                fut.set_result(msg)
            else:
                log.warning("unexpected %s for tx %s", Msg.Type.Name(msg.type), msg.txid)
        else:
            log.warning("ignoring peer message %s", Msg.Type.Name(msg.type))

    async def _call(self, channel_id: str, tx_id: str, kind: int, payload: bytes) -> bytes:
        key = (channel_id, tx_id)
        if key in self._pending:
            # Fabric allows one outstanding state call per transaction.
            raise PeerError("concurrent state calls within one transaction")
        fut: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._pending[key] = fut
        await self._outbox.put(Msg(type=kind, payload=payload, txid=tx_id, channel_id=channel_id))
        answer = await fut
        if answer.type == Msg.ERROR:
            raise PeerError(answer.payload.decode("utf-8", errors="replace"))
        return bytes(answer.payload)

    async def _transaction(self, msg: Message) -> None:
        channel_id, tx_id = msg.channel_id, msg.txid

        async def call(kind: int, payload: bytes) -> bytes:
            return await self._call(channel_id, tx_id, kind, payload)

        proposal = bytes(msg.proposal.SerializeToString())
        stub = Stub(
            call,
            channel_id,
            tx_id,
            proposal,
            write_batch=self._write_batch,
            get_multiple=self._get_multiple,
        )
        args = list(chaincode_pb2.ChaincodeInput.FromString(msg.payload).args)
        event = None
        try:
            payload = await self._registry.invoke(stub, args)
            await stub.flush_writes()
            response = proposal_response_pb2.Response(status=200, payload=payload)
            event = stub.event
        except ContractError as exc:
            response = proposal_response_pb2.Response(status=500, message=exc.to_response_message())
        except PeerError as exc:
            log.warning("tx %s: peer refused a state call: %s", tx_id[:12], exc)
            err = ContractError(INTERNAL, f"peer refused a state call: {exc}")
            response = proposal_response_pb2.Response(status=500, message=err.to_response_message())
        except Exception:
            log.exception("tx %s: unexpected failure", tx_id[:12])
            err = ContractError(INTERNAL, "internal chaincode error")
            response = proposal_response_pb2.Response(status=500, message=err.to_response_message())
        done = Msg(
            type=Msg.COMPLETED,
            payload=response.SerializeToString(),
            txid=tx_id,
            channel_id=channel_id,
        )
        if event is not None:
            done.chaincode_event.CopyFrom(event)
        await self._outbox.put(done)


# Fabric's Go shim never batches fewer records or keys than this, whatever the peer says.
MIN_BATCH = 100


def batch_sizes(ready_payload: bytes) -> tuple[int, int]:
    """(records per WRITE_BATCH_STATE, keys per GET_STATE_MULTIPLE) from READY's
    ``ChaincodeAdditionalParams`` (peer core.yaml ``chaincode.runtimeParams``); 0 for what
    the peer does not offer. The message is not in the fabric-protos release we pin, so its
    four scalar fields are read off the wire (1 use_write_batch, 2 max_size_write_batch,
    3 use_get_multiple_keys, 4 max_size_get_multiple_keys; all varints)."""
    fields: dict[int, int] = {}
    pos = 0
    try:
        while pos < len(ready_payload):
            tag, pos = _varint(ready_payload, pos)
            number, wire = tag >> 3, tag & 7
            if wire == 0:
                fields[number], pos = _varint(ready_payload, pos)
            elif wire == 2:
                size, pos = _varint(ready_payload, pos)
                pos += size
            else:
                break
    except IndexError:
        log.warning("READY carries malformed additional params: no batches")
        return 0, 0
    writes = max(fields.get(2, 0), MIN_BATCH) if fields.get(1) else 0
    reads = max(fields.get(4, 0), MIN_BATCH) if fields.get(3) else 0
    return writes, reads


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
