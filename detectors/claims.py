"""Capture claims for the edge box: built in the shared schema, signed with the device key.

A violation's claims are :class:`schemas.claims.CaptureClaims`, the model the department
node's ingest verifies (``node.ingest.DeviceVerifier``): the device signs
``schemas.claims.canonical_bytes(claims)`` and names every evidence file by SHA-256 and size,
so one signature binds the whole submission. A rectification report
(:class:`schemas.claims.RectificationClaims`, after a reminder) is signed and delivered the
same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from cryptography import x509

from detectors.errors import DeviceIdentityError
from detectors.events import Submission, ViolationEvent
from detectors.evidence import EvidenceFile
from detectors.models.base import ModelInfo
from node.crypto.pki import certificate_attributes, enrollment_id
from node.crypto.signing import EcdsaSigner
from schemas.claims import (
    CaptureClaims,
    Detection,
    DeviceClaims,
    MediaRef,
    Place,
    canonical_bytes,
)
from schemas.glossary import Role


class DeviceIdentity:
    """The edge device's certificate, its department and its signing key.

    The key stays inside the signer; ``device_id`` is the identity's name: the enrollment id
    the department's CA put in the certificate (``hf.EnrollmentID``, e.g. ``cam-12`` for
    the common name ``cam-12@urbanmanagement.evnet``), or the common name without one.
    """

    def __init__(self, org: str, certificate_pem: bytes, signer: EcdsaSigner) -> None:
        try:
            cert = x509.load_pem_x509_certificate(certificate_pem)
        except ValueError:
            raise DeviceIdentityError("device certificate is not a PEM X.509 certificate") from None
        name = enrollment_id(cert)
        if name is None:
            raise DeviceIdentityError("device certificate has no common name")
        role = certificate_attributes(cert).get("role")
        if role != Role.DEVICE.value:
            raise DeviceIdentityError(
                f"certificate of {name} has role {role or 'none'}, not device"
            )
        self.org = org
        self.device_id = name
        self.certificate_pem = certificate_pem
        self._signer = signer

    @classmethod
    def from_pem(cls, org: str, certificate_pem: bytes, key_pem: bytes) -> DeviceIdentity:
        """Raises:
        DeviceIdentityError: unreadable certificate or key, or not a device identity.
        """
        try:
            signer = EcdsaSigner.from_pem(key_pem)
        except (ValueError, TypeError):
            raise DeviceIdentityError("device key is not an unencrypted P-256 PEM key") from None
        return cls(org, certificate_pem, signer)

    @classmethod
    def from_files(cls, org: str, cert: Path, key: Path) -> DeviceIdentity:
        """Raises:
        DeviceIdentityError: a file is missing or unreadable, or not a device identity.
        """
        try:
            cert_pem, key_pem = cert.read_bytes(), key.read_bytes()
        except OSError as exc:
            raise DeviceIdentityError(f"cannot read {exc.filename}: {exc.strerror}") from None
        return cls.from_pem(org, cert_pem, key_pem)

    def sign(self, message: bytes) -> bytes:
        """DER, low-S ECDSA P-256 signature over SHA-256(message)."""
        return self._signer.sign(message)


def media_refs(files: Sequence[EvidenceFile]) -> list[MediaRef]:
    return [
        MediaRef(name=f.name, media_type=f.media_type, sha256=f.digest, size=len(f.data))
        for f in files
    ]


def violation_claims(
    event: ViolationEvent,
    files: Sequence[EvidenceFile],
    model: ModelInfo,
    *,
    org: str,
    device_id: str,
    place: tuple[float, float] | None = None,
) -> CaptureClaims:
    """The shared-schema claims for one violation event and its evidence files."""
    return CaptureClaims(
        event_id=event.event_id,
        org=org,
        device_id=device_id,
        camera_id=event.camera_id,
        captured_at=event.confirmed_at,
        zone=event.zone_id,
        rule=event.rule.value,
        violation_type=event.violation_type,
        place=None if place is None else Place(lat=place[0], lon=place[1]),
        detections=[
            Detection(
                class_name=event.class_name,
                confidence=round(min(max(event.confidence, 0.0), 1.0), 4),
                bbox=[round(max(v, 0.0), 1) for v in event.xyxy],
                track_id=event.track_id,
            )
        ],
        model_sha256=model.digest,
        media=media_refs(files),
    )


def seal(
    event_id: str,
    claims: DeviceClaims,
    files: Sequence[EvidenceFile],
    identity: DeviceIdentity | None,
) -> Submission:
    """Canonicalise and sign ``claims`` into a :class:`Submission` (unsigned if no identity)."""
    body = canonical_bytes(claims)
    if identity is None:
        return Submission(event_id, body, b"", b"", tuple(files))
    return Submission(event_id, body, identity.sign(body), identity.certificate_pem, tuple(files))
