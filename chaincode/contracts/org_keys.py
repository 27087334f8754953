"""Departments publish the public key that evidence data keys are wrapped to."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from chaincode import state
from chaincode.contracts.base import actor_of, emit, not_found, now, parse
from chaincode.runtime import Contract, Stub, transaction
from schemas.glossary import Role
from schemas.ledger import OrgKeyPublication, OrgKeyRecord


class OrgKeysContract(Contract):
    name = "OrgKeys"

    @transaction()
    async def PublishOrgKey(self, ctx: Stub, request: str) -> dict[str, Any]:
        """Publish (or rotate) the caller's own org key; earlier versions stay readable."""
        actor = actor_of(ctx)
        actor.require({Role.ADMIN}, "publishing the org's encryption key")
        req = parse(OrgKeyPublication, request)
        raw = base64.b64decode(req.public_key, validate=True)
        current = await state.load(ctx, state.org_key(actor.org), OrgKeyRecord)
        key_id = "sha256:" + hashlib.sha256(raw).hexdigest()
        if current is not None and current.key_id == key_id:
            return current.model_dump(mode="json")  # a retried publication changes nothing
        record = OrgKeyRecord(
            org=actor.org,
            version=1 if current is None else current.version + 1,
            key_id=key_id,
            algorithm=req.algorithm,
            public_key=req.public_key,
            published_by=actor.subject,
            published_at=now(ctx),
            published_tx=ctx.tx_id,
        )
        await state.save(ctx, state.org_key(actor.org), record)
        await state.save(ctx, state.org_key_version(actor.org, record.version), record)
        emit(
            ctx, "OrgKeyPublished", {"org": actor.org, "version": record.version, "key_id": key_id}
        )
        return record.model_dump(mode="json")

    @transaction(read_only=True)
    async def GetOrgKey(self, ctx: Stub, org: str) -> dict[str, Any]:
        record = await state.load(ctx, state.org_key(org), OrgKeyRecord)
        if record is None:
            raise not_found("published key for org", org)
        return record.model_dump(mode="json")

    @transaction(read_only=True)
    async def OrgKeyHistory(self, ctx: Stub, org: str) -> list[dict[str, Any]]:
        """Every version the org has published, oldest first."""
        records = await state.load_all(ctx, "org_key_version", [org], OrgKeyRecord)
        return [r.model_dump(mode="json") for r in records]
