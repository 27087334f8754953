"""Rectification requests: after a co-governance reminder, the camera that raised the flag is
asked to watch its zone and report whether it was cleared.

The reminder itself is on the ledger (``AdvanceViolation`` to ``reminded``); the request is
this gateway's own work list for its devices, kept in one SQLite file. A device polls
``GET /devices/rectification-requests`` and answers with signed rectification claims and its
keyframes through ``POST /devices/submissions``; the files become evidence on the ledger like
any capture, and the report is attached to the request, where reviewers see it. Moving the
flag to ``rectified`` stays a person's decision (an officer, citing those evidence ids).
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pydantic import BaseModel

from schemas.rectification import RectificationRequest, RequestStatus


class RectificationPolicy(BaseModel):
    """What a reminder asks of the camera: how long the zone must stay clear, and by when."""

    clear_seconds: float = 120.0
    within: dt.timedelta = dt.timedelta(hours=2)


class RequestConflict(Exception):
    """A report for a flag with no pending request for this device."""


_SCHEMA = """
CREATE TABLE IF NOT EXISTS rectification_requests (
    flag_id TEXT PRIMARY KEY,
    device_id TEXT NOT NULL,
    body TEXT NOT NULL,
    status TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_rectification_device
    ON rectification_requests (device_id, status);
"""


class RectificationRequests:
    """The requests in ``path`` (SQLite, WAL); safe across the gateway's threads."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def open(self, request: RectificationRequest) -> RectificationRequest:
        """Record ``request``; a second reminder of the same flag keeps the first request."""
        with self._tx() as db:
            db.execute(
                "INSERT OR IGNORE INTO rectification_requests VALUES (?, ?, ?, ?)",
                (
                    request.flag_id,
                    request.device_id,
                    request.model_dump_json(),
                    request.status.value,
                ),
            )
        held = self.get(request.flag_id)
        assert held is not None
        return held

    def get(self, flag_id: str) -> RectificationRequest | None:
        with self._lock:
            row = self._db.execute(
                "SELECT body FROM rectification_requests WHERE flag_id = ?", (flag_id,)
            ).fetchone()
        return None if row is None else RectificationRequest.model_validate_json(row[0])

    def pending_for(self, device_id: str, limit: int = 50) -> list[RectificationRequest]:
        with self._lock:
            rows = self._db.execute(
                "SELECT body FROM rectification_requests WHERE device_id = ? AND status = ?"
                " ORDER BY flag_id LIMIT ?",
                (device_id, RequestStatus.PENDING.value, limit),
            ).fetchall()
        return [RectificationRequest.model_validate_json(r[0]) for r in rows]

    def check_reportable(self, flag_id: str, device_id: str, event_id: str) -> RectificationRequest:
        """The request report ``event_id`` from ``device_id`` answers (checked before its files
        are stored, so a refused report leaves nothing behind).

        Raises:
            RequestConflict: none for that flag and device, or answered by another report.
        """
        request = self.get(flag_id)
        if request is None or request.device_id != device_id:
            raise RequestConflict(f"no rectification was requested of {device_id} for {flag_id}")
        if request.status is RequestStatus.REPORTED and request.report_event_id != event_id:
            raise RequestConflict(f"{flag_id} already has the report {request.report_event_id}")
        return request

    def report(
        self,
        flag_id: str,
        device_id: str,
        *,
        outcome: str,
        event_id: str,
        evidence_ids: list[str],
        at: dt.datetime,
    ) -> RectificationRequest:
        """Attach the device's report; a replay of the same report changes nothing.

        Raises:
            RequestConflict: no request for this flag and device, or another report already.
        """
        with self._tx() as db:
            row = db.execute(
                "SELECT body FROM rectification_requests WHERE flag_id = ?", (flag_id,)
            ).fetchone()
            if row is None:
                raise RequestConflict(f"no rectification was requested for {flag_id}")
            request = RectificationRequest.model_validate_json(row[0])
            if request.device_id != device_id:
                raise RequestConflict(f"the rectification of {flag_id} was asked of another device")
            if request.status is RequestStatus.REPORTED:
                if request.report_event_id == event_id:
                    return request
                raise RequestConflict(f"{flag_id} already has the report {request.report_event_id}")
            done = request.model_copy(
                update={
                    "status": RequestStatus.REPORTED,
                    "outcome": outcome,
                    "report_event_id": event_id,
                    "evidence_ids": evidence_ids,
                    "reported_at": at,
                }
            )
            db.execute(
                "UPDATE rectification_requests SET body = ?, status = ? WHERE flag_id = ?",
                (done.model_dump_json(), done.status.value, flag_id),
            )
        return done
