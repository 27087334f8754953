"""Public disclosure of decisions (行政执法公示): a reviewer (legal review) or an admin issues
the department's bulletin of a day, week or month, signed with their own key, for the
department's portal. The bulletin is read from the ledger (node.disclosure) and verifies
offline (``evnet verify-bulletin``)."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Annotated

from fastapi import APIRouter
from fastapi.responses import Response
from pydantic import BaseModel

from gateway.auth import Principal
from gateway.deps import Deps, GatewayDeps, ledger_of, require
from gateway.problems import Problem
from gateway.routes.reports import Offset as UtcOffset
from gateway.routes.reports import On, period_window
from node.disclosure import (
    DecisionNotice,
    DecisionUnreadable,
    SignedBulletin,
    TooManyDecisions,
    collect_decisions,
    issue_bulletin,
)
from node.disclosure.audit import compare
from node.index.reports import DEFAULT_UTC_OFFSET, Period
from schemas.glossary import Role
from schemas.ledger import parse_ledger_time

log = logging.getLogger(__name__)
router = APIRouter(prefix="/disclosures", tags=["disclosures"])

Publisher = Annotated[Principal, require(Role.REVIEWER, Role.ADMIN)]
CHECK_ROUTE = "/disclosures/check"


class DecisionRef(BaseModel):
    case_id: str
    decision_tx: str
    decided_at: str


class AlteredDecision(DecisionRef):
    fields: list[str]  # the published fields that differ from the ledger's


class DisclosureCheck(BaseModel):
    """A published bulletin against the ledger: complete only if nothing is missing,
    altered or unknown."""

    org: str
    since: str
    until: str
    issued_at: str
    listed: int
    on_ledger: int  # decided in the period by the issue time
    complete: bool
    missing: list[DecisionRef]  # decided by the issue time, not published
    altered: list[AlteredDecision]
    unknown: list[DecisionRef]  # published; no such decision of this org in the period
    after_issue: int  # decided in the period after the bulletin was issued


def _ref(n: DecisionNotice) -> DecisionRef:
    return DecisionRef(case_id=n.case_id, decision_tx=n.decision_tx, decided_at=n.decided_at)


@router.post("/check", response_model=DisclosureCheck)
async def check(
    signed: SignedBulletin,
    deps: Deps,
    who: Annotated[Principal, require(Role.AUDITOR)],
) -> DisclosureCheck:
    """For an auditor (公示完整性): a bulletin this department published, compared with the
    decisions the ledger holds for its period, read again now. Who signed it is checked
    offline (`evnet verify-bulletin`); this checks what it says.

    422 `INVALID_REQUEST` for a body that is not a bulletin, `NOT_THIS_DEPARTMENT` for
    another department's (this gateway's index holds its own cases), `CHANNEL_MISMATCH`,
    `TOO_MANY_DECISIONS`; 413 `BODY_TOO_LARGE` beyond a bulletin's size.
    """
    bulletin = signed.bulletin
    if bulletin.org != deps.org:
        raise Problem(
            422,
            "NOT_THIS_DEPARTMENT",
            f"a bulletin of {bulletin.org}: check it at that department's gateway",
        )
    if bulletin.channel != deps.channel:
        raise Problem(422, "CHANNEL_MISMATCH", f"a bulletin of channel {bulletin.channel!r}")
    since, until = parse_ledger_time(bulletin.since), parse_ledger_time(bulletin.until)
    found = compare(bulletin, await decisions_of(deps, who, since, until))
    log.info(
        "disclosure check by %s of the bulletin from %s: %d missing, %d altered, %d unknown",
        who.user,
        bulletin.since,
        len(found.missing),
        len(found.altered),
        len(found.unknown),
    )
    return DisclosureCheck(
        org=bulletin.org,
        since=bulletin.since,
        until=bulletin.until,
        issued_at=bulletin.issued_at,
        listed=len(bulletin.decisions),
        on_ledger=found.on_ledger,
        complete=found.complete,
        missing=[_ref(n) for n in found.missing],
        altered=[
            AlteredDecision(**_ref(a.published).model_dump(), fields=list(a.fields))
            for a in found.altered
        ],
        unknown=[_ref(n) for n in found.unknown],
        after_issue=found.after_issue,
    )


@router.post(
    "/{period}",
    response_model=SignedBulletin,
    responses={200: {"description": "the signed bulletin (canonical JSON), as a file to publish"}},
)
async def publish(
    period: Period,
    deps: Deps,
    who: Publisher,
    on: On = None,
    utc_offset: UtcOffset = DEFAULT_UTC_OFFSET,
) -> Response:
    """This department's decisions of the day, ISO week or month holding `on` (default:
    today), as the ledger recorded them: case, violation type, procedure, outcome and amount,
    legal basis and discretion benchmark, when, the decision's transaction and document hash;
    the party only by its kind. Signed by the caller (a reviewer or an admin). A period not
    over yet lists the decisions so far.

    422 `INVALID_REQUEST` for a bad date or offset, `PERIOD_NOT_BEGUN` for a future period,
    `TOO_MANY_DECISIONS` beyond a bulletin's size; 501 `DISCLOSURES_NOT_CONFIGURED`.
    """
    signed = await issue(deps, who, period, on, utc_offset)
    first_day, _ = signed.bulletin.days()
    name = f"bulletin-{period.value}-{first_day.isoformat()}.json"
    return Response(
        signed.canonical_bytes(),
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


async def issue(
    deps: GatewayDeps, who: Principal, period: Period, on: dt.date | None, utc_offset: str
) -> SignedBulletin:
    """The department's bulletin of the ``period`` holding ``on``, signed as ``who``.

    Raises:
        Problem: 501 DISCLOSURES_NOT_CONFIGURED; 422 INVALID_REQUEST, PERIOD_NOT_BEGUN,
            TOO_MANY_DECISIONS; 502 LEDGER_DATA_MALFORMED.
    """
    if deps.signer_for is None or not deps.channel:
        raise Problem(501, "DISCLOSURES_NOT_CONFIGURED", "this gateway signs no bulletins")
    now = deps.clock()
    since, until = period_window(period, on, utc_offset, now)
    if since > now:
        raise Problem(
            422, "PERIOD_NOT_BEGUN", f"the {period.value} from {since.date()} has not begun"
        )
    decisions = await decisions_of(deps, who, since, until)
    identity, signer = deps.signer_for(who.user)
    signed = issue_bulletin(
        decisions,
        channel=deps.channel,
        signer_identity=identity,
        signer=signer,
        period=period,
        since=since,
        until=until,
        utc_offset=utc_offset,
        now=now,
    )
    log.info(
        "disclosure: %s issued the %s bulletin from %s: %d decision(s)",
        who.user,
        period.value,
        signed.bulletin.since,
        len(decisions),
    )
    return signed


async def decisions_of(
    deps: GatewayDeps, who: Principal, since: dt.datetime, until: dt.datetime
) -> list[DecisionNotice]:
    """This department's decisions in [since, until), read from the ledger as ``who``.

    Raises:
        Problem: 422 TOO_MANY_DECISIONS; 502 LEDGER_DATA_MALFORMED (the detail is logged).
    """
    try:
        return await collect_decisions(deps.index, ledger_of(deps, who), deps.org, since, until)
    except TooManyDecisions as exc:
        raise Problem(422, exc.code, f"{exc}; take a shorter period") from None
    except DecisionUnreadable as exc:
        log.error("disclosure: %s", exc)
        raise Problem(
            502, exc.code, "the ledger holds a decision this gateway cannot read"
        ) from None
