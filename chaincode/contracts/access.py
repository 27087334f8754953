"""Grants and the access trail: every read of evidence is a transaction, denials too."""

from __future__ import annotations

import itertools
from typing import Any

from chaincode import state
from chaincode.contracts.base import Actor, actor_of, emit, not_found, now, parse
from chaincode.contracts.evidence import case_ids_of
from chaincode.rules.access import decide
from chaincode.runtime import Contract, ContractError, Stub, transaction
from chaincode.runtime.keys import composite_key, partial_key_range
from chaincode.runtime.stub import Page
from schemas.glossary import AccessKind, Outcome, Role
from schemas.ledger import (
    AccessRecord,
    AccessRequest,
    CaseRecord,
    EvidenceRecord,
    GrantRecord,
    GrantRequest,
    ItemsQuery,
    ItemTrail,
    LedgerErrorCode,
    PackageAccessRequest,
    TargetKind,
    TrailBy,
    TrailPage,
    TrailQuery,
    ledger_time,
    package_record_id,
)

_GRANTORS = {Role.OFFICER, Role.REVIEWER, Role.ADMIN}
_TRAIL_READERS = {Role.AUDITOR, Role.ADMIN, Role.REVIEWER, Role.OFFICER}
_TRAIL_PURPOSE = "evidence_package"  # what a reader outside _TRAIL_READERS reads a trail for


async def _target_owner(ctx: Stub, target: TargetKind, target_id: str) -> str:
    """The org that decides about a target: an item's owner or a case's holder."""
    if target is TargetKind.EVIDENCE:
        item = await state.load(ctx, state.evidence(target_id), EvidenceRecord)
        if item is None:
            raise not_found("evidence", target_id)
        return item.owner_org
    case = await state.load(ctx, state.case(target_id), CaseRecord)
    if case is None:
        raise not_found("case", target_id)
    return case.holder_org


async def _share_decision(ctx: Stub, actor: Actor, req: GrantRequest) -> tuple[str, str | None]:
    """(the target's owner or holder, why ``actor`` may not share it or None).

    Raises:
        ContractError: NOT_FOUND, no such target.
    """
    owner = await _target_owner(ctx, req.target, req.target_id)
    if actor.role not in _GRANTORS:
        return owner, "role"
    if actor.org != owner:
        return owner, "not_owner" if req.target is TargetKind.EVIDENCE else "not_holder"
    return owner, None


async def _share_record(
    ctx: Stub, actor: Actor, req: GrantRequest, outcome: Outcome, reason: str, at: str
) -> AccessRecord:
    """The ``share`` access record of this transaction (not yet written), with the cases
    the target is in."""
    if req.target is TargetKind.EVIDENCE:
        case_ids = [c.case_id for c in await _cases_of(ctx, req.target_id, {})]
    else:
        case_ids = [req.target_id]
    return AccessRecord(
        record_id=ctx.tx_id,
        accessor_org=actor.org,
        accessor=actor.subject,
        role=actor.role or "",
        target=req.target,
        target_id=req.target_id,
        case_ids=case_ids,
        purpose=req.purpose,
        kind=AccessKind.SHARE,
        at=at,
        outcome=outcome,
        reason=reason,
        shared_with=req.grantee_org,
    )


async def _cases_of(
    ctx: Stub,
    evidence_id: str,
    loaded: dict[str, CaseRecord | None],
    case_ids: list[str] | None = None,
) -> list[CaseRecord]:
    """The cases an item is attached to (``case_ids``, if this transaction read them
    already); ``loaded`` keeps each case read once per transaction (an export's items
    share their case)."""
    if case_ids is None:
        (case_ids,) = await case_ids_of(ctx, [evidence_id])
    cases = []
    for case_id in case_ids:
        if case_id not in loaded:
            loaded[case_id] = await state.load(ctx, state.case(case_id), CaseRecord)
        case = loaded[case_id]
        if case is not None:
            cases.append(case)
    return cases


