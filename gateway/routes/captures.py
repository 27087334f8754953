"""Officers' captures on the spot (现场取证): photos and video taken with a handheld terminal
or a body-worn recorder (执法记录仪), stored, registered and attached to a case in one step.

The handheld hashes each file as it takes it and sends the hashes with the files; the node
signs the capture with the officer's own key (held by the node, as for the officer's
transactions) and ingests it as it ingests a device's claims: every byte checked against
the signed hashes, sealed, registered on the ledger as that officer. A package then carries
the officer-signed capture beside the file, so a court sees who took it, when and where.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import ExitStack
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Request
from pydantic import ValidationError

from gateway.auth import Principal
from gateway.deps import Deps, GatewayDeps, Ledger, ledger_of, require
from gateway.models import AttachedItem, CaptureIn, CaptureResult, IngestedItem
from gateway.problems import Problem
from gateway.routes.devices import event_flag, flag_stored_event
from gateway.submissions import check_idempotency_key, check_same_event, read_submission
from gateway.uploads import multipart_openapi
from node.ledger import LedgerRefused
from node.streams import Readable
from schemas.canonical import parse_json
from schemas.claims import OfficerCaptureClaims, canonical_bytes, claims_digest
from schemas.glossary import Role
from schemas.ledger import LedgerErrorCode

router = APIRouter(tags=["evidence"])

CAPTURES_ROUTE = "/captures"
CAPTURE_PART = "capture"

_CAPTURE_DOC = f"""An officer's own evidence, taken on the spot. Multipart parts: `{CAPTURE_PART}`
(JSON: event id, handheld id, capture time, violation type, place, note, optional case id,
and each file's name, media type, SHA-256 and size as the handheld took it) and one file part
per medium, named as in `media`. The files are registered in the officer's name and, given a
case id, attached to that case (held by this department, open); with `flag: true` instead,
reported (上报): a flag in the review queue, the officer's own, from which the violation loop
follows. Idempotent by event id: a
replay returns the same evidence ids with `duplicate: true`; other content under a stored
event id is `409 EVENT_CONFLICT`."""


@router.post(
    CAPTURES_ROUTE,
    response_model=CaptureResult,
    status_code=201,
    description=_CAPTURE_DOC,
    openapi_extra=multipart_openapi([CAPTURE_PART], more_files=True),
)
async def capture(
    request: Request, deps: Deps, who: Annotated[Principal, require(Role.OFFICER)]
) -> CaptureResult:
    upload = await read_submission(request, deps, (CAPTURE_PART,))
    try:
        form = _capture_form(upload.fields.get(CAPTURE_PART))
        check_idempotency_key(request.headers.get("idempotency-key"), form.event_id)
        return await take_capture(deps, who, form, upload.files)
    finally:
        upload.discard()


async def take_capture(
    deps: GatewayDeps, who: Principal, form: CaptureIn, files: Mapping[str, Path]
) -> CaptureResult:
    """Sign ``form`` as ``who``'s capture, ingest ``files`` (spooled, named as in its media)
    in ``who``'s name and attach them to its case, if it names one. The caller removes the
    files afterwards.

    Raises:
        Problem: 501 without signing keys; 404/403/409 for a case that cannot take them;
            409 EVENT_CONFLICT; ingest's refusals (nothing stored).
    """
    if deps.signer_for is None:
        raise Problem(501, "CAPTURES_NOT_CONFIGURED", "this gateway takes no officer captures")
    ledger = ledger_of(deps, who)
    claims = OfficerCaptureClaims(
        org=deps.org, device_id=who.user, **form.model_dump(exclude_none=True, exclude={"flag"})
    )
    if form.case_id is not None:
        await _check_case_takes_evidence(ledger, deps.org, form.case_id)
    if form.flag:
        await _check_flag_free(ledger, form.event_id, claims)
    check_same_event(deps.claims, claims)
    identity, signer = deps.signer_for(who.user)
    body = canonical_bytes(claims)
    signature = signer.sign(body)
    with ExitStack() as stack:
        streams: dict[str, Readable] = {
            name: stack.enter_context(path.open("rb")) for name, path in files.items()
        }
        done = await deps.ingest.ingest(
            body, signature, identity.cert_pem, streams, registrar=ledger
        )
    if deps.claims is not None:  # packages carry the signed capture of each item
        for i in done:
            deps.claims.put(i.evidence_id, body, signature, identity.cert_pem)
    # Stored and registered: a refusal from here on loses nothing, and a retry (a replay,
    # then attaching again) is harmless.
    attached: list[AttachedItem] = []
    if form.case_id is not None:
        for i in done:
            tx_id = await ledger.attach_evidence(form.case_id, i.evidence_id)
            attached.append(AttachedItem(evidence_id=i.evidence_id, tx_id=tx_id))
    flagged = None
    if form.flag:
        # The officer saw it: a person's report, certain as far as a model's confidence
        # goes; the reviewer still decides, as for a camera's flag.
        flagged = await flag_stored_event(ledger, event_flag(claims, done, 1.0))
    return CaptureResult(
        event_id=form.event_id,
        items=[IngestedItem.of(i) for i in done],
        case_id=form.case_id,
        attached=attached,
        flag_id=None if flagged is None else flagged.value.flag_id,
        flag_tx=None if flagged is None else flagged.tx_id,
    )


def _capture_form(raw: bytes | None) -> CaptureIn:
    if raw is None:
        raise Problem(422, "MISSING_PART", f"missing parts: {CAPTURE_PART}")
    try:
        doc = parse_json(raw)
    except ValueError:
        raise Problem(422, "INVALID_REQUEST", f"{CAPTURE_PART}: not a JSON document") from None
    try:
        return CaptureIn.model_validate(doc)
    except ValidationError as err:
        e = err.errors()[0]
        where = ".".join(str(p) for p in (CAPTURE_PART, *e["loc"]))
        raise Problem(422, "INVALID_REQUEST", f"{where}: {e['msg']}") from None


async def _check_flag_free(ledger: Ledger, flag_id: str, claims: OfficerCaptureClaims) -> None:
    """Before anything is stored: the report's flag id (its event id) is free, or holds this
    very capture (a replay). Another flag under it would refuse the report only after its
    files were stored."""
    try:
        existing = await ledger.violation(flag_id)
    except LedgerRefused as err:
        if err.code is LedgerErrorCode.NOT_FOUND:
            return
        raise
    if existing.claims_hash != str(claims_digest(claims)):
        raise Problem(
            409, "EVENT_CONFLICT", f"flag {flag_id} already exists for another event: use a new id"
        )


async def _check_case_takes_evidence(ledger: Ledger, org: str, case_id: str) -> None:
    """Before anything is stored: the case exists, this department holds it and it is open
    (the chaincode checks the same when attaching; this keeps a capture for a case it cannot
    join from being stored without it)."""
    case = await ledger.case(case_id)  # NOT_FOUND: 404; a case the officer may not read: 403
    if case.holder_org != org:
        raise Problem(
            403, "CASE_NOT_HELD", f"case {case_id} is held by {case.holder_org}, not {org}"
        )
    if case.closed:
        raise Problem(409, "CASE_CLOSED", f"case {case_id} is closed: it takes no new evidence")
