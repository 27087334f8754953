"""The chaincode runtime driven message by message, as a peer drives it.

A scripted peer sits at the seam (the gRPC stream): it sends TRANSACTION messages with
real signed proposals and answers state calls, in any order it likes.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import random
from collections.abc import AsyncIterator
from typing import Any

import pytest
from fabric_protos.peer import chaincode_pb2, proposal_pb2, proposal_response_pb2
from fabric_protos.peer import chaincode_shim_pb2 as shim

from chaincode.contracts import default_contracts
from chaincode.runtime import Registry
from chaincode.runtime.errors import PeerError
from chaincode.runtime.handler import StreamHandler, batch_sizes
from chaincode.runtime.stub import Stub
from node.crypto.pki import create_ca, issue
from node.fabric import Identity
from node.fabric.proposal import build_proposal

Msg = shim.ChaincodeMessage
NOW = dt.datetime(2026, 11, 22, 9, 0, tzinfo=dt.UTC)


def _creator(role: str = "officer") -> bytes:
    ca = create_ca("ca.urbanmanagement.evnet", "urbanmanagement.evnet", NOW)
    user = issue(ca, "officer-li", "urbanmanagement.evnet", NOW, organizational_unit="client",
                 attributes={"role": role})  # fmt: skip
    return Identity("UrbanManagementMSP", user.cert_pem).serialize()


CREATOR = _creator()


class ScriptedPeer:
    """Plays the peer's side of one Connect stream."""

    def __init__(self) -> None:
        self.to_chaincode: asyncio.Queue[Any] = asyncio.Queue()
        self.from_chaincode: asyncio.Queue[Any] = asyncio.Queue()
        handler = StreamHandler(Registry(default_contracts()), "evidence_1.0:abc")
        self._task = asyncio.ensure_future(self._pump(handler))

    async def _incoming(self) -> AsyncIterator[Any]:
        while (msg := await self.to_chaincode.get()) is not None:
            yield msg

    async def _pump(self, handler: StreamHandler) -> None:
        async for msg in handler.run(self._incoming()):
            await self.from_chaincode.put(msg)

    async def recv(self) -> Any:
        return await asyncio.wait_for(self.from_chaincode.get(), timeout=5)

    def transaction(self, tx_id: str, *args: str) -> None:
        proposal = build_proposal(
            creator=CREATOR, channel="evidence", chaincode="evidence",
            args=[a.encode() for a in args], now=NOW,
        )  # fmt: skip
        signed = proposal_pb2.SignedProposal(proposal_bytes=proposal.proposal_bytes)
        self.to_chaincode.put_nowait(
            Msg(type=Msg.TRANSACTION, txid=tx_id, channel_id="evidence", proposal=signed,
                payload=chaincode_pb2.ChaincodeInput(args=[a.encode() for a in args])
                .SerializeToString())
        )  # fmt: skip

    def answer(self, request: Any, payload: bytes = b"", *, error: bool = False) -> None:
        self.to_chaincode.put_nowait(
            Msg(type=Msg.ERROR if error else Msg.RESPONSE, payload=payload,
                txid=request.txid, channel_id=request.channel_id)
        )  # fmt: skip

    async def close(self) -> None:
        self.to_chaincode.put_nowait(None)
        await asyncio.wait_for(self._task, timeout=5)


def _response(msg: Any) -> Any:
    assert msg.type == Msg.COMPLETED
    return proposal_response_pb2.Response.FromString(msg.payload)


@pytest.fixture
async def peer() -> AsyncIterator[ScriptedPeer]:
    p = ScriptedPeer()
    register = await p.recv()
    assert register.type == Msg.REGISTER
    assert chaincode_pb2.ChaincodeID.FromString(register.payload).name == "evidence_1.0:abc"
    p.to_chaincode.put_nowait(Msg(type=Msg.REGISTERED))
    p.to_chaincode.put_nowait(Msg(type=Msg.READY))
    yield p
    await p.close()


async def test_ping_reads_the_role_from_the_creator_certificate(peer: ScriptedPeer) -> None:
    peer.transaction("tx1", "Ping")
    response = _response(await peer.recv())
    assert response.status == 200
    body = json.loads(response.payload)
    assert body == {"msp_id": "UrbanManagementMSP", "pong": True, "role": "officer",
                    "tx_id": "tx1"}  # fmt: skip


async def test_put_writes_state_and_sends_its_event_with_completed(peer: ScriptedPeer) -> None:
    peer.transaction("tx2", "Put", "k", "v")
    put = await peer.recv()
    assert put.type == Msg.PUT_STATE
    assert shim.PutState.FromString(put.payload).value == b"v"
    peer.answer(put)
    done = await peer.recv()
    assert _response(done).status == 200
    assert done.chaincode_event.event_name == "PingPut"
    assert done.chaincode_event.payload == b"k"


async def test_regression_pypi_shim_peer_error_read_as_value(peer: ScriptedPeer) -> None:
    # The PyPI shim returned the peer's error text from get_state as if it were the value.
    peer.transaction("tx3", "Get", "k")
    get = await peer.recv()
    assert get.type == Msg.GET_STATE
    peer.answer(get, b"tx creator does not have read access permission", error=True)
    response = _response(await peer.recv())
    assert response.status == 500
    assert json.loads(response.message)["code"] == "INTERNAL"
    assert b"read access" not in response.payload


