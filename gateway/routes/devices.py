"""Device submissions: signed claims plus the files they name, streamed to disk first."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from contextlib import ExitStack
from typing import Annotated

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from gateway.auth import Principal
from gateway.deps import Deps, GatewayDeps, Ledger, ledger_of, require
from gateway.models import IngestedItem, SubmissionResult
from gateway.problems import Problem
from gateway.rectification import RequestConflict
from gateway.submissions import check_idempotency_key, check_same_event, read_submission
from gateway.uploads import multipart_openapi
from node.ingest import Ingested
from node.ingest.devices import read_claims
from node.ledger import Committed, LedgerRefused
from node.streams import Readable
from schemas.claims import (
    CaptureClaims,
    DeviceClaims,
    OfficerCaptureClaims,
    RectificationClaims,
    claims_digest,
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
    openapi_extra=multipart_openapi(SIGNED_PARTS, more_files=True),
)
async def submit(
    request: Request, deps: Deps, who: Annotated[Principal, require(Role.DEVICE)]
) -> SubmissionResult:
    upload = await read_submission(request, deps, SIGNED_PARTS)
    try:
        missing = [p for p in SIGNED_PARTS if p not in upload.fields]
        if missing:
            raise Problem(422, "MISSING_PART", f"missing parts: {', '.join(missing)}")
        # A device's claims only (an officer's capture goes to /captures); ingest verifies
        # them again with the signature.
        claims = read_claims(upload.fields["claims"], parse_device_claims)
        check_idempotency_key(request.headers.get("idempotency-key"), claims.event_id)
        _check_sender(who, claims)
        # A rectification report must answer a request: checked before any file is stored.
        _check_report_requested(deps, who, claims)
        check_same_event(deps.claims, claims)
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
    items = [IngestedItem.of(i) for i in done]
    if isinstance(claims, RectificationClaims):
        return _attach_report(deps, claims, done, items)
    # The event becomes a flag in the review queue, signed by the device itself. A replay
    # flags again harmlessly (FlagViolation is idempotent), so a failure here is retried by
    # the device with nothing lost: its evidence is already stored.
    confidence = max((d.confidence for d in claims.detections), default=0.0)
    flagged = await flag_stored_event(ledger_of(deps, who), event_flag(claims, done, confidence))
    return SubmissionResult(
        event_id=claims.event_id,
        flag_id=flagged.value.flag_id,
        flag_tx=flagged.tx_id,
        items=items,
    )


def event_flag(
    claims: CaptureClaims | OfficerCaptureClaims, items: Sequence[Ingested], confidence: float
) -> ViolationFlag:
    """The flag an event raises on its stored items: its id is the event's, and it binds
    the signed claims by their hash."""
    return ViolationFlag(
        flag_id=claims.event_id,
        camera_id=claims.camera_id,
        violation_type=claims.violation_type,
        detected_at=claims.captured_at,
        evidence_ids=[i.evidence_id for i in items],
        confidence=confidence,
        claims_hash=claims_digest(claims),
    )


# Waits between asking again when the ledger does not show the flag's items yet.
FLAG_RETRY_DELAYS = (0.25, 0.5, 1.0, 2.0)


async def flag_stored_event(ledger: Ledger, flag: ViolationFlag) -> Committed[ViolationRecord]:
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


def _check_sender(who: Principal, claims: DeviceClaims) -> None:
    """A device delivers only what it made: the claims must name the device whose
    certificate sent them (ingest then checks that the same device signed them)."""
    if claims.device_id != who.user:
        raise Problem(
            403, "DEVICE_MISMATCH", f"claims of device {claims.device_id!r} sent by {who.user!r}"
        )


def _check_report_requested(deps: GatewayDeps, who: Principal, claims: DeviceClaims) -> None:
    if not isinstance(claims, RectificationClaims):
        return
    flag_id, event_id = claims.flag_id, claims.event_id
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
