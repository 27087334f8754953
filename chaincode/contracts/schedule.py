"""The consortium's current penalty schedule, as published on the ledger."""

from __future__ import annotations

from chaincode import state
from chaincode.runtime import ContractError, Stub
from schemas.ledger import LedgerErrorCode, PenaltySchedule


async def published_schedule(ctx: Stub) -> PenaltySchedule | None:
    raw = await ctx.get_state(state.penalty_schedule())
    return None if raw is None else PenaltySchedule.model_validate_json(raw)


async def current_schedule(ctx: Stub) -> PenaltySchedule:
    """Raises ContractError NOT_FOUND until a consortium admin published one."""
    schedule = await published_schedule(ctx)
    if schedule is None:
        raise ContractError(
            LedgerErrorCode.NOT_FOUND,
            "no penalty schedule has been published; a consortium admin must publish one",
        )
    return schedule