async def _grants_to(
    ctx: Stub, org: str, evidence_id: str | None, cases: list[CaseRecord]
) -> list[GrantRecord]:
    keys = [state.grant(TargetKind.CASE, c.case_id, org) for c in cases]
    if evidence_id is not None:
        keys.insert(0, state.grant(TargetKind.EVIDENCE, evidence_id, org))
    grants = [await state.load(ctx, key, GrantRecord) for key in keys]
    return [g for g in grants if g is not None]


def _trail_range(query: TrailQuery, actor: Actor) -> tuple[str, str]:
    if query.by in (TrailBy.EVIDENCE, TrailBy.CASE):
        if query.target_id is None:
            raise ContractError(
                LedgerErrorCode.VALIDATION_FAILED, f"a trail by {query.by} needs target_id"
            )
        object_type, prefix = f"access_by_{query.by}", [query.target_id]
    elif query.by is TrailBy.ORG:
        object_type, prefix = "access_by_org", [query.org or actor.org]
    elif query.by is TrailBy.ACCESSOR:
        if query.accessor is None:
            raise ContractError(
                LedgerErrorCode.VALIDATION_FAILED, "a trail by accessor needs accessor"
            )
        object_type, prefix = "access_by_accessor", [query.org or actor.org, query.accessor]
    else:
        object_type, prefix = "access_by_time", []
    start, end = partial_key_range(object_type, prefix)
    if query.since is not None:
        start = composite_key(object_type, [*prefix, ledger_time(query.since)])
    if query.until is not None:
        end = composite_key(object_type, [*prefix, ledger_time(query.until)])
    return start, end


