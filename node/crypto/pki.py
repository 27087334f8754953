"""Certificate authorities and X.509 identities for the consortium (ECDSA P-256).

Fabric's MSP classifies identities by the organisational unit in their subject (NodeOUs:
client, peer, admin, orderer); EvidenceNet's roles ride in a Fabric-CA-style attribute
extension (JSON ``{"attrs": {...}}``) that the chaincode reads.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from schemas.glossary import ATTRIBUTE_EXTENSION_OID, Role

_VALIDITY = dt.timedelta(days=3650)
_SKEW = dt.timedelta(minutes=5)


@dataclass(frozen=True)
class KeyPair:
    """A certificate and its private key, both PEM."""

    cert_pem: bytes
    key_pem: bytes

    @property
    def certificate(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.cert_pem)


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _load_key(pem: bytes) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError("expected an EC private key")
    return key


def create_ca(common_name: str, organization: str, now: dt.datetime) -> KeyPair:
    """A self-signed CA certificate valid for ten years from ``now``."""
    key = _new_key()
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _SKEW)
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.SERVER_AUTH]
            ),
            critical=False,
        )
        .add_extension(ski, critical=False)
        .sign(key, hashes.SHA256())
    )
    return KeyPair(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key))


def issue(
    ca: KeyPair,
    common_name: str,
    organization: str,
    now: dt.datetime,
    *,
    organizational_unit: str | None = None,
    attributes: dict[str, str] | None = None,
    hosts: tuple[str, ...] = (),
    tls: bool = False,
) -> KeyPair:
    """Issue a leaf certificate signed by ``ca``.

    ``organizational_unit`` is the Fabric NodeOU (client, peer, admin, orderer);
    ``attributes`` become the Fabric-CA attribute extension read by the chaincode;
    ``hosts`` (DNS names or IP addresses) become subject alternative names for TLS.
    """
    key = _new_key()
    ca_cert = ca.certificate
    parts = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization)]
    if organizational_unit:
        parts.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, organizational_unit))
    parts.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    usage = x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=tls,
        data_encipherment=False,
        key_agreement=tls,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name(parts))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _SKEW)
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key()),  # type: ignore[arg-type]
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if tls:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
    if hosts:
        names: list[x509.GeneralName] = []
        for host in hosts:
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                names.append(x509.DNSName(host))
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    if attributes:
        value = json.dumps({"attrs": attributes}, sort_keys=True, separators=(",", ":"))
        builder = builder.add_extension(
            x509.UnrecognizedExtension(
                x509.ObjectIdentifier(ATTRIBUTE_EXTENSION_OID), value.encode("utf-8")
            ),
            critical=False,
        )
    cert = builder.sign(_load_key(ca.key_pem), hashes.SHA256())
    return KeyPair(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key))


def write_private(path: Path, data: bytes) -> None:
    """Write a private key readable by its owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_bytes(data)


def issued_by(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    """Whether ``ca`` signed ``cert`` (issuer name and ECDSA signature both match)."""
    if cert.issuer != ca.subject or cert.signature_hash_algorithm is None:
        return False
    key = ca.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey):
        return False
    try:
        key.verify(
            cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(cert.signature_hash_algorithm)
        )
    except InvalidSignature:
        return False
    return True


def certificate_attributes(cert: x509.Certificate) -> dict[str, str]:
    """The Fabric-CA attributes (``role`` among them) carried by ``cert``, if any."""
    try:
        ext = cert.extensions.get_extension_for_oid(x509.ObjectIdentifier(ATTRIBUTE_EXTENSION_OID))
    except x509.ExtensionNotFound:
        return {}
    value = ext.value
    if not isinstance(value, x509.UnrecognizedExtension):
        return {}
    try:
        doc = json.loads(value.value)
    except ValueError:
        return {}
    attrs = doc.get("attrs", {}) if isinstance(doc, dict) else {}
    return {str(k): str(v) for k, v in attrs.items()} if isinstance(attrs, dict) else {}


def certificate_role(cert: x509.Certificate) -> Role | None:
    """The role the department's CA put in ``cert`` (its ``role`` attribute), or None for a
    certificate without one or with a role this code base does not know."""
    try:
        return Role(certificate_attributes(cert).get("role", ""))
    except ValueError:
        return None


def enrollment_id(cert: x509.Certificate) -> str | None:
    """The identity's name: the enrollment id the department's CA put in ``cert``
    (``hf.EnrollmentID``, e.g. ``cam-12`` for ``cam-12@urbanmanagement.evnet``), else its
    common name; None if it has neither."""
    name = certificate_attributes(cert).get("hf.EnrollmentID")
    if name:
        return name
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else None
