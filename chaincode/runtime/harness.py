"""An in-process peer for fast contract tests, driving the same code path as Fabric does.

The harness speaks the chaincode protocol to a real :class:`StreamHandler` (REGISTER,
TRANSACTION, state calls, COMPLETED) and answers state calls from an in-memory world state
with Fabric's semantics where contracts can tell the difference:

- reads see committed state, never the transaction's own writes;
- a transaction's writes apply only if it succeeds and validates (no partial writes);
- validation fails with MVCC_READ_CONFLICT when a key it read changed since, with
  PHANTOM_READ_CONFLICT when a range it read changed, and with
  ENDORSEMENT_POLICY_FAILURE when it writes a key whose key-level policy names an org
  that is not among ``endorsing_orgs``;
- paginated ranges return Fabric's bookmark (the next key, or "" when done) and are
  refused in a transaction that writes.

It is a seam for unit tests, never a ledger: scenario tests run on the real network.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import itertools
import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from fabric_protos.common import common_pb2
from fabric_protos.ledger.queryresult import kv_query_result_pb2
from fabric_protos.peer import chaincode_pb2, proposal_pb2, proposal_response_pb2
from fabric_protos.peer import chaincode_shim_pb2 as shim
from google.protobuf.timestamp_pb2 import Timestamp

from chaincode.runtime.contract import Registry
from chaincode.runtime.handler import StreamHandler
from chaincode.runtime.policy import VALIDATION_PARAMETER, msp_ids_of

Msg = shim.ChaincodeMessage
_BATCH = 100  # results per QueryResponse, as the peer's totalQueryLimit batches them
_CHANNEL = "evidence"


@dataclass(frozen=True)
class TxResult:
    """The outcome of one transaction: ``status`` is a Fabric validation code, or
    ``ENDORSEMENT_FAILED`` when the chaincode refused (nothing was written)."""

    tx_id: str
    status: str
    payload: bytes = b""
    message: str = ""
    event: tuple[str, bytes] | None = None
    state_calls: int = 0

    @property
    def ok(self) -> bool:
        return self.status == "VALID"

    def json(self) -> Any:
        return json.loads(self.payload)

    @property
    def error(self) -> dict[str, str]:
        """The chaincode's ``{"code", "message"}`` refusal."""
        doc = json.loads(self.message)
        assert isinstance(doc, dict)
        return {str(k): str(v) for k, v in doc.items()}

    @property
    def code(self) -> str:
        return self.error["code"]


@dataclass
class _Versioned:
    value: bytes
    version: int


@dataclass
class MemoryLedger:
    """Committed world state with per-key versions, key metadata and history."""

    state: dict[str, _Versioned] = field(default_factory=dict)
    private: dict[tuple[str, str], bytes] = field(default_factory=dict)
    metadata: dict[str, bytes] = field(default_factory=dict)
    history: dict[str, list[tuple[str, bytes, bool]]] = field(default_factory=dict)
    events: list[tuple[str, str, bytes]] = field(default_factory=list)
    _commits: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def version(self, key: str) -> int:
        entry = self.state.get(key)
        return 0 if entry is None else entry.version

    def get(self, key: str) -> bytes | None:
        entry = self.state.get(key)
        return None if entry is None else entry.value

    def keys_in(self, start: str, end: str) -> list[str]:
        return sorted(k for k in self.state if start <= k and (not end or k < end))

    def seed(self, key: str, value: bytes | None) -> None:
        """Set (or, with None, remove) a committed key outside any transaction: state that
        an earlier chaincode version left, which upgrades must still read."""
        if value is None:
            self.state.pop(key, None)
        else:
            self.state[key] = _Versioned(value, next(self._commits))


