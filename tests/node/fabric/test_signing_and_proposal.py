"""Signatures, transaction ids, proposals and result extraction, without a network."""

from __future__ import annotations

import datetime as dt
import hashlib

import grpc
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from fabric_protos.common import common_pb2
from fabric_protos.msp import identities_pb2
from fabric_protos.peer import (
    chaincode_pb2,
    proposal_pb2,
    proposal_response_pb2,
    transaction_pb2,
)

from node.crypto.signing import P256_ORDER, EcdsaSigner, to_low_s
from node.fabric import EndorseError, EvaluateError, Identity, PeerDetail
from node.fabric.proposal import build_proposal, result_from_envelope, transaction_id


def test_high_s_signature_is_normalised_and_still_verifies() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    message = b"evidence"
    r, s = decode_dss_signature(key.sign(message, ec.ECDSA(hashes.SHA256())))
    high = encode_dss_signature(r, s if s > P256_ORDER // 2 else P256_ORDER - s)
    low = to_low_s(high)
    _, s_low = decode_dss_signature(low)
    assert s_low <= P256_ORDER // 2
    assert low != high
    key.public_key().verify(low, message, ec.ECDSA(hashes.SHA256()))
    assert to_low_s(low) == low  # already low: unchanged


def test_signer_always_produces_low_s() -> None:
    signer = EcdsaSigner(ec.generate_private_key(ec.SECP256R1()))
    for i in range(64):  # about half of raw ECDSA signatures are high-S
        _, s = decode_dss_signature(signer.sign(i.to_bytes(2, "big")))
        assert s <= P256_ORDER // 2


def test_transaction_id_is_sha256_of_nonce_and_creator() -> None:
    nonce, creator = b"\x01" * 24, b"creator"
    assert transaction_id(nonce, creator) == hashlib.sha256(nonce + creator).hexdigest()
    assert transaction_id(nonce, creator) != transaction_id(nonce, b"other")


def test_proposal_carries_every_field_fabric_reads() -> None:
    creator = Identity("UrbanManagementMSP", b"-----CERT-----").serialize()
    when = dt.datetime(2026, 11, 22, 8, 30, 15, 123456, tzinfo=dt.UTC)
    proposal = build_proposal(
        creator=creator,
        channel="evidence",
        chaincode="evidence",
        args=[b"Put", b"k", b"v"],
        transient={"secret": b"s"},
        now=when,
        nonce_source=lambda n: b"\x07" * n,
    )
    assert proposal.tx_id == transaction_id(b"\x07" * 24, creator)
    prop = proposal_pb2.Proposal.FromString(proposal.proposal_bytes)
    header = common_pb2.Header.FromString(prop.header)
    ch = common_pb2.ChannelHeader.FromString(header.channel_header)
    assert ch.type == common_pb2.ENDORSER_TRANSACTION
    assert ch.channel_id == "evidence"
    assert ch.tx_id == proposal.tx_id
    assert ch.timestamp.ToDatetime(tzinfo=dt.UTC) == when
    ext = proposal_pb2.ChaincodeHeaderExtension.FromString(ch.extension)
    assert ext.chaincode_id.name == "evidence"
    sh = common_pb2.SignatureHeader.FromString(header.signature_header)
    assert sh.nonce == b"\x07" * 24
    assert identities_pb2.SerializedIdentity.FromString(sh.creator).mspid == "UrbanManagementMSP"
    payload = proposal_pb2.ChaincodeProposalPayload.FromString(prop.payload)
    assert dict(payload.TransientMap) == {"secret": b"s"}
    spec = chaincode_pb2.ChaincodeInvocationSpec.FromString(payload.input)
    assert list(spec.chaincode_spec.input.args) == [b"Put", b"k", b"v"]


def test_result_is_read_from_the_prepared_envelope() -> None:
    action = proposal_pb2.ChaincodeAction(
        response=proposal_response_pb2.Response(status=200, payload=b'{"ok":true}')
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
    envelope = common_pb2.Envelope(
        payload=common_pb2.Payload(data=tx.SerializeToString()).SerializeToString()
    )
    assert result_from_envelope(envelope) == b'{"ok":true}'


def test_chaincode_code_is_parsed_from_a_real_gateway_message() -> None:
    # Recorded from a real Fabric 3.1.5 peer evaluating our chaincode's NOT_FOUND refusal.
    message = (
        "evaluate failed: evaluate call to endorser returned error: chaincode response 500, "
        '{"code":"NOT_FOUND","message":"no value for key \'nope\'"}'
    )
    err = EvaluateError(message, tx_id="t", grpc_code=grpc.StatusCode.UNKNOWN)
    assert err.chaincode_code == "NOT_FOUND"
    assert err.chaincode_message == "no value for key 'nope'"
    assert not err.deadline_exceeded
    assert EvaluateError("evaluate failed: peer unreachable").chaincode_code is None


def test_a_chaincode_message_with_braces_keeps_its_code() -> None:
    # Recorded from a real peer refusing a private read: the message itself holds braces.
    detail = (
        'chaincode response 500, {"code":"INTERNAL","message":"peer refused a state call: '
        "GET_STATE failed: private data matching public hash version is not available. "
        'Public hash version = {BlockNum: 10, TxNum: 0}, Private data version = <nil>"}'
    )
    err = EndorseError(
        "endorse failed",
        tx_id="t",
        grpc_code=grpc.StatusCode.ABORTED,
        details=(PeerDetail("peer0:7251", "PublicSecurityMSP", detail),),
    )
    assert err.chaincode_code == "INTERNAL"
    assert err.chaincode_message is not None
    assert err.chaincode_message.endswith("Private data version = <nil>")
