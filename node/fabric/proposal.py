"""Building a transaction proposal exactly as Fabric expects, and reading results back.

``tx_id = hex(sha256(nonce + creator))``; the proposal carries a channel header (type
ENDORSER_TRANSACTION, timestamp, channel, tx id, chaincode-name extension) and a signature
header (creator, nonce). Endorsement returns a prepared transaction envelope from which the
chaincode's result is read.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from fabric_protos.common import common_pb2
from fabric_protos.peer import (
    chaincode_pb2,
    proposal_pb2,
    proposal_response_pb2,
    transaction_pb2,
)
from google.protobuf import timestamp_pb2

NONCE_BYTES = 24


def transaction_id(nonce: bytes, creator: bytes) -> str:
    return hashlib.sha256(nonce + creator).hexdigest()


@dataclass(frozen=True)
class Proposal:
    """An unsigned proposal; sign :attr:`proposal_bytes` (here or offline) to send it."""

    tx_id: str
    proposal_bytes: bytes

    def signed(self, signature: bytes) -> proposal_pb2.SignedProposal:
        return proposal_pb2.SignedProposal(proposal_bytes=self.proposal_bytes, signature=signature)


def build_proposal(
    *,
    creator: bytes,
    channel: str,
    chaincode: str,
    args: Sequence[bytes],
    transient: Mapping[str, bytes] | None = None,
    now: dt.datetime,
    nonce_source: Callable[[int], bytes] = os.urandom,
) -> Proposal:
    nonce = nonce_source(NONCE_BYTES)
    tx_id = transaction_id(nonce, creator)
    ts = timestamp_pb2.Timestamp()
    ts.FromDatetime(now.astimezone(dt.UTC).replace(tzinfo=None))
    extension = proposal_pb2.ChaincodeHeaderExtension(
        chaincode_id=chaincode_pb2.ChaincodeID(name=chaincode)
    )
    channel_header = common_pb2.ChannelHeader(
        type=common_pb2.ENDORSER_TRANSACTION,
        version=0,
        timestamp=ts,
        channel_id=channel,
        tx_id=tx_id,
        epoch=0,
        extension=extension.SerializeToString(),
    )
    signature_header = common_pb2.SignatureHeader(creator=creator, nonce=nonce)
    header = common_pb2.Header(
        channel_header=channel_header.SerializeToString(),
        signature_header=signature_header.SerializeToString(),
    )
    spec = chaincode_pb2.ChaincodeInvocationSpec(
        chaincode_spec=chaincode_pb2.ChaincodeSpec(
            type=chaincode_pb2.ChaincodeSpec.UNDEFINED,
            chaincode_id=chaincode_pb2.ChaincodeID(name=chaincode),
            input=chaincode_pb2.ChaincodeInput(args=list(args)),
        )
    )
    payload = proposal_pb2.ChaincodeProposalPayload(
        input=spec.SerializeToString(), TransientMap=dict(transient or {})
    )
    proposal = proposal_pb2.Proposal(
        header=header.SerializeToString(), payload=payload.SerializeToString()
    )
    return Proposal(tx_id=tx_id, proposal_bytes=bytes(proposal.SerializeToString()))


def result_from_envelope(envelope: common_pb2.Envelope) -> bytes:
    """The chaincode's response payload inside a prepared transaction envelope."""
    payload = common_pb2.Payload.FromString(envelope.payload)
    tx = transaction_pb2.Transaction.FromString(payload.data)
    action = transaction_pb2.ChaincodeActionPayload.FromString(tx.actions[0].payload)
    prp = proposal_response_pb2.ProposalResponsePayload.FromString(
        action.action.proposal_response_payload
    )
    cc_action = proposal_pb2.ChaincodeAction.FromString(prp.extension)
    return bytes(cc_action.response.payload)
