"""Device submissions: signed claims plus the files they name, streamed to disk first."""

from __future__ import annotations

import asyncio
import json
import logging
from contextlib import ExitStack
from typing import Annotated

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from gateway.auth import Principal
from gateway.deps import Deps, GatewayDeps, Ledger, ledger_of, require
from gateway.models import IngestedItem, SubmissionResult
from gateway.problems import Problem
from gateway.rectification import RequestConflict
from gateway.uploads import read_multipart
from node.ingest import Ingested
from node.ledger import Committed, LedgerRefused
from node.package.claims_archive import ClaimsNotArchived
from node.streams import Readable
from schemas.canonical import canonical_json, parse_json
from schemas.claims import (
    RectificationClaims,
    canonical_bytes,
    claims_digest,
    evidence_id_for,
    parse_device_claims,
)
from schemas.glossary import Role
from schemas.ledger import LedgerErrorCode
from schemas.rectification import RectificationRequest
from schemas.violations import ViolationFlag, ViolationRecord

log = logging.getLogger("gateway")

router = APIRouter(prefix="/devices", tags=["devices"])

SIGNED_PARTS = ("claims", "signature", "certificate")
SUBMISSIONS_ROUTE = "/devices/submissions"

_SUBMISSION_DOC = """Multipart parts: `claims` (the canonical claims JSON), `signature` (the
device's signature over it), `certificate` (the device certificate, PEM) and one file part
per medium, named as in the claims. Idempotent by the claims' event id: a replay returns the same
evidence ids with `duplicate: true`."""


@router.post(
    SUBMISSIONS_ROUTE.removeprefix("/devices"),
    response_model=SubmissionResult,
    status_code=201,
    description=_SUBMISSION_DOC,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["claims", "signature", "certificate"],
                        "properties": {
                            "claims": {"type": "string", "format": "binary"},
                            "signature": {"type": "string", "format": "binary"},
                            "certificate": {"type": "string", "format": "binary"},
                        },
                        "additionalProperties": {"type": "string", "format": "binary"},
                    }
                }
            },
        }
    },
)
async def submit(
    request: Request, deps: Deps, who: Annotated[Principal, require(Role.DEVICE)]
) -> SubmissionResult:
    upload = await read_multipart(
        request.headers.get("content-type", ""),
        request.stream(),
        spool_dir=deps.spool_dir,
        max_file_bytes=deps.max_upload_bytes,
        max_field_bytes=deps.max_claims_bytes,
        field_names=SIGNED_PARTS,
    )
    try:
        missing = [p for p in SIGNED_PARTS if p not in upload.fields]
        if missing:
            raise Problem(422, "MISSING_PART", f"missing parts: {', '.join(missing)}")
        doc = _claims_doc(upload.fields["claims"])
        _check_idempotency_key(request.headers.get("idempotency-key"), doc)
        _check_sender(who, doc)
        # A rectification report must answer a request: checked before any file is stored.
        _check_report_requested(deps, who, doc)
        _check_same_event(deps, upload.fields["claims"])
        with ExitStack() as stack:
            files: dict[str, Readable] = {
                name: stack.enter_context(path.open("rb")) for name, path in upload.files.items()
            }
            done = await deps.ingest.ingest(
                upload.fields["claims"],
                upload.fields["signature"],
                upload.fields["certificate"],
                files,
            )
    finally:
        upload.discard()
    if deps.claims is not None:  # packages carry the device-signed claims of each item
        for i in done:
            deps.claims.put(
                i.evidence_id,
                upload.fields["claims"],
                upload.fields["signature"],
                upload.fields["certificate"],
            )
    items = [
        IngestedItem(
            evidence_id=i.evidence_id,
            file_name=i.media_name,
            ledger_tx=i.ledger_tx,
            duplicate=i.duplicate,
        )
        for i in done
    ]
    claims = parse_device_claims(upload.fields["claims"])  # verified by the ingest above
    if isinstance(claims, RectificationClaims):
        return _attach_report(deps, claims, done, items)
    # The event becomes a flag in the review queue, signed by the device itself. A replay
    # flags again harmlessly (FlagViolation is idempotent), so a failure here is retried by
    # the device with nothing lost: its evidence is already stored.
    flagged = await _flag(
        ledger_of(deps, who),
        ViolationFlag(
            flag_id=claims.event_id,
            camera_id=claims.camera_id,
            violation_type=claims.violation_type,
            detected_at=claims.captured_at,
            evidence_ids=[i.evidence_id for i in done],
            confidence=max((d.confidence for d in claims.detections), default=0.0),
            claims_hash=claims_digest(claims),
        ),
    )
    return SubmissionResult(
        event_id=claims.event_id,
        flag_id=flagged.value.flag_id,
        flag_tx=flagged.tx_id,
        items=items,
    )


# Waits between asking again when the ledger does not show the flag's items yet.
FLAG_RETRY_DELAYS = (0.25, 0.5, 1.0, 2.0)


