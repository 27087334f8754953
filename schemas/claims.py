"""Capture claims: what an edge device asserts about a violation it recorded, signed by it;
an officer's own capture on the spot, signed with the officer's key; and a case document
filed into the case file, signed by its filer.

The claims stay off the shared ledger (they hold the place and the detections); the ledger
records only their hash (``claims_hash`` of each evidence item), which binds them. Each
file the device captured is named in ``media`` with its SHA-256 and size, so the owner
node can check every uploaded byte against what the device signed.

Signature: ECDSA P-256 (SHA-256, DER, low-S) by the device's key over
``canonical_bytes(claims)``; the device certificate is issued by its department's CA with
the role ``device``.
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from schemas.canonical import canonical_json, parse_json
from schemas.glossary import Stage, ViolationType
from schemas.hashes import Digest
from schemas.ledger import MAX_CASE_STEPS, Code, Ident, MediaType, MspId

FileName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
MAX_MEDIA = 10
MAX_DETECTIONS = 50
MAX_NOTE = 500  # an officer's note on a capture, in characters


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Detection(_Model):
    class_name: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    confidence: Annotated[float, Field(ge=0, le=1)]
    # Pixel box in the frame: x1, y1, x2, y2.
    bbox: Annotated[list[Annotated[float, Field(ge=0)]], Field(min_length=4, max_length=4)]
    track_id: int | None = None


class Place(_Model):
    lat: Annotated[float, Field(ge=-90, le=90)]
    lon: Annotated[float, Field(ge=-180, le=180)]


class MediaRef(_Model):
    """One captured file: keyframe, annotated frame or clip."""

    name: FileName
    media_type: MediaType
    sha256: Digest
    size: Annotated[int, Field(gt=0, le=1 << 40)]


class CaptureClaims(_Model):
    schema_version: Literal[1] = 1
    event_id: Ident  # the device's id for this violation: the idempotency key of its upload
    org: MspId
    device_id: Ident
    camera_id: Ident
    captured_at: AwareDatetime
    zone: Code
    rule: Code
    violation_type: ViolationType
    place: Place | None = None
    detections: Annotated[list[Detection], Field(max_length=MAX_DETECTIONS)] = []
    model_sha256: Digest
    media: Annotated[list[MediaRef], Field(min_length=1, max_length=MAX_MEDIA)]


class RectificationClaims(_Model):
    """The device's report on a zone it watched after a co-governance reminder: clear for
    ``clear_seconds`` (``rectified``) or not by the deadline (``not_rectified``).

    Its files are evidence like a capture's (``captured_at`` is the deciding frame's time);
    ``flag_id`` names the reminded flag, whose rectification request the gateway holds.
    Distinguished from capture claims by ``kind``, which capture claims do not carry (their
    signed bytes stay as they always were).
    """

    schema_version: Literal[1] = 1
    kind: Literal["rectification"] = "rectification"
    event_id: Ident
    flag_id: Ident
    org: MspId
    device_id: Ident
    camera_id: Ident
    captured_at: AwareDatetime
    zone: Code
    rule: Code
    violation_type: ViolationType
    place: Place | None = None
    classes: Annotated[list[Annotated[str, StringConstraints(max_length=64)]], Field(max_length=20)]
    status: Literal["rectified", "not_rectified"]
    watch_started_at: AwareDatetime
    clear_since: AwareDatetime | None
    clear_seconds: Annotated[float, Field(gt=0)]
    model_sha256: Digest
    media: Annotated[list[MediaRef], Field(min_length=1, max_length=MAX_MEDIA)]


class OfficerCaptureClaims(_Model):
    """What an officer asserts about evidence taken on the spot (现场取证) with a handheld
    terminal or a body-worn recorder (执法记录仪): when, where, of what violation, which
    files with which hashes (taken by the handheld when it captured them).

    Signed with the officer's own key, which the officer's node holds as it does for the
    officer's transactions; the node then registers the files as that officer, so the ledger
    and a package name the person who took them. ``device_id`` is the officer (the signer,
    like a device's claims name the device); ``camera_id`` the handheld or recorder.
    """

    schema_version: Literal[1] = 1
    kind: Literal["officer_capture"] = "officer_capture"
    event_id: Ident  # the handheld's id for this capture: the idempotency key of its upload
    org: MspId
    device_id: Ident
    camera_id: Ident
    captured_at: AwareDatetime
    violation_type: ViolationType
    place: Place | None = None
    note: Annotated[str, StringConstraints(max_length=MAX_NOTE)] = ""
    case_id: Ident | None = None  # the case the files were taken for, if any
    media: Annotated[list[MediaRef], Field(min_length=1, max_length=MAX_MEDIA)]


# The ``camera_id`` of a case document: it came from no camera.
CASE_FILE: Literal["case-file"] = "case-file"


class CaseDocumentClaims(_Model):
    """What the filer of a step's legal document (立案审批表, 告知书, 处罚决定书...) asserts:
    this file, with this hash, is the document step ``step`` of case ``case_id`` bound.

    Signed with the filer's own key (an officer or reviewer of the holder, held by the node as
    for their transactions); the chaincode's ``FileDocument`` takes the file into the case
    only if the step recorded that very hash. ``device_id`` is the filer, ``camera_id``
    :data:`CASE_FILE`, ``captured_at`` the step's time, so a retry signs the same claims.
    """

    schema_version: Literal[1] = 1
    kind: Literal["case_document"] = "case_document"
    event_id: Ident  # case_document_event(case_id, step): one document per step
    org: MspId
    device_id: Ident
    camera_id: Literal["case-file"] = CASE_FILE
    captured_at: AwareDatetime
    violation_type: ViolationType
    case_id: Ident
    step: Annotated[int, Field(ge=1, le=MAX_CASE_STEPS)]
    stage: Stage  # what the step moved the case to
    media: Annotated[list[MediaRef], Field(min_length=1, max_length=1)]


def case_document_event(case_id: str, step: int) -> str:
    """The event id of a step's document: derived, so filing it again is idempotent."""
    digest = hashlib.sha256(f"{case_id}\n{step}".encode()).hexdigest()
    return f"DOC-{digest[:24]}-{step}"


