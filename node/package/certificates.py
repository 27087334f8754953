"""Certificates as a package carries them: parsed whole, or not at all."""

from __future__ import annotations

import functools

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm


@functools.lru_cache(maxsize=1024)
def load_cert(pem: bytes) -> x509.Certificate | None:
    """The certificate in ``pem`` (parsed once per distinct PEM), or None if it does not
    parse whole: the library parses a certificate's fields only when first read, so a
    package's corrupted certificate would otherwise load here and fail later, mid-check."""
    try:
        cert = x509.load_pem_x509_certificate(pem)
        _ = (
            cert.issuer,
            cert.subject,
            cert.serial_number,
            cert.not_valid_before_utc,
            cert.not_valid_after_utc,
            cert.signature_hash_algorithm,
            cert.tbs_certificate_bytes,
            cert.public_key(),
        )
    except (ValueError, UnsupportedAlgorithm):
        return None
    return cert


def load_certs(pem: bytes) -> list[x509.Certificate]:
    try:
        return x509.load_pem_x509_certificates(pem)
    except ValueError:
        return []


@functools.lru_cache(maxsize=1024)
def organizational_units(pem: bytes) -> frozenset[str]:
    """The OUs of the certificate in ``pem`` (none if it does not parse), read once per
    PEM: a package names the same few endorsers hundreds of times."""
    cert = load_cert(pem)
    if cert is None:
        return frozenset()
    return frozenset(
        str(a.value)
        for a in cert.subject.get_attributes_for_oid(x509.NameOID.ORGANIZATIONAL_UNIT_NAME)
    )
