"""Case transfers between departments (案件移送): proposed by the holder, answered only by
the receiver, whose peer must endorse the answer (a key-level endorsement policy)."""

from __future__ import annotations

from typing import Any

from chaincode import state
from chaincode.contracts.base import actor_of, emit, now, parse
from chaincode.contracts.cases import load_case
from chaincode.runtime import Contract, ContractError, Stub, transaction
from chaincode.runtime.policy import peers_of
from schemas.glossary import Role
from schemas.ledger import (
    HolderPeriod,
    LedgerErrorCode,
    OrgKeyRecord,
    PendingTransfer,
    TransferAnswer,
    TransferProposal,
    TransferRecord,
    TransferStatus,
)

_ACTORS = {Role.OFFICER, Role.REVIEWER}


class TransfersContract(Contract):
    name = "Transfers"

    @transaction()
    async def ProposeTransfer(self, ctx: Stub, request: str) -> dict[str, Any]:
        actor = actor_of(ctx)
        actor.require(_ACTORS, "proposing a case transfer")
        req = parse(TransferProposal, request)
        case = await load_case(ctx, req.case_id)
        actor.require_org(case.holder_org, f"transfer case {case.case_id} (its holder)")
        if case.closed:
            raise ContractError(LedgerErrorCode.TRANSFER_CONFLICT, f"case {case.case_id} is closed")
        if case.pending_transfer is not None:
            raise ContractError(
                LedgerErrorCode.TRANSFER_CONFLICT,
                f"case {case.case_id} already has a pending transfer to "
                f"{case.pending_transfer.to_org}",
            )
        if req.to_org == case.holder_org:
            raise ContractError(
                LedgerErrorCode.VALIDATION_FAILED, "a case cannot be transferred to its holder"
            )
        # A receiver must be able to receive the evidence keys, so it must have published
        # its encryption key; this also keeps typos in org names from parking a case.
        if await state.load(ctx, state.org_key(req.to_org), OrgKeyRecord) is None:
            raise ContractError(
                LedgerErrorCode.NOT_FOUND,
                f"{req.to_org} has not published an encryption key and cannot receive cases",
            )
        seq = case.transfers + 1
        at = now(ctx)
        record = TransferRecord(
            case_id=case.case_id,
            seq=seq,
            from_org=case.holder_org,
            to_org=req.to_org,
            reason=req.reason,
            proposed_by=actor.subject,
            proposed_at=at,
            proposed_tx=ctx.tx_id,
        )
        updated = case.model_copy(
            update={
                "pending_transfer": PendingTransfer(seq=seq, to_org=req.to_org),
                "transfers": seq,
                "updated_at": at,
            }
        )
        await state.save(ctx, state.transfer(case.case_id, seq), record)
        await state.save(ctx, state.case(case.case_id), updated)
        # From now on only the receiver's peer can endorse a change of the case: accepting
        # or rejecting is its act, and the holder cannot move the case meanwhile.
        await ctx.set_key_policy(state.case(case.case_id), peers_of([req.to_org]))
        emit(
            ctx,
            "TransferProposed",
            {
                "case_id": case.case_id,
                "seq": seq,
                "from_org": case.holder_org,
                "to_org": req.to_org,
            },
        )
        return record.model_dump(mode="json")

    @transaction()
    async def AnswerTransfer(self, ctx: Stub, request: str) -> dict[str, Any]:
        actor = actor_of(ctx)
        actor.require(_ACTORS, "answering a case transfer")
        req = parse(TransferAnswer, request)
        case = await load_case(ctx, req.case_id)
        pending = case.pending_transfer
        if pending is None:
            raise ContractError(
                LedgerErrorCode.TRANSFER_CONFLICT, f"case {case.case_id} has no pending transfer"
            )
        actor.require_org(pending.to_org, f"answer the transfer of case {case.case_id}")
        transfer_key = state.transfer(case.case_id, pending.seq)
        record = await state.load(ctx, transfer_key, TransferRecord)
        if record is None:  # written together with pending_transfer; absence is corruption
            raise ContractError(
                LedgerErrorCode.INTERNAL,
                f"transfer {pending.seq} of case {case.case_id} is missing",
            )
        at = now(ctx)
        status = TransferStatus.ACCEPTED if req.accept else TransferStatus.REJECTED
        answered = record.model_copy(
            update={
                "status": status,
                "answered_by": actor.subject,
                "answered_at": at,
                "answered_tx": ctx.tx_id,
                "answer_reason": req.reason,
            }
        )
        holder = pending.to_org if req.accept else case.holder_org
        updated = case.model_copy(
            update={"holder_org": holder, "pending_transfer": None, "updated_at": at}
        )
        await state.save(ctx, transfer_key, answered)
        await state.save(ctx, state.case(case.case_id), updated)
        await ctx.set_key_policy(state.case(case.case_id), peers_of([holder]))
        emit(
            ctx,
            "TransferAccepted" if req.accept else "TransferRejected",
            {"case_id": case.case_id, "seq": pending.seq, "holder_org": holder},
        )
        return answered.model_dump(mode="json")

    @transaction(read_only=True)
    async def TransferHistory(self, ctx: Stub, case_id: str) -> list[dict[str, Any]]:
        await load_case(ctx, case_id)
        records = await state.load_all(ctx, "case_transfer", [case_id], TransferRecord)
        return [r.model_dump(mode="json") for r in records]

    @transaction(read_only=True)
    async def CaseHolders(self, ctx: Stub, case_id: str) -> list[dict[str, Any]]:
        """Each org that has held the case, from filing through accepted transfers."""
        case = await load_case(ctx, case_id)
        records = await state.load_all(ctx, "case_transfer", [case_id], TransferRecord)
        periods = [HolderPeriod(org=case.filed_by_org, since=case.filed_at, since_tx=case.filed_tx)]
        for r in records:
            if r.status is TransferStatus.ACCEPTED and r.answered_at and r.answered_tx:
                periods[-1] = periods[-1].model_copy(update={"until": r.answered_at})
                periods.append(
                    HolderPeriod(org=r.to_org, since=r.answered_at, since_tx=r.answered_tx)
                )
        return [p.model_dump(mode="json") for p in periods]