@dataclass
class _Simulation:
    """One transaction's read set, write set and open query iterators."""

    ledger: MemoryLedger
    reads: dict[str, int] = field(default_factory=dict)
    ranges: list[tuple[str, str, list[tuple[str, int]]]] = field(default_factory=list)
    writes: dict[str, bytes | None] = field(default_factory=dict)
    private_writes: dict[tuple[str, str], bytes | None] = field(default_factory=dict)
    metadata_writes: dict[str, bytes] = field(default_factory=dict)
    iterators: dict[str, list[bytes]] = field(default_factory=dict)
    paginated: bool = False
    calls: int = 0  # state calls: each is a round trip to the peer on a real network
    _ids: itertools.count[int] = field(default_factory=itertools.count)

    def answer(self, kind: int, payload: bytes) -> bytes:
        """The peer's answer to one state call; raises ValueError for an ERROR answer."""
        ledger = self.ledger
        self.calls += 1
        if kind == Msg.GET_STATE:
            req = shim.GetState.FromString(payload)
            if req.collection:
                return ledger.private.get((req.collection, req.key), b"")
            self.reads.setdefault(req.key, ledger.version(req.key))
            return ledger.get(req.key) or b""
        if kind == Msg.PUT_STATE:
            put = shim.PutState.FromString(payload)
            if not put.value:
                raise ValueError("empty value: use DEL_STATE")
            if put.collection:
                self.private_writes[(put.collection, put.key)] = bytes(put.value)
            else:
                self.writes[put.key] = bytes(put.value)
            return b""
        if kind == Msg.DEL_STATE:
            delete = shim.DelState.FromString(payload)
            if delete.collection:
                self.private_writes[(delete.collection, delete.key)] = None
            else:
                self.writes[delete.key] = None
            return b""
        if kind == Msg.GET_PRIVATE_DATA_HASH:
            req = shim.GetState.FromString(payload)
            value = ledger.private.get((req.collection, req.key))
            return b"" if value is None else hashlib.sha256(value).digest()
        if kind == Msg.GET_STATE_METADATA:
            key = shim.GetStateMetadata.FromString(payload).key
            entries = []
            if key in ledger.metadata:
                entries.append(
                    shim.StateMetadata(metakey=VALIDATION_PARAMETER, value=ledger.metadata[key])
                )
            return bytes(shim.StateMetadataResult(entries=entries).SerializeToString())
        if kind == Msg.PUT_STATE_METADATA:
            req = shim.PutStateMetadata.FromString(payload)
            if req.metadata.metakey != VALIDATION_PARAMETER:
                raise ValueError(f"unsupported metadata key {req.metadata.metakey}")
            self.metadata_writes[req.key] = bytes(req.metadata.value)
            return b""
        if kind == Msg.GET_STATE_BY_RANGE:
            return self._range(shim.GetStateByRange.FromString(payload))
        if kind == Msg.QUERY_STATE_NEXT:
            return self._page(shim.QueryStateNext.FromString(payload).id, b"")
        if kind == Msg.QUERY_STATE_CLOSE:
            self.iterators.pop(shim.QueryStateClose.FromString(payload).id, None)
            return b""
        if kind == Msg.GET_HISTORY_FOR_KEY:
            key = shim.GetHistoryForKey.FromString(payload).key
            results = [
                kv_query_result_pb2.KeyModification(tx_id=tx, value=value, is_delete=deleted)
                for tx, value, deleted in ledger.history.get(key, [])
            ]
            return self._open([r.SerializeToString() for r in results], b"")
        if kind == Msg.GET_STATE_MULTIPLE:
            req = shim.GetStateMultiple.FromString(payload)
            if req.collection:
                raise ValueError("private multiple reads are not supported by the harness")
            for key in req.keys:
                self.reads.setdefault(key, ledger.version(key))
            values = [ledger.get(key) or b"" for key in req.keys]
            return bytes(shim.GetStateMultipleResult(values=values).SerializeToString())
        if kind == Msg.WRITE_BATCH_STATE:
            # As the peer's HandleWriteBatch: each record as its single call would be.
            self.calls -= len(shim.WriteBatchState.FromString(payload).rec) - 1
            for rec in shim.WriteBatchState.FromString(payload).rec:
                if rec.type == shim.WriteRecord.PUT_STATE:
                    one = shim.PutState(key=rec.key, value=rec.value, collection=rec.collection)
                    self.answer(Msg.PUT_STATE, one.SerializeToString())
                elif rec.type == shim.WriteRecord.DEL_STATE:
                    gone = shim.DelState(key=rec.key, collection=rec.collection)
                    self.answer(Msg.DEL_STATE, gone.SerializeToString())
                elif rec.type == shim.WriteRecord.PUT_STATE_METADATA:
                    meta = shim.PutStateMetadata(
                        key=rec.key, collection=rec.collection, metadata=rec.metadata
                    )
                    self.answer(Msg.PUT_STATE_METADATA, meta.SerializeToString())
                else:
                    raise ValueError(f"unsupported write record type {rec.type}")
            return b""
        raise ValueError(f"the harness does not support {Msg.Type.Name(kind)}")

    def _range(self, req: Any) -> bytes:
        if req.collection:
            raise ValueError("private range queries are not supported by the harness")
        keys = self.ledger.keys_in(req.startKey, req.endKey)
        metadata = b""
        if req.metadata:
            query = shim.QueryMetadata.FromString(req.metadata)
            self.paginated = True
            if query.bookmark:
                keys = [k for k in keys if k >= query.bookmark]
            rest = keys[query.pageSize :] if query.pageSize else []
            keys = keys[: query.pageSize] if query.pageSize else keys
            bookmark = rest[0] if rest else ""
            metadata = shim.QueryResponseMetadata(
                fetched_records_count=len(keys), bookmark=bookmark
            ).SerializeToString()
        else:
            self.ranges.append(
                (req.startKey, req.endKey, [(k, self.ledger.version(k)) for k in keys])
            )
        results = [
            kv_query_result_pb2.KV(key=k, value=self.ledger.get(k) or b"").SerializeToString()
            for k in keys
        ]
        return self._open(results, metadata)

    def _open(self, results: list[bytes], metadata: bytes) -> bytes:
        iterator = f"it{next(self._ids)}"
        self.iterators[iterator] = results
        return self._page(iterator, metadata)

    def _page(self, iterator: str, metadata: bytes) -> bytes:
        pending = self.iterators.get(iterator, [])
        now, later = pending[:_BATCH], pending[_BATCH:]
        self.iterators[iterator] = later
        response = shim.QueryResponse(
            results=[shim.QueryResultBytes(resultBytes=r) for r in now],
            has_more=bool(later),
            id=iterator,
            metadata=metadata,
        )
        return bytes(response.SerializeToString())

    def validate(self, endorsing_orgs: Sequence[str] | None) -> str:
        ledger = self.ledger
        if any(ledger.version(k) != v for k, v in self.reads.items()):
            return "MVCC_READ_CONFLICT"
        for start, end, seen in self.ranges:
            if [(k, ledger.version(k)) for k in ledger.keys_in(start, end)] != seen:
                return "PHANTOM_READ_CONFLICT"
        if endorsing_orgs is not None:
            for key in set(self.writes) | set(self.metadata_writes):
                policy = ledger.metadata.get(key)
                if policy and not set(msp_ids_of(policy)) <= set(endorsing_orgs):
                    return "ENDORSEMENT_POLICY_FAILURE"
        return "VALID"

    def commit(self, tx_id: str) -> None:
        ledger = self.ledger
        commit = next(ledger._commits)
        for key, value in sorted(self.writes.items()):
            if value is None:
                ledger.state.pop(key, None)
                ledger.metadata.pop(key, None)
            else:
                ledger.state[key] = _Versioned(value, commit)
            ledger.history.setdefault(key, []).append((tx_id, value or b"", value is None))
        for pkey, pvalue in self.private_writes.items():
            if pvalue is None:
                ledger.private.pop(pkey, None)
            else:
                ledger.private[pkey] = pvalue
        ledger.metadata.update(self.metadata_writes)


