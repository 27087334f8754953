"""Offline signing and the synchronous wrapper, against a fake gateway at the gRPC channel.

The fake plays the gateway peer's part of the protocol: it decodes each request from its
wire bytes, checks every signature against the creator's key exactly as a peer would, and
answers with real protobuf messages (a prepared envelope carrying the chaincode result).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from fabric_protos.common import common_pb2
from fabric_protos.gateway import gateway_pb2
from fabric_protos.peer import (
    chaincode_pb2,
    proposal_pb2,
    proposal_response_pb2,
    transaction_pb2,
)

from node.crypto.signing import EcdsaSigner, verify_signature
from node.fabric import (
    CommitError,
    CommitStatusError,
    Contract,
    EndorseError,
    EvaluateError,
    Gateway,
    Identity,
    SubmitError,
    SubmitResult,
)
from node.fabric.offline import OfflineContract, UnsignedProposal
from node.fabric.sync import SyncContract

IDENTITY = Identity("UrbanManagementMSP", b"-----BEGIN CERTIFICATE-----\nfake\n")


def _rpc_error(code: grpc.StatusCode, details: str) -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), details)


def _prepared_envelope(tx_id: str, result: bytes) -> common_pb2.Envelope:
    action = proposal_pb2.ChaincodeAction(
        response=proposal_response_pb2.Response(status=200, payload=result)
    )
    prp = proposal_response_pb2.ProposalResponsePayload(extension=action.SerializeToString())
    cap = transaction_pb2.ChaincodeActionPayload(
        action=transaction_pb2.ChaincodeEndorsedAction(
            proposal_response_payload=prp.SerializeToString()
        )
    )
    tx = transaction_pb2.Transaction(
        actions=[transaction_pb2.TransactionAction(payload=cap.SerializeToString())]
    )
    header = common_pb2.ChannelHeader(tx_id=tx_id, channel_id="evidence")
    payload = common_pb2.Payload(
        header=common_pb2.Header(channel_header=header.SerializeToString()),
        data=tx.SerializeToString(),
    )
    return common_pb2.Envelope(payload=payload.SerializeToString())


class FakeGatewayChannel:
    """A ``grpc.aio.Channel`` stand-in serving the four Gateway calls in memory."""

    def __init__(self, public_key: ec.EllipticCurvePublicKey, *, commit_code: str = "VALID"):
        self.public_key = public_key
        self.commit_code = commit_code
        self.store: dict[str, str] = {}
        self.pending: dict[str, tuple[str, str]] = {}
        self.committed: list[str] = []
        self.calls: list[str] = []
        self.closed = False
        self.loop_threads: set[str] = set()

    def unary_unary(
        self,
        method: str,
        request_serializer: Callable[[Any], bytes],
        response_deserializer: Callable[[bytes], Any],
        **_: object,
    ) -> Callable[..., Awaitable[Any]]:
        name = method.rsplit("/", 1)[-1]
        handler = getattr(self, f"_{name.lower()}")

        async def call(request: Any, timeout: float | None = None) -> Any:
            self.calls.append(name)
            self.loop_threads.add(threading.current_thread().name)
            wire = request_serializer(request)
            response = handler(type(request).FromString(wire))
            return response_deserializer(response.SerializeToString())

        return call

    def unary_stream(self, *_: object, **__: object) -> None:
        return None

    async def close(self, grace: float | None = None) -> None:
        self.closed = True

    def _check(self, message: bytes, signature: bytes) -> None:
        if not verify_signature(self.public_key, message, signature):
            raise _rpc_error(grpc.StatusCode.PERMISSION_DENIED, "access denied: bad signature")

    def _invocation(self, signed: proposal_pb2.SignedProposal) -> tuple[str, list[bytes]]:
        self._check(signed.proposal_bytes, signed.signature)
        proposal = proposal_pb2.Proposal.FromString(signed.proposal_bytes)
        header = common_pb2.Header.FromString(proposal.header)
        tx_id = common_pb2.ChannelHeader.FromString(header.channel_header).tx_id
        payload = proposal_pb2.ChaincodeProposalPayload.FromString(proposal.payload)
        spec = chaincode_pb2.ChaincodeInvocationSpec.FromString(payload.input)
        return tx_id, list(spec.chaincode_spec.input.args)

    def _evaluate(self, request: gateway_pb2.EvaluateRequest) -> gateway_pb2.EvaluateResponse:
        _, args = self._invocation(request.proposed_transaction)
        key = args[1].decode()
        if key not in self.store:
            raise _rpc_error(grpc.StatusCode.UNKNOWN, '{"code": "NOT_FOUND", "message": "no"}')
        doc = json.dumps({"key": key, "value": self.store[key]}).encode()
        return gateway_pb2.EvaluateResponse(result=proposal_response_pb2.Response(payload=doc))

    def _endorse(self, request: gateway_pb2.EndorseRequest) -> gateway_pb2.EndorseResponse:
        tx_id, args = self._invocation(request.proposed_transaction)
        assert tx_id == request.transaction_id
        self.pending[tx_id] = (args[1].decode(), args[2].decode())
        result = json.dumps({"key": args[1].decode(), "tx_id": tx_id}).encode()
        return gateway_pb2.EndorseResponse(prepared_transaction=_prepared_envelope(tx_id, result))

    def _submit(self, request: gateway_pb2.SubmitRequest) -> gateway_pb2.SubmitResponse:
        envelope = request.prepared_transaction
        self._check(envelope.payload, envelope.signature)
        if request.transaction_id not in self.pending:
            raise _rpc_error(grpc.StatusCode.FAILED_PRECONDITION, "unknown transaction")
        self.committed.append(request.transaction_id)
        return gateway_pb2.SubmitResponse()

    def _commitstatus(
        self, signed: gateway_pb2.SignedCommitStatusRequest
    ) -> gateway_pb2.CommitStatusResponse:
        self._check(signed.request, signed.signature)
        request = gateway_pb2.CommitStatusRequest.FromString(signed.request)
        assert request.identity == IDENTITY.serialize()
        if self.commit_code == "VALID":
            key, value = self.pending.pop(request.transaction_id)
            self.store[key] = value
        return gateway_pb2.CommitStatusResponse(
            result=transaction_pb2.TxValidationCode.Value(self.commit_code), block_number=7
        )


@pytest.fixture
def key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _offline(channel: FakeGatewayChannel) -> OfflineContract:
    return OfflineContract(channel, IDENTITY, "evidence", "evidence")  # type: ignore[arg-type]


# --- offline signing ---------------------------------------------------------------------


async def test_offline_flow_commits_with_signatures_made_elsewhere(
    key: ec.EllipticCurvePrivateKey,
) -> None:
    fake = FakeGatewayChannel(key.public_key())
    remote = EcdsaSigner(key)  # stands for an HSM: the contract never holds the key
    offline = _offline(fake)
    proposal = offline.proposal("Put", "k", "v", endorsing_orgs=["UrbanManagementMSP"])
    assert fake.calls == []  # building a proposal sends nothing
    tx = await offline.endorse(proposal, remote.sign(proposal.message))
    assert json.loads(tx.result) == {"key": "k", "tx_id": proposal.tx_id}
    commit = await offline.submit(tx, remote.sign(tx.message))
    result = await offline.commit_status(commit, remote.sign(commit.message))
    assert (result.tx_id, result.block_number, result.result) == (proposal.tx_id, 7, tx.result)
    assert fake.calls == ["Endorse", "Submit", "CommitStatus"]
    assert fake.store == {"k": "v"}


async def test_offline_proposal_bytes_are_the_proposal_fabric_reads(
    key: ec.EllipticCurvePrivateKey,
) -> None:
    proposal = _offline(FakeGatewayChannel(key.public_key())).proposal("Put", "k", b"\x00")
    parsed = proposal_pb2.Proposal.FromString(proposal.message)
    header = common_pb2.Header.FromString(parsed.header)
    channel_header = common_pb2.ChannelHeader.FromString(header.channel_header)
    signature_header = common_pb2.SignatureHeader.FromString(header.signature_header)
    assert (channel_header.tx_id, channel_header.channel_id) == (proposal.tx_id, "evidence")
    assert signature_header.creator == IDENTITY.serialize()


async def _run_offline(
    offline: OfflineContract, proposal: UnsignedProposal, signers: dict[str, EcdsaSigner]
) -> SubmitResult:
    tx = await offline.endorse(proposal, signers["endorse"].sign(proposal.message))
    commit = await offline.submit(tx, signers["submit"].sign(tx.message))
    return await offline.commit_status(commit, signers["commit"].sign(commit.message))


@pytest.mark.parametrize("phase", ["endorse", "submit", "commit"])
async def test_offline_signature_by_another_key_fails_in_its_phase(
    key: ec.EllipticCurvePrivateKey, phase: str
) -> None:
    fake = FakeGatewayChannel(key.public_key())
    right, wrong = EcdsaSigner(key), EcdsaSigner(ec.generate_private_key(ec.SECP256R1()))
    offline = _offline(fake)
    proposal = offline.proposal("Put", "k", "v")
    expected: type[Exception] = {
        "endorse": EndorseError,
        "submit": SubmitError,
        "commit": CommitStatusError,
    }[phase]
    signers = {p: wrong if p == phase else right for p in ("endorse", "submit", "commit")}
    with pytest.raises(expected) as info:
        await _run_offline(offline, proposal, signers)
    assert getattr(info.value, "tx_id", None) == proposal.tx_id
    assert getattr(info.value, "grpc_code", None) == grpc.StatusCode.PERMISSION_DENIED


async def test_offline_invalid_commit_raises_commit_error_with_its_code(
    key: ec.EllipticCurvePrivateKey,
) -> None:
    fake = FakeGatewayChannel(key.public_key(), commit_code="MVCC_READ_CONFLICT")
    signer, offline = EcdsaSigner(key), _offline(fake)
    proposal = offline.proposal("Put", "k", "v")
    tx = await offline.endorse(proposal, signer.sign(proposal.message))
    commit = await offline.submit(tx, signer.sign(tx.message))
    with pytest.raises(CommitError) as info:
        await offline.commit_status(commit, signer.sign(commit.message))
    assert (info.value.code, info.value.tx_id) == ("MVCC_READ_CONFLICT", proposal.tx_id)
    assert fake.store == {}


# --- the synchronous wrapper -------------------------------------------------------------


def _sync(fake: FakeGatewayChannel, key: ec.EllipticCurvePrivateKey) -> SyncContract:
    def make() -> Contract:
        gateway = Gateway(fake, IDENTITY, EcdsaSigner(key))  # type: ignore[arg-type]
        return gateway.contract("evidence", "evidence")

    return SyncContract(make)


def test_sync_submit_then_evaluate_mirror_the_async_contract(
    key: ec.EllipticCurvePrivateKey,
) -> None:
    fake = FakeGatewayChannel(key.public_key())
    with _sync(fake, key) as contract:
        result = contract.submit("Put", "k", "v")
        assert json.loads(result.result) == {"key": "k", "tx_id": result.tx_id}
        assert json.loads(contract.evaluate("Get", "k")) == {"key": "k", "value": "v"}
    assert fake.closed
    assert fake.loop_threads == {"fabric-sync"}  # every call ran on the wrapper's loop


def test_sync_errors_are_the_async_contracts_errors(key: ec.EllipticCurvePrivateKey) -> None:
    fake = FakeGatewayChannel(key.public_key(), commit_code="ENDORSEMENT_POLICY_FAILURE")
    with _sync(fake, key) as contract:
        with pytest.raises(EvaluateError) as info:
            contract.evaluate("Get", "missing")
        assert info.value.chaincode_code == "NOT_FOUND"
        with pytest.raises(CommitError) as commit:
            contract.submit("Put", "k", "v")
        assert commit.value.code == "ENDORSEMENT_POLICY_FAILURE"


def test_sync_contract_serves_several_threads(key: ec.EllipticCurvePrivateKey) -> None:
    fake = FakeGatewayChannel(key.public_key())
    with _sync(fake, key) as contract, ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda i: contract.submit("Put", f"k{i}", str(i)), range(32)))
    assert len({r.tx_id for r in results}) == 32
    assert fake.store == {f"k{i}": str(i) for i in range(32)}


def test_sync_contract_refuses_calls_after_close(key: ec.EllipticCurvePrivateKey) -> None:
    contract = _sync(FakeGatewayChannel(key.public_key()), key)
    contract.close()
    contract.close()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        contract.evaluate("Get", "k")


def test_sync_contract_stops_its_thread_when_the_factory_fails() -> None:
    before = {t.name for t in threading.enumerate()}

    def broken() -> Contract:
        raise FileNotFoundError("no crypto material")

    with pytest.raises(FileNotFoundError):
        SyncContract(broken)
    assert {t.name for t in threading.enumerate()} - before == set()
