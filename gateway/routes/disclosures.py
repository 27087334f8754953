"""Public disclosure of decisions (行政执法公示): a reviewer (legal review) or an admin issues
the department's bulletin of a day, week or month, signed with their own key, for the
department's portal. The bulletin is read from the ledger (node.disclosure) and verifies
offline (``evnet verify-bulletin``)."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter
from fastapi.responses import Response

from gateway.auth import Principal
from gateway.deps import Deps, ledger_of, require
from gateway.problems import Problem
from gateway.routes.reports import Offset as UtcOffset
from gateway.routes.reports import On, period_window
from node.disclosure import (
    DecisionUnreadable,
    SignedBulletin,
    TooManyDecisions,
    collect_decisions,
    issue_bulletin,
)
from node.index.reports import DEFAULT_UTC_OFFSET, Period
from schemas.glossary import Role

log = logging.getLogger(__name__)
router = APIRouter(prefix="/disclosures", tags=["disclosures"])

Publisher = Annotated[Principal, require(Role.REVIEWER, Role.ADMIN)]


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
    if deps.signer_for is None or not deps.channel:
        raise Problem(501, "DISCLOSURES_NOT_CONFIGURED", "this gateway signs no bulletins")
    now = deps.clock()
    since, until = period_window(period, on, utc_offset, now)
    if since > now:
        raise Problem(
            422, "PERIOD_NOT_BEGUN", f"the {period.value} from {since.date()} has not begun"
        )
    try:
        decisions = await collect_decisions(
            deps.index, ledger_of(deps, who), deps.org, since, until
        )
    except TooManyDecisions as exc:
        raise Problem(422, exc.code, f"{exc}; publish a shorter period") from None
    except DecisionUnreadable as exc:
        log.error("disclosure: %s", exc)
        raise Problem(
            502, exc.code, "the ledger holds a decision this gateway cannot read"
        ) from None
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
    name = f"bulletin-{period.value}-{since.date().isoformat()}.json"
    return Response(
        signed.canonical_bytes(),
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
