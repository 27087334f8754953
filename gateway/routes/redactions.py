"""Redacted copies: faces and plates pixelated in a new evidence item linked to its original.

``POST /evidence/{id}/redactions`` records the reading of the original (``RequestAccess``,
kind ``view``, purpose ``redaction``) as the caller, then makes the copy through
:class:`node.redaction.RedactionService` (sealed, stored, registered as the caller, indexed)
and links it with ``RecordDerivation``. The original is only read. The copy's id is fixed by
the original's id and the method, so a retry after any failure resumes where it stopped.
"""

from __future__ import annotations

import re
from typing import Annotated, cast

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel

from gateway.auth import Principal
from gateway.deps import Deps, GatewayDeps, ledger_of, require
from gateway.problems import Problem
from node.fabric import Contract
from node.redaction import (
    CopyArchive,
    DerivationConflict,
    DerivationLedger,
    DerivationsClient,
    RedactionError,
    RedactionService,
)
from node.redaction import errors as codes
from node.redaction.ledger import EvidenceClient
from schemas.derivations import DerivationRecord
from schemas.glossary import Role

router = APIRouter(prefix="/evidence", tags=["redactions"])

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}\Z")
_STATUS = {
    codes.NOT_OWN_EVIDENCE: 403,
    codes.ACCESS_DENIED: 403,
    codes.UNSUPPORTED_MEDIA: 415,
    codes.TOO_LARGE: 413,
    codes.UNDECODABLE: 422,
    codes.MODEL_MISSING: 503,
    codes.EVIDENCE_UNAVAILABLE: 500,
    codes.COPY_UNRECOVERABLE: 500,
}


class DetectorPublic(BaseModel):
    region_class: str
    file: str
    sha256: str


class RedactionResult(BaseModel):
    """The copy and the three transactions behind it (access, registration, link)."""

    original_id: str
    derived_id: str
    media_type: str
    method: str
    regions: dict[str, int]  # boxes pixelated, per class
    models: list[DetectorPublic]
    description_hash: str  # the copy's claims_hash on the ledger
    access_record_tx: str
    registration_tx: str
    derivation_tx: str
    duplicate: bool  # made before: nothing new was recorded


class DerivationPublic(BaseModel):
    derived_id: str
    method: str
    description_hash: str
    access_record: str
    recorded_by: str
    recorded_at: str
    recorded_tx: str

    @classmethod
    def of(cls, record: DerivationRecord) -> DerivationPublic:
        return cls.model_validate(record.model_dump(include=set(cls.model_fields)))


class DerivationList(BaseModel):
    original_id: str
    derivations: list[DerivationPublic]


def _evidence_id(raw: str) -> str:
    if not _ID.match(raw):
        raise Problem(422, "INVALID_REQUEST", "not an evidence id")
    return raw


def _service(request: Request, deps: GatewayDeps) -> RedactionService:
    """One service per app (its per-copy locks must be shared by concurrent requests).

    Its archive of copies is ``deps.redactions_dir`` (a department's ``<node>/redactions``,
    which the ingest's crash clean-up reads too), else beside the claims or spool directory.
    """
    service: RedactionService | None = getattr(request.app.state, "redactions", None)
    if service is None:
        base = deps.claims.root.parent if deps.claims is not None else deps.spool_dir.parent
        archive = deps.redactions_dir or base / "redactions"
        service = RedactionService(
            org=deps.org,
            store=deps.store,
            vault=deps.vault,
            keyring=deps.keyring,
            index=deps.index,
            archive=CopyArchive(archive),
            spool_dir=deps.spool_dir,
        )
        request.app.state.redactions = service
    return service


async def _ledger(deps: GatewayDeps, who: Principal, evidence_id: str) -> DerivationLedger:
    """The caller's ledger with the Derivations calls: over its Fabric contract (the real
    client, possibly behind the metrics proxy), or as it is if it has them (a test double).
    One with neither answers 404 for an unknown item first, then 501."""
    ledger = ledger_of(deps, who)
    if isinstance(ledger, DerivationLedger):
        return ledger
    if isinstance(getattr(ledger, "contract", None), Contract):
        return DerivationsClient(cast(EvidenceClient, ledger))
    await ledger.evidence(evidence_id)
    raise Problem(501, "REDACTION_NOT_CONFIGURED", "this gateway's ledger cannot link copies")


@router.post(
    "/{evidence_id}/redactions",
    status_code=201,
    response_model=RedactionResult,
    responses={
        200: {"description": "The copy had been made before; nothing new was recorded."},
        403: {"description": "Not an officer, another department's item, or access denied."},
        404: {"description": "No such evidence item."},
        413: {"description": "The image is over the redactor's limits."},
        415: {"description": "Not a JPEG or PNG image (REDACTION_UNSUPPORTED_MEDIA)."},
    },
)
async def redact(
    evidence_id: str,
    request: Request,
    response: Response,
    deps: Deps,
    who: Annotated[Principal, require(Role.OFFICER)],
) -> RedactionResult:
    """Make the redacted copy of an item this department owns (officers: the copy is
    registered by the caller, and RegisterEvidence admits officers)."""
    original_id = _evidence_id(evidence_id)
    service = _service(request, deps)
    try:
        made = await service.redact(await _ledger(deps, who, original_id), original_id)
    except RedactionError as err:
        headers = {"X-Access-Record": err.tx_id} if err.tx_id else None
        detail = "access denied" if err.code == codes.ACCESS_DENIED else err.message
        raise Problem(_STATUS.get(err.code, 500), err.code, detail, headers) from err
    except DerivationConflict as err:
        raise Problem(409, "DERIVATION_CONFLICT", err.message) from err
    if made.duplicate:
        response.status_code = 200
    else:
        response.headers["X-Access-Record"] = made.access_tx
    description = made.description
    return RedactionResult(
        original_id=made.original_id,
        derived_id=made.derived_id,
        media_type=description.media_type,
        method=description.method,
        regions=description.counts(),
        models=[
            DetectorPublic.model_validate(m.model_dump(mode="json")) for m in description.models
        ],
        description_hash=str(description.digest()),
        access_record_tx=made.access_tx,
        registration_tx=made.registration_tx,
        derivation_tx=made.derivation_tx,
        duplicate=made.duplicate,
    )


@router.get("/{evidence_id}/derivations", response_model=DerivationList)
async def derivations(
    evidence_id: str,
    deps: Deps,
    who: Annotated[Principal, require(Role.OFFICER, Role.REVIEWER, Role.PARTNER, Role.AUDITOR)],
) -> DerivationList:
    """The copies recorded of an item (ids and hashes from the ledger; no content)."""
    original_id = _evidence_id(evidence_id)
    records = await (await _ledger(deps, who, original_id)).derivations(original_id)
    return DerivationList(
        original_id=original_id, derivations=[DerivationPublic.of(r) for r in records]
    )
