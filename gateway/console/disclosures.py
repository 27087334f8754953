"""The console's disclosure page (行政执法公示): the department's decisions of a period as a
bulletin would publish them, read from the ledger as the person looking; a reviewer signs
and downloads the bulletin with its page, ready for the portal; an auditor checks a bulletin
any department published against the ledger (docs/DISCLOSURE.md)."""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import Response

from gateway.console.render import page
from gateway.console.session import ConsoleRoute, Session, poster, viewer
from gateway.deps import Deps, ledger_of
from gateway.problems import Problem
from gateway.routes import disclosures
from gateway.routes.reports import period_window
from node.disclosure import BulletinMalformed, SignedBulletin, render_page
from node.disclosure.bulletin import MAX_BYTES as MAX_BULLETIN_BYTES
from node.index.reports import DEFAULT_UTC_OFFSET, Period
from schemas.glossary import Role
from schemas.ledger import ledger_time, parse_ledger_time

router = APIRouter(prefix="/console", route_class=ConsoleRoute, include_in_schema=False)
READERS = (Role.REVIEWER, Role.AUDITOR)
SHOWN = 500  # rows on the page; the download holds every decision
CHECK_ROUTE = "/console/disclosures/check"


@router.get("/disclosures")
async def disclosures_page(
    request: Request,
    deps: Deps,
    session: Annotated[Session, viewer(*READERS)],
    period: Period = Period.MONTH,
    on: dt.date | None = None,
) -> Response:
    """The period's decisions, as published; a reviewer's form to sign and download them."""
    now = deps.clock()
    since, until = period_window(period, on, DEFAULT_UTC_OFFSET, now)
    begun = since <= now
    found = await disclosures.disclosures_of(deps, session.who, since, until) if begun else None
    decisions = found.standing if found else []
    publications = (
        await ledger_of(deps, session.who).bulletin_records(deps.org, period, ledger_time(since))
        if begun
        else []
    )
    return page(
        request,
        "disclosures.html",
        {
            "session": session,
            "periods": list(Period),
            "period": period,
            "on": (on or since.date()).isoformat(),
            "first_day": since.date().isoformat(),
            "last_day": (until - dt.timedelta(days=1)).date().isoformat(),
            "begun": begun,
            "decisions": decisions,
            # Each decision with its day as the department counts days.
            "rows": [
                (parse_ledger_time(d.decided_at).astimezone(since.tzinfo).date().isoformat(), d)
                for d in decisions[:SHOWN]
            ],
            "may_publish": session.who.role is Role.REVIEWER,
            "may_check": session.who.role is Role.AUDITOR,
            "publications": publications,
            "withdrawals": found.withdrawals if found else [],
        },
    )


@router.post("/disclosures")
async def download_bulletin(
    deps: Deps,
    session: Annotated[Session, poster(Role.REVIEWER)],
    period: Annotated[Period, Form()],
    on: Annotated[dt.date | None, Form()] = None,
) -> Response:
    """The signed bulletin and its page in one zip, signed as the reviewer (the API's
    ``POST /disclosures/{period}``, with what a portal serves beside it)."""
    issued = await disclosures.issue(deps, session.who, period, on, DEFAULT_UTC_OFFSET)
    signed = issued.signed
    first_day, _ = signed.bulletin.days()
    name = f"disclosure-{period.value}-{first_day.isoformat()}"
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(f"{name}/bulletin.json", signed.canonical_bytes())
        z.writestr(f"{name}/index.html", render_page(signed))
    return Response(
        archive.getvalue(),
        media_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="{name}.zip"',
            "X-Ledger-Tx": issued.tx_id,
        },
    )


@router.post("/disclosures/check")
async def check_bulletin(
    request: Request,
    deps: Deps,
    session: Annotated[Session, poster(Role.AUDITOR)],
    bulletin: Annotated[UploadFile, File()],
) -> Response:
    """An auditor's check of a published bulletin (``bulletin.json``, any department's)
    against the ledger, as ``POST /disclosures/check`` does it with the department's
    calendar and the legal deadlines, shown as a page: what it left out, changed or made
    up, whether it was recorded as published, and what went out late."""
    raw = await bulletin.read(MAX_BULLETIN_BYTES + 1)
    try:
        signed = SignedBulletin.parse(raw)
    except BulletinMalformed as exc:
        raise Problem(422, "INVALID_REQUEST", f"not a published bulletin: {exc}") from None
    found = await disclosures.check_bulletin(deps, session.who, signed)
    return page(
        request,
        "disclosure_check.html",
        {"session": session, "check": found, "file_name": bulletin.filename or ""},
    )
