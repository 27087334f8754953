"""The Gateway client: evaluate, submit (endorse, sign, submit, commit status), events.

Usage::

    gw = Gateway(channel, identity, signer)
    contract = gw.contract("evidence", "evidence")
    result = await contract.submit("Put", "k", "v")
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field

import grpc
from fabric_protos.gateway import gateway_pb2, gateway_pb2_grpc
from fabric_protos.orderer import ab_pb2
from fabric_protos.peer import transaction_pb2

from node.fabric.errors import (
    CommitError,
    CommitStatusError,
    EndorseError,
    EvaluateError,
    SubmitError,
    from_rpc_error,
)
from node.fabric.identity import Identity, Signer
from node.fabric.proposal import build_proposal, result_from_envelope


@dataclass(frozen=True)
class Deadlines:
    """Per-call timeouts in seconds."""

    evaluate: float = 30.0
    endorse: float = 30.0
    submit: float = 30.0
    commit_status: float = 60.0


@dataclass(frozen=True)
class SubmitResult:
    tx_id: str
    result: bytes
    block_number: int


@dataclass(frozen=True)
class ChaincodeEvent:
    block_number: int
    tx_id: str
    chaincode: str
    name: str
    payload: bytes


@dataclass
class Gateway:
    """One identity's connection to a gateway peer over a (shared) gRPC channel."""

    channel: grpc.aio.Channel
    identity: Identity
    signer: Signer
    deadlines: Deadlines = field(default_factory=Deadlines)
    clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)

    def __post_init__(self) -> None:
        self._stub = gateway_pb2_grpc.GatewayStub(self.channel)
        self._creator = self.identity.serialize()

    def contract(self, channel: str, chaincode: str) -> Contract:
        return Contract(self, channel, chaincode)

    async def chaincode_events(
        self,
        channel: str,
        chaincode: str,
        *,
        start_block: int | None = None,
        after_tx_id: str = "",
    ) -> AsyncIterator[ChaincodeEvent]:
        """Chaincode events from ``start_block`` (default: the next block), skipping every
        event up to and including ``after_tx_id`` in that block."""
        position = ab_pb2.SeekPosition()
        if start_block is None:
            position.next_commit.SetInParent()
        else:
            position.specified.number = start_block
        request = gateway_pb2.ChaincodeEventsRequest(
            channel_id=channel,
            chaincode_id=chaincode,
            identity=self._creator,
            start_position=position,
            after_transaction_id=after_tx_id,
        )
        raw = request.SerializeToString()
        signed = gateway_pb2.SignedChaincodeEventsRequest(
            request=raw, signature=self.signer.sign(raw)
        )
        stream = self._stub.ChaincodeEvents(signed)
        async for response in stream:
            for event in response.events:
                yield ChaincodeEvent(
                    block_number=int(response.block_number),
                    tx_id=event.tx_id,
                    chaincode=event.chaincode_id,
                    name=event.event_name,
                    payload=bytes(event.payload),
                )


class Contract:
    """Transactions of one chaincode on one channel."""

    def __init__(self, gateway: Gateway, channel: str, chaincode: str) -> None:
        self._gw = gateway
        self.channel = channel
        self.chaincode = chaincode

    @property
    def gateway(self) -> Gateway:
        """The gateway (identity and connection) this contract submits through."""
        return self._gw

    def _proposal(
        self, function: str, args: Sequence[str | bytes], transient: Mapping[str, bytes] | None
    ) -> tuple[str, object]:
        encoded = [function.encode()] + [a.encode() if isinstance(a, str) else a for a in args]
        proposal = build_proposal(
            creator=self._gw._creator,
            channel=self.channel,
            chaincode=self.chaincode,
            args=encoded,
            transient=transient,
            now=self._gw.clock(),
        )
        return proposal.tx_id, proposal.signed(self._gw.signer.sign(proposal.proposal_bytes))

    async def evaluate(
        self,
        function: str,
        *args: str | bytes,
        transient: Mapping[str, bytes] | None = None,
        target_orgs: Sequence[str] = (),
    ) -> bytes:
        """Run a query on the gateway peer (nothing is ordered or committed).

        Raises:
            EvaluateError: the peer or the chaincode refused; see ``chaincode_code``.
        """
        tx_id, signed = self._proposal(function, args, transient)
        request = gateway_pb2.EvaluateRequest(
            transaction_id=tx_id,
            channel_id=self.channel,
            proposed_transaction=signed,
            target_organizations=list(target_orgs),
        )
        try:
            response = await self._gw._stub.Evaluate(request, timeout=self._gw.deadlines.evaluate)
        except grpc.aio.AioRpcError as err:
            raise from_rpc_error(EvaluateError, err, tx_id) from err
        return bytes(response.result.payload)

    async def submit(
        self,
        function: str,
        *args: str | bytes,
        transient: Mapping[str, bytes] | None = None,
        endorsing_orgs: Sequence[str] = (),
        on_endorsed: Callable[[], object] | None = None,
    ) -> SubmitResult:
        """Endorse, submit and wait for the commit; return the result on VALID.
        ``on_endorsed`` is called once the endorsement succeeded, before ordering: the
        chaincode's outcome is known then, its commit not yet.

        Raises:
            EndorseError, SubmitError, CommitStatusError: the phase that failed.
            CommitError: the transaction committed invalid (``code`` names why).
        """
        gw = self._gw
        tx_id, signed = self._proposal(function, args, transient)
        endorse = gateway_pb2.EndorseRequest(
            transaction_id=tx_id,
            channel_id=self.channel,
            proposed_transaction=signed,
            endorsing_organizations=list(endorsing_orgs),
        )
        try:
            endorsed = await gw._stub.Endorse(endorse, timeout=gw.deadlines.endorse)
        except grpc.aio.AioRpcError as err:
            raise from_rpc_error(EndorseError, err, tx_id) from err
        envelope = endorsed.prepared_transaction
        result = result_from_envelope(envelope)
        if on_endorsed is not None:
            on_endorsed()
        envelope.signature = gw.signer.sign(envelope.payload)
        submit = gateway_pb2.SubmitRequest(
            transaction_id=tx_id, channel_id=self.channel, prepared_transaction=envelope
        )
        try:
            await gw._stub.Submit(submit, timeout=gw.deadlines.submit)
        except grpc.aio.AioRpcError as err:
            raise from_rpc_error(SubmitError, err, tx_id) from err
        status_request = gateway_pb2.CommitStatusRequest(
            transaction_id=tx_id, channel_id=self.channel, identity=gw._creator
        ).SerializeToString()
        signed_status = gateway_pb2.SignedCommitStatusRequest(
            request=status_request, signature=gw.signer.sign(status_request)
        )
        try:
            status = await gw._stub.CommitStatus(signed_status, timeout=gw.deadlines.commit_status)
        except grpc.aio.AioRpcError as err:
            raise from_rpc_error(CommitStatusError, err, tx_id) from err
        code = transaction_pb2.TxValidationCode.Name(status.result)
        if code != "VALID":
            raise CommitError(tx_id, code, int(status.block_number))
        return SubmitResult(tx_id=tx_id, result=result, block_number=int(status.block_number))
