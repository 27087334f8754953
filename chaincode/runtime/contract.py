"""Contracts: classes whose ``@transaction`` methods are the chaincode's functions.

Arguments arrive as strings (bytes) from the client and are converted to the annotated
type (str, int, bool, bytes); results are serialised as canonical JSON so every endorsing
peer returns identical bytes.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar, get_type_hints

from chaincode.runtime.errors import UNKNOWN_FUNCTION, VALIDATION_FAILED, ContractError
from chaincode.runtime.stub import Stub
from schemas.canonical import canonical_json

F = TypeVar("F", bound=Callable[..., Awaitable[Any]])
_MAX_ARG_BYTES = 1 << 20


def transaction(*, read_only: bool = False) -> Callable[[F], F]:
    """Mark an ``async def fn(self, ctx, ...)`` method as a transaction function."""

    def mark(fn: F) -> F:
        fn.__evnet_tx__ = {"read_only": read_only}  # type: ignore[attr-defined]
        return fn

    return mark


class Contract:
    """Base class; functions answer to ``Name:Function`` and to their bare name."""

    name = ""


@dataclass(frozen=True)
class _Function:
    contract: Contract
    method: Callable[..., Awaitable[Any]]
    params: list[tuple[str, Any]]
    read_only: bool


def _convert(name: str, raw: bytes, kind: Any) -> Any:
    if len(raw) > _MAX_ARG_BYTES:
        raise ContractError(VALIDATION_FAILED, f"argument {name} exceeds {_MAX_ARG_BYTES} bytes")
    if kind is bytes:
        return raw
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ContractError(VALIDATION_FAILED, f"argument {name} is not UTF-8") from exc
    if kind is str:
        return text
    if kind is bool:
        if text not in ("true", "false"):
            raise ContractError(VALIDATION_FAILED, f"argument {name} must be true or false")
        return text == "true"
    if kind is int:
        try:
            return int(text)
        except ValueError as exc:
            raise ContractError(VALIDATION_FAILED, f"argument {name} must be an integer") from exc
    raise TypeError(f"unsupported parameter type {kind!r} for {name}")


class Registry:
    """Every transaction function of the given contracts, by name."""

    def __init__(self, contracts: list[Contract]) -> None:
        self._functions: dict[str, _Function] = {}
        for contract in contracts:
            for attr, member in inspect.getmembers(contract, inspect.ismethod):
                meta = getattr(member, "__evnet_tx__", None)
                if meta is None:
                    continue
                hints = get_type_hints(member)
                params = [(p, hints[p]) for p in list(inspect.signature(member).parameters)[1:]]
                fn = _Function(contract, member, params, bool(meta["read_only"]))
                prefix = contract.name or type(contract).__name__
                self._functions[f"{prefix}:{attr}"] = fn
                # Bare names too, so clients need not know how functions are grouped; a
                # name two contracts share would make that ambiguous, so it is refused.
                if attr in self._functions:
                    raise ValueError(f"transaction {attr} is defined by two contracts")
                self._functions[attr] = fn

    def names(self) -> list[str]:
        return sorted(self._functions)

    async def invoke(self, stub: Stub, args: list[bytes]) -> bytes:
        """Run the function named by ``args[0]`` and return its canonical-JSON result.

        Raises:
            ContractError: unknown function, wrong arguments, or the contract's refusal.
            PeerError: the peer failed a stub call.
        """
        if not args:
            raise ContractError(UNKNOWN_FUNCTION, "no function name given")
        name = args[0].decode("utf-8", errors="replace")
        fn = self._functions.get(name)
        if fn is None:
            raise ContractError(UNKNOWN_FUNCTION, f"unknown function {name[:80]!r}")
        rest = args[1:]
        if len(rest) != len(fn.params):
            raise ContractError(
                VALIDATION_FAILED,
                f"{name} takes {len(fn.params)} argument(s), {len(rest)} given",
            )
        values = [_convert(p, raw, kind) for (p, kind), raw in zip(fn.params, rest, strict=True)]
        stub.read_only = fn.read_only
        result = await fn.method(stub, *values)
        return b"" if result is None else canonical_json(result)
