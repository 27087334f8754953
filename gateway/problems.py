"""RFC 9457 problem+json: one exception, one handler, stable codes; never a stack trace."""

from __future__ import annotations

import json
import logging
from typing import Any, TypeVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from gateway.auth import TokenStoreCorrupt
from node.crypto.user_keys import UserKeyError
from node.fabric import GatewayError
from node.index.errors import SearchError
from node.ingest import IngestRefused
from node.ledger import LedgerRefused
from schemas.ledger import LedgerErrorCode

log = logging.getLogger("gateway")

MEDIA_TYPE = "application/problem+json"
M = TypeVar("M", bound=BaseModel)

_LEDGER_STATUS = {
    LedgerErrorCode.ACCESS_DENIED: 403,
    LedgerErrorCode.NOT_FOUND: 404,
    LedgerErrorCode.VALIDATION_FAILED: 422,
    LedgerErrorCode.EVIDENCE_CONFLICT: 409,
    LedgerErrorCode.CASE_CONFLICT: 409,
    LedgerErrorCode.TRANSFER_CONFLICT: 409,
    LedgerErrorCode.SCHEDULE_CONFLICT: 409,
    LedgerErrorCode.INVALID_STAGE_TRANSITION: 409,
    LedgerErrorCode.VIOLATION_CONFLICT: 409,
    LedgerErrorCode.INVALID_VIOLATION_TRANSITION: 409,
    LedgerErrorCode.DOCUMENT_MISMATCH: 409,
    LedgerErrorCode.REMINDERS_REQUIRED: 409,
    LedgerErrorCode.EVIDENCE_UNDER_FLAG: 409,
    LedgerErrorCode.PUBLICATION_CONFLICT: 409,
}

_INGEST_STATUS = {
    "TOO_LARGE": 413,
    "UNKNOWN_DEVICE": 403,
    "NOT_A_DEVICE": 403,
    "NOT_AN_OFFICER": 403,
    "NOT_CASE_STAFF": 403,
    "DEVICE_MISMATCH": 403,
}


class Problem(Exception):
    """An HTTP failure with a stable ``code``; ``detail`` is safe to show the caller."""

    def __init__(
        self, status: int, code: str, detail: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(f"{status} {code}: {detail}")
        self.status, self.code, self.detail = status, code, detail
        self.headers = headers or {}


def problem_response(
    status: int, code: str, detail: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    body = {
        "type": f"urn:evidencenet:problem:{code.lower()}",
        "title": code.replace("_", " ").capitalize(),
        "status": status,
        "code": code,
        "detail": detail,
    }
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def strict_request(kind: type[M], doc: dict[str, Any]) -> M:
    """The ledger's strict request model from JSON-shaped input, or a 422 problem."""
    try:
        return kind.model_validate_json(json.dumps(doc))
    except ValidationError as err:
        e = err.errors()[0]
        where = ".".join(str(p) for p in e["loc"])
        raise Problem(422, "INVALID_REQUEST", f"{where}: {e['msg']}") from None


def from_ledger(err: LedgerRefused) -> Problem:
    status = _LEDGER_STATUS.get(err.code, 502)
    # Chaincode messages for access decisions stay in the log (security failures are opaque).
    detail = "access denied" if status == 403 else err.message
    return Problem(status, err.code.value, detail, {"X-Ledger-Tx": err.tx_id} if err.tx_id else {})


def from_ingest(err: IngestRefused) -> Problem:
    return Problem(_INGEST_STATUS.get(err.code, 422), err.code, err.message)


def problem_of(exc: Exception) -> Problem | None:
    """The problem a known failure is to the caller (logged here as the operator needs it),
    or None for an unexpected one. Shared by the handlers below and by responses already
    under way (an event stream), which can no longer answer with problem+json."""
    if isinstance(exc, Problem):
        return exc
    if isinstance(exc, LedgerRefused):
        log.info("ledger refused: %s (tx %s)", exc, exc.tx_id)
        return from_ledger(exc)
    if isinstance(exc, IngestRefused):
        return from_ingest(exc)
    if isinstance(exc, SearchError):
        return Problem(422, "INVALID_SEARCH", str(exc)[:300])
    if isinstance(exc, GatewayError):
        log.error("ledger unavailable: %s", exc)
        return Problem(503, "LEDGER_UNAVAILABLE", "the ledger could not be reached")
    if isinstance(exc, UserKeyError):
        # The node cannot sign as this person: an operator problem, not the caller's.
        log.error("user key unavailable: %s", exc)
        return Problem(
            503, exc.code, "the node cannot open this identity's signing key; tell the operator"
        )
    if isinstance(exc, TokenStoreCorrupt):
        log.error("token store unusable: %s", exc)
        return Problem(
            503, exc.code, "this gateway cannot check bearer tokens now; tell the operator"
        )
    return None


def install(app: FastAPI) -> None:
    """Map every failure the gateway can meet to problem+json."""

    async def on_known(_: Request, exc: Exception) -> JSONResponse:
        p = problem_of(exc)
        assert p is not None
        return problem_response(p.status, p.code, p.detail, p.headers)

    async def on_validation(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        where = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', '')}"
            for e in exc.errors()
        )
        return problem_response(422, "INVALID_REQUEST", where[:1000])

    async def on_http(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        code = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}.get(exc.status_code, "HTTP_ERROR")
        return problem_response(exc.status_code, code, str(exc.detail))

    async def on_unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected failure", exc_info=exc)
        return problem_response(500, "INTERNAL", "internal error")

    for known in (
        Problem,
        LedgerRefused,
        IngestRefused,
        GatewayError,
        SearchError,
        UserKeyError,
        TokenStoreCorrupt,
    ):
        app.add_exception_handler(known, on_known)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(Exception, on_unexpected)
