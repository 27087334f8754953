"""Request logs and metrics: one JSON line per request, a Prometheus ``/metrics`` endpoint.

The log line names the method, the route template (never the filled-in path: ids stay out
of the metric labels), the status, the duration, this org, the acting user, the request id
(``X-Request-ID`` from the caller if it is a plain token, else a new one, echoed back) and
the ledger transaction ids the response names. Bodies, query strings and tokens are never
logged.

Metrics live in a registry of their own per app (no import-time singletons).
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from fastapi import FastAPI, Request
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.auth import Principal
from gateway.deps import GatewayDeps, Ledger
from gateway.routes.captures import CAPTURES_ROUTE
from gateway.routes.devices import SUBMISSIONS_ROUTE

access_log = logging.getLogger("gateway.access")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_TX_HEADERS = (b"x-access-record", b"x-ledger-tx")
_SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


@dataclass(frozen=True)
class Metrics:
    registry: CollectorRegistry
    requests: Counter
    latency: Histogram
    ingest_bytes: Counter
    ledger_latency: Histogram

    @classmethod
    def create(cls) -> Metrics:
        registry = CollectorRegistry()
        return cls(
            registry=registry,
            requests=Counter(
                "evnet_gateway_requests",
                "HTTP requests by route template, method and status",
                ("method", "route", "status"),
                registry=registry,
            ),
            latency=Histogram(
                "evnet_gateway_request_duration_seconds",
                "Time to the end of the response, by route template and status",
                ("method", "route", "status"),
                buckets=_SECONDS,
                registry=registry,
            ),
            ingest_bytes=Counter(
                "evnet_gateway_ingest_bytes",
                "Request body bytes received on device submissions and officers' captures",
                registry=registry,
            ),
            ledger_latency=Histogram(
                "evnet_gateway_ledger_call_seconds",
                "Ledger calls made for requests (evaluate or submit-and-commit), by call",
                ("call", "outcome"),
                buckets=_SECONDS,
                registry=registry,
            ),
        )


def _route_of(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"


class _RequestLog:
    """Pure ASGI middleware (a ``BaseHTTPMiddleware`` would buffer streamed responses)."""

    def __init__(self, app: ASGIApp, org: str, metrics: Metrics) -> None:
        self.app, self.org, self.metrics = app, org, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        given = _header(scope, b"x-request-id")
        request_id = given if given and _REQUEST_ID.match(given) else uuid.uuid4().hex
        status = 500
        body_bytes = 0
        tx_ids: list[str] = []

        async def counting_receive() -> Message:
            nonlocal body_bytes
            message = await receive()
            if message["type"] == "http.request":
                body_bytes += len(message.get("body", b""))
            return message

        async def stamped_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = list(message.get("headers", []))
                for name, value in headers:
                    if name.lower() in _TX_HEADERS:
                        tx_ids.extend(v for v in value.decode("latin-1").split(",") if v)
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, counting_receive, stamped_send)
        finally:
            elapsed = time.perf_counter() - started
            route = _route_of(scope)
            method = str(scope.get("method", ""))
            labels = (method, route, str(status))
            self.metrics.requests.labels(*labels).inc()
            self.metrics.latency.labels(*labels).observe(elapsed)
            if route in (SUBMISSIONS_ROUTE, CAPTURES_ROUTE):
                self.metrics.ingest_bytes.inc(body_bytes)
            who = scope.get("state", {}).get("principal")
            access_log.info(
                json.dumps(
                    {
                        "event": "request",
                        "request_id": request_id,
                        "method": method,
                        "route": route,
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 3),
                        "org": self.org,
                        "user": who.user if isinstance(who, Principal) else None,
                        "role": who.role.value if isinstance(who, Principal) else None,
                        "tx_ids": tx_ids[:20],
                    },
                    separators=(",", ":"),
                )
            )


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


class _TimedLedger:
    """A ledger client whose awaited calls are timed into ``ledger_latency``."""

    def __init__(self, inner: Ledger, histogram: Histogram) -> None:
        self._inner, self._histogram = inner, histogram

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._inner, name)
        if not callable(target):
            return target

        async def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            outcome = "error"
            try:
                result = await target(*args, **kwargs)
                outcome = "ok"
                return result
            finally:
                self._histogram.labels(name, outcome).observe(time.perf_counter() - started)

        return timed


@dataclass(frozen=True)
class _TimedLedgerFor:
    inner: Callable[[str], Ledger]
    histogram: Histogram

    def __call__(self, user: str) -> Ledger:
        return cast(Ledger, _TimedLedger(self.inner(user), self.histogram))


def install(app: FastAPI, deps: GatewayDeps) -> Metrics:
    """Log every request as one JSON line, time every ledger call, serve ``GET /metrics``."""
    metrics = Metrics.create()
    app.add_middleware(_RequestLog, org=deps.org, metrics=metrics)
    inner = deps.ledger_for
    if isinstance(inner, _TimedLedgerFor):  # a second app over the same deps
        inner = inner.inner
    deps.ledger_for = _TimedLedgerFor(inner, metrics.ledger_latency)
    Gauge(
        "evnet_gateway_open_streams",
        "Event streams open now (officers' handhelds on GET /assignments/stream)",
        registry=metrics.registry,
    ).set_function(deps.stream_slots.total)

    async def serve_metrics(_: Request) -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    app.add_route("/metrics", serve_metrics, include_in_schema=False)
    return metrics


def json_log_handler(stream: Any = None) -> logging.Handler:
    """A handler writing each record as one JSON line (the request log is already JSON)."""

    class _Json(logging.Formatter):
        def format(self, record: logging.LogRecord) -> str:
            message = record.getMessage()
            if record.name == access_log.name:
                return message
            doc: dict[str, Any] = {
                "event": "log",
                "logger": record.name,
                "level": record.levelname,
                "message": message,
            }
            if record.exc_info:
                doc["exception"] = self.formatException(record.exc_info)
            return json.dumps(doc, separators=(",", ":"))

    handler = logging.StreamHandler(stream)
    handler.setFormatter(_Json())
    return handler
