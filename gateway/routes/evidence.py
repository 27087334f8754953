"""Evidence: search the index, read a ledger record, read content through an access record.

No plaintext leaves without a committed access record: the route records the access first,
and a denial is committed too before the caller hears 403.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import tempfile
from enum import StrEnum
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse
from pydantic import ValidationError
from starlette.background import BackgroundTask

from gateway.auth import Principal
from gateway.deps import Deps, GatewayDeps, ledger_of, require
from gateway.models import EvidenceSearchResult
from gateway.problems import Problem
from node.crypto.sealing import SealingError
from node.evidence_sealing import open_from_store
from node.index.search import EvidenceQuery
from node.store.errors import StoreError
from node.vault import VaultError
from schemas.glossary import AccessKind, Outcome, Role
from schemas.hashes import Digest
from schemas.ledger import AccessRequest, EvidenceRecord, TargetKind

log = logging.getLogger("gateway")

router = APIRouter(prefix="/evidence", tags=["evidence"])

READERS = (Role.OFFICER, Role.REVIEWER, Role.PARTNER)


class ReadKind(StrEnum):
    VIEW = "view"
    DOWNLOAD = "download"


@router.get("", response_model=EvidenceSearchResult)
async def search(
    deps: Deps,
    _: Annotated[Principal, require(Role.OFFICER, Role.REVIEWER, Role.AUDITOR)],
    case_id: Annotated[str | None, Query(max_length=128)] = None,
    violation_type: Annotated[str | None, Query(max_length=32)] = None,
    camera_id: Annotated[str | None, Query(max_length=128)] = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    text: Annotated[str | None, Query(max_length=200)] = None,
    page_size: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> EvidenceSearchResult:
    """This department's evidence index (metadata only; reading content is recorded)."""
    try:
        query = EvidenceQuery(
            case_id=case_id,
            violation_type=violation_type,
            camera_id=camera_id,
            since=since,
            until=until,
            text=text,
            page_size=page_size,
            cursor=cursor,
        )
        page = await run_in_threadpool(deps.index.search, query)
    except (ValidationError, ValueError) as err:
        raise Problem(422, "INVALID_REQUEST", "invalid search parameters") from err
    return EvidenceSearchResult(evidence_ids=page.evidence_ids, next_cursor=page.next_cursor)


@router.get("/{evidence_id}", response_model=EvidenceRecord)
async def record(
    evidence_id: str, deps: Deps, who: Annotated[Principal, require(*READERS, Role.AUDITOR)]
) -> EvidenceRecord:
    """The ledger record (hashes, owner, capture time); no content, no access record."""
    return await ledger_of(deps, who).evidence(evidence_id)


@router.get(
    "/{evidence_id}/content",
    response_class=FileResponse,
    responses={
        200: {
            "description": "The plaintext, verified against the ledger hash; the access "
            "record's transaction id is in the X-Access-Record header.",
            "content": {"application/octet-stream": {}},
        },
        403: {"description": "Access denied (the denial is recorded on the ledger)."},
        501: {"description": "The item belongs to another department."},
    },
)
async def content(
    evidence_id: str,
    deps: Deps,
    who: Annotated[Principal, require(*READERS)],
    purpose: Annotated[str, Query(min_length=1, max_length=64)],
    kind: ReadKind = ReadKind.DOWNLOAD,
) -> FileResponse:
    """Record the access on the ledger, then stream the plaintext."""
    try:
        ask = AccessRequest.model_validate(
            {
                "target": TargetKind.EVIDENCE,
                "target_id": evidence_id,
                "purpose": purpose,
                "kind": AccessKind(kind.value),
            }
        )
    except ValidationError:
        raise Problem(422, "INVALID_REQUEST", "invalid evidence id or purpose") from None
    ledger = ledger_of(deps, who)
    committed = await ledger.request_access(ask)
    header = {"X-Access-Record": committed.tx_id}
    if committed.value.outcome is not Outcome.GRANTED:
        log.info("access denied to %s for %s: %s", who.user, evidence_id, committed.value.reason)
        raise Problem(403, "ACCESS_DENIED", "access denied", header)
    item = await ledger.evidence(evidence_id)
    if item.owner_org == deps.org:
        path = await run_in_threadpool(_open_own, deps, item)
    elif deps.remote is not None:
        path = _spool_path(deps)
        try:
            await deps.remote.fetch(item, committed.tx_id, path)
        except Problem as problem:
            path.unlink(missing_ok=True)
            problem.headers.update(header)
            raise
    else:
        raise Problem(
            501,
            "REMOTE_EVIDENCE_NOT_SUPPORTED",
            f"the item belongs to {item.owner_org}; this gateway has no exchange configured "
            "to fetch it (the access is recorded)",
            header,
        )
    disposition = "attachment" if kind is ReadKind.DOWNLOAD else "inline"
    return FileResponse(
        path,
        media_type=item.media_type,
        headers=header,
        content_disposition_type=disposition,
        filename=evidence_id,
        background=BackgroundTask(path.unlink, missing_ok=True),
    )


def _spool_path(deps: GatewayDeps) -> Path:
    """A fresh, absent path in the spool directory (the writers create it atomically)."""
    deps.spool_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="plain-", dir=deps.spool_dir)
    os.close(fd)
    destination = Path(tmp)
    destination.unlink()
    return destination


def _open_own(deps: GatewayDeps, item: EvidenceRecord) -> Path:
    """Decrypt into a temp file (it appears only if every check passed)."""
    destination = _spool_path(deps)
    try:
        open_from_store(
            deps.store,
            evidence_id=item.evidence_id,
            ciphertext=Digest.parse(item.ciphertext_hash),
            wrapped_key=deps.vault.get(item.evidence_id),
            keyring=deps.keyring,
            expected_plaintext=Digest.parse(item.plaintext_hash),
            destination=destination,
        )
    except (SealingError, StoreError, VaultError) as err:
        destination.unlink(missing_ok=True)
        # One opaque failure for the caller; the detail goes to the log.
        log.error("cannot open %s: %r", item.evidence_id, err)
        raise Problem(500, "EVIDENCE_UNAVAILABLE", "the item could not be read intact") from None
    return destination
