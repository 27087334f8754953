"""Who may sign what, read from the channel configuration inside a package.

The config block names each organisation's MSP root (and intermediate) certificates and
its certificate revocation lists; a signature counts only if its certificate chains to a
root of the MSP it claims, was within its validity period when it signed, and had not been
revoked by then (:meth:`ChannelTrust.standing`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec
from fabric_protos.common import configtx_pb2
from fabric_protos.msp import msp_config_pb2
from google.protobuf.message import DecodeError

from node.crypto.pki import issued_by
from node.crypto.signing import verify_signature
from node.fabric.blocks import BlockView, MalformedLedgerData
from node.fabric.identity import Identity
from node.package.certificates import load_cert
from node.package.policies import EndorsementPolicy, node_ous

Revocations = dict[tuple[bytes, int], dt.datetime]
"""(issuer name, DER-encoded, serial number) -> when the issuer revoked it."""


@dataclass(frozen=True)
class MspRoots:
    """One MSP's root and intermediate certificates, and what its CAs revoked (read only
    from revocation lists one of them signed)."""

    msp_id: str
    roots: tuple[x509.Certificate, ...]
    intermediates: tuple[x509.Certificate, ...] = ()
    revoked: Revocations = field(default_factory=dict)
    # Role (msp_principal_pb2.MSPRole) -> the OU that marks it, when NodeOUs are enabled.
    node_ous: dict[int, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ChannelTrust:
    """The MSPs of a channel's config: application orgs and orderer orgs."""

    msps: dict[str, MspRoots]
    orderer_msps: frozenset[str] = field(default_factory=frozenset)
    channel: str = ""  # the config block's channel id
    endorsement: EndorsementPolicy | None = None  # /Channel/Application/Endorsement
    # A package names the same few people, endorsers and orderers hundreds of times.
    _chained: dict[tuple[str, bytes], bool] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    @classmethod
    def from_config_block(cls, block: BlockView) -> ChannelTrust:
        """Raises: MalformedLedgerData: not a config block, or its config does not parse."""
        if not block.is_config:
            raise MalformedLedgerData(f"block {block.number} is not a config block")
        tx = block.transaction_at(0)
        try:
            envelope = configtx_pb2.ConfigEnvelope.FromString(tx.data)
        except DecodeError as exc:
            raise MalformedLedgerData("config envelope does not parse") from exc
        groups = envelope.config.channel_group.groups
        msps: dict[str, MspRoots] = {}
        orderers: set[str] = set()
        for section in ("Application", "Orderer"):
            if section not in groups:
                continue
            for org in groups[section].groups.values():
                if "MSP" not in org.values:
                    continue
                roots = msp_roots(bytes(org.values["MSP"].value))
                if roots is None:
                    continue
                msps[roots.msp_id] = roots
                if section == "Orderer":
                    orderers.add(roots.msp_id)
        endorsement = EndorsementPolicy.from_config(
            envelope.config, {m: r.node_ous for m, r in msps.items()}
        )
        return cls(msps, frozenset(orderers), tx.channel, endorsement)

    def chains(self, identity: Identity) -> bool:
        """Whether the identity's certificate chains to a root of the MSP it names."""
        key = (identity.msp_id, identity.cert_pem)
        known = self._chained.get(key)
        if known is None:
            known = self._chains(identity)
            self._chained[key] = known
        return known

    def _chains(self, identity: Identity) -> bool:
        msp = self.msps.get(identity.msp_id)
        cert = load_cert(identity.cert_pem)
        if msp is None or cert is None:
            return False
        issuers = [*msp.intermediates, *msp.roots]
        current = cert
        for _ in range(len(issuers) + 1):
            if any(current == root for root in msp.roots) or any(
                issued_by(current, root) for root in msp.roots
            ):
                return True
            parent = next((i for i in msp.intermediates if issued_by(current, i)), None)
            if parent is None:
                return False
            current = parent
        return False

    def standing(self, identity: Identity, at: dt.datetime | None) -> tuple[str, str] | None:
        """Why the identity's certificate did not stand when it signed at ``at`` (the
        transaction's time), as (failure code, detail), or None if it did.

        ``CERTIFICATE_EXPIRED``: outside its validity period at ``at``;
        ``CERTIFICATE_REVOKED``: its MSP's CA revoked it at or before ``at`` (or at any time,
        when ``at`` is unknown). A revocation after it signed does not undo a signature the
        network accepted then. Chaining is :meth:`chains`' question.
        """
        cert = load_cert(identity.cert_pem)
        if cert is None:
            return None  # unreadable: chains() fails it
        if at is not None and not cert.not_valid_before_utc <= at <= cert.not_valid_after_utc:
            return (
                "CERTIFICATE_EXPIRED",
                f"{identity.msp_id} certificate valid {cert.not_valid_before_utc:%Y-%m-%d} to "
                f"{cert.not_valid_after_utc:%Y-%m-%d}, used {at:%Y-%m-%d %H:%M} UTC",
            )
        return self._revoked(identity.msp_id, cert, at)

    def standing_after(
        self, identity: Identity, earliest: dt.datetime | None
    ) -> tuple[str, str] | None:
        """As :meth:`standing`, for a signature made at an unknown time no earlier than
        ``earliest`` (an orderer's over a block, which carries only its transactions'
        times): ``CERTIFICATE_EXPIRED`` if the certificate had lapsed by then,
        ``CERTIFICATE_REVOKED`` if it was revoked by then. A certificate issued after
        ``earliest`` may still have signed, so that is not a failure."""
        cert = load_cert(identity.cert_pem)
        if cert is None:
            return None  # unreadable: chains() fails it
        if earliest is not None and cert.not_valid_after_utc < earliest:
            return (
                "CERTIFICATE_EXPIRED",
                f"{identity.msp_id} certificate valid to "
                f"{cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC, "
                f"signed after {earliest:%Y-%m-%d %H:%M} UTC",
            )
        return self._revoked(identity.msp_id, cert, earliest)

    def _revoked(
        self, msp_id: str, cert: x509.Certificate, at: dt.datetime | None
    ) -> tuple[str, str] | None:
        msp = self.msps.get(msp_id)
        if msp is None:
            return None
        revoked_at = msp.revoked.get((cert.issuer.public_bytes(), cert.serial_number))
        if revoked_at is not None and (at is None or revoked_at <= at):
            return (
                "CERTIFICATE_REVOKED",
                f"{msp_id} certificate {cert.serial_number:x} revoked "
                f"{revoked_at:%Y-%m-%d %H:%M} UTC",
            )
        return None

    def all_roots(self) -> list[tuple[str, x509.Certificate]]:
        return [(m.msp_id, r) for m in self.msps.values() for r in m.roots]


