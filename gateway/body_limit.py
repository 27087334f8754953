"""Request bodies capped per route, before any route or dependency reads them.

FastAPI reads a JSON or form body whole before it runs a route's dependencies, sign-in and
role checks among them: without a cap, anybody could make the gateway read (and a form
spool to disk) gigabytes, only to be told 401 at the end. Here a declared length over the
route's cap is refused before a byte is read, and a body without one (chunked) is cut off
as soon as it passes the cap. The routes that stream their uploads (device submissions,
package verification) keep their own, larger limits, checked while streaming
(``gateway.uploads``), and are not capped here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.problems import problem_response

# JSON bodies of this API are a few kilobytes (a case filing, a review, a grant).
DEFAULT_BODY_BYTES = 1 << 20


class _BodyTooLarge(Exception):
    pass


class BodyLimit:
    """ASGI middleware: 413 ``BODY_TOO_LARGE`` for a body over its route's cap.

    ``limits`` maps route templates (``/console/cases/{case_id}/stage``; a parameter is one
    path segment, as in the routes) to their cap in bytes, or to None for a route that
    streams and limits its own body; every other path gets ``default``.
    """

    def __init__(
        self,
        app: ASGIApp,
        limits: Mapping[str, int | None],
        default: int = DEFAULT_BODY_BYTES,
    ) -> None:
        self.app = app
        self.limits = [(_template(path), limit) for path, limit in limits.items()]
        self.default = default

    def limit_of(self, path: str) -> int | None:
        for pattern, limit in self.limits:
            if pattern.fullmatch(path):
                return limit
        return self.default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_of(scope["path"])
        if limit is None:
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _refuse(scope, receive, send, limit)
            return

        received = 0
        overflowed = False
        started = False

        async def limited_receive() -> Message:
            nonlocal received, overflowed
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    overflowed = True
                    raise _BodyTooLarge
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            # FastAPI turns a failure while reading the body into its own 400: once the cap
            # was passed, that answer is replaced by the 413 that says why.
            if overflowed:
                if message["type"] == "http.response.start" and not started:
                    started = True
                    await _refuse(scope, receive, send, limit)
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            # Whatever the app made of the cut-off body (our signal, or its own error).
            if not overflowed:
                raise
            if not started:
                await _refuse(scope, receive, send, limit)


def _template(path: str) -> re.Pattern[str]:
    """``/a/{x}/b`` as a pattern: each ``{param}`` one path segment."""
    parts = re.split(r"(\{[^{}/]+\})", path)
    return re.compile("".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts))


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _refuse(scope: Scope, receive: Receive, send: Send, limit: int) -> None:
    response = problem_response(
        413, "BODY_TOO_LARGE", f"the request body exceeds {limit} bytes for this route"
    )
    # The connection is closed after the answer: the unread rest of the body is never read.
    response.headers["Connection"] = "close"
    await response(scope, receive, send)
