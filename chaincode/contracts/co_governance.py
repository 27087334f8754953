"""The co-governance rule on the ledger (小河共治): reminders before enforcement.

The penalty schedule says, per violation type, how many reminders a flag must have had
before it becomes a case. A rule in the API alone would be skipped by any client that files
the case itself, so both ways to a case are checked here: a flag moving to ``case_filed``,
and an item under such a flag linked to a case by any other transaction (filing a case on
it, attaching it, registering it into a case).
"""

from __future__ import annotations

from pydantic import TypeAdapter

from chaincode import state
from chaincode.contracts.base import not_found
from chaincode.contracts.schedule import published_schedule
from chaincode.rules.violations import check_flagged_evidence, check_reminders, reminders_given
from chaincode.runtime import Stub
from schemas.canonical import canonical_json
from schemas.glossary import ViolationType
from schemas.violations import ViolationEntry, ViolationRecord


async def reminders_required(ctx: Stub, violation_type: ViolationType) -> int:
    # No schedule, or no entry for the type, sets no rule: every network publishes its
    # schedule when it is bootstrapped, and a case cannot reach its decision without one.
    schedule = await published_schedule(ctx)
    entry = None if schedule is None else schedule.entries.get(violation_type)
    return 0 if entry is None else entry.reminders_before_case


async def require_reminders(ctx: Stub, record: ViolationRecord) -> None:
    """Raises ContractError REMINDERS_REQUIRED before a flag that has had too few becomes a
    case."""
    required = await reminders_required(ctx, record.violation_type)
    if required == 0:
        return
    history = await state.load_all(ctx, "violation_step", [record.flag_id], ViolationEntry)
    check_reminders(
        record.flag_id,
        record.status,
        record.violation_type,
        given=reminders_given(e.to_status for e in history),
        required=required,
    )


_FLAG_IDS = TypeAdapter(list[str])


def flags_of(raw: bytes | None) -> list[str]:
    """The ids in an item's ``evidence_flags`` value (none if it has no key)."""
    return [] if raw is None else _FLAG_IDS.validate_json(raw)


async def note_flag(ctx: Stub, evidence_id: str, flag_id: str) -> None:
    """Index a new flag under an item it cites."""
    key = state.evidence_flags(evidence_id)
    flags = flags_of(await ctx.get_state(key))
    if flag_id not in flags:
        await ctx.put_state(key, canonical_json([*flags, flag_id]))


async def guard_case_link(
    ctx: Stub, evidence_id: str, flags: list[str], *, from_flag: str | None
) -> None:
    """Raises ContractError EVIDENCE_UNDER_FLAG when linking the item to a case would skip
    the reminders of one of ``flags``, those citing it (``from_flag``, the flag opening the
    case, is checked by ``require_reminders`` instead)."""
    for flag_id in flags:
        if flag_id == from_flag:
            continue
        record = await state.load(ctx, state.violation(flag_id), ViolationRecord)
        if record is None:  # the index is written with its flag, in the same transaction
            raise not_found("violation", flag_id)
        check_flagged_evidence(
            evidence_id,
            flag_id,
            record.status,
            record.violation_type,
            required=await reminders_required(ctx, record.violation_type),
        )
