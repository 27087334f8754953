"""The case file's legal documents (案卷文书): the approval form, the advance notice, the
decision (处罚决定书), each kept as the step recorded it.

A step binds its document by hash when it is taken; this files the document itself: checked
against that hash before anything is stored, signed by the filer (an officer or reviewer of
the holder) as a ``case_document``, sealed into the department's store and registered into
the case by the chaincode's ``FileDocument``, which checks the hash against the step again.
A package then carries the decision a court reads, not only its hash.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path as FilePath
from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.concurrency import run_in_threadpool

from gateway.auth import Principal
from gateway.deps import Deps, GatewayDeps, Ledger, ledger_of, require
from gateway.models import CaseDocumentView, FiledDocument, StageView
from gateway.problems import Problem
from gateway.routes.cases import CaseId
from gateway.submissions import check_same_event, read_submission
from gateway.uploads import multipart_openapi
from node.index.schema import EvidenceRow
from node.streams import Readable
from schemas.claims import (
    CaseDocumentClaims,
    MediaRef,
    canonical_bytes,
    case_document_event,
    evidence_id_for,
)
from schemas.glossary import Role
from schemas.hashes import Digest
from schemas.ledger import MAX_CASE_STEPS, StageEntry, parse_ledger_time

router = APIRouter(prefix="/cases", tags=["cases"])

DOCUMENTS_ROUTE = "/cases/{case_id}/documents/{step}"
DOCUMENT_PART = "document"
MAX_CASE_DOCUMENT = 20 << 20  # a scanned, signed decision runs to a few MB
Step = Annotated[int, Path(ge=1, le=MAX_CASE_STEPS)]

# What a legal document is sent as, told by its first bytes (not by what the sender says):
# the PDF the office prints, or a scan of the signed paper.
_SIGNATURES: tuple[tuple[bytes, str, str], ...] = (
    (b"%PDF-", "application/pdf", "pdf"),
    (b"\xff\xd8\xff", "image/jpeg", "jpg"),
    (b"\x89PNG\r\n\x1a\n", "image/png", "png"),
    (b"II*\x00", "image/tiff", "tif"),
    (b"MM\x00*", "image/tiff", "tif"),
)

_FILE_DOC = f"""File the legal document step `step` of the case bound by its hash: one file part
`{DOCUMENT_PART}` (PDF, JPEG, PNG or TIFF, at most {MAX_CASE_DOCUMENT >> 20} MiB). It is
refused before anything is stored unless its SHA-256 is the step's `document_hash`
(`409 DOCUMENT_MISMATCH`; `409 NO_DOCUMENT_BOUND` for a step that bound none). Signed by
the caller, registered in the caller's name and attached to the case, also after closure.
Idempotent: the same document again answers `duplicate: true`."""


@router.post(
    DOCUMENTS_ROUTE.removeprefix("/cases"),
    response_model=FiledDocument,
    status_code=201,
    description=_FILE_DOC,
    openapi_extra=multipart_openapi([DOCUMENT_PART]),
)
async def file_document(
    request: Request,
    case_id: CaseId,
    step: Step,
    deps: Deps,
    who: Annotated[Principal, require(Role.OFFICER, Role.REVIEWER)],
) -> FiledDocument:
    upload = await read_submission(request, deps, ())
    try:
        if len(upload.files) != 1:
            raise Problem(
                422,
                "MISSING_PART" if not upload.files else "TOO_MANY_FILES",
                f"send the document as one file part ({DOCUMENT_PART}), not {len(upload.files)}",
            )
        (path,) = upload.files.values()
        return await file_case_document(deps, who, case_id, step, path)
    finally:
        upload.discard()


@router.get("/{case_id}/documents", response_model=list[CaseDocumentView])
async def documents(
    case_id: CaseId,
    deps: Deps,
    who: Annotated[Principal, require(Role.OFFICER, Role.REVIEWER, Role.AUDITOR)],
) -> list[CaseDocumentView]:
    """Each step that bound a document, and the item holding it once it is filed."""
    ledger = ledger_of(deps, who)
    steps = [StageView.of(e) for e in await ledger.case_history(case_id)]
    ids = await ledger.case_evidence(case_id)
    rows = await run_in_threadpool(lambda: [(i, deps.index.evidence(i)) for i in ids])
    return await case_documents(ledger, steps, rows)


async def case_documents(
    ledger: Ledger, steps: Sequence[StageView], items: Sequence[tuple[str, EvidenceRow | None]]
) -> list[CaseDocumentView]:
    """Each of ``steps`` that bound a document, with the one of the case's ``items`` (each
    with what the index knows of it) holding it: matched by hash in the index, else, for a
    hash still missing, in the ledger's records of the items the index does not know (a
    document another department filed before a transfer, or before the follower caught
    up)."""
    bound = [s for s in steps if s.details.get("document_hash")]
    wanted = {str(s.details["document_hash"]) for s in bound}
    found = {r.plaintext_hash: i for i, r in items if r is not None and r.plaintext_hash in wanted}
    for evidence_id in (i for i, r in items if r is None):
        if wanted <= found.keys():
            break
        record = await ledger.evidence(evidence_id)
        if record.plaintext_hash in wanted:
            found.setdefault(record.plaintext_hash, evidence_id)
    return [CaseDocumentView.of(s, found.get(str(s.details["document_hash"]))) for s in bound]


async def step_of(deps: GatewayDeps, who: Principal, case_id: str, tx_id: str) -> int:
    """The seq of the step transaction ``tx_id`` recorded."""
    for entry in await ledger_of(deps, who).case_history(case_id):
        if entry.tx == tx_id:
            return entry.seq
    raise Problem(404, "STEP_NOT_FOUND", f"case {case_id} has no step recorded by {tx_id}")


async def file_case_document(
    deps: GatewayDeps, who: Principal, case_id: str, step: int, path: FilePath
) -> FiledDocument:
    """File the document at ``path`` (spooled; the caller removes it) for ``step``.

    Raises:
        Problem: 501 without signing keys; 404/403 for the case or step; 409
            NO_DOCUMENT_BOUND or DOCUMENT_MISMATCH; 413; 415 UNSUPPORTED_DOCUMENT;
            ingest's refusals. Nothing is stored on any of them.
    """
    if deps.signer_for is None:
        raise Problem(501, "DOCUMENTS_NOT_CONFIGURED", "this gateway files no case documents")
    ledger = ledger_of(deps, who)
    case = await ledger.case(case_id)  # NOT_FOUND: 404; a case the caller may not read: 403
    if case.holder_org != deps.org:
        raise Problem(
            403, "CASE_NOT_HELD", f"case {case_id} is held by {case.holder_org}, not {deps.org}"
        )
    entry = await _step(ledger, case_id, step)
    bound = entry.details.get("document_hash")
    if not bound:
        raise Problem(
            409,
            "NO_DOCUMENT_BOUND",
            f"step {step} of case {case_id} ({entry.to_stage}) bound no document",
        )
    media = await run_in_threadpool(describe_document, path, f"{entry.to_stage}-{step}")
    if str(media.sha256) != bound:
        raise Problem(
            409,
            "DOCUMENT_MISMATCH",
            f"this file ({media.sha256}) is not the document step {step} ({entry.to_stage}) "
            f"bound: {bound}",
        )
    claims = CaseDocumentClaims(
        event_id=case_document_event(case_id, step),
        org=deps.org,
        device_id=who.user,
        captured_at=parse_ledger_time(entry.at),
        violation_type=case.violation_type,
        case_id=case_id,
        step=step,
        stage=entry.to_stage,
        media=[media],
    )
    evidence_id = evidence_id_for(claims, media)
    stored = await run_in_threadpool(deps.index.evidence, evidence_id)
    if stored is not None and stored.plaintext_hash == bound:
        # Filed before, maybe by a colleague: its signed claims stay those the ledger bound.
        return FiledDocument.of(claims, evidence_id, stored.ledger_tx or "", duplicate=True)
    check_same_event(deps.claims, claims)
    identity, signer = deps.signer_for(who.user)
    body = canonical_bytes(claims)
    signature = signer.sign(body)
    with ExitStack() as stack:
        streams: dict[str, Readable] = {media.name: stack.enter_context(path.open("rb"))}
        (done,) = await deps.ingest.ingest(
            body, signature, identity.cert_pem, streams, registrar=ledger
        )
    if deps.claims is not None:  # packages carry the filer's signed claims
        deps.claims.put(done.evidence_id, body, signature, identity.cert_pem)
    return FiledDocument.of(claims, done.evidence_id, done.ledger_tx, duplicate=done.duplicate)


async def _step(ledger: Ledger, case_id: str, step: int) -> StageEntry:
    for entry in await ledger.case_history(case_id):
        if entry.seq == step:
            return entry
    raise Problem(404, "STEP_NOT_FOUND", f"case {case_id} has no step {step}")


def describe_document(path: FilePath, stem: str) -> MediaRef:
    """The document's name (``stem`` and its type's extension), type (by its first bytes),
    SHA-256 and size.

    Raises:
        Problem: 413 TOO_LARGE, 422 EMPTY_FILE, 415 UNSUPPORTED_DOCUMENT.
    """
    size = path.stat().st_size
    if size > MAX_CASE_DOCUMENT:
        raise Problem(413, "TOO_LARGE", f"the document exceeds {MAX_CASE_DOCUMENT} bytes")
    if size == 0:
        raise Problem(422, "EMPTY_FILE", "the document is empty")
    digest = hashlib.sha256()
    with path.open("rb") as f:
        head = f.read(16)
        digest.update(head)
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    kind = next(((t, ext) for magic, t, ext in _SIGNATURES if head.startswith(magic)), None)
    if kind is None:
        raise Problem(
            415, "UNSUPPORTED_DOCUMENT", "a case document is a PDF, JPEG, PNG or TIFF file"
        )
    media_type, ext = kind
    return MediaRef(
        name=f"{stem}.{ext}",
        media_type=media_type,
        sha256=Digest("sha256", digest.digest()),
        size=size,
    )
