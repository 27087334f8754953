"""Derivations: the ledger link from an evidence item to a derived copy of it (a redaction).

The copy is an evidence item of its own; this contract only records that it was made from
the original, by which method, under which description (its hash, which is also the copy's
``claims_hash``) and under which granted access record of the original. The original's
record is never touched.
"""

from __future__ import annotations

from typing import Any

from chaincode import state
from chaincode.contracts.base import Actor, actor_of, emit, not_found, now, parse
from chaincode.runtime import Contract, ContractError, Stub, transaction
from chaincode.runtime.keys import composite_key
from chaincode.state import load, load_all, save
from schemas.derivations import DerivationErrorCode, DerivationRecord, DerivationRequest
from schemas.glossary import AccessKind, Outcome, Role
from schemas.ledger import AccessRecord, EvidenceRecord, EvidenceStatus, LedgerErrorCode

_MAKERS = {Role.OFFICER, Role.REVIEWER}
REDACTION_PURPOSE = "redaction"


def derivation_key(original_id: str, derived_id: str) -> str:
    return composite_key("derivation", [original_id, derived_id])


def derived_from_key(derived_id: str) -> str:
    """One entry per derived item: an item is derived from one original at most."""
    return composite_key("derived_from", [derived_id])


async def _item(ctx: Stub, evidence_id: str) -> EvidenceRecord:
    record = await load(ctx, state.evidence(evidence_id), EvidenceRecord)
    if record is None:
        raise not_found("evidence", evidence_id)
    return record


async def _check_access(ctx: Stub, req: DerivationRequest, actor: Actor) -> None:
    """The copy was made under a granted ``view`` of the original, for redaction, by this
    org: reading the original to redact it is an access like any other."""
    record = await load(ctx, state.access(req.access_record), AccessRecord)
    if record is None:
        raise not_found("access record", req.access_record)
    if (
        record.outcome is not Outcome.GRANTED
        or record.target_id != req.original_id
        or record.kind is not AccessKind.VIEW
        or record.purpose != REDACTION_PURPOSE
        or record.accessor_org != actor.org
    ):
        raise ContractError(
            LedgerErrorCode.ACCESS_DENIED,
            "the access record is not a granted view of the original for redaction by this org",
        )


class DerivationsContract(Contract):
    name = "Derivations"

    @transaction()
    async def RecordDerivation(self, ctx: Stub, request: str) -> dict[str, Any]:
        """Link a derived item to its original; once per derived item.

        Refusals: ACCESS_DENIED (role, org, access record), NOT_FOUND (an item or the
        access record), VALIDATION_FAILED (malformed, same item twice, description hash not
        the derived item's claims hash), DERIVATION_CONFLICT (the derived item is already
        linked, or is itself an original of copies).
        """
        actor = actor_of(ctx)
        actor.require(_MAKERS, "recording a derived copy")
        req = parse(DerivationRequest, request)
        if req.derived_id == req.original_id:
            raise ContractError(
                LedgerErrorCode.VALIDATION_FAILED, "an item cannot be derived from itself"
            )
        original = await _item(ctx, req.original_id)
        derived = await _item(ctx, req.derived_id)
        actor.require_org(original.owner_org, "record copies of this item (its owner)")
        if derived.owner_org != original.owner_org:
            raise ContractError(
                LedgerErrorCode.ACCESS_DENIED, "the copy must belong to the original's owner"
            )
        if original.status is EvidenceStatus.RETENTION_EXPIRED:
            raise ContractError(LedgerErrorCode.ACCESS_DENIED, "the original's retention ended")
        existing = await ctx.get_state(derived_from_key(req.derived_id))
        if existing is not None:
            raise ContractError(
                DerivationErrorCode.DERIVATION_CONFLICT,
                f"{req.derived_id} is already recorded as derived from {existing.decode()}",
            )
        # A copy must be a fresh item, not an original of copies: that also rules out cycles.
        if (await ctx.by_partial_key("derivation", [req.derived_id])).items:
            raise ContractError(
                DerivationErrorCode.DERIVATION_CONFLICT,
                f"{req.derived_id} is itself the original of derived copies",
            )
        if derived.claims_hash != str(req.description_hash):
            raise ContractError(
                LedgerErrorCode.VALIDATION_FAILED,
                "description_hash is not the derived item's claims_hash",
            )
        await _check_access(ctx, req, actor)
        record = DerivationRecord(
            original_id=req.original_id,
            derived_id=req.derived_id,
            method=req.method,
            description_hash=str(req.description_hash),
            access_record=req.access_record,
            owner_org=original.owner_org,
            recorded_by=actor.subject,
            recorded_role=actor.role or "",
            recorded_at=now(ctx),
            recorded_tx=ctx.tx_id,
        )
        await save(ctx, derivation_key(req.original_id, req.derived_id), record)
        await ctx.put_state(derived_from_key(req.derived_id), req.original_id.encode())
        emit(
            ctx,
            "EvidenceDerived",
            {"original_id": req.original_id, "derived_id": req.derived_id, "method": req.method},
        )
        return record.model_dump(mode="json")

    @transaction(read_only=True)
    async def GetDerivations(self, ctx: Stub, original_id: str) -> list[dict[str, Any]]:
        """Every copy recorded of ``original_id``, by derived id (empty if none)."""
        await _item(ctx, original_id)
        records = await load_all(ctx, "derivation", [original_id], DerivationRecord)
        return [r.model_dump(mode="json") for r in records]

    @transaction(read_only=True)
    async def GetDerivedFrom(self, ctx: Stub, derived_id: str) -> dict[str, Any]:
        """The link of a derived item to its original; NOT_FOUND if it is no recorded copy."""
        original = await ctx.get_state(derived_from_key(derived_id))
        if original is None:
            raise not_found("derivation of", derived_id)
        record = await load(ctx, derivation_key(original.decode(), derived_id), DerivationRecord)
        if record is None:  # written together with the entry above
            raise ContractError(LedgerErrorCode.INTERNAL, "derivation index without its record")
        return record.model_dump(mode="json")
