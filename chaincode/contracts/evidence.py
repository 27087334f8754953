"""The evidence registry: hashes and codes of items whose bytes stay with their owner."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import TypeAdapter

from chaincode import state
from chaincode.contracts.base import Actor, actor_of, emit, not_found, now, parse
from chaincode.contracts.co_governance import flags_of, guard_case_link
from chaincode.runtime import Contract, ContractError, Stub, transaction
from chaincode.runtime.keys import partial_key_range
from schemas.canonical import canonical_json
from schemas.glossary import Role
from schemas.ledger import (
    MAX_PAGE_SIZE,
    CaseRecord,
    EvidenceContent,
    EvidenceRecord,
    EvidenceRegistration,
    EvidenceStatus,
    ItemsQuery,
    LedgerErrorCode,
    ledger_time,
)

_REGISTRARS = {Role.OFFICER, Role.DEVICE}
_CONTENT_FIELDS = set(EvidenceContent.model_fields)
_CASE_IDS = TypeAdapter(list[str])


def _record_content(record: EvidenceRecord) -> dict[str, Any]:
    return record.model_dump(mode="json", include=_CONTENT_FIELDS)


def _request_content(req: EvidenceContent) -> dict[str, Any]:
    content = req.model_dump(mode="json", include=_CONTENT_FIELDS)
    content["captured_at"] = ledger_time(req.captured_at)
    return content


async def open_case_held_by(ctx: Stub, case_id: str, actor: Actor, doing: str) -> CaseRecord:
    """The case, if the actor's org holds it and it is still open."""
    case = await state.load(ctx, state.case(case_id), CaseRecord)
    if case is None:
        raise not_found("case", case_id)
    actor.require_org(case.holder_org, doing)
    if case.closed:
        raise ContractError(LedgerErrorCode.INVALID_STAGE_TRANSITION, f"case {case_id} is closed")
    return case


async def link(
    ctx: Stub,
    case_id: str,
    evidence_id: str,
    *,
    from_flag: str | None = None,
    new_item: bool = False,
) -> bool:
    """Attach an item to a case (both directions); False if it already was. Every way an
    item reaches a case passes here, so here the reminders of the flags citing it are kept
    (EVIDENCE_UNDER_FLAG); ``from_flag`` is the flag opening this case, if any;
    ``new_item``: registered by this transaction, so in no case yet."""
    key = state.case_evidence(case_id, evidence_id)
    # One read for all three: whether it is linked already, the flags citing it, its cases.
    linked, flags, cases = await ctx.get_states(
        [key, state.evidence_flags(evidence_id), state.evidence_cases(evidence_id)]
    )
    if linked is not None:
        return False
    await guard_case_link(ctx, evidence_id, flags_of(flags), from_flag=from_flag)
    held = [] if new_item and cases is None else await _case_ids(ctx, evidence_id, cases)
    await ctx.put_state(key, state.INDEX_MARK)
    await ctx.put_state(state.evidence_cases(evidence_id), canonical_json(sorted({*held, case_id})))
    return True


async def case_ids_of(ctx: Stub, evidence_ids: Sequence[str]) -> list[list[str]]:
    """The ids of the cases holding each item (sorted), in one read where the peer allows it."""
    raws = await ctx.get_states([state.evidence_cases(i) for i in evidence_ids])
    return [await _case_ids(ctx, i, raw) for i, raw in zip(evidence_ids, raws, strict=True)]


async def _case_ids(ctx: Stub, evidence_id: str, raw: bytes | None) -> list[str]:
    """An item's case ids from its ``evidence_cases`` value. An item registered without a
    case has ``[]`` there; one without the key was registered by a chaincode version before
    it (or is unknown), and its links are then the ``evidence_case`` keys (one range read,
    needed only until its next link writes the value)."""
    if raw is not None:
        return _CASE_IDS.validate_json(raw)
    start, end = partial_key_range("evidence_case", [evidence_id])
    page = await ctx.range(start, end)
    return sorted(state.last_attribute(k) for k, _ in page.items)


async def register(ctx: Stub, actor: Actor, req: EvidenceContent) -> tuple[EvidenceRecord, bool]:
    """Write the item's record and its owner's listing key; the same content again writes
    nothing (False), other content under its id is EVIDENCE_CONFLICT."""
    key = state.evidence(req.evidence_id)
    existing = await state.load(ctx, key, EvidenceRecord)
    if existing is not None:
        if _record_content(existing) != _request_content(req):
            differing = sorted(
                k for k, v in _request_content(req).items() if _record_content(existing)[k] != v
            )
            raise ContractError(
                LedgerErrorCode.EVIDENCE_CONFLICT,
                f"evidence {req.evidence_id} is already registered with different "
                f"{', '.join(differing)}",
            )
        return existing, False
    record = EvidenceRecord(
        **_request_content(req),
        registered_by=actor.subject,
        registered_role=Role(actor.role or ""),
        registered_at=now(ctx),
        registered_tx=ctx.tx_id,
    )
    await state.save(ctx, key, record)
    # The owner's own listing (for its integrity sweep), one key per item.
    await ctx.put_state(state.owner_evidence(req.owner_org, req.evidence_id), state.INDEX_MARK)
    return record, True


