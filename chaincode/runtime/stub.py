"""The transaction's view of the ledger: state calls answered by the peer.

Each call is a request on the shared stream; the handler routes the peer's answer back to
this transaction by channel and transaction id. An ERROR answer raises :class:`PeerError`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from fabric_protos.common import common_pb2
from fabric_protos.ledger.queryresult import kv_query_result_pb2
from fabric_protos.peer import chaincode_event_pb2, proposal_pb2
from fabric_protos.peer import chaincode_shim_pb2 as shim

from chaincode.runtime.errors import PeerError
from chaincode.runtime.identity import ClientIdentity
from chaincode.runtime.keys import partial_key_range
from chaincode.runtime.policy import VALIDATION_PARAMETER

Call = Callable[[int, bytes], Awaitable[bytes]]


@dataclass(frozen=True)
class Page:
    """Query results with the bookmark that fetches the next page ("" when done)."""

    items: list[Any]
    bookmark: str


class Stub:
    """State access and facts about the running transaction."""

    def __init__(
        self,
        call: Call,
        channel_id: str,
        tx_id: str,
        signed_proposal: bytes | None,
        write_batch: int = 0,
        get_multiple: int = 0,
    ) -> None:
        self._call = call
        self._get_multiple = get_multiple  # keys per GET_STATE_MULTIPLE (0: not offered)
        # Writes are only collected by the peer and take effect at commit; the transaction
        # never reads its own writes back (get_state answers committed state). So when the
        # peer accepts batches they wait here and go in a few WRITE_BATCH_STATE calls
        # (at most ``write_batch`` records each) when the function returns: one round trip
        # instead of one per key. Later writes of a key replace earlier ones, as at the peer.
        self._write_batch = write_batch
        self._writes: dict[tuple[str, str, bool], Any] = {}
        self.channel_id = channel_id
        self.tx_id = tx_id
        self.event: chaincode_event_pb2.ChaincodeEvent | None = None
        self._creator = b""
        self._timestamp = dt.datetime.fromtimestamp(0, dt.UTC)
        self._transient: dict[str, bytes] = {}
        # Set by the registry for functions declared read-only: a write there is a bug.
        self.read_only = False
        if signed_proposal:
            self._read_proposal(signed_proposal)

    def _read_proposal(self, signed: bytes) -> None:
        sp = proposal_pb2.SignedProposal.FromString(signed)
        prop = proposal_pb2.Proposal.FromString(sp.proposal_bytes)
        header = common_pb2.Header.FromString(prop.header)
        channel_header = common_pb2.ChannelHeader.FromString(header.channel_header)
        sig_header = common_pb2.SignatureHeader.FromString(header.signature_header)
        self._creator = bytes(sig_header.creator)
        ts = channel_header.timestamp
        self._timestamp = dt.datetime.fromtimestamp(ts.seconds, dt.UTC) + dt.timedelta(
            microseconds=ts.nanos // 1000
        )
        payload = proposal_pb2.ChaincodeProposalPayload.FromString(prop.payload)
        self._transient = {k: bytes(v) for k, v in payload.TransientMap.items()}

    @property
    def timestamp(self) -> dt.datetime:
        """The client's transaction timestamp: the only clock a deterministic contract uses."""
        return self._timestamp

    @property
    def creator(self) -> bytes:
        return self._creator

    def client_identity(self) -> ClientIdentity:
        return ClientIdentity.from_creator(self._creator)

    def transient(self) -> dict[str, bytes]:
        return dict(self._transient)

    async def get_state(self, key: str, collection: str = "") -> bytes | None:
        """The committed value of ``key`` or None. Raises PeerError if the peer refuses."""
        value = await self._call(
            shim.ChaincodeMessage.GET_STATE,
            shim.GetState(key=key, collection=collection).SerializeToString(),
        )
        return value or None

    async def get_states(self, keys: Sequence[str], collection: str = "") -> list[bytes | None]:
        """The committed values of ``keys`` in order (None where absent): one round trip per
        batch of keys when the peer offers GET_STATE_MULTIPLE, else one per key. Each key is
        in the read set as with :meth:`get_state`. Raises PeerError if the peer refuses."""
        if not self._get_multiple:
            return [await self.get_state(key, collection) for key in keys]
        values: list[bytes | None] = []
        for start in range(0, len(keys), self._get_multiple):
            part = list(keys[start : start + self._get_multiple])
            raw = await self._call(
                shim.ChaincodeMessage.GET_STATE_MULTIPLE,
                shim.GetStateMultiple(keys=part, collection=collection).SerializeToString(),
            )
            answer = shim.GetStateMultipleResult.FromString(raw).values
            if len(answer) != len(part):
                raise PeerError(f"{len(answer)} values for {len(part)} keys")
            values.extend(bytes(v) or None for v in answer)
        return values

    def _writable(self) -> None:
        if self.read_only:
            raise RuntimeError("a read-only transaction function tried to write")

    async def put_state(self, key: str, value: bytes, collection: str = "") -> None:
        self._writable()
        if not key:
            raise ValueError("empty key")
        if self._write_batch:
            self._batched(shim.WriteRecord.PUT_STATE, key, collection, value=value)
            return
        await self._call(
            shim.ChaincodeMessage.PUT_STATE,
            shim.PutState(key=key, value=value, collection=collection).SerializeToString(),
        )

    async def delete_state(self, key: str, collection: str = "") -> None:
        self._writable()
        if self._write_batch:
            self._batched(shim.WriteRecord.DEL_STATE, key, collection)
            return
        await self._call(
            shim.ChaincodeMessage.DEL_STATE,
            shim.DelState(key=key, collection=collection).SerializeToString(),
        )

    def _batched(self, kind: int, key: str, collection: str, **fields: Any) -> None:
        metadata = kind == shim.WriteRecord.PUT_STATE_METADATA
        self._writes.pop((collection, key, metadata), None)  # the latest goes last
        self._writes[(collection, key, metadata)] = shim.WriteRecord(
            key=key, collection=collection, type=kind, **fields
        )

    async def flush_writes(self) -> None:
        """Send the batched writes to the peer (the runtime calls this once the function
        returned, before COMPLETED). Raises PeerError if the peer refuses them."""
        records = list(self._writes.values())
        self._writes.clear()
        for start in range(0, len(records), self._write_batch or 1):
            batch = shim.WriteBatchState(rec=records[start : start + self._write_batch])
            await self._call(shim.ChaincodeMessage.WRITE_BATCH_STATE, batch.SerializeToString())

    async def get_private_data_hash(self, collection: str, key: str) -> bytes | None:
        """The hash of a private value as this peer's ledger holds it (any org may ask)."""
        value = await self._call(
            shim.ChaincodeMessage.GET_PRIVATE_DATA_HASH,
            shim.GetState(key=key, collection=collection).SerializeToString(),
        )
        return value or None

    async def get_key_policy(self, key: str, collection: str = "") -> bytes | None:
        """The key-level endorsement policy of ``key`` (serialized), or None."""
        raw = await self._call(
            shim.ChaincodeMessage.GET_STATE_METADATA,
            shim.GetStateMetadata(key=key, collection=collection).SerializeToString(),
        )
        result = shim.StateMetadataResult.FromString(raw)
        for entry in result.entries:
            if entry.metakey == VALIDATION_PARAMETER:
                return bytes(entry.value) or None
        return None

    async def set_key_policy(self, key: str, policy: bytes, collection: str = "") -> None:
        """Require ``policy`` (see :func:`chaincode.runtime.policy.peers_of`) for updates."""
        self._writable()
        if self._write_batch:
            meta = shim.StateMetadata(metakey=VALIDATION_PARAMETER, value=policy)
            self._batched(shim.WriteRecord.PUT_STATE_METADATA, key, collection, metadata=meta)
            return
        await self._call(
            shim.ChaincodeMessage.PUT_STATE_METADATA,
            shim.PutStateMetadata(
                key=key,
                collection=collection,
                metadata=shim.StateMetadata(metakey=VALIDATION_PARAMETER, value=policy),
            ).SerializeToString(),
        )

    async def range(
        self,
        start: str,
        end: str,
        *,
        page_size: int = 0,
        bookmark: str = "",
        collection: str = "",
    ) -> Page:
        """Keys in [start, end) with their values; ``page_size`` > 0 paginates.

        Raises:
            PeerError: the peer refused the query.
        """
        metadata = b""
        if page_size:
            metadata = shim.QueryMetadata(pageSize=page_size, bookmark=bookmark).SerializeToString()
        raw = await self._call(
            shim.ChaincodeMessage.GET_STATE_BY_RANGE,
            shim.GetStateByRange(
                startKey=start, endKey=end, collection=collection, metadata=metadata
            ).SerializeToString(),
        )
        return await self._drain(raw, kv_query_result_pb2.KV, lambda kv: (kv.key, bytes(kv.value)))

    async def by_partial_key(
        self,
        object_type: str,
        attributes: Sequence[str],
        *,
        page_size: int = 0,
        bookmark: str = "",
    ) -> Page:
        """Every entry whose composite key starts with (object_type, *attributes)."""
        start, end = partial_key_range(object_type, attributes)
        return await self.range(start, end, page_size=page_size, bookmark=bookmark)

    async def history(self, key: str) -> list[tuple[str, bytes, bool]]:
        """(tx id, value, is_delete) for every committed change of ``key``, oldest first."""
        raw = await self._call(
            shim.ChaincodeMessage.GET_HISTORY_FOR_KEY,
            shim.GetHistoryForKey(key=key).SerializeToString(),
        )
        page = await self._drain(
            raw,
            kv_query_result_pb2.KeyModification,
            lambda m: (m.tx_id, bytes(m.value), bool(m.is_delete)),
        )
        return list(page.items)

    async def _drain(self, raw: bytes, kind: Any, convert: Callable[[Any], Any]) -> Page:
        # Pages of results arrive in batches; follow QUERY_STATE_NEXT until has_more is
        # false. The peer frees the iterator itself with the answer that says so
        # (core/chaincode/query_response_generator.go), and any left at the end of the
        # transaction: a QUERY_STATE_CLOSE would be one more round trip for nothing.
        items: list[Any] = []
        response = shim.QueryResponse.FromString(raw)
        while True:
            items.extend(convert(kind.FromString(r.resultBytes)) for r in response.results)
            if not response.has_more:
                break
            raw = await self._call(
                shim.ChaincodeMessage.QUERY_STATE_NEXT,
                shim.QueryStateNext(id=response.id).SerializeToString(),
            )
            response = shim.QueryResponse.FromString(raw)
        bookmark = ""
        if response.metadata:
            bookmark = shim.QueryResponseMetadata.FromString(response.metadata).bookmark
        return Page(items=items, bookmark=bookmark)

    def set_event(self, name: str, payload: bytes) -> None:
        """Attach the transaction's (single) chaincode event, sent with COMPLETED."""
        self._writable()
        if not name:
            raise ValueError("event name must not be empty")
        self.event = chaincode_event_pb2.ChaincodeEvent(event_name=name, payload=payload)
