"""Publication of decisions (行政执法公示): a department records on the ledger each bulletin
of decisions it publishes, by the bulletin's hash and period.

The bulletin itself (node.disclosure) is public on the department's portal and signed by its
publisher; what the ledger adds is *when* it was published, in a time no department sets
alone (the transaction's, endorsed by a majority). An auditor holding a bulletin then finds
its record and tells how many working days after each decision it went out (the
publication deadline); a period with no record was not published through EvidenceNet.
Whether a bulletin lists every decision is the auditor's check against the ledger's stage
entries, off-chain: a transaction cannot carry a month's list (MAX_REQUEST_BYTES).
"""

from __future__ import annotations

import re
from typing import Any

from chaincode import state
from chaincode.contracts.base import actor_of, emit, now, parse
from chaincode.runtime import Contract, ContractError, Stub, transaction
from chaincode.runtime.keys import composite_key
from schemas.glossary import Period, Role
from schemas.ledger import (
    MAX_BULLETIN_DECISIONS,
    BulletinRecord,
    BulletinRecording,
    LedgerErrorCode,
    PeriodQuery,
)

PUBLISHERS = (Role.REVIEWER, Role.ADMIN)
# Re-issues of one period (a corrected bulletin after the index caught up) are few; the bound
# keeps BulletinRecords one bounded read.
MAX_BULLETINS_PER_PERIOD = 50


_LEDGER_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z\Z")


def _ledger_time(text: str) -> str:
    if not _LEDGER_TIME.match(text):
        raise ContractError(
            LedgerErrorCode.VALIDATION_FAILED,
            "since must be a ledger time (YYYY-MM-DDTHH:MM:SS.ffffffZ)",
        )
    return text


class PublicationsContract(Contract):
    name = "Publications"

    @transaction()
    async def RecordBulletin(self, ctx: Stub, request: str) -> dict[str, Any]:
        """Record that the caller's department published the bulletin ``bulletin_hash`` of
        the period [since, until); the ledger adds who and when.

        Raises:
            ContractError: ACCESS_DENIED unless the caller is a reviewer or an admin (who may
                publish for their department); VALIDATION_FAILED for a malformed request or a
                period that has not begun; PUBLICATION_CONFLICT if this bulletin is recorded
                already, or the period has MAX_BULLETINS_PER_PERIOD records.
        """
        actor = actor_of(ctx)
        role = actor.require(PUBLISHERS, "recording a published bulletin")
        recording = parse(BulletinRecording, request)
        at = now(ctx)
        if recording.since > at:
            raise ContractError(
                LedgerErrorCode.VALIDATION_FAILED,
                f"the period from {recording.since} has not begun: nothing in it is decided",
            )
        org, period, since = actor.org, recording.period.value, recording.since
        recorded = await state.load_all(ctx, "bulletin", [org, period, since], BulletinRecord)
        for earlier in recorded:
            if earlier.bulletin_hash == recording.bulletin_hash:
                raise ContractError(
                    LedgerErrorCode.PUBLICATION_CONFLICT,
                    f"this bulletin was recorded at {earlier.recorded_at} "
                    f"(transaction {earlier.recorded_tx})",
                )
        if len(recorded) >= MAX_BULLETINS_PER_PERIOD:
            raise ContractError(
                LedgerErrorCode.PUBLICATION_CONFLICT,
                f"{MAX_BULLETINS_PER_PERIOD} bulletins are recorded for the "
                f"{recording.period.value} from {recording.since} already",
            )
        record = BulletinRecord(
            org=actor.org,
            bulletin_hash=recording.bulletin_hash,
            period=recording.period,
            since=recording.since,
            until=recording.until,
            decisions=recording.decisions,
            recorded_by=actor.subject,
            recorded_role=role,
            recorded_at=at,
            recorded_tx=ctx.tx_id,
        )
        key = state.bulletin(org, period, since, str(recording.bulletin_hash))
        await state.save(ctx, key, record)
        emit(
            ctx,
            "BulletinRecorded",
            {
                "org": actor.org,
                "since": recording.since,
                "bulletin_hash": str(recording.bulletin_hash),
            },
        )
        return record.model_dump(mode="json")

    @transaction(read_only=True)
    async def PeriodCases(self, ctx: Stub, request: str) -> list[str]:
        """The cases a bulletin of ``org``'s period [since, until) must account for: those
        in which it took a decision then, and those in which a decision of its was recorded
        as set aside then; sorted, each once. Read from the ledger's own index of decisions
        (ChangeStage and SetAsideDecision write it), so an auditor's check of a bulletin
        does not rest on the department's copy. Decisions are public: any member may read.

        Raises:
            ContractError: VALIDATION_FAILED for a malformed request, a period longer than
                a month, or more entries than a bulletin holds (MAX_BULLETIN_DECISIONS).
        """
        query = parse(PeriodQuery, request)
        cases: set[str] = set()
        entries = 0
        for object_type in ("org_decision", "org_set_aside"):
            start = composite_key(object_type, [query.org, query.since])
            end = composite_key(object_type, [query.org, query.until])
            page = await ctx.range(start, end, page_size=MAX_BULLETIN_DECISIONS + 1)
            entries += len(page.items)
            if entries > MAX_BULLETIN_DECISIONS:
                raise ContractError(
                    LedgerErrorCode.VALIDATION_FAILED,
                    f"more than {MAX_BULLETIN_DECISIONS} decisions and withdrawals in the "
                    "period: ask for a shorter one",
                )
            cases.update(value.decode() for _, value in page.items)
        return sorted(cases)

    @transaction(read_only=True)
    async def BulletinRecords(
        self, ctx: Stub, org: str, period: str, since: str
    ) -> list[dict[str, Any]]:
        """What ``org`` recorded as published for its ``period`` (day, week, month) starting
        ``since``, oldest first. Publication is public: any member may read it.

        Raises:
            ContractError: VALIDATION_FAILED for a malformed period or time.
        """
        if period not in set(Period):
            raise ContractError(
                LedgerErrorCode.VALIDATION_FAILED, "period must be day, week or month"
            )
        attributes = [org, period, _ledger_time(since)]
        records = await state.load_all(ctx, "bulletin", attributes, BulletinRecord)
        records.sort(key=lambda r: (r.recorded_at, r.recorded_tx))
        return [r.model_dump(mode="json") for r in records]
