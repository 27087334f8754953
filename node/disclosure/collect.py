"""The decisions a department took in a period and the decisions it had set aside in it,
read from the ledger and issued as a signed bulletin.

Everything comes from the ledger. Its own index of each department's decisions by time
(PeriodCases: written by the ChangeStage that took a decision and by the SetAsideDecision
that set one aside) says which cases the period touches; each decision's stage entry,
written by the transaction that took it, says what it was, with the penalty the on-chain
schedule assessed, and a SetAsideDecision record says what became of it. No node's copy
takes part, so the department issuing a bulletin and an auditor of any department checking
it read the same list, and neither can leave a decision out by its own index.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

from node.disclosure.bulletin import (
    FORMAT,
    MAX_DECISIONS,
    Bulletin,
    DecisionNotice,
    Outcome,
    SignedBulletin,
    Withdrawal,
)
from node.fabric.identity import Identity, Signer
from node.index.reports import Period
from schemas.glossary import DECIDING_STAGES
from schemas.hashes import Digest
from schemas.ledger import CaseRecord, SetAsideRecord, StageEntry, ledger_time

IN_FLIGHT = 8  # ledger queries at a time: the peer serves the department's officers too
T = TypeVar("T")


class DecisionLedger(Protocol):
    """What the collection reads: the period's cases, a case, its stage entries and its
    decisions set aside (LedgerClient has all four)."""

    async def period_cases(self, org: str, since: dt.datetime, until: dt.datetime) -> list[str]: ...
    async def case(self, case_id: str) -> CaseRecord: ...
    async def case_history(self, case_id: str) -> list[StageEntry]: ...
    async def decision_set_asides(self, case_id: str) -> list[SetAsideRecord]: ...


@dataclass(frozen=True)
class PeriodDisclosures:
    """What the ledger holds for one department's period, read now."""

    decisions: list[DecisionNotice]  # every decision taken in the period, oldest first
    # Of those, the ones set aside by now (at any time), by decision transaction.
    set_aside: dict[str, Withdrawal]
    withdrawals: list[Withdrawal]  # set aside in the period (decided in any), in that order
    # The date of the document that set each of the department's decisions aside, by
    # decision transaction, as its set-aside record keeps it: where a withdrawal's three
    # working days begin.
    documents_dated: dict[str, dt.date]

    @property
    def standing(self) -> list[DecisionNotice]:
        """The period's decisions not set aside: what a bulletin issued now lists."""
        return [d for d in self.decisions if d.decision_tx not in self.set_aside]


class TooManyDecisions(Exception):
    """More decisions than one bulletin holds: publish a shorter period."""

    code = "TOO_MANY_DECISIONS"


class DecisionUnreadable(Exception):
    """A decision's stage entry lacks what the chaincode writes with every decision (its
    penalty): the ledger data is not what this code reads, and nothing is published."""

    code = "LEDGER_DATA_MALFORMED"


