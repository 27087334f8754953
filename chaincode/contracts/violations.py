"""AI-flagged violations and their review: the co-governance loop on the ledger.

A device raises a flag on evidence its org registered; the org's reviewer confirms it (with
a reminder or a case as the next step) or rejects it as a false positive; officers record
the reminder, the rectification (with its evidence), an escalation to the community, and in
the end a case. Every step is a history entry naming who took it; the queue is an index of
flags by org and current status, so a reviewer's page is one range read.
"""

from __future__ import annotations

from typing import Any

from chaincode import state
from chaincode.contracts.base import Actor, actor_of, emit, not_found, now, parse
from chaincode.contracts.cases import open_case
from chaincode.contracts.co_governance import note_flag, require_reminders
from chaincode.rules.violations import check_step
from chaincode.runtime import Contract, ContractError, Stub, transaction
from chaincode.runtime.keys import partial_key_range
from schemas.glossary import Role, ViolationStatus
from schemas.ledger import (
    MAX_PAGE_SIZE,
    CaseFiling,
    CaseSource,
    EvidenceRecord,
    LedgerErrorCode,
    ledger_time,
)
from schemas.violations import (
    CaseOpening,
    ViolationEntry,
    ViolationFlag,
    ViolationQuery,
    ViolationRecord,
    ViolationReview,
    ViolationStep,
)

_FLAG_FIELDS = set(ViolationFlag.model_fields)


def _role(actor: Actor) -> Role:
    # Only called after the role was checked against the step's roles.
    if actor.role is None:
        raise ContractError(LedgerErrorCode.ACCESS_DENIED, "this identity has no role")
    return Role(actor.role)


async def load_violation(ctx: Stub, flag_id: str) -> ViolationRecord:
    record = await state.load(ctx, state.violation(flag_id), ViolationRecord)
    if record is None:
        raise not_found("violation", flag_id)
    return record


async def _move(
    ctx: Stub,
    actor: Actor,
    record: ViolationRecord,
    to: ViolationStatus,
    *,
    reason: str | None = None,
    evidence_ids: list[str] | None = None,
    case: CaseOpening | None = None,
) -> ViolationRecord:
    """One step of the loop: checked, written with its history entry and queue index."""
    actor.require_org(record.org, f"act on flag {record.flag_id} (its org)")
    check_step(
        record.status,
        to,
        actor.role,
        has_reason=bool(reason),
        has_evidence=bool(evidence_ids),
        has_case=case is not None,
    )
    for evidence_id in dict.fromkeys(evidence_ids or []):
        item = await state.load(ctx, state.evidence(evidence_id), EvidenceRecord)
        if item is None:
            raise not_found("evidence", evidence_id)
        actor.require_org(item.owner_org, f"cite evidence {evidence_id} (its owner)")
    case_id = None
    if case is not None:
        await require_reminders(ctx, record)
        filing = CaseFiling(
            case_id=case.case_id,
            violation_type=record.violation_type,
            subject_key=case.subject_key,
            subject_kind=case.subject_kind,
            source=CaseSource.CAMERA,
            evidence_ids=record.evidence_ids,
        )
        case_id = (await open_case(ctx, actor, filing, from_flag=record.flag_id)).case_id
    at = now(ctx)
    entry = ViolationEntry(
        flag_id=record.flag_id,
        seq=record.steps,
        from_status=record.status,
        to_status=to,
        by=actor.subject,
        by_org=actor.org,
        role=_role(actor),
        at=at,
        tx_id=ctx.tx_id,
        reason=reason or "",
        evidence_ids=list(dict.fromkeys(evidence_ids or [])),
        case_id=case_id,
    )
    await state.save(ctx, state.violation_entry(record.flag_id, record.steps), entry)
    await ctx.delete_state(state.violation_queue(record.org, record.status, record.flag_id))
    await ctx.put_state(state.violation_queue(record.org, to, record.flag_id), state.INDEX_MARK)
    moved = record.model_copy(
        update={
            "status": to,
            "updated_at": at,
            "steps": record.steps + 1,
            "case_id": case_id or record.case_id,
        }
    )
    await state.save(ctx, state.violation(record.flag_id), moved)
    # A transaction carries one chaincode event: when a case was opened its CaseFiled stands
    # (index followers need it) and names the flag; the step is in its history either way.
    if case_id is None:
        emit(ctx, "ViolationMoved", {"flag_id": record.flag_id, "org": record.org, "status": to})
    return moved


