"""Dispatch pushed (GET /assignments/stream): an officer's handheld holds a server-sent event
stream and gets each change of its areas' flags as the index follower writes it, in order,
once, across reconnections; a quiet stream keeps alive and ends by itself; a revoked or
expired token ends it; a person holds a bounded number; refusals are problems before any
byte is streamed.

Streams are read from a real server on the loopback (uvicorn in a thread): an in-process
ASGI transport buffers a response until it ends."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
import threading
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from consolekit import sign_in
from gatewaykit import Kit, build
from indexkit import put_flags
from test_assignments import AREAS, flag
from test_gateway_devices import assert_problem

from gateway import feeds
from gateway.console.session import COOKIE
from gateway.feeds import EventReader, StreamPolicy, event
from node.fabric import GatewayError

READ_TIMEOUT = 20.0  # a test that waits longer for an event has failed


@dataclasses.dataclass
class Event:
    name: str
    id: str | None
    data: Any


@contextmanager
def served(kit: Kit) -> Iterator[str]:
    """The kit's gateway on a free loopback port; its base URL."""
    config = uvicorn.Config(kit.client.app, host="127.0.0.1", port=0, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive(), "uvicorn did not start"
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(20)


class Stream:
    """One open stream, read event by event (comments and the retry field kept apart)."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.lines = response.iter_lines()
        self.comments: list[str] = []
        self.retry: int | None = None

    def next(self) -> Event:
        event = self._read()
        assert event is not None, "the server ended the stream"
        return event

    def at_end(self) -> bool:
        """Whether the server ends the stream here (no event follows)."""
        return self._read() is None

    def _read(self) -> Event | None:
        fields: dict[str, list[str]] = {}
        for line in self.lines:
            if not line:
                if fields:
                    data = "\n".join(fields.get("data", []))
                    ids = fields.get("id")
                    return Event(fields["event"][0], ids[0] if ids else None, json.loads(data))
                continue
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if not name:
                self.comments.append(value)
            elif name == "retry":
                self.retry = int(value)
            else:
                fields.setdefault(name, []).append(value)
        return None


@contextmanager
def stream(base: str, headers: dict[str, str], **params: Any) -> Iterator[Stream]:
    timeout = httpx.Timeout(10.0, read=READ_TIMEOUT)
    with (
        httpx.Client(base_url=base, timeout=timeout) as client,
        client.stream("GET", "/assignments/stream", headers=headers, params=params) as resp,
    ):
        assert resp.status_code == 200, resp.read()
        assert resp.headers["content-type"].startswith("text/event-stream")
        yield Stream(resp)


def moved(kit: Kit, *rows: dict[str, Any]) -> None:
    """What the index follower does: write the flags, then say so."""
    put_flags(kit.deps.index, *rows)
    kit.deps.flag_changes.notify()


def ids(e: Event) -> list[tuple[str, str]]:
    assert e.name == "assignments", e
    return [(i["flag_id"], i["status"]) for i in e.data["items"]]


def build_kit(tmp_path: Path, **policy: Any) -> Kit:
    kit = build(tmp_path, areas=AREAS, streams=StreamPolicy(**policy))
    put_flags(kit.deps.index, flag("evt-1", "cam-renmin-1", 1), flag("evt-2", "cam-market-1", 2))
    return kit


@pytest.fixture
def kit(tmp_path: Path) -> Kit:
    # No keep-alive before a read gives up: only the follower's signal can wake the stream.
    return build_kit(tmp_path, keepalive_seconds=3 * READ_TIMEOUT)


def test_the_stream_opens_with_the_work_at_hand_then_pushes_each_change(kit: Kit) -> None:
    with served(kit) as base, stream(base, kit.token("officer1")) as s:
        first = s.next()
        assert ids(first) == [("evt-1", "detected")]  # the market's camera is not this area's
        assert first.data["areas"] == ["renmin-rd"]
        assert first.id == first.data["cursor"]
        assert s.retry == StreamPolicy().retry_ms
        # Another area's flag moves, then one of ours: only ours comes, alone.
        moved(kit, flag("evt-2", "cam-market-1", 20, "confirmed"))
        moved(kit, flag("evt-1", "cam-renmin-1", 30, "reminded"))
        second = s.next()
        assert ids(second) == [("evt-1", "reminded")]
        assert second.id not in (None, first.id)
        moved(
            kit, flag("evt-3", "cam-renmin-2", 31), flag("evt-1", "cam-renmin-1", 32, "escalated")
        )
        assert ids(s.next()) == [("evt-3", "detected"), ("evt-1", "escalated")]


def test_a_reconnection_with_the_last_event_id_misses_nothing_and_repeats_nothing(
    kit: Kit,
) -> None:
    with served(kit) as base:
        with stream(base, kit.token("officer1")) as s:
            first = s.next()
            assert first.id is not None
        moved(kit, flag("evt-1", "cam-renmin-1", 30, "rejected"))  # while away
        # The header the client sends on reconnection wins over a stale `after`.
        headers = kit.token("officer1") | {"Last-Event-ID": first.id}
        stale = "2026-01-01T00:00:00+00:00|evt-0"
        with stream(base, headers, after=stale) as s:
            assert ids(s.next()) == [("evt-1", "rejected")]  # settled: the handheld drops it


def test_a_quiet_stream_keeps_alive_then_ends_asking_the_client_to_come_back(
    tmp_path: Path,
) -> None:
    kit = build_kit(tmp_path, keepalive_seconds=0.1, lifetime_seconds=1.0)
    with served(kit) as base, stream(base, kit.token("officer1")) as s:
        assert ids(s.next()) == [("evt-1", "detected")]
        end = s.next()
        assert end.name == "end"
        assert end.data["code"] == "RECONNECT"
        assert "keep-alive" in s.comments
        assert s.at_end()  # the server closed the stream
    assert kit.deps.stream_slots.held("officer1") == 0


@pytest.mark.parametrize("how", ["revoked", "expired"])
def test_a_token_revoked_or_expired_ends_the_stream(tmp_path: Path, how: str) -> None:
    kit = build_kit(tmp_path, keepalive_seconds=0.1)
    token = kit.token("officer1")
    with served(kit) as base, stream(base, token) as s:
        assert ids(s.next()) == [("evt-1", "detected")]
        if how == "revoked":
            kit.deps.tokens.revoke(token["Authorization"].removeprefix("Bearer "))
        else:
            kit.clock[0] += dt.timedelta(hours=2)  # the token was valid for one
        end = s.next()
        assert (end.name, end.data["code"]) == ("end", "UNAUTHENTICATED")
        assert s.at_end()


def test_no_change_reaches_a_caller_whose_token_was_revoked(kit: Kit) -> None:
    token = kit.token("officer1")
    with served(kit) as base, stream(base, token) as s:
        assert ids(s.next()) == [("evt-1", "detected")]
        kit.deps.tokens.revoke(token["Authorization"].removeprefix("Bearer "))
        moved(kit, flag("evt-1", "cam-renmin-1", 30, "reminded"))  # wakes the stream at once
        end = s.next()
        assert (end.name, end.data["code"]) == ("end", "UNAUTHENTICATED")
        assert s.at_end()


def test_a_person_holds_a_bounded_number_of_streams(tmp_path: Path) -> None:
    kit = build_kit(tmp_path, per_user=2)
    token = kit.token("officer1")
    with served(kit) as base:
        with stream(base, token) as a, stream(base, token) as b:
            assert ids(a.next()) == ids(b.next()) == [("evt-1", "detected")]
            third = httpx.get(f"{base}/assignments/stream", headers=token, timeout=10)
            assert_problem(third, 429, "TOO_MANY_STREAMS")
            assert int(third.headers["Retry-After"]) >= 1
            assert kit.deps.stream_slots.held("officer1") == 2
            metrics = httpx.get(f"{base}/metrics", timeout=10).text
            assert "\nevnet_gateway_open_streams 2.0\n" in metrics
        # Both closed by the client: the server notices and gives the slots back.
        deadline = time.monotonic() + READ_TIMEOUT
        while kit.deps.stream_slots.held("officer1") and time.monotonic() < deadline:
            time.sleep(0.02)
        assert kit.deps.stream_slots.held("officer1") == 0
        with stream(base, token) as again:
            assert ids(again.next()) == [("evt-1", "detected")]


def test_a_ledger_that_fails_mid_stream_ends_it_with_the_reason(kit: Kit) -> None:
    def unreachable(user: str) -> Any:
        raise GatewayError("connection refused")

    with served(kit) as base, stream(base, kit.token("officer1")) as s:
        assert ids(s.next()) == [("evt-1", "detected")]
        kit.deps.ledger_for = unreachable  # the next page reads the penalty schedule
        moved(kit, flag("evt-1", "cam-renmin-1", 30, "reminded"))
        end = s.next()
        assert (end.name, end.data["code"]) == ("end", "LEDGER_UNAVAILABLE")
        assert s.at_end()
    assert kit.deps.stream_slots.held("officer1") == 0


def test_a_token_store_that_breaks_mid_stream_ends_it_with_the_reason(kit: Kit) -> None:
    with served(kit) as base, stream(base, kit.token("officer1")) as s:
        assert ids(s.next()) == [("evt-1", "detected")]
        kit.deps.tokens.path.write_text("not json")  # the next check cannot read it
        moved(kit, flag("evt-1", "cam-renmin-1", 30, "reminded"))
        end = s.next()
        assert (end.name, end.data["code"]) == ("end", "TOKEN_STORE_CORRUPT")
        assert s.at_end()
    assert kit.deps.stream_slots.held("officer1") == 0


@pytest.mark.parametrize(
    ("user", "headers", "status", "code"),
    [
        ("reviewer1", {}, 403, "ACCESS_DENIED"),
        ("partner1", {}, 403, "ACCESS_DENIED"),
        (None, {}, 401, "UNAUTHENTICATED"),
        ("officer1", {"Last-Event-ID": "not-a-cursor"}, 422, "INVALID_CURSOR"),
        ("officer1", {"Last-Event-ID": "x" * 301}, 422, "INVALID_REQUEST"),
    ],
)
def test_refusals_are_problems_before_anything_is_streamed(
    kit: Kit, user: str | None, headers: dict[str, str], status: int, code: str
) -> None:
    auth = kit.token(user) if user else {}
    resp = kit.client.get("/assignments/stream", headers=auth | headers)
    assert_problem(resp, status, code)
    assert kit.deps.stream_slots.held("officer1") == 0


def test_an_officer_with_no_area_is_told_to_ask_for_one(tmp_path: Path) -> None:
    kit = build(tmp_path)  # no areas configured
    resp = kit.client.get("/assignments/stream", headers=kit.token("officer1"))
    assert_problem(resp, 409, "NO_AREAS")
    assert "admin" in resp.json()["detail"]


def test_an_event_s_fields_stay_on_their_lines() -> None:
    assert event("end", "a\nb", "c") == "event: end\nid: c\ndata: a\ndata: b\n\n"
    with pytest.raises(ValueError, match="one line"):
        event("assignments", "{}", "cursor\ninjected: x")


def test_the_console_s_review_page_follows_the_officer_s_areas(kit: Kit) -> None:
    html, after, cookie = review_page(kit, "officer1", "my-areas")
    assert after.endswith("|evt-1")  # its areas' last change: the stream starts after it
    assert 'id="queue-news"' not in html  # an officer follows their areas, not the department
    with served(kit) as base, console_stream(base, cookie, after) as s:
        assert ids(s.next()) == []  # nothing since the page
        moved(kit, flag("evt-1", "cam-renmin-1", 30, "reminded"))
        assert ids(s.next()) == [("evt-1", "reminded")]
        kit.deps.tokens.revoke(cookie[COOKIE])  # signed out elsewhere, or expired
        moved(kit, flag("evt-1", "cam-renmin-1", 31, "escalated"))
        end = s.next()
        assert (end.name, end.data["code"]) == ("end", "UNAUTHENTICATED")
        assert s.at_end()


def test_a_reviewer_s_page_follows_the_whole_department(kit: Kit) -> None:
    _, after, cookie = review_page(kit, "reviewer1", "queue-news")
    assert after.endswith("|evt-2")  # the department's latest change, in any area or none
    with served(kit) as base, console_stream(base, cookie, after) as s:
        assert ids(s.next()) == []
        moved(kit, flag("evt-7", "cam-anywhere-7", 30))  # a camera no area covers
        assert ids(s.next()) == [("evt-7", "detected")]


def review_page(kit: Kit, user: str, section: str) -> tuple[str, str, dict[str, str]]:
    """``user``'s review page in the console: its HTML, the cursor its ``section`` follows
    the feed from, and the session's cookie."""
    browser, _ = sign_in(kit, user)
    html = browser.get("/console/review").text
    match = re.search(rf'id="{section}" data-stream="/console/review/stream\?after=([^"]+)"', html)
    assert match is not None, html
    return html, urllib.parse.unquote(match.group(1)), {COOKIE: browser.cookies[COOKIE]}


@contextmanager
def console_stream(base: str, cookies: dict[str, str], after: str) -> Iterator[Stream]:
    with (
        httpx.Client(base_url=base, cookies=cookies, timeout=READ_TIMEOUT) as client,
        client.stream("GET", "/console/review/stream", params={"after": after}) as resp,
    ):
        assert resp.status_code == 200, resp.read()
        yield Stream(resp)


@pytest.mark.parametrize(
    ("user", "areas", "status"),
    [(None, AREAS, 303), ("partner1", AREAS, 403), ("auditor1", AREAS, 403), ("officer1", (), 409)],
)
def test_the_console_s_stream_is_refused_as_its_pages_are(
    tmp_path: Path, user: str | None, areas: Any, status: int
) -> None:
    kit = build(tmp_path, areas=areas)
    browser = sign_in(kit, user)[0] if user else kit.client
    resp = browser.get("/console/review/stream", follow_redirects=False)
    assert resp.status_code == status
    assert not resp.headers.get("content-type", "").startswith("text/event-stream")
    assert kit.deps.stream_slots.total() == 0


def test_a_client_reads_each_event_back_as_it_was_written() -> None:
    text = (
        feeds.retry(2500)
        + feeds.keepalive()
        + event("assignments", '{"a":\n1}', "c1")
        + feeds.ending("RECONNECT", "time is up")
    )
    reader = EventReader()
    got = [e for line in text.split("\n") if (e := reader.feed(line)) is not None]
    assert got == [
        feeds.Event("assignments", '{"a":\n1}', "c1"),
        feeds.Event("end", '{"code": "RECONNECT", "detail": "time is up"}', None),
    ]
    assert reader.retry_ms == 2500


@pytest.mark.parametrize("value", ["²", "1.5", "-3", "", "٣"])
def test_a_retry_that_is_not_ascii_digits_is_ignored(value: str) -> None:
    """The format takes only ASCII digits; Python's isdigit() also takes "²" and "٣"."""
    reader = EventReader()
    assert reader.feed(f"retry: {value}") is None
    assert reader.retry_ms is None
