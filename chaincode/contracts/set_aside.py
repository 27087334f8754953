"""Setting a decision aside (行政处罚法 第四十八条): a reconsideration body (行政复议), a court
(行政诉讼) or the department itself (自行纠错) varies, revokes, confirms illegal or confirms
invalid an administrative decision, and the department that took it records that here.

Three things follow from the record, each read from it:

- The decision's information is withdrawn from publication, with the reason made public,
  within three working days (第四十八条第二款, 第八十五条): the department's next bulletin of
  decisions lists the withdrawal and its re-issued bulletins leave the decision out
  (node.disclosure); the auditor's check counts the three days from the setting-aside
  document's date (``set_aside_on``), which this record keeps.
- A decision revoked or confirmed invalid no longer counts as a prior violation of its
  subject (the stepped penalties and the first-violation exemption, chaincode.rules.penalties).
- The case record counts its decisions set aside and moves its ``updated_at``, so each
  department's index, which follows the case's events, notices.

The stage entry of the decision is never changed: what was decided, and when, stays on the
ledger; this record says what became of it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from chaincode import state
from chaincode.contracts.base import actor_of, emit, not_found, now, parse
from chaincode.contracts.cases import load_case
from chaincode.runtime import Contract, ContractError, Stub, transaction
from schemas.glossary import DECIDING_STAGES, Role
from schemas.ledger import (
    DecisionSetAside,
    LedgerErrorCode,
    SetAsideRecord,
    StageEntry,
    SubjectViolation,
    parse_ledger_time,
)

# How far a calendar day somewhere runs ahead of (UTC+14) or behind (UTC-12) the UTC one: a
# document's date is judged against the ledger's clock without knowing its maker's zone.
_AHEAD, _BEHIND = dt.timedelta(hours=14), dt.timedelta(hours=12)

RECORDERS = (Role.REVIEWER, Role.ADMIN)  # legal review (法制审核) or the department's admin


class SetAsideContract(Contract):
    name = "SetAside"

    @transaction()
    async def SetAsideDecision(self, ctx: Stub, request: str) -> dict[str, Any]:
        """Record that the decision taken in ``decision_tx`` on ``case_id`` was set aside.

        Raises:
            ContractError: ACCESS_DENIED unless a reviewer or admin of the department that
                took the decision (which need no longer hold the case); NOT_FOUND for an
                unknown case or no such decision on it; VALIDATION_FAILED for a malformed
                request; CASE_CONFLICT if the decision was set aside already.
        """
        actor = actor_of(ctx)
        role = actor.require(RECORDERS, "recording that a decision was set aside")
        req = parse(DecisionSetAside, request)
        case = await load_case(ctx, req.case_id)
        entries = await state.load_all(ctx, "case_stage", [case.case_id], StageEntry)
        decision = next(
            (e for e in entries if e.tx == req.decision_tx and e.to_stage in DECIDING_STAGES), None
        )
        if decision is None:
            raise not_found(f"decision on case {case.case_id}", req.decision_tx)
        # The department that decided records it, even after the case moved on: the case
        # key's own policy then brings in the holder's peer, which the gateway asks too.
        actor.require_org(decision.actor_org, f"set aside a decision of {decision.actor_org}")
        at = now(ctx)
        _check_dated(req.set_aside_on, decision.at, at)
        key = state.set_aside(case.case_id, req.decision_tx)
        earlier = await state.load(ctx, key, SetAsideRecord)
        if earlier is not None:
            raise ContractError(
                LedgerErrorCode.CASE_CONFLICT,
                f"this decision was set aside ({earlier.ground}) at {earlier.recorded_at}",
            )
        record = SetAsideRecord(
            case_id=case.case_id,
            decision_tx=req.decision_tx,
            decided_at=decision.at,
            org=actor.org,
            ground=req.ground,
            authority=req.authority,
            reason=req.reason,
            document_hash=req.document_hash,
            set_aside_on=req.set_aside_on,
            recorded_by=actor.subject,
            recorded_role=role,
            recorded_at=at,
            recorded_tx=ctx.tx_id,
        )
        await state.save(ctx, key, record)
        violation_key = state.subject_violation(case.subject_key, decision.at, decision.tx)
        violation = await state.load(ctx, violation_key, SubjectViolation)
        if violation is None:  # ChangeStage writes one with every decision
            raise not_found("subject violation of decision", decision.tx)
        await state.save(ctx, violation_key, violation.model_copy(update={"set_aside": req.ground}))
        updated = case.model_copy(update={"updated_at": at, "set_asides": case.set_asides + 1})
        await state.save(ctx, state.case(case.case_id), updated)
        await ctx.put_state(state.org_set_aside(actor.org, at, ctx.tx_id), case.case_id.encode())
        emit(
            ctx,
            "DecisionSetAside",
            {
                "case_id": case.case_id,
                "holder_org": case.holder_org,
                "decision_tx": req.decision_tx,
                "ground": req.ground.value,
            },
        )
        return record.model_dump(mode="json")

    @transaction(read_only=True)
    async def DecisionSetAsides(self, ctx: Stub, case_id: str) -> list[dict[str, Any]]:
        """The case's decisions set aside, by decision transaction; anyone may read them (a
        withdrawal is public)."""
        records = await state.load_all(ctx, "set_aside", [case_id], SetAsideRecord)
        return [r.model_dump(mode="json") for r in records]


def _check_dated(set_aside_on: dt.date, decided_at: str, at: str) -> None:
    """The setting-aside document is dated neither after this transaction nor before the
    decision it sets aside, on any zone's calendar.

    Raises:
        ContractError: VALIDATION_FAILED.
    """
    if set_aside_on > (parse_ledger_time(at) + _AHEAD).date():
        raise ContractError(
            LedgerErrorCode.VALIDATION_FAILED,
            f"the setting-aside document is dated {set_aside_on}, after today ({at[:10]} UTC)",
        )
    if set_aside_on < (parse_ledger_time(decided_at) - _BEHIND).date():
        raise ContractError(
            LedgerErrorCode.VALIDATION_FAILED,
            f"the setting-aside document is dated {set_aside_on}, before the decision it sets "
            f"aside ({decided_at[:10]} UTC)",
        )
