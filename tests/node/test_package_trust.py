"""The verifier's trust in a signer's certificate: validity at signing time and the MSP's
revocation lists, read from the channel config the package carries."""

from __future__ import annotations

import datetime as dt
import ssl

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from fabric_protos.msp import msp_config_pb2

from node.crypto.pki import KeyPair, create_ca, issue
from node.fabric.identity import Identity
from node.package.certificates import load_cert
from node.package.trust import ChannelTrust, msp_roots, signed_by

MSP = "UrbanManagementMSP"
T0 = dt.datetime(2026, 3, 1, 8, tzinfo=dt.UTC)


def _crl(ca: KeyPair, revoked: list[tuple[x509.Certificate, dt.datetime]]) -> bytes:
    key = serialization.load_pem_private_key(ca.key_pem, password=None)
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca.certificate.subject)
        .last_update(T0)
        .next_update(T0 + dt.timedelta(days=365))
    )
    for cert, when in revoked:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(cert.serial_number)
            .revocation_date(when)
            .build()
        )
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)  # type: ignore[arg-type]


def _trust(ca: KeyPair, crls: list[bytes]) -> ChannelTrust:
    fabric = msp_config_pb2.FabricMSPConfig(
        name=MSP, root_certs=[ca.cert_pem], revocation_list=crls
    )
    config = msp_config_pb2.MSPConfig(type=0, config=fabric.SerializeToString())
    roots = msp_roots(config.SerializeToString())
    assert roots is not None
    return ChannelTrust({MSP: roots})


@pytest.fixture(scope="module")
def pki() -> tuple[KeyPair, KeyPair]:
    ca = create_ca("ca.urban", MSP, T0)
    return ca, issue(ca, "officer1", MSP, T0, organizational_unit="client")


def test_a_certificate_stands_only_within_its_validity_period(
    pki: tuple[KeyPair, KeyPair],
) -> None:
    ca, officer = pki
    trust = _trust(ca, [])
    who = Identity(MSP, officer.cert_pem)
    assert trust.chains(who)
    assert trust.standing(who, T0 + dt.timedelta(days=10)) is None
    for when in (T0 - dt.timedelta(days=1), T0 + dt.timedelta(days=3700 * 3)):
        problem = trust.standing(who, when)
        assert problem is not None
        assert problem[0] == "CERTIFICATE_EXPIRED"
        assert f"used {when:%Y-%m-%d}" in problem[1]


def test_a_revocation_counts_from_its_date(pki: tuple[KeyPair, KeyPair]) -> None:
    ca, officer = pki
    revoked_at = T0 + dt.timedelta(days=30)
    trust = _trust(ca, [_crl(ca, [(officer.certificate, revoked_at)])])
    who = Identity(MSP, officer.cert_pem)
    # Signed before the revocation: the network accepted it then, and it stands.
    assert trust.standing(who, revoked_at - dt.timedelta(days=1)) is None
    for when in (revoked_at, revoked_at + dt.timedelta(days=1), None):
        problem = trust.standing(who, when)
        assert problem is not None
        assert problem[0] == "CERTIFICATE_REVOKED"
    # Another certificate of the same CA is untouched.
    colleague = Identity(MSP, issue(ca, "officer2", MSP, T0).cert_pem)
    assert trust.standing(colleague, revoked_at + dt.timedelta(days=1)) is None


def test_only_revocation_lists_the_msps_own_ca_signed_count(
    pki: tuple[KeyPair, KeyPair],
) -> None:
    ca, officer = pki
    # Same issuer name, another key: it could revoke anyone, so it is ignored.
    impostor = create_ca("ca.urban", MSP, T0)
    when = T0 + dt.timedelta(days=30)
    trust = _trust(
        ca, [_crl(impostor, [(officer.certificate, when)]), b"-----BEGIN X509 CRL-----\nxx"]
    )
    assert trust.standing(Identity(MSP, officer.cert_pem), when + dt.timedelta(days=1)) is None


def test_a_signature_made_after_a_time_fails_only_what_had_lapsed_or_been_revoked_by_then(
    pki: tuple[KeyPair, KeyPair],
) -> None:
    """An orderer's signature over a block: made at some time after its transactions."""
    ca, orderer = pki
    cert = orderer.certificate
    revoked_at = T0 + dt.timedelta(days=30)
    trust = _trust(ca, [_crl(ca, [(cert, revoked_at)])])
    who = Identity(MSP, orderer.cert_pem)
    # Within its validity, before the revocation; or before its issue (it may have signed
    # later, once issued): it may have stood when it signed.
    for earliest in (T0 + dt.timedelta(days=1), T0 - dt.timedelta(days=1)):
        assert trust.standing_after(who, earliest) is None
    problem = trust.standing_after(who, revoked_at)
    assert problem is not None
    assert problem[0] == "CERTIFICATE_REVOKED"
    after_expiry = cert.not_valid_after_utc + dt.timedelta(minutes=1)
    problem = _trust(ca, []).standing_after(who, after_expiry)
    assert problem is not None
    assert problem[0] == "CERTIFICATE_EXPIRED"
    assert f"signed after {after_expiry:%Y-%m-%d %H:%M}" in problem[1]
    # No time known: only a revocation can be told.
    assert trust.standing_after(who, None) is not None
    assert _trust(ca, []).standing_after(who, None) is None


def test_a_certificate_that_loads_but_does_not_parse_whole_is_no_certificate(
    pki: tuple[KeyPair, KeyPair],
) -> None:
    """The library parses a certificate's fields when first read: a package's corrupted
    certificate must fail as untrusted, not raise mid-verification."""
    ca, officer = pki
    der = officer.certificate.public_bytes(serialization.Encoding.DER)
    corrupted = _loads_but_fails_later(der, der.find(officer.certificate.issuer.public_bytes()))
    assert corrupted is not None, "no corruption of the issuer name loads and fails later"
    pem = ssl.DER_cert_to_PEM_cert(corrupted).encode()
    assert load_cert(pem) is None
    trust = _trust(ca, [])
    who = Identity(MSP, pem)
    assert not trust.chains(who)
    assert not signed_by(who, b"message", b"signature")
    assert trust.standing(who, T0) is None  # chains() is what fails it


def _loads_but_fails_later(der: bytes, start: int) -> bytes | None:
    """``der`` with one byte from ``start`` on inverted, such that it loads as a certificate
    whose issuer then fails to parse; None if no such byte among the next 40."""
    for offset in range(start, start + 40):
        candidate = bytearray(der)
        candidate[offset] ^= 0xFF
        try:
            cert = x509.load_der_x509_certificate(bytes(candidate))
        except ValueError:
            continue  # refused on load
        try:
            _ = cert.issuer
        except ValueError:
            return bytes(candidate)
    return None
