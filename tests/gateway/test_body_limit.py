"""Request bodies are capped per route before anything reads them (``gateway.body_limit``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from gatewaykit import Kit, build
from test_gateway_devices import assert_problem, parts, submit

from gateway.body_limit import DEFAULT_BODY_BYTES, BodyLimit
from gateway.console.pages import MAX_STAGE_DOCUMENT


@pytest.fixture
def kit(tmp_path: Path) -> Kit:
    return build(tmp_path)


def _chunks(total: int, size: int = 64 << 10) -> Iterator[bytes]:
    sent = 0
    while sent < total:
        n = min(size, total - sent)
        sent += n
        yield b" " * n


def test_an_oversized_body_is_refused_before_sign_in_is_checked(kit: Kit) -> None:
    # No token: without the cap FastAPI would read the whole body and only then say 401.
    body = b" " * (DEFAULT_BODY_BYTES + 1)
    resp = kit.client.post("/cases", content=body, headers={"content-type": "application/json"})
    assert_problem(resp, 413, "BODY_TOO_LARGE")
    assert str(DEFAULT_BODY_BYTES) in resp.json()["detail"]


def test_a_chunked_body_is_cut_off_once_it_passes_the_cap(kit: Kit) -> None:
    resp = kit.client.post(
        "/cases",
        content=_chunks(DEFAULT_BODY_BYTES + (256 << 10)),
        headers={"content-type": "application/json", **kit.token("officer1")},
    )
    assert "content-length" not in resp.request.headers
    assert_problem(resp, 413, "BODY_TOO_LARGE")
    assert kit.chain.cases == {}


def test_a_body_within_the_cap_is_served_as_before(kit: Kit) -> None:
    resp = kit.client.post("/cases", content=b"{}", headers={"content-type": "application/json"})
    assert_problem(resp, 401, "UNAUTHENTICATED")


def test_the_console_s_document_form_has_its_own_larger_cap(kit: Kit) -> None:
    url = "/console/cases/case-1/stage"
    within = kit.client.post(url, content=b" " * (DEFAULT_BODY_BYTES + 1))
    assert within.status_code != 413  # the console's own answer (sign in first)
    over = kit.client.post(url, content=b" " * (MAX_STAGE_DOCUMENT + (64 << 10) + 1))
    assert_problem(over, 413, "BODY_TOO_LARGE")


def test_device_submissions_stream_past_the_json_cap(tmp_path: Path) -> None:
    kit = build(tmp_path)
    big = b"\xff\xd8" + b"\x00" * (DEFAULT_BODY_BYTES + 1)
    files = parts(kit, **{"keyframe.jpg": big})
    resp = submit(kit, files)
    # Past the cap and still answered by the route itself: the claims name other bytes.
    assert resp.status_code != 413, resp.text
    assert resp.json()["code"] in {"UNKNOWN_MEDIA", "MEDIA_MISMATCH"}


# --- the middleware alone ---------------------------------------------------------------


class _Recorder:
    """An ASGI app that reads its whole body, and the messages it was given."""

    def __init__(self) -> None:
        self.reads = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            self.reads += 1
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


async def _call(app: Any, headers: list[tuple[bytes, bytes]], chunks: list[bytes]) -> list[Any]:
    scope = {"type": "http", "method": "POST", "path": "/x", "headers": headers}
    pending = list(chunks)
    sent: list[Any] = []

    async def receive() -> Any:
        body = pending.pop(0) if pending else b""
        return {"type": "http.request", "body": body, "more_body": bool(pending)}

    async def send(message: Any) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent


async def test_a_declared_length_over_the_cap_reads_no_byte() -> None:
    inner = _Recorder()
    app = BodyLimit(inner, limits={}, default=10)
    sent = await _call(app, [(b"content-length", b"11")], [b"x" * 11])
    assert inner.reads == 0
    assert sent[0]["status"] == 413
    assert json.loads(sent[1]["body"])["code"] == "BODY_TOO_LARGE"


async def test_an_undeclared_length_is_cut_off_at_the_chunk_that_passes_the_cap() -> None:
    inner = _Recorder()
    app = BodyLimit(inner, limits={}, default=10)
    sent = await _call(app, [], [b"x" * 6, b"x" * 6, b"x" * 6])
    assert inner.reads == 1  # the second chunk passed the cap and was never handed over
    assert [m["status"] for m in sent if m["type"] == "http.response.start"] == [413]


def test_route_templates_match_one_segment_per_parameter() -> None:
    app = BodyLimit(_Recorder(), limits={"/a/{x}/b": 5, "/s": None}, default=1)
    assert app.limit_of("/a/case-1/b") == 5
    assert app.limit_of("/a/case/1/b") == 1
    assert app.limit_of("/a/case-1/b/c") == 1
    assert app.limit_of("/s") is None
    assert app.limit_of("/s2") == 1


async def test_a_body_at_the_cap_passes() -> None:
    inner = _Recorder()
    app = BodyLimit(inner, limits={}, default=12)
    sent = await _call(app, [(b"content-length", b"12")], [b"x" * 6, b"x" * 6])
    assert inner.reads == 2
    assert sent[0]["status"] == 200