DeviceClaims = CaptureClaims | RectificationClaims
# Everything ingest accepts: a device's claims, or a person's (an officer's capture, a case
# document).
PersonClaims = OfficerCaptureClaims | CaseDocumentClaims
EvidenceClaims = DeviceClaims | PersonClaims


def parse_device_claims(claims_json: bytes | str) -> DeviceClaims:
    """Capture or rectification claims, told apart by ``kind``.

    Raises:
        pydantic.ValidationError: not valid claims of that kind (an officer's capture is
            not: its ``kind`` is not a field of a device's claims).
    """
    return _device_claims(parse_json(claims_json))


def _device_claims(doc: object) -> DeviceClaims:
    if isinstance(doc, dict) and doc.get("kind") == "rectification":
        return RectificationClaims.model_validate(doc)
    return CaptureClaims.model_validate(doc)


def parse_evidence_claims(claims_json: bytes | str) -> EvidenceClaims:
    """A device's claims, an officer's capture or a case document, told apart by ``kind``.

    Raises:
        pydantic.ValidationError: not valid claims of that kind.
    """
    doc = parse_json(claims_json)
    if isinstance(doc, dict) and doc.get("kind") == "officer_capture":
        return OfficerCaptureClaims.model_validate(doc)
    if isinstance(doc, dict) and doc.get("kind") == "case_document":
        return CaseDocumentClaims.model_validate(doc)
    return _device_claims(doc)


def canonical_bytes(claims: EvidenceClaims) -> bytes:
    """The exact bytes a device signs and the ledger's ``claims_hash`` covers."""
    return canonical_json(claims.model_dump(mode="json"))


def claims_digest(claims: EvidenceClaims) -> Digest:
    return Digest("sha256", hashlib.sha256(canonical_bytes(claims)).digest())


def evidence_id_for(claims: EvidenceClaims, media: MediaRef) -> str:
    """The evidence id of one captured file: derived, so a retried upload reuses it."""
    digest = hashlib.sha256(f"{claims.org}\n{claims.event_id}\n{media.name}".encode()).hexdigest()
    return f"EV-{digest[:24]}"