def signed_proposal(
    creator: bytes,
    tx_id: str,
    args: Sequence[bytes],
    at: dt.datetime,
    transient: dict[str, bytes] | None = None,
) -> proposal_pb2.SignedProposal:
    """A proposal carrying what the stub reads (creator, time, transient); unsigned."""
    ts = Timestamp()
    ts.FromDatetime(at.astimezone(dt.UTC).replace(tzinfo=None))
    channel_header = common_pb2.ChannelHeader(
        type=common_pb2.ENDORSER_TRANSACTION, channel_id=_CHANNEL, tx_id=tx_id, timestamp=ts
    )
    header = common_pb2.Header(
        channel_header=channel_header.SerializeToString(),
        signature_header=common_pb2.SignatureHeader(creator=creator).SerializeToString(),
    )
    spec = chaincode_pb2.ChaincodeInvocationSpec(
        chaincode_spec=chaincode_pb2.ChaincodeSpec(input=chaincode_pb2.ChaincodeInput(args=args))
    )
    payload = proposal_pb2.ChaincodeProposalPayload(
        input=spec.SerializeToString(), TransientMap=transient or {}
    )
    proposal = proposal_pb2.Proposal(
        header=header.SerializeToString(), payload=payload.SerializeToString()
    )
    return proposal_pb2.SignedProposal(proposal_bytes=proposal.SerializeToString())