async def _flag(ledger: Ledger, flag: ViolationFlag) -> Committed[ViolationRecord]:
    """FlagViolation for items whose registration this node saw commit a moment ago.

    NOT_FOUND for them can only mean the peer that endorsed first has not caught up yet (a
    peer just restarted replays the blocks it missed): asked again a few times, then the
    device is told to send the event again (503, Retry-After). A 404 would make it drop an
    event whose evidence is stored; FlagViolation is idempotent, so a resend is harmless.
    """
    for delay in FLAG_RETRY_DELAYS:
        try:
            return await ledger.flag_violation(flag)
        except LedgerRefused as err:
            if err.code is not LedgerErrorCode.NOT_FOUND:
                raise
            log.warning("flag %s: the ledger does not show its items yet: %s", flag.flag_id, err)
        await asyncio.sleep(delay)
    try:
        return await ledger.flag_violation(flag)
    except LedgerRefused as err:
        if err.code is not LedgerErrorCode.NOT_FOUND:
            raise
        raise Problem(
            503,
            "LEDGER_NOT_CAUGHT_UP",
            "the ledger does not show this event's evidence yet (it is stored); send the "
            "event again",
            {"Retry-After": "5"},
        ) from None


@router.get("/rectification-requests", response_model=list[RectificationRequest])
async def rectification_requests(
    deps: Deps, who: Annotated[Principal, require(Role.DEVICE)]
) -> list[RectificationRequest]:
    """What this device is asked to watch: zones of its flags that were reminded and that it
    has not reported on yet (at most 50, oldest flag ids first)."""
    if deps.rectifications is None:
        return []
    return await run_in_threadpool(deps.rectifications.pending_for, who.user)


def _claims_doc(claims_json: bytes) -> dict[str, object] | None:
    """The claims as plain JSON for the checks made before ingest, or None if malformed
    (ingest then answers with the precise reason)."""
    try:
        doc = json.loads(claims_json)
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None


def _check_sender(who: Principal, doc: dict[str, object] | None) -> None:
    """A device delivers only what it made: the claims must name the device whose
    certificate sent them (ingest then checks that the same device signed them)."""
    if doc is not None and doc.get("device_id") != who.user:
        raise Problem(
            403,
            "DEVICE_MISMATCH",
            f"claims of device {str(doc.get('device_id'))[:64]!r} sent by {who.user!r}",
        )


def _check_report_requested(
    deps: GatewayDeps, who: Principal, doc: dict[str, object] | None
) -> None:
    if doc is None or doc.get("kind") != "rectification":
        return
    flag_id, event_id = str(doc.get("flag_id", ""))[:128], str(doc.get("event_id", ""))[:128]
    # The request was made of one device, and the claims name their sender (_check_sender).
    if deps.rectifications is None:
        raise Problem(409, "RECTIFICATION_NOT_REQUESTED", "this gateway requests no rectification")
    try:
        deps.rectifications.check_reportable(flag_id, who.user, event_id)
    except RequestConflict as err:
        raise Problem(409, "RECTIFICATION_NOT_REQUESTED", str(err)) from None


def _attach_report(
    deps: GatewayDeps, claims: RectificationClaims, done: list[Ingested], items: list[IngestedItem]
) -> SubmissionResult:
    assert deps.rectifications is not None  # checked before ingest
    try:
        deps.rectifications.report(
            claims.flag_id,
            claims.device_id,
            outcome=claims.status,
            event_id=claims.event_id,
            evidence_ids=[i.evidence_id for i in done],
            at=deps.clock(),
        )
    except RequestConflict as err:
        # Only a report racing another one for the same flag gets here; its files are stored
        # and registered (evidence like any other) but answer nothing.
        raise Problem(409, "RECTIFICATION_NOT_REQUESTED", str(err)) from None
    return SubmissionResult(
        event_id=claims.event_id,
        flag_id=claims.flag_id,
        flag_tx=None,
        items=items,
        rectification=claims.status,
    )


def _check_same_event(deps: GatewayDeps, claims_json: bytes) -> None:
    """A replay must be the event already stored, claim for claim.

    Ingest answers a replay from its index (same ids, same bytes: ``duplicate``) and the
    claims are archived again after it. Other claims under a stored event id (another time,
    place or detection) would replace the archived ones, which the ledger's ``claims_hash``
    no longer matches: every later package of the item would fail verification. So they are
    refused here, before anything is stored.
    """
    if deps.claims is None:
        return
    try:
        claims = parse_device_claims(claims_json)
    except ValueError:  # malformed claims: ingest answers with the precise reason
        return
    sent = canonical_bytes(claims)
    for media in claims.media:
        try:
            kept = deps.claims.get(evidence_id_for(claims, media))
        except (ClaimsNotArchived, ValueError, KeyError):
            continue  # none kept, or unreadable: the claims are archived again after ingest
        if canonical_json(parse_json(kept.claims_json)) != sent:
            raise Problem(
                409,
                "EVENT_CONFLICT",
                f"event {claims.event_id!r} is already stored with other claims; a new event "
                "needs an event id of its own",
            )


def _check_idempotency_key(key: str | None, doc: dict[str, object] | None) -> None:
    """An ``Idempotency-Key`` header, when sent, must name the claims' event: a device that
    retries one event under another's key has a bug worth stopping at the door."""
    if key is None or doc is None:  # malformed claims: ingest answers with the precise reason
        return
    if key != doc.get("event_id"):
        raise Problem(
            422,
            "IDEMPOTENCY_KEY_MISMATCH",
            f"Idempotency-Key {key[:80]!r} is not the claims' event id",
        )