class EvidenceContract(Contract):
    name = "Evidence"

    @transaction()
    async def RegisterEvidence(self, ctx: Stub, request: str) -> dict[str, Any]:
        """Register an item; the same id with the same content again changes nothing."""
        actor = actor_of(ctx)
        actor.require(_REGISTRARS, "registering evidence")
        req = parse(EvidenceRegistration, request)
        actor.require_org(req.owner_org, f"register evidence owned by {req.owner_org}")
        if req.case_id is not None:
            await open_case_held_by(ctx, req.case_id, actor, "attach evidence to this case")
        record, written = await register(ctx, actor, req)
        if req.case_id is not None:
            linked = await link(ctx, req.case_id, req.evidence_id, new_item=written)
            written = linked or written
        elif written:  # in no case yet, said in its own key: only items of old have none
            await ctx.put_state(state.evidence_cases(req.evidence_id), canonical_json([]))
        if written:
            emit(
                ctx,
                "EvidenceRegistered",
                {
                    "evidence_id": req.evidence_id,
                    "owner_org": req.owner_org,
                    "case_id": req.case_id,
                },
            )
        return record.model_dump(mode="json")

    @transaction()
    async def AttachEvidence(self, ctx: Stub, case_id: str, evidence_id: str) -> dict[str, Any]:
        """Attach an item the holder org owns to an open case it holds."""
        actor = actor_of(ctx)
        actor.require({Role.OFFICER}, "attaching evidence to a case")
        await open_case_held_by(ctx, case_id, actor, "attach evidence to this case")
        record = await state.load(ctx, state.evidence(evidence_id), EvidenceRecord)
        if record is None:
            raise not_found("evidence", evidence_id)
        actor.require_org(record.owner_org, "attach this item (its owner)")
        if await link(ctx, case_id, evidence_id):
            emit(ctx, "EvidenceAttached", {"case_id": case_id, "evidence_id": evidence_id})
        return {"case_id": case_id, "evidence_id": evidence_id}

    @transaction()
    async def ExpireEvidence(self, ctx: Stub, evidence_id: str, reason: str) -> dict[str, Any]:
        """Record that retention ended: the owner node has destroyed the item's data key."""
        actor = actor_of(ctx)
        actor.require({Role.ADMIN}, "recording retention expiry")
        if not reason.isidentifier() or not reason.islower() or len(reason) > 64:
            raise ContractError(
                LedgerErrorCode.VALIDATION_FAILED, "reason must be a lower-case code"
            )
        key = state.evidence(evidence_id)
        record = await state.load(ctx, key, EvidenceRecord)
        if record is None:
            raise not_found("evidence", evidence_id)
        actor.require_org(record.owner_org, "expire this item (its owner)")
        if record.status is EvidenceStatus.RETENTION_EXPIRED:
            return record.model_dump(mode="json")
        expired = record.model_copy(
            update={
                "status": EvidenceStatus.RETENTION_EXPIRED,
                "expired_at": now(ctx),
                "expired_tx": ctx.tx_id,
            }
        )
        await state.save(ctx, key, expired)
        emit(ctx, "EvidenceExpired", {"evidence_id": evidence_id, "reason": reason})
        return expired.model_dump(mode="json")

    @transaction(read_only=True)
    async def GetEvidence(self, ctx: Stub, evidence_id: str) -> dict[str, Any]:
        record = await state.load(ctx, state.evidence(evidence_id), EvidenceRecord)
        if record is None:
            raise not_found("evidence", evidence_id)
        return record.model_dump(mode="json")

    @transaction(read_only=True)
    async def GetEvidenceItems(self, ctx: Stub, query: str) -> list[dict[str, Any]]:
        """The records of the listed items, in order (NOT_FOUND naming the first unknown)."""
        q = parse(ItemsQuery, query)
        raws = await ctx.get_states([state.evidence(i) for i in q.evidence_ids])
        out = []
        for evidence_id, raw in zip(q.evidence_ids, raws, strict=True):
            if raw is None:
                raise not_found("evidence", evidence_id)
            out.append(EvidenceRecord.model_validate_json(raw).model_dump(mode="json"))
        return out

    @transaction(read_only=True)
    async def OwnedEvidence(
        self, ctx: Stub, org: str, page_size: int, bookmark: str
    ) -> dict[str, Any]:
        """The ids of the items an org registered, a page at a time."""
        return await _id_page(ctx, "owner_evidence", org, page_size, bookmark)

    @transaction(read_only=True)
    async def CaseEvidence(
        self, ctx: Stub, case_id: str, page_size: int, bookmark: str
    ) -> dict[str, Any]:
        """The ids of the items attached to a case, a page at a time."""
        return await _id_page(ctx, "case_evidence", case_id, page_size, bookmark)


async def _id_page(
    ctx: Stub, object_type: str, owner: str, page_size: int, bookmark: str
) -> dict[str, Any]:
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ContractError(
            LedgerErrorCode.VALIDATION_FAILED, f"page_size must be 1-{MAX_PAGE_SIZE}"
        )
    start, end = partial_key_range(object_type, [owner])
    state.check_bookmark(bookmark, start, end)
    page = await ctx.range(start, end, page_size=page_size, bookmark=bookmark)
    return {
        "evidence_ids": [state.last_attribute(key) for key, _ in page.items],
        "bookmark": page.bookmark,
    }
