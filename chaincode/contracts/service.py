"""Service of a case's documents on the party (送达, 行政处罚法 第六十一条): which step's
document reached the party, how, when, and the proof, by hash.

Service is what makes a document count for the party: a notice's statement period and a
decision's time limits for reconsideration (60 days, 行政复议法 第二十条) and suit (six
months, 行政诉讼法 第四十六条) run from it, and a decision not handed over on the spot must
be served within seven working days (第六十一条, 第八十五条). A court asks for the proof; the
ledger keeps when it was recorded, by whom, and what it says, so the record cannot be
dated back afterwards.

A step may be served more than once (a post returned, then a public notice): each service
is its own record. The same proof twice is a replay and refused.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from chaincode import state
from chaincode.contracts.base import actor_of, emit, not_found, now, parse
from chaincode.contracts.cases import load_case
from chaincode.runtime import Contract, ContractError, Stub, transaction
from schemas.glossary import Role, ServiceMethod
from schemas.hashes import Digest
from schemas.ledger import (
    DocumentService,
    LedgerErrorCode,
    ServiceRecord,
    StageEntry,
    ledger_time,
    parse_ledger_time,
)

SERVERS = (Role.OFFICER, Role.REVIEWER)
MAX_SERVICES_PER_STEP = 10  # a few attempts at most; keeps CaseServices one bounded read
# A time the server's clock put slightly ahead of the ordering service's still stands.
_CLOCK_SKEW = dt.timedelta(minutes=5)


class ServiceContract(Contract):
    name = "Service"

    @transaction()
    async def RecordService(self, ctx: Stub, request: str) -> dict[str, Any]:
        """Record that the document of step ``step_tx`` of ``case_id`` was served on the party.

        Raises:
            ContractError: ACCESS_DENIED unless an officer or reviewer of the department
                holding the case; NOT_FOUND for an unknown case or step; VALIDATION_FAILED
                for a malformed request, a step that bound no document, a service before the
                step or in the future, or electronic service without the party's consent;
                CASE_CONFLICT for a proof recorded already, or a step served
                MAX_SERVICES_PER_STEP times.
        """
        actor = actor_of(ctx)
        role = actor.require(SERVERS, "recording a document served on the party")
        req = parse(DocumentService, request)
        case = await load_case(ctx, req.case_id)
        actor.require_org(case.holder_org, f"serve documents of case {case.case_id}")
        entries = await state.load_all(ctx, "case_stage", [case.case_id], StageEntry)
        step = next((e for e in entries if e.tx == req.step_tx), None)
        if step is None:
            raise not_found(f"step of case {case.case_id}", req.step_tx)
        document = step.details.get("document_hash")
        if not isinstance(document, str):
            raise ContractError(
                LedgerErrorCode.VALIDATION_FAILED,
                f"step {step.seq} ({step.to_stage}) bound no document: there is nothing to serve",
            )
        at = now(ctx)
        served = ledger_time(req.served_at)
        if req.served_at > parse_ledger_time(at) + _CLOCK_SKEW:
            raise ContractError(
                LedgerErrorCode.VALIDATION_FAILED, f"served at {served}, after now ({at})"
            )
        if served < step.at:
            raise ContractError(
                LedgerErrorCode.VALIDATION_FAILED,
                f"served at {served}, before step {step.seq} made the document ({step.at})",
            )
        if req.method is ServiceMethod.ELECTRONIC and req.consent_hash is None:
            raise ContractError(
                LedgerErrorCode.VALIDATION_FAILED,
                "electronic service needs the party's signed consent (consent_hash)",
            )
        earlier = await state.load_all(
            ctx, "service", [case.case_id, state.step_attribute(step.seq)], ServiceRecord
        )
        for record in earlier:
            if record.proof_hash == req.proof_hash:
                raise ContractError(
                    LedgerErrorCode.CASE_CONFLICT,
                    f"this proof was recorded at {record.recorded_at} ({record.recorded_tx})",
                )
        if len(earlier) >= MAX_SERVICES_PER_STEP:
            raise ContractError(
                LedgerErrorCode.CASE_CONFLICT,
                f"step {step.seq} was served {MAX_SERVICES_PER_STEP} times already",
            )
        record = ServiceRecord(
            case_id=case.case_id,
            step_tx=step.tx,
            step_seq=step.seq,
            stage=step.to_stage,
            document_hash=Digest.parse(document),
            method=req.method,
            served_at=served,
            proof_hash=req.proof_hash,
            consent_hash=req.consent_hash,
            org=actor.org,
            recorded_by=actor.subject,
            recorded_role=role,
            recorded_at=at,
            recorded_tx=ctx.tx_id,
        )
        await state.save(ctx, state.service(case.case_id, step.seq, ctx.tx_id), record)
        # The case counts its services, so that a package proving fewer is caught (a court
        # must see a returned post as well as the notice that followed it).
        updated = case.model_copy(update={"updated_at": at, "services": case.services + 1})
        await state.save(ctx, state.case(case.case_id), updated)
        emit(
            ctx,
            "DocumentServed",
            {"case_id": case.case_id, "step_seq": step.seq, "method": req.method.value},
        )
        return record.model_dump(mode="json")

    @transaction(read_only=True)
    async def CaseServices(self, ctx: Stub, case_id: str) -> list[dict[str, Any]]:
        """Every service of the case's documents, by step, then as recorded; readable as
        the case's history is."""
        await load_case(ctx, case_id)
        records = await state.load_all(ctx, "service", [case_id], ServiceRecord)
        records.sort(key=lambda r: (r.step_seq, r.recorded_at, r.recorded_tx))
        return [r.model_dump(mode="json") for r in records]
