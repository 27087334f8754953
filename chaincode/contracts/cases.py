"""Cases and their legal stages; every change is kept as a stage entry."""

from __future__ import annotations

from typing import Any

from chaincode import state
from chaincode.contracts.base import Actor, actor_of, emit, not_found, now, parse
from chaincode.contracts.evidence import link, register
from chaincode.contracts.schedule import current_schedule
from chaincode.rules.penalties import assess, check_simple_procedure
from chaincode.rules.stages import check_transition
from chaincode.runtime import Contract, ContractError, Stub, transaction
from chaincode.runtime.policy import peers_of
from schemas.glossary import Procedure, Role, Stage
from schemas.ledger import (
    CaseFiling,
    CaseRecord,
    DocumentFiling,
    EvidenceRecord,
    LedgerErrorCode,
    Penalty,
    StageChange,
    StageEntry,
    SubjectViolation,
    ledger_time,
)

_FILING_FIELDS = set(CaseFiling.model_fields) - {"evidence_ids"}


async def load_case(ctx: Stub, case_id: str) -> CaseRecord:
    case = await state.load(ctx, state.case(case_id), CaseRecord)
    if case is None:
        raise not_found("case", case_id)
    return case


async def assess_for(ctx: Stub, case: CaseRecord, *, rectified: bool, at: str) -> Penalty:
    history = await state.load_all(ctx, "subject_violation", [case.subject_key], SubjectViolation)
    schedule = await current_schedule(ctx)
    return assess(schedule, case.violation_type, history, rectified=rectified, now=at)


async def open_case(
    ctx: Stub, actor: Actor, req: CaseFiling, *, from_flag: str | None = None
) -> CaseRecord:
    """File ``req`` for ``actor``'s org (the caller checked the role): the case at its source
    stage, its evidence linked (owned by that org), its key bound to the org's peers. The
    same filing again returns the case unchanged; different content is CASE_CONFLICT.

    ``from_flag``: the flag the case is opened from; its ``CaseFiled`` event names it, since
    that event stands for the flag's step too (a transaction carries one event)."""
    key = state.case(req.case_id)
    existing = await state.load(ctx, key, CaseRecord)
    if existing is not None:
        same = existing.filed_by_org == actor.org and existing.model_dump(
            mode="json", include=_FILING_FIELDS
        ) == req.model_dump(mode="json", include=_FILING_FIELDS)
        if not same:
            raise ContractError(
                LedgerErrorCode.CASE_CONFLICT,
                f"case {req.case_id} already exists with different content",
            )
        return existing
    for evidence_id in dict.fromkeys(req.evidence_ids):
        item = await state.load(ctx, state.evidence(evidence_id), EvidenceRecord)
        if item is None:
            raise not_found("evidence", evidence_id)
        actor.require_org(item.owner_org, f"file a case on evidence {evidence_id} (its owner)")
        await link(ctx, req.case_id, evidence_id, from_flag=from_flag)
    at = now(ctx)
    case = CaseRecord(
        case_id=req.case_id,
        violation_type=req.violation_type,
        subject_key=req.subject_key,
        subject_kind=req.subject_kind,
        source=req.source,
        procedure=req.procedure,
        stage=Stage.SOURCE,
        holder_org=actor.org,
        filed_by_org=actor.org,
        filed_by=actor.subject,
        filed_at=at,
        filed_tx=ctx.tx_id,
        updated_at=at,
        flag_id=from_flag,
    )
    await state.save(ctx, key, case)
    # Every later change of the case needs its holder's peer among the endorsers:
    # another department's peers cannot move a case they do not hold.
    await ctx.set_key_policy(key, peers_of([actor.org]))
    filed: dict[str, Any] = {
        "case_id": req.case_id,
        "holder_org": actor.org,
        "evidence_ids": list(dict.fromkeys(req.evidence_ids)),
    }
    if from_flag is not None:
        filed["flag_id"] = from_flag
    emit(ctx, "CaseFiled", filed)
    return case


