"""Blocks as Fabric writes them, built at test time from its protos: header, data, and the
metadata an orderer signs (no recorded keys)."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Protocol

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from fabric_protos.common import common_pb2
from fabric_protos.msp import msp_config_pb2

from node.crypto.pki import create_ca
from node.crypto.signing import EcdsaSigner, verify_signature
from node.fabric import Identity, block_header_bytes

CA_FROM = dt.datetime(2026, 3, 1, 12, 0, 0, tzinfo=dt.UTC)


@dataclass(frozen=True)
class Member:
    """An org's self-signed identity and its key: its certificate is its MSP's root."""

    identity: Identity
    signer: EcdsaSigner
    key_pem: bytes

    @classmethod
    def of(cls, msp_id: str) -> Member:
        pair = create_ca(f"member.{msp_id}", msp_id, CA_FROM)
        return cls(
            Identity(msp_id, pair.cert_pem), EcdsaSigner.from_pem(pair.key_pem), pair.key_pem
        )

    def revocation(self, at: dt.datetime) -> bytes:
        """A revocation list its CA (its own key) signed, revoking its certificate at ``at``."""
        cert = x509.load_pem_x509_certificate(self.identity.cert_pem)
        key = serialization.load_pem_private_key(self.key_pem, password=None)
        crl = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(cert.subject)
            .last_update(at)
            .next_update(at + dt.timedelta(days=365))
            .add_revoked_certificate(
                x509.RevokedCertificateBuilder()
                .serial_number(cert.serial_number)
                .revocation_date(at)
                .build()
            )
            .sign(key, hashes.SHA256())  # type: ignore[arg-type]
        )
        return crl.public_bytes(serialization.Encoding.PEM)

    def verifies(self, message: bytes, signature: bytes) -> bool:
        key = x509.load_pem_x509_certificate(self.identity.cert_pem).public_key()
        return verify_signature(key, message, signature)

    def msp(self, revocations: tuple[bytes, ...] = ()) -> bytes:
        """Its MSP's config value, as a channel config carries it (with ``revocations``)."""
        fabric = msp_config_pb2.FabricMSPConfig(
            name=self.identity.msp_id,
            root_certs=[self.identity.cert_pem],
            revocation_list=list(revocations),
        )
        config = msp_config_pb2.MSPConfig(type=0, config=fabric.SerializeToString())
        return bytes(config.SerializeToString())


class _Signs(Protocol):
    def sign(self, message: bytes) -> bytes: ...


class OrdererLike(Protocol):
    """Whoever signs the block: an identity and its key."""

    @property
    def identity(self) -> Identity: ...

    @property
    def signer(self) -> _Signs: ...


def envelope(
    tx_id: str,
    kind: int = common_pb2.ENDORSER_TRANSACTION,
    data: bytes = b"",
    at: dt.datetime | None = None,
) -> bytes:
    """An unsigned envelope of ``kind`` with ``tx_id`` (and the time ``at``) in its channel
    header."""
    channel_header = common_pb2.ChannelHeader(type=kind, channel_id="evidence", tx_id=tx_id)
    if at is not None:
        channel_header.timestamp.FromDatetime(at)
    payload = common_pb2.Payload(
        header=common_pb2.Header(
            channel_header=channel_header.SerializeToString(),
            signature_header=common_pb2.SignatureHeader(nonce=b"n" * 24).SerializeToString(),
        ),
        data=data or tx_id.encode(),
    )
    return bytes(common_pb2.Envelope(payload=payload.SerializeToString()).SerializeToString())


def block_bytes(
    number: int,
    previous_hash: bytes,
    envelopes: list[bytes],
    *,
    orderer: OrdererLike | None = None,
    last_config: int = 0,
    flags: bytes | None = None,
    legacy_last_config: int | None = None,
    data_hash: bytes | None = None,
) -> bytes:
    """Block ``number`` holding ``envelopes``, signed by ``orderer`` (None: unsigned, as
    configtxgen writes a genesis block); ``flags`` the validation codes (default: all
    VALID); ``data_hash`` to state a wrong one."""
    data_hash = data_hash or hashlib.sha256(b"".join(envelopes)).digest()
    header = common_pb2.BlockHeader(number=number, previous_hash=previous_hash, data_hash=data_hash)
    metadata = [b""] * 5
    if orderer is not None:
        value = common_pb2.OrdererBlockMetadata(
            last_config=common_pb2.LastConfig(index=last_config)
        ).SerializeToString()
        sig_header = common_pb2.SignatureHeader(
            creator=orderer.identity.serialize(), nonce=b"o" * 24
        ).SerializeToString()
        signed = value + sig_header + block_header_bytes(number, previous_hash, data_hash)
        metadata[0] = common_pb2.Metadata(
            value=value,
            signatures=[
                common_pb2.MetadataSignature(
                    signature_header=sig_header, signature=orderer.signer.sign(signed)
                )
            ],
        ).SerializeToString()
    if legacy_last_config is not None:
        metadata[1] = common_pb2.Metadata(
            value=common_pb2.LastConfig(index=legacy_last_config).SerializeToString()
        ).SerializeToString()
    metadata[2] = bytes(len(envelopes)) if flags is None else flags  # 0 = VALID
    block = common_pb2.Block(
        header=header,
        data=common_pb2.BlockData(data=envelopes),
        metadata=common_pb2.BlockMetadata(metadata=metadata),
    )
    return bytes(block.SerializeToString())
