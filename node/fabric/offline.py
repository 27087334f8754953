"""Offline signing: every signature is made elsewhere (an HSM, another process, a person).

The flow mirrors the official clients' ``newProposal`` / ``newSignedProposal`` /
``newSignedTransaction`` / ``newSignedCommit``. Each step hands back the exact bytes to sign;
the caller signs them as :class:`~node.fabric.identity.Signer` would (ECDSA P-256 over
SHA-256, DER, low-S) and passes the signature to the next step::

    offline = OfflineContract(channel, identity, "evidence", "evidence")
    proposal = offline.proposal("Put", "k", "v")
    tx = await offline.endorse(proposal, sign(proposal.message))
    commit = await offline.submit(tx, sign(tx.message))
    result = await offline.commit_status(commit, sign(commit.message))

The unsigned steps are plain frozen values, so they can be carried to the signer and back.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import grpc
from fabric_protos.common import common_pb2
from fabric_protos.gateway import gateway_pb2, gateway_pb2_grpc
from fabric_protos.peer import proposal_pb2, transaction_pb2

from node.fabric.errors import (
    CommitError,
    CommitStatusError,
    EndorseError,
    SubmitError,
    from_rpc_error,
)
from node.fabric.gateway import Deadlines, SubmitResult
from node.fabric.identity import Identity
from node.fabric.proposal import build_proposal, result_from_envelope


@dataclass(frozen=True)
class UnsignedProposal:
    """A proposal waiting for its creator's signature over :attr:`message`."""

    tx_id: str
    channel: str
    message: bytes
    endorsing_orgs: tuple[str, ...] = ()


@dataclass(frozen=True)
class UnsignedTransaction:
    """An endorsed transaction waiting for the signature over :attr:`message` (the prepared
    envelope's payload). :attr:`result` is the chaincode's result, known before commit."""

    tx_id: str
    channel: str
    message: bytes
    result: bytes


@dataclass(frozen=True)
class UnsignedCommit:
    """A submitted transaction's commit-status request waiting for its signature."""

    tx_id: str
    channel: str
    message: bytes
    result: bytes


@dataclass
class OfflineContract:
    """Transactions of one chaincode whose every signature is supplied by the caller.

    ``identity`` is the creator the signatures must belong to; a signature by another key
    is refused by the peers (reported as the phase's error).
    """

    channel: grpc.aio.Channel
    identity: Identity
    channel_name: str
    chaincode: str
    deadlines: Deadlines = field(default_factory=Deadlines)
    clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)

    def __post_init__(self) -> None:
        self._stub = gateway_pb2_grpc.GatewayStub(self.channel)
        self._creator = self.identity.serialize()

    def proposal(
        self,
        function: str,
        *args: str | bytes,
        transient: Mapping[str, bytes] | None = None,
        endorsing_orgs: Sequence[str] = (),
    ) -> UnsignedProposal:
        """Build a proposal; nothing is sent."""
        encoded = [function.encode()] + [a.encode() if isinstance(a, str) else a for a in args]
        built = build_proposal(
            creator=self._creator,
            channel=self.channel_name,
            chaincode=self.chaincode,
            args=encoded,
            transient=transient,
            now=self.clock(),
        )
        return UnsignedProposal(
            tx_id=built.tx_id,
            channel=self.channel_name,
            message=built.proposal_bytes,
            endorsing_orgs=tuple(endorsing_orgs),
        )

    async def endorse(self, proposal: UnsignedProposal, signature: bytes) -> UnsignedTransaction:
        """Send the signed proposal for endorsement.

        Raises:
            EndorseError: the peers or the chaincode refused (a bad signature included).
        """
        request = gateway_pb2.EndorseRequest(
            transaction_id=proposal.tx_id,
            channel_id=proposal.channel,
            proposed_transaction=proposal_pb2.SignedProposal(
                proposal_bytes=proposal.message, signature=signature
            ),
            endorsing_organizations=list(proposal.endorsing_orgs),
        )
        try:
            endorsed = await self._stub.Endorse(request, timeout=self.deadlines.endorse)
        except grpc.aio.AioRpcError as err:
            raise from_rpc_error(EndorseError, err, proposal.tx_id) from err
        envelope = endorsed.prepared_transaction
        return UnsignedTransaction(
            tx_id=proposal.tx_id,
            channel=proposal.channel,
            message=bytes(envelope.payload),
            result=result_from_envelope(envelope),
        )

    async def submit(self, transaction: UnsignedTransaction, signature: bytes) -> UnsignedCommit:
        """Send the signed transaction to be ordered; return the commit-status request to sign.

        Raises:
            SubmitError: the gateway or the orderer refused it.
        """
        request = gateway_pb2.SubmitRequest(
            transaction_id=transaction.tx_id,
            channel_id=transaction.channel,
            prepared_transaction=common_pb2.Envelope(
                payload=transaction.message, signature=signature
            ),
        )
        try:
            await self._stub.Submit(request, timeout=self.deadlines.submit)
        except grpc.aio.AioRpcError as err:
            raise from_rpc_error(SubmitError, err, transaction.tx_id) from err
        status_request = gateway_pb2.CommitStatusRequest(
            transaction_id=transaction.tx_id, channel_id=transaction.channel, identity=self._creator
        )
        return UnsignedCommit(
            tx_id=transaction.tx_id,
            channel=transaction.channel,
            message=bytes(status_request.SerializeToString()),
            result=transaction.result,
        )

    async def commit_status(self, commit: UnsignedCommit, signature: bytes) -> SubmitResult:
        """Wait for the transaction's commit; return the result on VALID.

        Raises:
            CommitStatusError: the status could not be had (deadline, refused signature).
            CommitError: the transaction committed invalid (``code`` names why).
        """
        signed = gateway_pb2.SignedCommitStatusRequest(request=commit.message, signature=signature)
        try:
            status = await self._stub.CommitStatus(signed, timeout=self.deadlines.commit_status)
        except grpc.aio.AioRpcError as err:
            raise from_rpc_error(CommitStatusError, err, commit.tx_id) from err
        code = transaction_pb2.TxValidationCode.Name(status.result)
        if code != "VALID":
            raise CommitError(commit.tx_id, code, int(status.block_number))
        return SubmitResult(
            tx_id=commit.tx_id, result=commit.result, block_number=int(status.block_number)
        )