class ViolationsContract(Contract):
    name = "Violations"

    @transaction()
    async def FlagViolation(self, ctx: Stub, request: str) -> dict[str, Any]:
        """Raise a flag on evidence the caller's org registered; the same flag again changes
        nothing, another flag under its id is VIOLATION_CONFLICT."""
        actor = actor_of(ctx)
        actor.require({Role.DEVICE, Role.OFFICER}, "flagging a violation")
        req = parse(ViolationFlag, request)
        key = state.violation(req.flag_id)
        existing = await state.load(ctx, key, ViolationRecord)
        content = req.model_dump(mode="json", include=_FLAG_FIELDS)
        content["detected_at"] = ledger_time(req.detected_at)
        content["claims_hash"] = str(req.claims_hash)
        if existing is not None:
            same = existing.org == actor.org and all(
                existing.model_dump(mode="json")[k] == v for k, v in content.items()
            )
            if not same:
                raise ContractError(
                    LedgerErrorCode.VIOLATION_CONFLICT,
                    f"flag {req.flag_id} already exists with different content",
                )
            return existing.model_dump(mode="json")
        for evidence_id in dict.fromkeys(req.evidence_ids):
            item = await state.load(ctx, state.evidence(evidence_id), EvidenceRecord)
            if item is None:
                raise not_found("evidence", evidence_id)
            actor.require_org(item.owner_org, f"flag evidence {evidence_id} (its owner)")
        at = now(ctx)
        record = ViolationRecord(
            **{**content, "evidence_ids": list(dict.fromkeys(req.evidence_ids))},
            org=actor.org,
            status=ViolationStatus.DETECTED,
            flagged_by=actor.subject,
            flagged_tx=ctx.tx_id,
            updated_at=at,
            steps=1,
        )
        entry = ViolationEntry(
            flag_id=req.flag_id,
            seq=0,
            from_status=None,
            to_status=ViolationStatus.DETECTED,
            by=actor.subject,
            by_org=actor.org,
            role=_role(actor),
            at=at,
            tx_id=ctx.tx_id,
            evidence_ids=record.evidence_ids,
        )
        await state.save(ctx, key, record)
        await state.save(ctx, state.violation_entry(req.flag_id, 0), entry)
        for evidence_id in record.evidence_ids:
            await note_flag(ctx, evidence_id, req.flag_id)
        await ctx.put_state(
            state.violation_queue(actor.org, ViolationStatus.DETECTED, req.flag_id),
            state.INDEX_MARK,
        )
        emit(ctx, "ViolationFlagged", {"flag_id": req.flag_id, "org": actor.org})
        return record.model_dump(mode="json")

    @transaction()
    async def ReviewViolation(self, ctx: Stub, request: str) -> dict[str, Any]:
        """The reviewer's decision. Confirmed with ``action`` reminder or case takes that
        step in the same transaction, so a confirmed flag never waits without a next step
        by accident."""
        actor = actor_of(ctx)
        req = parse(ViolationReview, request)
        if req.decision == "rejected" and (req.action is not None or req.case is not None):
            raise ContractError(
                LedgerErrorCode.VALIDATION_FAILED, "a rejected flag takes no action and no case"
            )
        if (req.action == "case") != (req.case is not None):
            raise ContractError(
                LedgerErrorCode.VALIDATION_FAILED, "action 'case' goes with a case, and only it"
            )
        record = await load_violation(ctx, req.flag_id)
        record = await _move(ctx, actor, record, ViolationStatus(req.decision), reason=req.reason)
        if req.action == "reminder":
            record = await _move(ctx, actor, record, ViolationStatus.REMINDED)
        elif req.action == "case":
            record = await _move(ctx, actor, record, ViolationStatus.CASE_FILED, case=req.case)
        return record.model_dump(mode="json")

    @transaction()
    async def AdvanceViolation(self, ctx: Stub, request: str) -> dict[str, Any]:
        """A later step: reminded, rectified, escalated, community_reminded, case_filed."""
        actor = actor_of(ctx)
        req = parse(ViolationStep, request)
        if req.to_status in (ViolationStatus.CONFIRMED, ViolationStatus.REJECTED):
            raise ContractError(
                LedgerErrorCode.INVALID_VIOLATION_TRANSITION,
                "confirming or rejecting a flag is a review (ReviewViolation)",
            )
        record = await load_violation(ctx, req.flag_id)
        moved = await _move(
            ctx,
            actor,
            record,
            req.to_status,
            reason=req.reason,
            evidence_ids=req.evidence_ids,
            case=req.case,
        )
        return moved.model_dump(mode="json")

    @transaction(read_only=True)
    async def GetViolation(self, ctx: Stub, flag_id: str) -> dict[str, Any]:
        return (await load_violation(ctx, flag_id)).model_dump(mode="json")

    @transaction(read_only=True)
    async def ViolationHistory(self, ctx: Stub, flag_id: str) -> list[dict[str, Any]]:
        await load_violation(ctx, flag_id)
        entries = await state.load_all(ctx, "violation_step", [flag_id], ViolationEntry)
        return [e.model_dump(mode="json") for e in entries]

    @transaction(read_only=True)
    async def ListViolations(self, ctx: Stub, request: str) -> dict[str, Any]:
        """One org's flags in one status (the review queue), oldest id first, paged."""
        req = parse(ViolationQuery, request)
        if not 1 <= req.page_size <= MAX_PAGE_SIZE:
            raise ContractError(
                LedgerErrorCode.VALIDATION_FAILED, f"page_size must be 1-{MAX_PAGE_SIZE}"
            )
        start, end = partial_key_range("violation_queue", [req.org, req.status])
        state.check_bookmark(req.bookmark, start, end)
        page = await ctx.range(start, end, page_size=req.page_size, bookmark=req.bookmark)
        records = [
            (await load_violation(ctx, state.last_attribute(key))).model_dump(mode="json")
            for key, _ in page.items
        ]
        return {"records": records, "bookmark": page.bookmark}
