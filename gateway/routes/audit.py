"""For auditors: the access trail (paged, or all of it as CSV), flagged patterns computed
from the trail (see :mod:`gateway.audit_flags` for the thresholds), and this node's
integrity sweep (:func:`node.doctor.sweep`)."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Sequence
from typing import Annotated, Any, cast

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, ValidationError

from gateway import audit_flags, audit_pdf
from gateway.auth import Principal
from gateway.deps import Deps, Ledger, ledger_of, require
from gateway.loop_bridge import OnLoop, in_worker_thread
from gateway.models import AccessView, TrailView
from gateway.problems import Problem
from gateway.spreadsheet import csv_line
from node.doctor import PeerChain, sweep
from node.ledger import LedgerRefused
from schemas.glossary import Role
from schemas.ledger import (
    AccessRecord,
    EvidenceRecord,
    LedgerErrorCode,
    TrailBy,
    TrailPage,
    TrailQuery,
)

router = APIRouter(prefix="/audit", tags=["audit"])

EXPORT_PAGE = 200
MAX_EXPORT_RECORDS = 100_000  # one CSV export; narrow the query (since/until) for more
MAX_PDF_RECORDS = 10_000  # one PDF report (about 400 pages)
MAX_FLAG_RECORDS = 10_000  # records examined for flags; the answer says when it stopped
CSV_COLUMNS = (
    "record_id",
    "at",
    "accessor_org",
    "accessor",
    "role",
    "target",
    "target_id",
    "case_ids",
    "purpose",
    "kind",
    "outcome",
    "reason",
    "grant_tx",
    "shared_with",
)
Auditor = Annotated[Principal, require(Role.AUDITOR)]


def _filters(
    by: TrailBy,
    target_id: Annotated[str | None, Query(max_length=128)] = None,
    org: Annotated[str | None, Query(max_length=64)] = None,
    accessor: Annotated[str | None, Query(max_length=512)] = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> dict[str, Any]:
    doc = {
        "by": by,
        "target_id": target_id,
        "org": org,
        "accessor": accessor,
        "since": since,
        "until": until,
    }
    _query(doc)  # 422 now, before anything is read
    return doc


Filters = Annotated[dict[str, Any], Depends(_filters)]


def _query(doc: dict[str, Any], page_size: int = EXPORT_PAGE, bookmark: str = "") -> TrailQuery:
    try:
        return TrailQuery.model_validate({**doc, "page_size": page_size, "bookmark": bookmark})
    except ValidationError as err:
        e = err.errors()[0]
        where = ".".join(str(p) for p in e["loc"])
        raise Problem(422, "INVALID_REQUEST", f"{where}: {e['msg']}") from None


@router.get("/trail", response_model=TrailView)
async def trail(
    deps: Deps,
    who: Auditor,
    filters: Filters,
    page_size: Annotated[int, Query(ge=1, le=200)] = 50,
    bookmark: Annotated[str, Query(max_length=1024)] = "",
) -> TrailView:
    """Access records by evidence, case, accessor, org or time; page with ``bookmark``."""
    page = await ledger_of(deps, who).access_trail(_query(filters, page_size, bookmark))
    return TrailView(
        records=[AccessView.of(r) for r in page.records], next_bookmark=page.bookmark or None
    )


@router.get(
    "/trail.csv",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}, "description": "Every matching record."}},
)
async def trail_csv(deps: Deps, who: Auditor, filters: Filters) -> StreamingResponse:
    """Every matching access record as CSV (UTF-8, header row), streamed page by page; at
    most 100 000 records (the last row then reads ``TRUNCATED``)."""
    ledger = ledger_of(deps, who)
    first = await ledger.access_trail(_query(filters))  # failures are problem+json
    pages = _pages(ledger, filters, first, MAX_EXPORT_RECORDS + 1)

    async def rows() -> AsyncIterator[bytes]:
        yield csv_line(CSV_COLUMNS)
        sent = 0
        async for records in pages:
            for r in records:
                if sent == MAX_EXPORT_RECORDS:
                    yield csv_line(("TRUNCATED", *[""] * (len(CSV_COLUMNS) - 1)))
                    return
                yield csv_line(_row(r))
                sent += 1

    stamp = deps.clock().strftime("%Y%m%dT%H%M%SZ")
    return StreamingResponse(
        rows(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="access-trail-{stamp}.csv"'},
    )


@router.get(
    "/trail.pdf",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}, "description": "The report."}},
)
async def trail_pdf(deps: Deps, who: Auditor, filters: Filters) -> Response:
    """The matching access records as a printable report (Chinese and English): the query,
    counts, flagged patterns, every record (denials in red) and the SHA-256 of the records
    as canonical JSON; at most 10 000 records (the report then says TRUNCATED)."""
    ledger = ledger_of(deps, who)
    first = await ledger.access_trail(_query(filters))
    records: list[AccessRecord] = []
    async for page in _pages(ledger, filters, first, MAX_PDF_RECORDS + 1):
        records += page
    truncated = len(records) > MAX_PDF_RECORDS
    records = records[:MAX_PDF_RECORDS]
    now = deps.clock()
    report = audit_pdf.TrailReport(
        org=deps.org,
        auditor=who.user,
        generated_at=now,
        query={k: _text(v) for k, v in filters.items()},
        records=records,
        flags=audit_flags.flags(records, audit_flags.Thresholds()),
        truncated=truncated,
    )
    # Laying out pages is CPU work: off the event loop.
    pdf = await asyncio.to_thread(audit_pdf.render, report)
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="access-trail-{stamp}.pdf"'},
    )


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return str(getattr(value, "value", value))


class FlagView(BaseModel):
    code: str
    accessor: str
    accessor_org: str
    count: int
    first_at: str
    last_at: str
    record_ids: list[str]


class FlagsView(BaseModel):
    flags: list[FlagView]
    records_examined: int
    truncated: bool  # more records matched than were examined (MAX_FLAG_RECORDS)
    thresholds: dict[str, str]


@router.get("/flags", response_model=FlagsView)
async def flags(deps: Deps, who: Auditor, filters: Filters) -> FlagsView:
    """Unusual patterns in the matching records: repeated denials, bulk downloads,
    off-hours access, access outside a case (thresholds in ``thresholds``)."""
    ledger = ledger_of(deps, who)
    first = await ledger.access_trail(_query(filters))
    records: list[AccessRecord] = []
    async for page in _pages(ledger, filters, first, MAX_FLAG_RECORDS + 1):
        records += page
    truncated = len(records) > MAX_FLAG_RECORDS
    records = records[:MAX_FLAG_RECORDS]
    limits = audit_flags.Thresholds()
    found = audit_flags.flags(records, limits)
    return FlagsView(
        flags=[FlagView(**vars(f)) for f in found],
        records_examined=len(records),
        truncated=truncated,
        thresholds={
            "REPEATED_DENIALS": f">= {limits.denials} denials within {limits.window}",
            "BULK_DOWNLOAD": f">= {limits.downloads} distinct items downloaded within "
            f"{limits.window}",
            "OFF_HOURS": f"outside {limits.work_start:%H:%M}-{limits.work_end:%H:%M} "
            f"{limits.local_time} or at weekends",
            "ACCESS_OUTSIDE_CASE": "granted view/download/share of an item in no case, "
            "by a role other than reviewer",
        },
    )


class IntegrityProblem(BaseModel):
    kind: str
    subject: str
    detail: str


class IntegrityReport(BaseModel):
    org: str
    checked_at: dt.datetime
    ok: bool
    problems: list[IntegrityProblem]


@router.get("/integrity", response_model=IntegrityReport)
async def integrity(deps: Deps, who: Auditor) -> IntegrityReport:
    """This node's integrity sweep (``evnet doctor``): every blob re-hashed, every index row
    against its ledger record, every item the ledger says this department registered present
    in store, vault and index, and every block of the node's copy of the chain checked
    again (`ARCHIVE_BROKEN`) and compared with the peer's own chain (`ARCHIVE_DIVERGES`,
    `ARCHIVE_AHEAD_OF_PEER`). Reports; repairs nothing. Runs off the event loop."""
    started = deps.clock()
    # The sweep re-hashes every blob: a worker thread, its ledger calls on this loop.
    loop = asyncio.get_running_loop()
    ledger = cast(Ledger, OnLoop(ledger_of(deps, who), loop))
    peer = None
    if deps.peer_chain_for is not None:
        peer = cast(PeerChain, OnLoop(deps.peer_chain_for(who.user), loop))
    found = await in_worker_thread(
        sweep(
            org=deps.org,
            store=deps.store,
            vault=deps.vault,
            index=deps.index,
            ledger=_LedgerView(ledger),
            archive=deps.archive,
            peer=peer,
        )
    )
    return IntegrityReport(
        org=deps.org,
        checked_at=started,
        ok=not found,
        problems=[IntegrityProblem(kind=p.kind, subject=p.subject, detail=p.detail) for p in found],
    )


class _LedgerView:
    """:class:`node.doctor.LedgerView` over the caller's ledger client (NOT_FOUND is None)."""

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger

    async def evidence(self, evidence_id: str) -> EvidenceRecord | None:
        try:
            return await self._ledger.evidence(evidence_id)
        except LedgerRefused as err:
            if err.code is LedgerErrorCode.NOT_FOUND:
                return None
            raise

    async def owned_evidence(self, org: str) -> Sequence[str]:
        return await self._ledger.owned_evidence(org)


async def _pages(
    ledger: Ledger, filters: dict[str, Any], first: TrailPage, limit: int
) -> AsyncIterator[list[AccessRecord]]:
    """``first`` and the pages after it, at most ``limit`` records in all."""
    page, left = first, limit
    while True:
        records = page.records[:left]
        left -= len(records)
        yield records
        if not page.bookmark or not page.records or left <= 0:
            return
        page = await ledger.access_trail(_query(filters, bookmark=page.bookmark))


def _row(r: AccessRecord) -> tuple[str, ...]:
    return (
        r.record_id,
        r.at,
        r.accessor_org,
        r.accessor,
        r.role,
        r.target.value,
        r.target_id,
        " ".join(r.case_ids),
        r.purpose,
        r.kind.value,
        r.outcome.value,
        r.reason,
        r.grant_tx or "",
        r.shared_with or "",
    )