def signed_by(identity: Identity, message: bytes, signature: bytes) -> bool:
    """Whether ``signature`` over ``message`` verifies with the identity's certificate key."""
    cert = load_cert(identity.cert_pem)
    return cert is not None and verify_signature(cert.public_key(), message, signature)


def msp_roots(raw: bytes) -> MspRoots | None:
    try:
        config = msp_config_pb2.MSPConfig.FromString(raw)
        fabric = msp_config_pb2.FabricMSPConfig.FromString(config.config)
    except DecodeError as exc:
        raise MalformedLedgerData("MSP config does not parse") from exc
    roots = tuple(c for c in (load_cert(bytes(r)) for r in fabric.root_certs) if c is not None)
    inter = tuple(
        c for c in (load_cert(bytes(r)) for r in fabric.intermediate_certs) if c is not None
    )
    if not fabric.name:
        return None
    revoked = _revocations(fabric.revocation_list, (*roots, *inter))
    return MspRoots(str(fabric.name), roots, inter, revoked, node_ous(fabric))


def _revocations(lists: Iterable[bytes], cas: tuple[x509.Certificate, ...]) -> Revocations:
    """The revoked serials of each list one of ``cas`` issued and signed; other lists (and
    unreadable ones) are ignored: they could revoke anyone."""
    revoked: Revocations = {}
    for pem in lists:
        try:
            crl = x509.load_pem_x509_crl(bytes(pem))
        except ValueError:
            continue
        if not any(_signed_crl(crl, ca) for ca in cas):
            continue
        issuer = crl.issuer.public_bytes()
        for entry in crl:
            revoked[(issuer, entry.serial_number)] = entry.revocation_date_utc
    return revoked


def _signed_crl(crl: x509.CertificateRevocationList, ca: x509.Certificate) -> bool:
    key = ca.public_key()
    if crl.issuer != ca.subject or not isinstance(key, ec.EllipticCurvePublicKey):
        return False
    try:
        return crl.is_signature_valid(key)
    except InvalidSignature:
        return False
