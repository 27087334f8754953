"""Console sessions: the API's bearer token in an HttpOnly, SameSite=Strict cookie; the role
from the user's certificate on every request (as for the API); a per-session CSRF token on
every state-changing form; failures rendered as HTML pages instead of problem+json."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Form, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse
from fastapi.routing import APIRoute

from gateway.auth import Principal
from gateway.console.render import language, page
from gateway.deps import GatewayDeps, gateway_deps
from gateway.problems import Problem, from_ledger
from node.index.errors import SearchError
from node.ledger import LedgerRefused
from schemas.glossary import Role

COOKIE = "evnet_console"
LOGIN = "/console/login"


@dataclass(frozen=True)
class Session:
    """The signed-in user and the CSRF token its forms carry."""

    who: Principal
    csrf: str


def csrf_token(token: str) -> str:
    """An HMAC keyed by the bearer token, so only a holder of the cookie can compute it and
    nothing is kept on the server; it changes with every new token."""
    key = hashlib.sha256(token.encode()).digest()
    return hmac.new(key, b"evidencenet-console-csrf", hashlib.sha256).hexdigest()


def authenticate(deps: GatewayDeps, token: str | None) -> Principal | None:
    """The user and certificate role behind a bearer token, or None."""
    user = deps.tokens.user_of(token) if token else None
    role = deps.identities.role_of(user) if user is not None else None
    if user is None or role is None:
        return None
    return Principal(user, role)


def _session(request: Request, deps: GatewayDeps, roles: tuple[Role, ...]) -> Session:
    token = request.cookies.get(COOKIE)
    who = authenticate(deps, token)
    if who is None or token is None:
        raise Problem(401, "UNAUTHENTICATED", "sign in first")
    request.state.principal = who  # for the request log
    if who.role not in roles:
        raise Problem(403, "ACCESS_DENIED", "access denied")
    return Session(who, csrf_token(token))


def viewer(*roles: Role) -> Any:
    """A page dependency: the cookie's session, admitted only for ``roles``."""

    def check(request: Request, deps: Annotated[GatewayDeps, Depends(gateway_deps)]) -> Session:
        return _session(request, deps, roles)

    return Depends(check)


def poster(*roles: Role) -> Any:
    """A form dependency: as :func:`viewer`, and the form's CSRF token must match."""

    def check(
        request: Request,
        deps: Annotated[GatewayDeps, Depends(gateway_deps)],
        csrf: Annotated[str, Form(max_length=128)] = "",
    ) -> Session:
        session = _session(request, deps, roles)
        if not hmac.compare_digest(csrf.encode(), session.csrf.encode()):
            raise Problem(403, "CSRF_REJECTED", "the form is stale or not from this console")
        return session

    return Depends(check)


class ConsoleRoute(APIRoute):
    """Routes whose failures are pages: not signed in goes to the login page, the rest is an
    error page with the problem's code (and the ledger transaction, if any)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                return await handler(request)
            except LedgerRefused as err:
                return _error(request, from_ledger(err))
            except Problem as problem:
                if problem.status == 401 and request.method == "GET":
                    return RedirectResponse(LOGIN, status_code=303)
                return _error(request, problem)
            except SearchError as err:  # e.g. a cursor this index did not issue
                return _error(request, Problem(422, "INVALID_SEARCH", str(err)[:300]))
            except RequestValidationError as err:
                fields = ", ".join(".".join(str(p) for p in e["loc"]) for e in err.errors())
                return _error(request, Problem(422, "INVALID_REQUEST", fields[:300]))

        return guarded


def _error(request: Request, problem: Problem) -> Response:
    headers = {k: v for k, v in problem.headers.items() if k.startswith("X-")}
    return page(
        request,
        "error.html",
        {"problem": problem, "ledger_tx": headers.get("X-Ledger-Tx", "")},
        status=problem.status,
        headers=headers,
        lang=language(request),
    )