class AccessContract(Contract):
    name = "Access"

    @transaction()
    async def GrantAccess(self, ctx: Stub, request: str) -> dict[str, Any]:
        """The owner (or case holder) lets another department read, for a purpose, until
        a time; granting again replaces the earlier grant."""
        actor = actor_of(ctx)
        req = parse(GrantRequest, request)
        owner, refusal = await _share_decision(ctx, actor, req)
        if refusal is not None:
            raise ContractError(
                LedgerErrorCode.ACCESS_DENIED,
                f"sharing {req.target} {req.target_id} with {req.grantee_org}: {refusal}",
            )
        at = now(ctx)
        if req.grantee_org == owner:
            raise ContractError(
                LedgerErrorCode.VALIDATION_FAILED, "an org does not need a grant for what it owns"
            )
        if ledger_time(req.expires_at) <= at:
            raise ContractError(
                LedgerErrorCode.VALIDATION_FAILED, "expires_at must be in the future"
            )
        record = GrantRecord(
            target=req.target,
            target_id=req.target_id,
            grantee_org=req.grantee_org,
            purpose=req.purpose,
            kinds=sorted(set(req.kinds)),
            expires_at=ledger_time(req.expires_at),
            granted_by_org=actor.org,
            granted_by=actor.subject,
            granted_at=at,
            granted_tx=ctx.tx_id,
        )
        await state.save(ctx, state.grant(req.target, req.target_id, req.grantee_org), record)
        # Sharing is an access kind: it goes into the target's trail (and the granter's, and
        # the cases'), so auditors see every disclosure beside every read.
        reason = "owner" if req.target is TargetKind.EVIDENCE else "holder"
        share = await _share_record(ctx, actor, req, Outcome.GRANTED, reason, at)
        await _record(ctx, share)
        if req.target is TargetKind.CASE:
            # Sharing a case discloses its items: the share is in each item's trail too (the
            # items it holds now), where an auditor or a package looks for an item's history.
            page = await ctx.by_partial_key("case_evidence", [req.target_id])
            for key, _ in page.items:
                await _index(ctx, "access_by_evidence", [state.last_attribute(key)], share)
        emit(
            ctx,
            "AccessGranted",
            {"target": req.target, "target_id": req.target_id, "grantee_org": req.grantee_org},
        )
        return record.model_dump(mode="json")

    @transaction()
    async def RecordShareDenial(self, ctx: Stub, request: str) -> dict[str, Any]:
        """Record a share GrantAccess refused (ACCESS_DENIED), as a refused read is recorded:
        who tried to share what with whom, and why not, in the target's, the cases', the
        org's and the person's trails. Refused itself when the share would be granted, so
        no one records a denial that did not happen."""
        actor = actor_of(ctx)
        req = parse(GrantRequest, request)
        _, refusal = await _share_decision(ctx, actor, req)
        if refusal is None:
            raise ContractError(
                LedgerErrorCode.VALIDATION_FAILED,
                "this share would be granted: there is no denial to record",
            )
        denial = await _share_record(ctx, actor, req, Outcome.DENIED, refusal, now(ctx))
        await _record(ctx, denial)
        _announce(ctx, denial)
        return denial.model_dump(mode="json")

    @transaction()
    async def RevokeAccess(
        self, ctx: Stub, target: str, target_id: str, grantee_org: str
    ) -> dict[str, Any]:
        actor = actor_of(ctx)
        actor.require(_GRANTORS, "revoking access")
        kind = _target_kind(target)
        owner = await _target_owner(ctx, kind, target_id)
        actor.require_org(owner, f"revoke access to {target} {target_id}")
        key = state.grant(kind, target_id, grantee_org)
        grant = await state.load(ctx, key, GrantRecord)
        if grant is None:
            raise not_found(f"grant to {grantee_org} on {target}", target_id)
        if grant.revoked_at is None:
            grant = grant.model_copy(
                update={
                    "revoked_at": now(ctx),
                    "revoked_by": actor.subject,
                    "revoked_tx": ctx.tx_id,
                }
            )
            await state.save(ctx, key, grant)
            emit(
                ctx,
                "AccessRevoked",
                {"target": kind, "target_id": target_id, "grantee_org": grantee_org},
            )
        return grant.model_dump(mode="json")

    @transaction(read_only=True)
    async def ListGrants(self, ctx: Stub, target: str, target_id: str) -> list[dict[str, Any]]:
        grants = await state.load_all(ctx, "grant", [_target_kind(target), target_id], GrantRecord)
        return [g.model_dump(mode="json") for g in grants]

    @transaction()
    async def RequestAccess(self, ctx: Stub, request: str) -> dict[str, Any]:
        """Decide and record one access attempt. A denial commits too (outcome denied), so
        auditors see refused attempts; the caller reads the outcome from the result."""
        actor = actor_of(ctx)
        req = parse(AccessRequest, request)
        record = await _decide(ctx, actor, req, ctx.tx_id, now(ctx))
        await _record(ctx, record)
        _announce(ctx, record)
        return record.model_dump(mode="json")

    @transaction()
    async def RequestPackageAccess(self, ctx: Stub, request: str) -> list[dict[str, Any]]:
        """Record the ``package`` access of each listed item in one transaction (an export).

        Every item is decided alone, exactly as RequestAccess decides it, and gets its own
        record in its own trail (ids ``<tx id>.<nn>`` in request order). All or nothing:
        if any item is denied the transaction is refused and records nothing, so an export
        is never half on the ledger; RequestAccess on that item records the denial.

        Raises:
            ContractError: VALIDATION_FAILED (malformed, empty, more than MAX_PACKAGE_BATCH
                items, or an item twice); ACCESS_DENIED naming the first item denied (an
                unknown item is denied as not_found).
        """
        actor = actor_of(ctx)
        req = parse(PackageAccessRequest, request)
        if len(set(req.evidence_ids)) != len(req.evidence_ids):
            raise ContractError(LedgerErrorCode.VALIDATION_FAILED, "an item is listed twice")
        at = now(ctx)
        records = []
        loaded: dict[str, CaseRecord | None] = {}
        # Every item's record, and then every item's cases, each in one read where the
        # peer allows it: a read per item is a round trip to the peer per item.
        raws = await ctx.get_states([state.evidence(i) for i in req.evidence_ids])
        items = {
            i: None if raw is None else EvidenceRecord.model_validate_json(raw)
            for i, raw in zip(req.evidence_ids, raws, strict=True)
        }
        known = [i for i, item in items.items() if item is not None]
        item_cases = dict(zip(known, await case_ids_of(ctx, known), strict=True))
        for index, evidence_id in enumerate(req.evidence_ids):
            single = AccessRequest(
                target=TargetKind.EVIDENCE,
                target_id=evidence_id,
                purpose=req.purpose,
                kind=AccessKind.PACKAGE,
            )
            record_id = package_record_id(ctx.tx_id, index)
            record = await _decide(ctx, actor, single, record_id, at, loaded, items, item_cases)
            if record.outcome is not Outcome.GRANTED:
                raise ContractError(
                    LedgerErrorCode.ACCESS_DENIED,
                    f"package access to {evidence_id} denied ({record.reason})",
                )
            records.append(record)
        for record in records:
            await _record(ctx, record)
        # One event per transaction (Fabric keeps only the last): every record id in it.
        emit(ctx, "PackageAccessRecorded", {"record_ids": [r.record_id for r in records]})
        return [r.model_dump(mode="json") for r in records]

    @transaction(read_only=True)
    async def GetAccessRecord(self, ctx: Stub, record_id: str) -> dict[str, Any]:
        record = await state.load(ctx, state.access(record_id), AccessRecord)
        if record is None:
            raise not_found("access record", record_id)
        return record.model_dump(mode="json")

    @transaction(read_only=True)
    async def AccessTrail(self, ctx: Stub, query: str) -> dict[str, Any]:
        """Access records by evidence, case, accessor, org or time, oldest first, paginated."""
        actor = actor_of(ctx)
        q = parse(TrailQuery, query)
        if q.by is TrailBy.EVIDENCE and q.target_id is not None:
            await _require_trails(ctx, actor, [q.target_id])
        else:
            actor.require(_TRAIL_READERS, "reading the access trail")
        start, end = _trail_range(q, actor)
        state.check_bookmark(q.bookmark, start, end)
        page = await _trail_page(ctx, start, end, q.page_size, q.bookmark)
        return page.model_dump(mode="json")

    @transaction(read_only=True)
    async def ItemTrails(self, ctx: Stub, query: str) -> list[dict[str, Any]]:
        """The first trail page of each listed item (an export reads them all); follow an
        item's bookmark with AccessTrail."""
        actor = actor_of(ctx)
        q = parse(ItemsQuery, query)
        await _require_trails(ctx, actor, q.evidence_ids)
        ids = list(dict.fromkeys(q.evidence_ids))
        found = []
        for evidence_id in ids:
            start, end = partial_key_range("access_by_evidence", [evidence_id])
            found.append(await ctx.range(start, end, page_size=q.page_size))
        return [
            ItemTrail(evidence_id=evidence_id, **dict(page)).model_dump(mode="json")
            for evidence_id, page in zip(ids, await _trail_pages(ctx, found), strict=True)
        ]


