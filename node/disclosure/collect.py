"""The decisions a department took in a period, read from the ledger and issued as a signed
bulletin.

The index says which cases may hold one (past a decision, changed since the period began);
the ledger says what each decision was: its stage entry, written by the transaction that took
it, carries the penalty the on-chain schedule assessed. Nothing of a notice comes from the
index, so a stale index can leave a decision out until it catches up but never misstate one.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

from node.disclosure.bulletin import (
    FORMAT,
    MAX_DECISIONS,
    Bulletin,
    DecisionNotice,
    Outcome,
    SignedBulletin,
)
from node.fabric.identity import Identity, Signer
from node.index.cases import decided_since
from node.index.database import IndexDatabase
from node.index.reports import Period
from schemas.glossary import Stage
from schemas.hashes import Digest
from schemas.ledger import CaseRecord, StageEntry, ledger_time

IN_FLIGHT = 8  # ledger queries at a time: the peer serves the department's officers too
DECIDING = (Stage.DECISION, Stage.CLOSED_WITHOUT_PENALTY)
T = TypeVar("T")


class DecisionLedger(Protocol):
    """What the collection reads: a case and its stage entries (LedgerClient has both)."""

    async def case(self, case_id: str) -> CaseRecord: ...
    async def case_history(self, case_id: str) -> list[StageEntry]: ...


class TooManyDecisions(Exception):
    """More decisions than one bulletin holds: publish a shorter period."""

    code = "TOO_MANY_DECISIONS"


class DecisionUnreadable(Exception):
    """A decision's stage entry lacks what the chaincode writes with every decision (its
    penalty): the ledger data is not what this code reads, and nothing is published."""

    code = "LEDGER_DATA_MALFORMED"


async def collect_decisions(
    index: IndexDatabase,
    ledger: DecisionLedger,
    org: str,
    since: dt.datetime,
    until: dt.datetime,
) -> list[DecisionNotice]:
    """The decisions ``org`` took in [``since``, ``until``), oldest first.

    Raises:
        TooManyDecisions: more than a bulletin holds.
        DecisionUnreadable: a decision entry without its penalty.
        LedgerRefused, GatewayError: a ledger read failed (nothing is partial).
    """
    case_ids = await asyncio.to_thread(decided_since, index, since)
    gate = asyncio.Semaphore(IN_FLIGHT)
    first, end = ledger_time(since), ledger_time(until)

    async def limited(call: Callable[[], Awaitable[T]]) -> T:
        async with gate:
            return await call()

    async def one(case_id: str) -> list[DecisionNotice]:
        entries = await limited(lambda: ledger.case_history(case_id))
        wanted = [e for e in entries if _taken(e, org, first, end)]
        if not wanted:
            return []
        case = await limited(lambda: ledger.case(case_id))
        return [_notice(case, e) for e in wanted]

    found = [n for part in await asyncio.gather(*map(one, case_ids)) for n in part]
    if len(found) > MAX_DECISIONS:
        raise TooManyDecisions(
            f"{len(found)} decisions in the period; a bulletin holds at most {MAX_DECISIONS}"
        )
    return sorted(found, key=lambda n: (n.decided_at, n.case_id))


def issue_bulletin(
    decisions: list[DecisionNotice],
    *,
    channel: str,
    signer_identity: Identity,
    signer: Signer,
    period: Period,
    since: dt.datetime,
    until: dt.datetime,
    utc_offset: str,
    now: dt.datetime,
) -> SignedBulletin:
    """The bulletin of ``decisions``, signed by ``signer`` (whose department publishes it).

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
    )
    signature = signer.sign(bulletin.canonical_bytes())
    return SignedBulletin(
        bulletin=bulletin,
        signature=base64.b64encode(signature).decode(),
        signer=signer_identity.cert_pem.decode(),
    )


def _taken(entry: StageEntry, org: str, since: str, until: str) -> bool:
    return entry.to_stage in DECIDING and entry.actor_org == org and since <= entry.at < until


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