class CasesContract(Contract):
    name = "Cases"

    @transaction()
    async def FileCase(self, ctx: Stub, request: str) -> dict[str, Any]:
        """Open a case at the source stage, held by the filing org; filing the same case
        again returns it unchanged."""
        actor = actor_of(ctx)
        actor.require({Role.OFFICER}, "filing a case")
        case = await open_case(ctx, actor, parse(CaseFiling, request))
        return case.model_dump(mode="json")

    @transaction()
    async def ChangeStage(self, ctx: Stub, request: str) -> dict[str, Any]:
        """Move a case to its next stage, with what the law requires for that step."""
        actor = actor_of(ctx)
        req = parse(StageChange, request)
        case = await load_case(ctx, req.case_id)
        actor.require_org(case.holder_org, f"move case {case.case_id} (its holder)")
        at = now(ctx)
        check_transition(case, req.to_stage, actor.role, req.details, at)
        update: dict[str, Any] = {
            "stage": req.to_stage,
            "updated_at": at,
            "stage_changes": case.stage_changes + 1,
        }
        penalty: Penalty | None = None
        if req.to_stage in (Stage.DECISION, Stage.CLOSED_WITHOUT_PENALTY):
            penalty = await assess_for(ctx, case, rectified=req.details.rectified, at=at)
            if req.to_stage is Stage.CLOSED_WITHOUT_PENALTY and not penalty.exempt:
                raise ContractError(
                    LedgerErrorCode.INVALID_STAGE_TRANSITION,
                    "the first-violation exemption does not apply: the subject has "
                    f"{penalty.prior_violations} prior {case.violation_type} violation(s) "
                    "or the schedule does not exempt this type",
                )
            if req.to_stage is Stage.DECISION and case.procedure is Procedure.SIMPLE:
                check_simple_procedure(case.subject_kind, penalty)
            update["penalty"] = penalty
            violation = SubjectViolation(
                subject_key=case.subject_key,
                violation_type=case.violation_type,
                case_id=case.case_id,
                org=actor.org,
                at=at,
                tx=ctx.tx_id,
                exempted=penalty.exempt,
                amount_cents=penalty.amount_cents,
            )
            await state.save(
                ctx, state.subject_violation(case.subject_key, at, ctx.tx_id), violation
            )
            # The department's decisions by time, for its bulletins and their audit.
            await ctx.put_state(state.org_decision(actor.org, at, ctx.tx_id), case.case_id.encode())
        if req.to_stage is Stage.ADVANCE_NOTICE and req.details.statement_deadline is not None:
            update["statement_deadline"] = ledger_time(req.details.statement_deadline)
        updated = case.model_copy(update=update)
        entry = StageEntry(
            case_id=case.case_id,
            seq=updated.stage_changes,
            from_stage=case.stage,
            to_stage=req.to_stage,
            actor_org=actor.org,
            actor=actor.subject,
            role=actor.role or "",
            at=at,
            tx=ctx.tx_id,
            details=req.details.model_dump(mode="json", exclude_defaults=True),
            penalty=penalty,
        )
        await state.save(ctx, state.case(case.case_id), updated)
        await state.save(ctx, state.stage_entry(case.case_id, entry.seq), entry)
        emit(
            ctx,
            "CaseStageChanged",
            {"case_id": case.case_id, "from": case.stage, "to": req.to_stage, "seq": entry.seq},
        )
        return updated.model_dump(mode="json")

    @transaction()
    async def FileDocument(self, ctx: Stub, request: str) -> dict[str, Any]:
        """Put a step's legal document into the case file: registered as an item of the
        holder and attached to the case, only if it is the very document the step bound by
        its hash. An officer or reviewer of the holder files it; after closure too (the
        closing step has its document). The same filing again changes nothing."""
        actor = actor_of(ctx)
        actor.require({Role.OFFICER, Role.REVIEWER}, "filing a case document")
        req = parse(DocumentFiling, request)
        actor.require_org(req.owner_org, f"file a document owned by {req.owner_org}")
        case = await load_case(ctx, req.case_id)
        actor.require_org(case.holder_org, f"file into case {case.case_id} (its holder)")
        entry = await state.load(ctx, state.stage_entry(case.case_id, req.step), StageEntry)
        if entry is None:
            raise not_found("step", f"{case.case_id} #{req.step}")
        bound = entry.details.get("document_hash")
        if bound != str(req.plaintext_hash):
            raise ContractError(
                LedgerErrorCode.DOCUMENT_MISMATCH,
                f"step {req.step} of case {case.case_id} ({entry.to_stage}) "
                + (f"bound the document {bound}" if bound else "bound no document")
                + f", not {req.plaintext_hash}",
            )
        record, written = await register(ctx, actor, req)
        if await link(ctx, case.case_id, req.evidence_id, new_item=written) or written:
            emit(
                ctx,
                "EvidenceRegistered",
                {
                    "evidence_id": req.evidence_id,
                    "owner_org": req.owner_org,
                    "case_id": case.case_id,
                    "step": req.step,
                },
            )
        return record.model_dump(mode="json")

    @transaction(read_only=True)
    async def GetCase(self, ctx: Stub, case_id: str) -> dict[str, Any]:
        return (await load_case(ctx, case_id)).model_dump(mode="json")

    @transaction(read_only=True)
    async def CaseHistory(self, ctx: Stub, case_id: str) -> list[dict[str, Any]]:
        """Every stage change of the case, in order."""
        await load_case(ctx, case_id)
        entries = await state.load_all(ctx, "case_stage", [case_id], StageEntry)
        return [e.model_dump(mode="json") for e in entries]