async def _require_trails(ctx: Stub, actor: Actor, evidence_ids: list[str]) -> None:
    """Trail readers read every item's trail. Anyone else reads only the trails of items
    the rules let them package now: a package carries its items' trails (a partner agency
    exporting what it was granted), so whoever may export an item may read its trail.

    Raises:
        ContractError: ACCESS_DENIED, naming the trail readers' roles.
    """
    if actor.role in _TRAIL_READERS:
        return
    at = now(ctx)
    loaded: dict[str, CaseRecord | None] = {}
    for evidence_id in dict.fromkeys(evidence_ids):
        ask = AccessRequest(
            target=TargetKind.EVIDENCE,
            target_id=evidence_id,
            purpose=_TRAIL_PURPOSE,
            kind=AccessKind.PACKAGE,
        )
        decided = await _decide(ctx, actor, ask, ctx.tx_id, at, loaded)
        if decided.outcome is not Outcome.GRANTED:
            actor.require(_TRAIL_READERS, f"reading the access trail of {evidence_id}")


async def _decide(
    ctx: Stub,
    actor: Actor,
    req: AccessRequest,
    record_id: str,
    at: str,
    loaded: dict[str, CaseRecord | None] | None = None,
    items: dict[str, EvidenceRecord | None] | None = None,
    item_cases: dict[str, list[str]] | None = None,
) -> AccessRecord:
    """The access record of one attempt (not yet written): the rules' decision. ``loaded``,
    ``items`` and ``item_cases`` hold cases, items and items' case ids this transaction
    already read."""
    evidence: EvidenceRecord | None = None
    cases: list[CaseRecord] = []
    found = True
    if req.target is TargetKind.EVIDENCE:
        if items is not None and req.target_id in items:
            evidence = items[req.target_id]
        else:
            evidence = await state.load(ctx, state.evidence(req.target_id), EvidenceRecord)
        found = evidence is not None
        if found:
            cases = await _cases_of(
                ctx,
                req.target_id,
                {} if loaded is None else loaded,
                None if item_cases is None else item_cases.get(req.target_id),
            )
    else:
        case = await state.load(ctx, state.case(req.target_id), CaseRecord)
        found = case is not None
        cases = [case] if case is not None else []
    if found:
        evidence_id = req.target_id if req.target is TargetKind.EVIDENCE else None
        # The owner and the holder are decided before any grant is looked at (rules/access):
        # their grants are not read, so they are not in the read set either.
        mine = (evidence is not None and evidence.owner_org == actor.org) or any(
            c.holder_org == actor.org for c in cases
        )
        grants = [] if mine else await _grants_to(ctx, actor.org, evidence_id, cases)
        decision = decide(
            org=actor.org,
            role=actor.role,
            kind=req.kind,
            now=at,
            evidence=evidence,
            cases=cases,
            grants=grants,
        )
        outcome, reason, grant_tx = decision.outcome, decision.reason, decision.grant_tx
    else:
        # Probing for ids that do not exist is worth an auditor's attention too.
        outcome, reason, grant_tx = Outcome.DENIED, "not_found", None
    return AccessRecord(
        record_id=record_id,
        accessor_org=actor.org,
        accessor=actor.subject,
        role=actor.role or "",
        target=req.target,
        target_id=req.target_id,
        case_ids=[c.case_id for c in cases],
        purpose=req.purpose,
        kind=req.kind,
        at=at,
        outcome=outcome,
        reason=reason,
        grant_tx=grant_tx,
    )


