"""Checking that claims come from this department: a device's (captures and rectification
reports) from one of its devices, an officer's capture on the spot from one of its officers."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TypeVar

from cryptography import x509
from pydantic import ValidationError

from node.crypto.pki import certificate_attributes, enrollment_id, issued_by
from node.crypto.signing import verify_signature
from node.ingest.errors import (
    BAD_CLAIMS,
    BAD_SIGNATURE,
    CERT_NOT_VALID,
    DEVICE_MISMATCH,
    NOT_A_DEVICE,
    NOT_AN_OFFICER,
    NOT_CASE_STAFF,
    UNKNOWN_DEVICE,
    WRONG_ORG,
    IngestRefused,
)
from schemas.canonical import CanonicalJSONError
from schemas.claims import (
    CaseDocumentClaims,
    EvidenceClaims,
    OfficerCaptureClaims,
    canonical_bytes,
    parse_evidence_claims,
)

MAX_CLAIMS_BYTES = 64 * 1024
C = TypeVar("C", bound=EvidenceClaims)


def read_claims(claims_json: bytes, parse: Callable[[bytes], C]) -> C:
    """``claims_json`` parsed by ``parse`` (one kind of claims or several), within the size
    limit; what is wrong named for a person.

    Raises:
        IngestRefused: BAD_CLAIMS.
    """
    if len(claims_json) > MAX_CLAIMS_BYTES:
        raise IngestRefused(BAD_CLAIMS, f"claims exceed {MAX_CLAIMS_BYTES} bytes")
    try:
        return parse(claims_json)
    except CanonicalJSONError as exc:
        raise IngestRefused(BAD_CLAIMS, f"claims: {exc}") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "claims"
        raise IngestRefused(BAD_CLAIMS, f"{where}: {first['msg']}") from None


class DeviceVerifier:
    """Verifies signed claims against the department's CA (devices are issued by it)."""

    def __init__(
        self,
        org: str,
        ca_pem: bytes,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self.org = org
        self._ca = x509.load_pem_x509_certificate(ca_pem)
        self._clock = clock

    def verify(
        self, claims_json: bytes, signature: bytes, certificate_pem: bytes
    ) -> EvidenceClaims:
        """The claims, if a device of this department signed exactly them (an officer of it,
        for an officer's capture).

        Raises:
            IngestRefused: with the reason's code.
        """
        claims = read_claims(claims_json, parse_evidence_claims)
        try:
            cert = x509.load_pem_x509_certificate(certificate_pem)
        except ValueError:
            raise IngestRefused(UNKNOWN_DEVICE, "the device certificate is not PEM X.509") from None
        if not issued_by(cert, self._ca):
            raise IngestRefused(UNKNOWN_DEVICE, f"the certificate was not issued by {self.org}")
        now = self._clock()
        if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
            raise IngestRefused(CERT_NOT_VALID, "the device certificate is not valid now")
        # Each kind of claims has one kind of signer: a device cannot pass its detections
        # off as an officer's observation, nor an officer sign in a camera's place.
        signer_kind, roles, refusal = _signers(claims)
        if certificate_attributes(cert).get("role") not in roles:
            raise IngestRefused(
                refusal, f"the certificate does not carry the {' or '.join(roles)} role"
            )
        # Verify the bytes the device signed: the canonical form of what we parsed, so a
        # re-ordered or re-spaced document cannot carry a signature over other content.
        if not verify_signature(cert.public_key(), canonical_bytes(claims), signature):
            raise IngestRefused(BAD_SIGNATURE, "the claims signature does not verify")
        # The claims name the device that made them (the ledger records it, the package
        # shows it to a court): a device may sign only its own name.
        signer = enrollment_id(cert)
        if claims.device_id != signer:
            raise IngestRefused(
                DEVICE_MISMATCH,
                f"the claims name {signer_kind} {claims.device_id!r} but {signer!r} signed them",
            )
        if claims.org != self.org:
            raise IngestRefused(WRONG_ORG, f"claims for {claims.org} sent to {self.org}")
        return claims


def _signers(claims: EvidenceClaims) -> tuple[str, tuple[str, ...], str]:
    """Who may sign ``claims``: the signer's word in messages, its roles, the refusal code."""
    if isinstance(claims, OfficerCaptureClaims):
        return "officer", ("officer",), NOT_AN_OFFICER
    if isinstance(claims, CaseDocumentClaims):
        # The step's own people: officers file notices, reviewers their approvals.
        return "filer", ("officer", "reviewer"), NOT_CASE_STAFF
    return "device", ("device",), NOT_A_DEVICE
