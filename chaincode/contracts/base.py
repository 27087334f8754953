"""What every domain contract needs: the acting identity, parsed requests, time, events."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from chaincode.runtime import ContractError, Stub
from schemas.canonical import canonical_json
from schemas.glossary import Role
from schemas.ledger import MAX_REQUEST_BYTES, LedgerErrorCode, ledger_time

R = TypeVar("R", bound=BaseModel)


@dataclass(frozen=True)
class Actor:
    """Who submits: the org (MSP id), the certificate subject and the role attribute."""

    org: str
    subject: str
    role: str | None

    def require(self, roles: Collection[Role], doing: str) -> Role:
        """The actor's role, one of ``roles``.

        Raises:
            ContractError: ACCESS_DENIED unless the actor holds one of ``roles``.
        """
        if self.role is None or self.role not in roles:
            names = " or ".join(sorted(roles))
            raise ContractError(
                LedgerErrorCode.ACCESS_DENIED,
                f"{doing} needs the {names} role; this identity has {self.role or 'no role'}",
            )
        return Role(self.role)

    def require_org(self, org: str, doing: str) -> None:
        if self.org != org:
            raise ContractError(
                LedgerErrorCode.ACCESS_DENIED,
                f"only {org} may {doing}; this identity is {self.org}",
            )


def actor_of(ctx: Stub) -> Actor:
    try:
        ident = ctx.client_identity()
    except ValueError as exc:
        raise ContractError(
            LedgerErrorCode.ACCESS_DENIED, "the creator is not an X.509 identity"
        ) from exc
    return Actor(ident.msp_id, ident.subject, ident.role)


def parse(model: type[R], raw: str) -> R:
    """A request model from its JSON text.

    Raises:
        ContractError: VALIDATION_FAILED naming the first problems, for people to fix.
    """
    if len(raw.encode()) > MAX_REQUEST_BYTES:
        raise ContractError(
            LedgerErrorCode.VALIDATION_FAILED, f"request exceeds {MAX_REQUEST_BYTES} bytes"
        )
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        problems = []
        for err in exc.errors()[:5]:
            where = ".".join(str(p) for p in err["loc"]) or "request"
            problems.append(f"{where}: {err['msg']}")
        raise ContractError(
            LedgerErrorCode.VALIDATION_FAILED,
            f"invalid {model.__name__}: " + "; ".join(problems),
        ) from None


def now(ctx: Stub) -> str:
    return ledger_time(ctx.timestamp)


def emit(ctx: Stub, name: str, payload: dict[str, Any]) -> None:
    """The transaction's chaincode event: ids and codes only, so indexes can follow."""
    ctx.set_event(name, canonical_json(payload))


def not_found(what: str, ident: str) -> ContractError:
    return ContractError(LedgerErrorCode.NOT_FOUND, f"no {what} {ident!r}")