async def test_contract_errors_carry_stable_codes(peer: ScriptedPeer) -> None:
    peer.transaction("tx4", "NoSuchFunction")
    assert json.loads(_response(await peer.recv()).message)["code"] == "UNKNOWN_FUNCTION"
    peer.transaction("tx5", "Put", "only-key")
    assert json.loads(_response(await peer.recv()).message)["code"] == "VALIDATION_FAILED"
    peer.transaction("tx6", "Get", "absent")
    get = await peer.recv()
    peer.answer(get, b"")  # empty value: the key does not exist
    assert json.loads(_response(await peer.recv()).message)["code"] == "NOT_FOUND"


async def test_many_concurrent_transactions_on_one_stream(peer: ScriptedPeer) -> None:
    n = 60
    for i in range(n):
        peer.transaction(f"tx-{i}", "Get", f"key-{i}")
    requests = [await peer.recv() for _ in range(n)]
    assert {r.txid for r in requests} == {f"tx-{i}" for i in range(n)}
    random.Random(7).shuffle(requests)  # the peer answers in any order
    for req in requests:
        key = shim.GetState.FromString(req.payload).key
        peer.answer(req, f"value-of-{key}".encode())
    results: dict[str, Any] = {}
    for _ in range(n):
        done = await peer.recv()
        results[done.txid] = json.loads(_response(done).payload)
    for i in range(n):
        assert results[f"tx-{i}"] == {"key": f"key-{i}", "value": f"value-of-ping~key-{i}"}


async def test_keepalive_is_echoed(peer: ScriptedPeer) -> None:
    peer.to_chaincode.put_nowait(Msg(type=Msg.KEEPALIVE))
    assert (await peer.recv()).type == Msg.KEEPALIVE


# --- write batches (Fabric 3: WRITE_BATCH_STATE, offered in READY) ---------------------------


@pytest.mark.parametrize(
    ("payload", "sizes"),
    [
        (b"", (0, 0)),  # an older peer, or nothing offered: one call per key
        (b"\x08\x00\x10\xe8\x07\x18\x00", (0, 0)),  # offered off
        (b"\x08\x01\x10\xe8\x07\x18\x01\x20\xe8\x07", (1000, 1000)),
        (b"\x18\x01\x20\xc8\x01", (0, 200)),  # reads only
        (b"\x08\x01\x10\x05\x18\x01", (100, 100)),  # never below the Go shim's floor
        (b"\x08\x01\x10\xe8", (0, 0)),  # cut inside a varint: malformed, so nothing
        (b"\x08\x01\x10\xe8\x07\x2a\x02hi", (1000, 0)),  # an unknown field is skipped
    ],
)
def test_ready_tells_the_batch_sizes(payload: bytes, sizes: tuple[int, int]) -> None:
    assert batch_sizes(payload) == sizes


async def test_a_batching_peer_gets_every_write_in_one_call_after_the_function() -> None:
    p = ScriptedPeer()
    assert (await p.recv()).type == Msg.REGISTER
    p.to_chaincode.put_nowait(Msg(type=Msg.REGISTERED))
    p.to_chaincode.put_nowait(Msg(type=Msg.READY, payload=b"\x08\x01\x10\xe8\x07"))
    try:
        p.transaction("tx9", "Put", "k", "v")
        batch = await p.recv()
        assert batch.type == Msg.WRITE_BATCH_STATE
        (record,) = shim.WriteBatchState.FromString(batch.payload).rec
        assert (record.key, record.value, record.type) == (
            "ping~k",
            b"v",
            shim.WriteRecord.PUT_STATE,
        )
        p.answer(batch, b"refused", error=True)  # the peer refuses the batch: no success
        response = _response(await p.recv())
        assert response.status == 500
        assert json.loads(response.message)["code"] == "INTERNAL"
    finally:
        await p.close()


async def test_a_multiple_read_answered_short_is_a_peer_error_not_absent_keys() -> None:
    """Fabric v3.1's GetStateMultipleKeys answers a state database error with no values and
    no error (core/ledger/kvledger/txmgmt/txmgr/query_executor.go): taken at its word, every
    key would look absent, and a NOT_FOUND would be decided on a failed read."""
    asked: list[list[str]] = []

    async def peer(kind: int, payload: bytes) -> bytes:
        assert kind == Msg.GET_STATE_MULTIPLE
        asked.append(list(shim.GetStateMultiple.FromString(payload).keys))
        if len(asked) == 1:
            return bytes(shim.GetStateMultipleResult(values=[b"a", b""]).SerializeToString())
        return bytes(shim.GetStateMultipleResult().SerializeToString())  # the swallowed error

    stub = Stub(peer, "evidence", "tx1", None, get_multiple=100)
    assert await stub.get_states(["k1", "k2"]) == [b"a", None]
    with pytest.raises(PeerError, match="0 values for 2 keys"):
        await stub.get_states(["k1", "k2"])
    assert asked == [["k1", "k2"], ["k1", "k2"]]
