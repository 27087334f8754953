"""The consortium's penalty schedule and each subject's violation history."""

from __future__ import annotations

import re
from typing import Any

from chaincode import state
from chaincode.contracts.base import actor_of, emit, now, parse
from chaincode.contracts.schedule import current_schedule
from chaincode.rules.penalties import assess, check_schedule
from chaincode.runtime import Contract, ContractError, Stub, transaction
from schemas.canonical import canonical_json
from schemas.glossary import Role, ViolationType
from schemas.ledger import LedgerErrorCode, PenaltySchedule, SubjectViolation

_SUBJECT = re.compile(r"[0-9a-f]{64}\Z")


def _subject(text: str) -> str:
    if not _SUBJECT.match(text):
        raise ContractError(
            LedgerErrorCode.VALIDATION_FAILED,
            "subject_key must be 64 lower-case hex (the keyed hash, never the real identifier)",
        )
    return text


class PenaltiesContract(Contract):
    name = "Penalties"

    @transaction()
    async def SetPenaltySchedule(self, ctx: Stub, request: str) -> dict[str, Any]:
        """Publish the next version of the schedule (a consortium admin transaction: an
        admin of an org that governs the current version)."""
        actor = actor_of(ctx)
        actor.require({Role.ADMIN}, "changing the penalty schedule")
        schedule = parse(PenaltySchedule, request)
        raw = await ctx.get_state(state.penalty_schedule())
        current = None if raw is None else PenaltySchedule.model_validate_json(raw)
        if current is None and actor.org not in schedule.governing_orgs:
            raise ContractError(
                LedgerErrorCode.ACCESS_DENIED,
                "the first penalty schedule must name the publishing org among its governors",
            )
        check_schedule(schedule, current, actor.org)
        await ctx.put_state(
            state.penalty_schedule(), canonical_json(schedule.model_dump(mode="json"))
        )
        emit(ctx, "PenaltyScheduleSet", {"version": schedule.version, "org": actor.org})
        return schedule.model_dump(mode="json")

    @transaction(read_only=True)
    async def GetPenaltySchedule(self, ctx: Stub) -> dict[str, Any]:
        return (await current_schedule(ctx)).model_dump(mode="json")

    @transaction(read_only=True)
    async def SubjectHistory(self, ctx: Stub, subject_key: str) -> list[dict[str, Any]]:
        records = await state.load_all(
            ctx, "subject_violation", [_subject(subject_key)], SubjectViolation
        )
        return [r.model_dump(mode="json") for r in records]

    @transaction(read_only=True)
    async def AssessPenalty(
        self, ctx: Stub, subject_key: str, violation_type: str, rectified: bool
    ) -> dict[str, Any]:
        """What a decision would impose now: for officers preparing a case."""
        try:
            vtype = ViolationType(violation_type)
        except ValueError:
            raise ContractError(
                LedgerErrorCode.VALIDATION_FAILED, f"unknown violation type {violation_type[:64]!r}"
            ) from None
        history = await state.load_all(
            ctx, "subject_violation", [_subject(subject_key)], SubjectViolation
        )
        schedule = await current_schedule(ctx)
        return assess(schedule, vtype, history, rectified=rectified, now=now(ctx)).model_dump(
            mode="json"
        )