async def collect_disclosures(
    ledger: DecisionLedger,
    org: str,
    since: dt.datetime,
    until: dt.datetime,
) -> PeriodDisclosures:
    """The decisions ``org`` took in [``since``, ``until``) and those it set aside then.

    Raises:
        TooManyDecisions: more than a bulletin holds.
        DecisionUnreadable: a decision entry without its penalty.
        LedgerRefused, GatewayError: a ledger read failed (nothing is partial).
    """
    case_ids = await ledger.period_cases(org, since, until)
    gate = asyncio.Semaphore(IN_FLIGHT)
    first, end = ledger_time(since), ledger_time(until)

    async def limited(call: Callable[[], Awaitable[T]]) -> T:
        async with gate:
            return await call()

    async def one(case_id: str) -> tuple[list[DecisionNotice], list[SetAsideRecord]]:
        entries = await limited(lambda: ledger.case_history(case_id))
        wanted = [e for e in entries if _taken(e, org, first, end)]
        case = await limited(lambda: ledger.case(case_id))
        records: list[SetAsideRecord] = []
        if case.set_asides:
            records = await limited(lambda: ledger.decision_set_asides(case_id))
        return [_notice(case, e) for e in wanted], [r for r in records if r.org == org]

    decisions: list[DecisionNotice] = []
    set_aside: dict[str, Withdrawal] = {}
    withdrawals: list[Withdrawal] = []
    dated: dict[str, dt.date] = {}
    for notices, records in await asyncio.gather(*map(one, case_ids)):
        decisions.extend(notices)
        ours = {n.decision_tx for n in notices}
        withdrawn = [_withdrawal(r) for r in records]
        set_aside.update((w.decision_tx, w) for w in withdrawn if w.decision_tx in ours)
        withdrawals.extend(w for w in withdrawn if first <= w.set_aside_at < end)
        dated.update((r.decision_tx, r.set_aside_on) for r in records)
    if len(decisions) + len(withdrawals) > MAX_DECISIONS:
        raise TooManyDecisions(
            f"{len(decisions)} decisions and {len(withdrawals)} withdrawals in the period; a "
            f"bulletin holds at most {MAX_DECISIONS}"
        )
    return PeriodDisclosures(
        decisions=sorted(decisions, key=lambda n: (n.decided_at, n.case_id)),
        set_aside=set_aside,
        withdrawals=sorted(withdrawals, key=lambda w: (w.set_aside_at, w.case_id)),
        documents_dated=dated,
    )


def issue_bulletin(
    decisions: list[DecisionNotice],
    *,
    withdrawals: Sequence[Withdrawal] = (),
    channel: str,
    signer_identity: Identity,
    signer: Signer,
    period: Period,
    since: dt.datetime,
    until: dt.datetime,
    utc_offset: str,
    now: dt.datetime,
) -> SignedBulletin:
    """The bulletin of ``decisions`` and ``withdrawals``, signed by ``signer`` (whose
    department publishes it). Pass :attr:`PeriodDisclosures.standing`: a decision set aside
    is withdrawn, not listed.

    Raises:
        ValidationError: the decisions do not fit the period (a caller's error).
    """
    bulletin = Bulletin(
        format=FORMAT,
        channel=channel,
        org=signer_identity.msp_id,
        period=period.value,
        since=ledger_time(since),
        until=ledger_time(until),
        utc_offset=utc_offset,
        issued_at=ledger_time(now),
        decisions=decisions,
        withdrawals=list(withdrawals),
    )
    signature = signer.sign(bulletin.canonical_bytes())
    return SignedBulletin(
        bulletin=bulletin,
        signature=base64.b64encode(signature).decode(),
        signer=signer_identity.cert_pem.decode(),
    )


def _taken(entry: StageEntry, org: str, since: str, until: str) -> bool:
    return (
        entry.to_stage in DECIDING_STAGES and entry.actor_org == org and since <= entry.at < until
    )


def _notice(case: CaseRecord, entry: StageEntry) -> DecisionNotice:
    penalty = entry.penalty
    if penalty is None:
        raise DecisionUnreadable(f"case {case.case_id}: decision {entry.tx[:12]} has no penalty")
    document = entry.details.get("document_hash")
    return DecisionNotice(
        case_id=case.case_id,
        violation_type=case.violation_type,
        procedure=case.procedure,
        outcome=Outcome.NO_PENALTY if penalty.exempt else Outcome.PENALTY,
        amount_cents=0 if penalty.exempt else penalty.amount_cents,
        legal_basis=penalty.legal_basis,
        discretion_benchmark=penalty.discretion_benchmark,
        schedule_version=penalty.schedule_version,
        subject_kind=case.subject_kind,
        decided_at=entry.at,
        decision_tx=entry.tx,
        document_hash=Digest.parse(document) if isinstance(document, str) else None,
    )


def _withdrawal(record: SetAsideRecord) -> Withdrawal:
    return Withdrawal(
        case_id=record.case_id,
        decision_tx=record.decision_tx,
        decided_at=record.decided_at,
        ground=record.ground,
        authority=record.authority,
        reason=record.reason.value,
        document_hash=record.document_hash,
        set_aside_at=record.recorded_at,
        set_aside_tx=record.recorded_tx,
        set_aside_on=record.set_aside_on,
    )