class Harness:
    """A peer and an in-memory ledger around one chaincode stream handler.

    Use it as an async context manager; ``clock`` gives each transaction its timestamp
    (one second apart by default) unless ``at`` is passed.
    """

    def __init__(
        self,
        registry: Registry,
        start: dt.datetime | None = None,
        write_batch: int = 1000,
        get_multiple: int = 1000,
    ) -> None:
        """``write_batch``, ``get_multiple``: what the peer offers at READY, as
        network-config's core.yaml does (``chaincode.runtimeParams``); 0 for a peer that
        offers no write batches (no multiple-key reads)."""
        self.ledger = MemoryLedger()
        self._write_batch = write_batch
        self._get_multiple = get_multiple
        self.clock = start or dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)
        self._handler = StreamHandler(registry, "evidence_harness:0")
        self._inbox: asyncio.Queue[Any] = asyncio.Queue()
        self._running: dict[str, tuple[_Simulation, asyncio.Future[Any]]] = {}
        self._ids = itertools.count(1)
        self._pump: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Harness:
        self._pump = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._inbox.put_nowait(None)
        if self._pump is not None:
            await asyncio.wait_for(self._pump, timeout=5)

    async def _incoming(self) -> AsyncIterator[Any]:
        yield Msg(type=Msg.REGISTERED)
        # ChaincodeAdditionalParams: 1 use_write_batch, 2 max_size_write_batch,
        # 3 use_get_multiple_keys, 4 max_size_get_multiple_keys (all varints).
        params = b""
        if self._write_batch:
            params += b"\x08\x01\x10" + _varint_bytes(self._write_batch)
        if self._get_multiple:
            params += b"\x18\x01\x20" + _varint_bytes(self._get_multiple)
        yield Msg(type=Msg.READY, payload=params)
        while (msg := await self._inbox.get()) is not None:
            yield msg

    async def _run(self) -> None:
        async for msg in self._handler.run(self._incoming()):
            if msg.type == Msg.REGISTER:
                continue
            running = self._running.get(msg.txid)
            if running is None:
                continue
            simulation, done = running
            if msg.type in (Msg.COMPLETED, Msg.ERROR):
                done.set_result(msg)
                continue
            try:
                answer = Msg(type=Msg.RESPONSE, payload=simulation.answer(msg.type, msg.payload))
            except ValueError as exc:
                answer = Msg(type=Msg.ERROR, payload=str(exc).encode())
            answer.txid, answer.channel_id = msg.txid, msg.channel_id
            self._inbox.put_nowait(answer)

    def _tick(self, at: dt.datetime | None) -> dt.datetime:
        if at is not None:
            return at
        self.clock += dt.timedelta(seconds=1)
        return self.clock

    async def _simulate(
        self,
        creator: bytes,
        function: str,
        args: Sequence[str | bytes],
        at: dt.datetime | None,
        transient: dict[str, bytes] | None,
    ) -> tuple[str, _Simulation, Any]:
        tx_id = hashlib.sha256(f"harness-{next(self._ids)}".encode()).hexdigest()
        encoded = [function.encode()] + [a.encode() if isinstance(a, str) else a for a in args]
        simulation = _Simulation(self.ledger)
        done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._running[tx_id] = (simulation, done)
        proposal = signed_proposal(creator, tx_id, encoded, self._tick(at), transient)
        self._inbox.put_nowait(
            Msg(
                type=Msg.TRANSACTION,
                txid=tx_id,
                channel_id=_CHANNEL,
                proposal=proposal,
                payload=chaincode_pb2.ChaincodeInput(args=encoded).SerializeToString(),
            )
        )
        try:
            msg = await asyncio.wait_for(done, timeout=10)
        finally:
            del self._running[tx_id]
        return tx_id, simulation, msg

    async def evaluate(
        self,
        creator: bytes,
        function: str,
        *args: str | bytes,
        at: dt.datetime | None = None,
        transient: dict[str, bytes] | None = None,
    ) -> TxResult:
        """Run a query: nothing is committed, whatever the function writes."""
        tx_id, simulation, msg = await self._simulate(creator, function, args, at, transient)
        return _result(tx_id, msg, "VALID", simulation.calls)

    async def submit(
        self,
        creator: bytes,
        function: str,
        *args: str | bytes,
        at: dt.datetime | None = None,
        transient: dict[str, bytes] | None = None,
        endorsing_orgs: Sequence[str] | None = None,
    ) -> TxResult:
        """Simulate, validate and commit. ``endorsing_orgs`` None skips key-level policy
        checks (as if every org endorsed)."""
        tx_id, simulation, msg = await self._simulate(creator, function, args, at, transient)
        response = proposal_response_pb2.Response.FromString(msg.payload)
        if msg.type != Msg.COMPLETED or response.status != 200:
            return _result(tx_id, msg, "ENDORSEMENT_FAILED", simulation.calls)
        written = simulation.writes or simulation.metadata_writes or simulation.private_writes
        if simulation.paginated and written:
            return TxResult(
                tx_id,
                "ENDORSEMENT_FAILED",
                message='{"code":"PEER","message":"paginated queries are only '
                'allowed in read-only transactions"}',
            )
        status = simulation.validate(endorsing_orgs)
        if status == "VALID":
            simulation.commit(tx_id)
            if msg.HasField("chaincode_event"):
                event = msg.chaincode_event
                self.ledger.events.append((tx_id, event.event_name, bytes(event.payload)))
        return _result(tx_id, msg, status, simulation.calls)


def _result(tx_id: str, msg: Any, status: str, calls: int = 0) -> TxResult:
    if msg.type != Msg.COMPLETED:
        return TxResult(tx_id, "ENDORSEMENT_FAILED", message=msg.payload.decode())
    response = proposal_response_pb2.Response.FromString(msg.payload)
    if response.status != 200:
        return TxResult(tx_id, "ENDORSEMENT_FAILED", message=response.message)
    event = None
    if msg.HasField("chaincode_event"):
        event = (msg.chaincode_event.event_name, bytes(msg.chaincode_event.payload))
    return TxResult(tx_id, status, payload=bytes(response.payload), event=event, state_calls=calls)


def _varint_bytes(n: int) -> bytes:
    out = bytearray()
    while True:
        low, n = n & 0x7F, n >> 7
        out.append(low | (0x80 if n else 0))
        if not n:
            return bytes(out)
