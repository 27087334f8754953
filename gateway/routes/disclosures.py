"""Public disclosure of decisions (行政执法公示): a reviewer (legal review) or an admin issues
the department's bulletin of a day, week or month, signed with their own key, for the
department's portal. The bulletin is read from the ledger (node.disclosure), recorded on it
as published (RecordBulletin) before it is served, and verifies offline
(``evnet verify-bulletin``). An auditor checks a published bulletin against the ledger: what
it left out or changed, and whether each decision went out within its deadline."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Query
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
    PeriodDisclosures,
    SignedBulletin,
    TooManyDecisions,
    Withdrawal,
    collect_disclosures,
    issue_bulletin,
)
from node.disclosure.audit import compare
from node.disclosure.timeliness import (
    DEFAULT_WITHDRAWAL_WORKING_DAYS,
    DEFAULT_WORKING_DAYS,
    MAX_CALENDAR_DAYS,
    MAX_WORKING_DAYS,
    Late,
    WorkCalendar,
    late_decisions,
    late_withdrawals,
)
from node.index.reports import DEFAULT_UTC_OFFSET, Period
from schemas.glossary import Role
from schemas.ledger import BulletinRecord, parse_ledger_time

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


class LateDecision(DecisionRef):
    due_by: dt.datetime  # the end of its last working day, in the department's zone


class WithdrawalRef(BaseModel):
    case_id: str
    decision_tx: str
    set_aside_at: str


class AlteredWithdrawal(WithdrawalRef):
    fields: list[str]


class LateWithdrawal(WithdrawalRef):
    due_by: dt.datetime


class PublicationRecord(BaseModel):
    """A bulletin's record on the ledger: who published it and when (the transaction's time)."""

    recorded_at: str
    recorded_tx: str
    recorded_by: str
    recorded_role: Role


class DisclosureCheck(BaseModel):
    """A published bulletin against the ledger: complete only if no decision or withdrawal
    is missing, altered or unknown; on time only if it was recorded as published and none of
    its decisions or withdrawals was recorded after its deadline."""

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
    withdrawals_listed: int
    missing_withdrawals: list[WithdrawalRef]  # set aside in the period by the issue time
    altered_withdrawals: list[AlteredWithdrawal]
    unknown_withdrawals: list[WithdrawalRef]
    to_withdraw: list[DecisionRef]  # listed, then set aside: to come down from the portal
    recorded: PublicationRecord | None  # None: this bulletin was never recorded as published
    period_records: int  # bulletins the department recorded for this period, this one included
    deadline_working_days: int
    late: list[LateDecision]  # listed, but published after their deadline
    withdrawal_working_days: int
    late_withdrawals: list[LateWithdrawal]
    on_time: bool


def _ref(n: DecisionNotice) -> DecisionRef:
    return DecisionRef(case_id=n.case_id, decision_tx=n.decision_tx, decided_at=n.decided_at)


def _wref(w: Withdrawal) -> WithdrawalRef:
    return WithdrawalRef(case_id=w.case_id, decision_tx=w.decision_tx, set_aside_at=w.set_aside_at)


CalendarDays = Annotated[list[dt.date], Query(max_length=MAX_CALENDAR_DAYS)]


@router.post("/check", response_model=DisclosureCheck)
async def check(
    signed: SignedBulletin,
    deps: Deps,
    who: Annotated[Principal, require(Role.AUDITOR)],
    deadline_working_days: Annotated[int, Query(ge=1, le=MAX_WORKING_DAYS)] = DEFAULT_WORKING_DAYS,
    withdrawal_working_days: Annotated[
        int, Query(ge=1, le=MAX_WORKING_DAYS)
    ] = DEFAULT_WITHDRAWAL_WORKING_DAYS,
    holiday: CalendarDays = [],  # noqa: B006 (FastAPI copies query defaults)
    workday: CalendarDays = [],  # noqa: B006
) -> DisclosureCheck:
    """For an auditor (公示完整性, 公示时效): a bulletin any department of the consortium
    published, compared with the decisions the ledger holds for that department's period
    (the ledger's own index of decisions, not this node's), read again now, and with its record
    on the ledger: when it was published, and which of its decisions went out after their
    deadline (`deadline_working_days` after the day of the decision, 7 by default; a working
    day is Monday to Friday, less each `holiday`, plus each `workday` — the year's public
    holidays and weekend days worked; without either, the department's configured
    calendar). Withdrawals of decisions set aside (撤回) are checked
    the same way: those the ledger holds for the period, and each due
    `withdrawal_working_days` (3) after the date of the document that set it aside (as the
    ledger's set-aside record keeps it); a listed decision set aside since the issue is named
    in `to_withdraw`. Who signed it is checked offline (`evnet verify-bulletin`); this checks
    what it says and when it went out.

    422 `INVALID_REQUEST` for a body that is not a bulletin or a bad calendar,
    `CHANNEL_MISMATCH`, `TOO_MANY_DECISIONS`; 413 `BODY_TOO_LARGE` beyond a bulletin's
    size.
    """
    try:
        calendar = (
            WorkCalendar(frozenset(holiday), frozenset(workday))
            if holiday or workday
            else deps.calendar
        )
    except ValueError as exc:
        raise Problem(422, "INVALID_REQUEST", str(exc)) from None
    return await check_bulletin(
        deps, who, signed, deadline_working_days, withdrawal_working_days, calendar
    )


async def check_bulletin(
    deps: GatewayDeps,
    who: Principal,
    signed: SignedBulletin,
    deadline_working_days: int = DEFAULT_WORKING_DAYS,
    withdrawal_working_days: int = DEFAULT_WITHDRAWAL_WORKING_DAYS,
    calendar: WorkCalendar | None = None,
) -> DisclosureCheck:
    """``signed`` (any department's bulletin) against the ledger, read as ``who``, its
    deadlines counted in ``calendar`` (default: the department's).

    Raises:
        Problem: 422 CHANNEL_MISMATCH, TOO_MANY_DECISIONS; 502 LEDGER_DATA_MALFORMED.
    """
    calendar = deps.calendar if calendar is None else calendar
    bulletin = signed.bulletin
    if bulletin.channel != deps.channel:
        raise Problem(422, "CHANNEL_MISMATCH", f"a bulletin of channel {bulletin.channel!r}")
    since, until = parse_ledger_time(bulletin.since), parse_ledger_time(bulletin.until)
    # Any department's: the ledger alone says what the period holds.
    held = await disclosures_of(deps, who, since, until, org=bulletin.org)
    found = compare(bulletin, held)
    records = await ledger_of(deps, who).bulletin_records(
        bulletin.org, Period(bulletin.period), bulletin.since
    )
    digest = bulletin.digest()
    mine = next((r for r in records if r.bulletin_hash == digest), None)
    late: list[Late[DecisionNotice]] = []
    late_w: list[Late[Withdrawal]] = []
    if mine is not None:  # the deadlines are measured against the ledger's record
        late = late_decisions(bulletin, mine.recorded_at, deadline_working_days, calendar)
        late_w = late_withdrawals(
            bulletin, mine.recorded_at, withdrawal_working_days, calendar, held.documents_dated
        )
    decisions, withdrawals = found.decisions, found.withdrawals
    log.info(
        "disclosure check by %s of the bulletin from %s: %d missing, %d altered, %d unknown, "
        "%s, %d late",
        who.user,
        bulletin.since,
        len(decisions.missing) + len(withdrawals.missing),
        len(decisions.altered) + len(withdrawals.altered),
        len(decisions.unknown) + len(withdrawals.unknown),
        "unrecorded" if mine is None else f"recorded in {mine.recorded_tx[:12]}",
        len(late) + len(late_w),
    )
    return DisclosureCheck(
        org=bulletin.org,
        since=bulletin.since,
        until=bulletin.until,
        issued_at=bulletin.issued_at,
        listed=len(bulletin.decisions),
        on_ledger=found.on_ledger,
        complete=found.complete,
        missing=[_ref(n) for n in decisions.missing],
        altered=[
            AlteredDecision(**_ref(a.published).model_dump(), fields=list(a.fields))
            for a in decisions.altered
        ],
        unknown=[_ref(n) for n in decisions.unknown],
        after_issue=found.after_issue,
        withdrawals_listed=len(bulletin.withdrawals),
        missing_withdrawals=[_wref(w) for w in withdrawals.missing],
        altered_withdrawals=[
            AlteredWithdrawal(**_wref(a.published).model_dump(), fields=list(a.fields))
            for a in withdrawals.altered
        ],
        unknown_withdrawals=[_wref(w) for w in withdrawals.unknown],
        to_withdraw=[_ref(n) for n in found.to_withdraw],
        recorded=None if mine is None else _publication(mine),
        period_records=len(records),
        deadline_working_days=deadline_working_days,
        late=[LateDecision(**_ref(x.entry).model_dump(), due_by=x.due) for x in late],
        withdrawal_working_days=withdrawal_working_days,
        late_withdrawals=[
            LateWithdrawal(**_wref(x.entry).model_dump(), due_by=x.due) for x in late_w
        ],
        on_time=mine is not None and not late and not late_w,
    )


def _publication(record: BulletinRecord) -> PublicationRecord:
    return PublicationRecord(
        recorded_at=record.recorded_at,
        recorded_tx=record.recorded_tx,
        recorded_by=record.recorded_by,
        recorded_role=record.recorded_role,
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
    the party only by its kind. Signed by the caller (a reviewer or an admin) and recorded on
    the ledger as published, by its hash, before it is served (`X-Ledger-Tx`: that
    transaction): its publication time is the ledger's. A period not over yet lists the
    decisions so far. A decision set aside is not listed: the bulletin of the period in
    which it was set aside lists its withdrawal (撤回) with the reason instead.

    422 `INVALID_REQUEST` for a bad date or offset, `PERIOD_NOT_BEGUN` for a future period,
    `TOO_MANY_DECISIONS` beyond a bulletin's size; 409 `PUBLICATION_CONFLICT` when the
    period has as many bulletins recorded as it may; 501 `DISCLOSURES_NOT_CONFIGURED`.
    """
    issued = await issue(deps, who, period, on, utc_offset)
    first_day, _ = issued.signed.bulletin.days()
    name = f"bulletin-{period.value}-{first_day.isoformat()}.json"
    return Response(
        issued.signed.canonical_bytes(),
        media_type="application/json",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "X-Ledger-Tx": issued.tx_id,
        },
    )


@dataclass(frozen=True)
class Issued:
    """A bulletin signed and recorded on the ledger as published (in ``tx_id``)."""

    signed: SignedBulletin
    record: BulletinRecord
    tx_id: str


async def issue(
    deps: GatewayDeps, who: Principal, period: Period, on: dt.date | None, utc_offset: str
) -> Issued:
    """The department's bulletin of the ``period`` holding ``on``, signed as ``who`` and
    recorded on the ledger as published by ``who``; nothing is published unless it is.

    Raises:
        Problem: 501 DISCLOSURES_NOT_CONFIGURED; 422 INVALID_REQUEST, PERIOD_NOT_BEGUN,
            TOO_MANY_DECISIONS; 502 LEDGER_DATA_MALFORMED.
        LedgerRefused: the ledger refused the record (PUBLICATION_CONFLICT, ACCESS_DENIED).
    """
    if deps.signer_for is None or not deps.channel:
        raise Problem(501, "DISCLOSURES_NOT_CONFIGURED", "this gateway signs no bulletins")
    now = deps.clock()
    since, until = period_window(period, on, utc_offset, now)
    if since > now:
        raise Problem(
            422, "PERIOD_NOT_BEGUN", f"the {period.value} from {since.date()} has not begun"
        )
    found = await disclosures_of(deps, who, since, until)
    decisions = found.standing
    identity, signer = deps.signer_for(who.user)
    signed = issue_bulletin(
        decisions,
        withdrawals=found.withdrawals,
        channel=deps.channel,
        signer_identity=identity,
        signer=signer,
        period=period,
        since=since,
        until=until,
        utc_offset=utc_offset,
        now=now,
    )
    committed = await ledger_of(deps, who).record_bulletin(signed.bulletin.recording())
    log.info(
        "disclosure: %s published the %s bulletin from %s: %d decision(s), %d withdrawal(s), "
        "recorded in tx %s",
        who.user,
        period.value,
        signed.bulletin.since,
        len(decisions),
        len(found.withdrawals),
        committed.tx_id,
    )
    return Issued(signed, committed.value, committed.tx_id)


async def disclosures_of(
    deps: GatewayDeps,
    who: Principal,
    since: dt.datetime,
    until: dt.datetime,
    *,
    org: str | None = None,
) -> PeriodDisclosures:
    """The decisions ``org`` (default: this department) took in [since, until) and those it
    set aside then, read from the ledger as ``who``.

    Raises:
        Problem: 422 TOO_MANY_DECISIONS; 502 LEDGER_DATA_MALFORMED (the detail is logged).
    """
    try:
        return await collect_disclosures(ledger_of(deps, who), org or deps.org, since, until)
    except TooManyDecisions as exc:
        raise Problem(422, exc.code, f"{exc}; take a shorter period") from None
    except DecisionUnreadable as exc:
        log.error("disclosure: %s", exc)
        raise Problem(
            502, exc.code, "the ledger holds a decision this gateway cannot read"
        ) from None
