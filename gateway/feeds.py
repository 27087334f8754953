"""Pushes to handhelds and to the console's pages as server-sent events
(``text/event-stream``, WHATWG HTML, "Server-sent events"): the wire format, how a stream is
kept alive and how long it lives, and how many one person may hold open.

A stream ends by itself after ``lifetime_seconds``. A client that follows the format (a
browser's ``EventSource``, the demo's handheld) reconnects after ``retry_ms`` and sends the
id of the last event it got, which is the feed's cursor: nothing is lost or repeated across
the reconnection, and each reconnection authenticates again. Between events a comment line
every ``keepalive_seconds`` keeps mobile networks and proxies from dropping an idle
connection. The caller's credentials are checked again before each event and each
keep-alive, so a revoked token or a changed role ends the stream within one interval, and
no change reaches a caller who is no longer admitted.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass

MEDIA_TYPE = "text/event-stream"


@dataclass(frozen=True)
class StreamPolicy:
    keepalive_seconds: float = 15.0
    lifetime_seconds: float = 300.0
    retry_ms: int = 3000
    # Streams one person may hold at once: a phone and a tablet, and one reconnecting
    # before the gateway noticed the old connection gone (at the next keep-alive).
    per_user: int = 3


class StreamSlots:
    """Open streams per person, at most a policy's ``per_user`` each: a client that leaks
    connections cannot hold the gateway's."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: dict[str, int] = {}

    def take(self, user: str, limit: int) -> bool:
        """One more stream for ``user``, unless ``limit`` are open (False)."""
        with self._lock:
            held = self._open.get(user, 0)
            if held >= limit:
                return False
            self._open[user] = held + 1
            return True

    def give_back(self, user: str) -> None:
        with self._lock:
            held = self._open.get(user, 0) - 1
            if held > 0:
                self._open[user] = held
            else:
                self._open.pop(user, None)

    def held(self, user: str) -> int:
        with self._lock:
            return self._open.get(user, 0)

    def total(self) -> int:
        with self._lock:
            return sum(self._open.values())


def event(name: str, data: str, event_id: str | None = None) -> str:
    """One event; ``event_id`` is what the client sends back as ``Last-Event-ID``."""
    for field in (name, event_id or ""):
        if "\n" in field or "\r" in field:  # would end the field early
            raise ValueError(f"an event's name and id are one line each: {field!r}")
    head = f"event: {name}\n" + ("" if event_id is None else f"id: {event_id}\n")
    return head + "".join(f"data: {line}\n" for line in data.split("\n")) + "\n"


def ending(code: str, detail: str) -> str:
    """The last event of a stream: why it ends (``RECONNECT``: ask again)."""
    return event("end", json.dumps({"code": code, "detail": detail}))


def keepalive() -> str:
    return ": keep-alive\n\n"


def retry(ms: int) -> str:
    """How long a client waits before it reconnects."""
    return f"retry: {ms}\n\n"


@dataclass(frozen=True)
class Event:
    name: str
    data: str
    id: str | None  # None: the event set no id


class EventReader:
    """A client's side of the format: feed it the stream's lines, one at a time, and it
    returns each event once the blank line that ends it arrives. Comments are dropped; the
    last ``retry`` the server asked for is kept."""

    def __init__(self) -> None:
        self.retry_ms: int | None = None
        self._name = "message"
        self._id: str | None = None
        self._data: list[str] = []

    def feed(self, line: str) -> Event | None:
        if not line:
            if not self._data:
                self._name, self._id = "message", None
                return None
            done = Event(self._name, "\n".join(self._data), self._id)
            self._name, self._id, self._data = "message", None, []
            return done
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "event":
            self._name = value
        elif field == "data":
            self._data.append(value)
        elif field == "id":
            self._id = value
        elif field == "retry" and value.isascii() and value.isdigit():  # "²" is a digit too
            self.retry_ms = int(value)
        return None