async def _record(ctx: Stub, record: AccessRecord) -> None:
    """Write the record and its trail index entries (each its own key: no conflicts)."""
    await state.save(ctx, state.access(record.record_id), record)
    is_item = record.target is TargetKind.EVIDENCE
    for object_type, prefix in state.trail_indexes(
        evidence_id=record.target_id if is_item else None,
        case_ids=record.case_ids if is_item else [record.target_id],
        org=record.accessor_org,
        accessor=record.accessor,
    ):
        await _index(ctx, object_type, prefix, record)


def _announce(ctx: Stub, record: AccessRecord) -> None:
    """The transaction's event for one access record: index followers fetch it by id."""
    emit(
        ctx,
        "AccessRecorded",
        {
            "record_id": record.record_id,
            "target": record.target,
            "target_id": record.target_id,
            "outcome": record.outcome,
        },
    )


async def _index(ctx: Stub, object_type: str, prefix: list[str], record: AccessRecord) -> None:
    await ctx.put_state(
        composite_key(object_type, [*prefix, record.at, record.record_id]), state.INDEX_MARK
    )


async def _trail_page(ctx: Stub, start: str, end: str, page_size: int, bookmark: str) -> TrailPage:
    page = await ctx.range(start, end, page_size=page_size, bookmark=bookmark)
    (trail,) = await _trail_pages(ctx, [page])
    return trail


async def _trail_pages(ctx: Stub, pages: list[Page]) -> list[TrailPage]:
    """The access records the index entries of ``pages`` name, all in one read where the
    peer allows it (a read per page is one more round trip to the peer each)."""
    keys = [state.access(state.last_attribute(key)) for page in pages for key, _ in page.items]
    raws = iter(await ctx.get_states(keys))
    trails = []
    for page in pages:
        records = [
            AccessRecord.model_validate_json(raw)
            for raw in itertools.islice(raws, len(page.items))
            if raw is not None
        ]
        trails.append(TrailPage(records=records, bookmark=page.bookmark))
    return trails


def _target_kind(text: str) -> TargetKind:
    try:
        return TargetKind(text)
    except ValueError:
        raise ContractError(
            LedgerErrorCode.VALIDATION_FAILED, "target must be evidence or case"
        ) from None
