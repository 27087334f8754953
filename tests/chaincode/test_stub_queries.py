"""Range and composite-key queries, history, key-level policies: the stub's side of the
protocol, answered by an in-memory ledger at the seam (the handler's call function)."""

from __future__ import annotations

from typing import Any

import pytest
from fabric_protos.ledger.queryresult import kv_query_result_pb2
from fabric_protos.peer import chaincode_shim_pb2 as shim

from chaincode.runtime import ContractError, PeerError, Stub
from chaincode.runtime.keys import composite_key, partial_key_range, split_composite_key
from chaincode.runtime.policy import VALIDATION_PARAMETER, msp_ids_of, peers_of

Msg = shim.ChaincodeMessage


class FakeLedger:
    """Answers state calls the way the peer does: range results in batches of ``batch``."""

    def __init__(self, state: dict[str, bytes], batch: int = 2) -> None:
        self.state = state
        self.batch = batch
        self.metadata: dict[str, bytes] = {}
        self.iterators: dict[str, list[bytes]] = {}
        self.closed: list[str] = []
        self.calls: list[int] = []

    def _page(self, iterator_id: str) -> bytes:
        pending = self.iterators[iterator_id]
        now, later = pending[: self.batch], pending[self.batch :]
        self.iterators[iterator_id] = later
        return shim.QueryResponse(
            results=[shim.QueryResultBytes(resultBytes=r) for r in now],
            has_more=bool(later),
            id=iterator_id,
        ).SerializeToString()

    async def call(self, kind: int, payload: bytes) -> bytes:
        self.calls.append(kind)
        if kind == Msg.GET_STATE_BY_RANGE:
            req = shim.GetStateByRange.FromString(payload)
            keys = sorted(k for k in self.state if req.startKey <= k < req.endKey)
            self.iterators["it1"] = [
                kv_query_result_pb2.KV(key=k, value=self.state[k]).SerializeToString() for k in keys
            ]
            return self._page("it1")
        if kind == Msg.QUERY_STATE_NEXT:
            return self._page(shim.QueryStateNext.FromString(payload).id)
        if kind == Msg.QUERY_STATE_CLOSE:
            self.closed.append(shim.QueryStateClose.FromString(payload).id)
            return b""
        if kind == Msg.GET_HISTORY_FOR_KEY:
            key = shim.GetHistoryForKey.FromString(payload).key
            mods = [
                kv_query_result_pb2.KeyModification(tx_id=f"tx{i}", value=v).SerializeToString()
                for i, v in enumerate((b"a", b"b"))
            ]
            self.iterators[key] = mods
            return self._page(key)
        if kind == Msg.PUT_STATE_METADATA:
            req = shim.PutStateMetadata.FromString(payload)
            self.metadata[req.key] = req.metadata.value
            return b""
        if kind == Msg.GET_STATE_METADATA:
            key = shim.GetStateMetadata.FromString(payload).key
            entries = []
            if key in self.metadata:
                entries.append(shim.StateMetadata(metakey=VALIDATION_PARAMETER,
                                                  value=self.metadata[key]))  # fmt: skip
            return shim.StateMetadataResult(entries=entries).SerializeToString()
        if kind == Msg.GET_PRIVATE_DATA_HASH:
            raise PeerError("collection _implicit_org_X: no such collection")
        raise AssertionError(f"unexpected call {kind}")


def _stub(ledger: FakeLedger) -> Stub:
    return Stub(ledger.call, "evidence", "tx", None)


def test_composite_keys_round_trip_and_reject_separators() -> None:
    key = composite_key("case", ["UrbanManagement", "C-1"])
    assert split_composite_key(key) == ("case", ["UrbanManagement", "C-1"])
    start, end = partial_key_range("case", ["UrbanManagement"])
    assert start <= key < end
    assert not start <= composite_key("case", ["PublicSecurity", "C-1"]) < end
    with pytest.raises(ContractError) as info:
        composite_key("case", ["a\x00b"])
    assert info.value.code == "VALIDATION_FAILED"


async def test_partial_key_query_follows_every_batch_and_leaves_the_close_to_the_peer() -> None:
    state: dict[str, Any] = {
        composite_key("evidence", ["C-1", f"E-{i}"]): f"v{i}".encode() for i in range(5)
    }
    state[composite_key("evidence", ["C-2", "E-9"])] = b"other case"
    ledger = FakeLedger(state, batch=2)
    page = await _stub(ledger).by_partial_key("evidence", ["C-1"])
    assert [v for _, v in page.items] == [b"v0", b"v1", b"v2", b"v3", b"v4"]
    assert ledger.calls.count(Msg.QUERY_STATE_NEXT) == 2
    # The last answer (has_more false) freed the iterator at the peer.
    assert ledger.closed == []
    assert Msg.QUERY_STATE_CLOSE not in ledger.calls


async def test_history_lists_changes_oldest_first() -> None:
    history = await _stub(FakeLedger({})).history("k")
    assert history == [("tx0", b"a", False), ("tx1", b"b", False)]


async def test_key_policy_round_trip() -> None:
    ledger = FakeLedger({})
    stub = _stub(ledger)
    assert await stub.get_key_policy("case~C-1") is None
    await stub.set_key_policy("case~C-1", peers_of(["MarketSupervisionMSP"]))
    policy = await stub.get_key_policy("case~C-1")
    assert policy is not None
    assert msp_ids_of(policy) == ["MarketSupervisionMSP"]


def test_policy_bytes_are_deterministic() -> None:
    assert peers_of(["B", "A"]) == peers_of(["A", "B", "A"])


async def test_private_data_hash_peer_error_raises() -> None:
    with pytest.raises(PeerError):
        await _stub(FakeLedger({})).get_private_data_hash("_implicit_org_X", "k")
