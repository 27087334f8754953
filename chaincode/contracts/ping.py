"""A minimal contract proving the deploy path: ping, put and get."""

from __future__ import annotations

from typing import Any

from chaincode.runtime import Contract, ContractError, Stub, transaction
from chaincode.runtime.errors import NOT_FOUND, VALIDATION_FAILED

_MAX_VALUE = 64 * 1024


class PingContract(Contract):
    name = "Ping"

    @transaction(read_only=True)
    async def Ping(self, ctx: Stub) -> dict[str, Any]:
        ident = ctx.client_identity()
        return {"pong": True, "tx_id": ctx.tx_id, "msp_id": ident.msp_id, "role": ident.role}

    @transaction()
    async def Put(self, ctx: Stub, key: str, value: str) -> dict[str, Any]:
        if not key or len(key) > 256 or "\x00" in key:
            raise ContractError(VALIDATION_FAILED, "key must be 1-256 characters, no NUL")
        if len(value.encode()) > _MAX_VALUE:
            raise ContractError(VALIDATION_FAILED, f"value exceeds {_MAX_VALUE} bytes")
        await ctx.put_state(f"ping~{key}", value.encode())
        ctx.set_event("PingPut", key.encode())
        return {"key": key, "tx_id": ctx.tx_id}

    @transaction(read_only=True)
    async def Get(self, ctx: Stub, key: str) -> dict[str, Any]:
        value = await ctx.get_state(f"ping~{key}")
        if value is None:
            raise ContractError(NOT_FOUND, f"no value for key {key!r}")
        return {"key": key, "value": value.decode()}
