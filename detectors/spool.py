"""A durable spool of submissions in SQLite: events survive restarts and outages.

Each event is written in one transaction (claims, signature, certificate and every evidence
file) with ``synchronous=FULL``, so after :meth:`Spool.put` returns the event is on disk.
Disk use is bounded: :meth:`Spool.put` refuses an event that would take the database past
``max_bytes`` with :class:`SpoolFullError` (the caller raises the alarm; nothing is dropped
silently), and warns through ``on_alarm`` (``SPOOL_HIGH``) once use passes ``warn_ratio``.
Delivered events keep their claims and signature (a few kB, the device's own record of what
it sent) and lose their evidence bytes, which is where the space is.

One :class:`Spool` object per thread; several may open the same file (WAL mode).
"""

from __future__ import annotations

import datetime as dt
import logging
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from detectors.errors import SpoolError, SpoolFullError
from detectors.events import Submission
from detectors.evidence import EvidenceFile

log = logging.getLogger(__name__)

PENDING, DELIVERED, REJECTED = "pending", "delivered", "rejected"
# Per-event bookkeeping beyond the payload bytes (row headers, index entries).
_ROW_OVERHEAD = 4096

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    event_id        TEXT PRIMARY KEY,
    created_at      REAL NOT NULL,
    claims          BLOB NOT NULL,
    signature       BLOB NOT NULL,
    certificate     BLOB NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'rejected')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    last_error      TEXT,
    finished_at     REAL,
    receipt         TEXT
);
CREATE INDEX IF NOT EXISTS events_due ON events (status, next_attempt_at);
CREATE TABLE IF NOT EXISTS files (
    event_id    TEXT NOT NULL REFERENCES events (event_id) ON DELETE CASCADE,
    position    INTEGER NOT NULL,
    name        TEXT NOT NULL,
    role        TEXT NOT NULL,
    media_type  TEXT NOT NULL,
    frame_index INTEGER,
    captured_at TEXT,
    data        BLOB NOT NULL,
    PRIMARY KEY (event_id, position)
);
"""


@dataclass(frozen=True, slots=True)
class SpoolUsage:
    used_bytes: int
    max_bytes: int
    pending: int
    delivered: int
    rejected: int

    @property
    def ratio(self) -> float:
        return self.used_bytes / self.max_bytes


@dataclass(frozen=True, slots=True)
class DueEvent:
    event_id: str
    attempts: int


class Spool:
    """Submissions waiting for delivery, on disk.

    Raises (from every method): SpoolError when SQLite fails (disk error, corrupt file).
    """

    def __init__(
        self,
        path: Path,
        max_bytes: int,
        *,
        clock: Callable[[], float] = time.time,
        warn_ratio: float = 0.8,
        on_alarm: Callable[[str], None] | None = None,
    ) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self._clock = clock
        self._warn_ratio = warn_ratio
        self._on_alarm = on_alarm or (lambda message: log.error("%s", message))
        self._warned = False
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(path), timeout=30.0, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.executescript(_SCHEMA)
        except (sqlite3.Error, OSError) as exc:
            raise SpoolError(f"cannot open spool {path}: {exc}") from None

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _used_bytes(self) -> int:
        page_size = self._db.execute("PRAGMA page_size").fetchone()[0]
        pages = self._db.execute("PRAGMA page_count").fetchone()[0]
        free = self._db.execute("PRAGMA freelist_count").fetchone()[0]
        return int((pages - free) * page_size)

    def put(self, submission: Submission) -> bool:
        """Store a signed submission durably; ``False`` if its event id is already spooled.

        Raises:
            SpoolFullError: storing it would pass ``max_bytes`` (it is NOT stored).
            SpoolError: the submission is unsigned, or SQLite failed.
        """
        if not submission.signed:
            raise SpoolError(f"event {submission.event_id} is unsigned; only signed events spool")
        needed = submission.size + _ROW_OVERHEAD
        try:
            used = self._used_bytes()
            if used + needed > self.max_bytes:
                raise SpoolFullError(used, needed, self.max_bytes)  # the caller alarms
            now = self._clock()
            self._db.execute("BEGIN IMMEDIATE")
            try:
                inserted = self._db.execute(
                    "INSERT OR IGNORE INTO events (event_id, created_at, claims, signature,"
                    " certificate, status, next_attempt_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        submission.event_id,
                        now,
                        submission.claims,
                        submission.signature,
                        submission.certificate,
                        PENDING,
                        now,
                    ),
                ).rowcount
                if inserted:
                    self._db.executemany(
                        "INSERT INTO files (event_id, position, name, role, media_type,"
                        " frame_index, captured_at, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        [
                            (
                                submission.event_id,
                                i,
                                f.name,
                                f.role,
                                f.media_type,
                                f.frame_index,
                                f.captured_at.isoformat() if f.captured_at else None,
                                f.data,
                            )
                            for i, f in enumerate(submission.files)
                        ],
                    )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._check_warning(used + needed)
            return bool(inserted)
        except sqlite3.Error as exc:
            raise SpoolError(f"cannot write spool {self.path}: {exc}") from None

    def _check_warning(self, used: int) -> None:
        ratio = used / self.max_bytes
        if ratio >= self._warn_ratio and not self._warned:
            self._warned = True
            self._on_alarm(
                f"SPOOL_HIGH: spool {self.path} is {ratio:.0%} full"
                f" ({used} of {self.max_bytes} bytes); is the gateway reachable?"
            )
        elif ratio < self._warn_ratio:
            self._warned = False

    def due(self, limit: int = 50) -> list[DueEvent]:
        """Pending events whose next attempt is due, oldest first."""
        rows = self._query(
            "SELECT event_id, attempts FROM events WHERE status = ? AND next_attempt_at <= ?"
            " ORDER BY created_at, event_id LIMIT ?",
            (PENDING, self._clock(), limit),
        )
        return [DueEvent(str(r[0]), int(r[1])) for r in rows]

    def next_attempt_at(self) -> float | None:
        """When the earliest pending event is due (``None`` when nothing is pending)."""
        rows = self._query("SELECT MIN(next_attempt_at) FROM events WHERE status = ?", (PENDING,))
        value = rows[0][0] if rows else None
        return None if value is None else float(value)

    def load(self, event_id: str) -> Submission:
        """The stored submission (files included) of a pending event.

        Raises:
            SpoolError: no such event, or its files were already released.
        """
        rows = self._query(
            "SELECT claims, signature, certificate, status FROM events WHERE event_id = ?",
            (event_id,),
        )
        if not rows:
            raise SpoolError(f"event {event_id} is not in the spool")
        claims, signature, certificate, status = rows[0]
        if status != PENDING:
            raise SpoolError(f"event {event_id} is {status}; its files were released")
        files = self._query(
            "SELECT name, role, media_type, data, frame_index, captured_at FROM files"
            " WHERE event_id = ? ORDER BY position",
            (event_id,),
        )
        return Submission(
            event_id,
            bytes(claims),
            bytes(signature),
            bytes(certificate),
            tuple(
                EvidenceFile(
                    str(f[0]),
                    str(f[1]),
                    str(f[2]),
                    bytes(f[3]),
                    None if f[4] is None else int(f[4]),
                    None if f[5] is None else dt.datetime.fromisoformat(f[5]),
                )
                for f in files
            ),
        )

    def mark_delivered(self, event_id: str, receipt: str) -> None:
        """Record delivery and release the evidence bytes."""
        self._finish(event_id, DELIVERED, receipt=receipt, error=None)

    def mark_rejected(self, event_id: str, error: str) -> None:
        """Record a permanent refusal; the files stay for a person to inspect."""
        self._finish(event_id, REJECTED, receipt=None, error=error)

    def _finish(self, event_id: str, status: str, receipt: str | None, error: str | None) -> None:
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute(
                    "UPDATE events SET status = ?, finished_at = ?, receipt = ?,"
                    " last_error = COALESCE(?, last_error), attempts = attempts + 1"
                    " WHERE event_id = ? AND status = ?",
                    (status, self._clock(), receipt, error, event_id, PENDING),
                )
                if status == DELIVERED:
                    self._db.execute("DELETE FROM files WHERE event_id = ?", (event_id,))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise SpoolError(f"cannot update spool {self.path}: {exc}") from None

    def mark_retry(self, event_id: str, error: str, next_attempt_at: float) -> None:
        self._execute(
            "UPDATE events SET attempts = attempts + 1, last_error = ?, next_attempt_at = ?"
            " WHERE event_id = ? AND status = ?",
            (error, next_attempt_at, event_id, PENDING),
        )

    def status(self, event_id: str) -> str | None:
        rows = self._query("SELECT status FROM events WHERE event_id = ?", (event_id,))
        return str(rows[0][0]) if rows else None

    def usage(self) -> SpoolUsage:
        counts = dict.fromkeys((PENDING, DELIVERED, REJECTED), 0)
        for status, count in self._query("SELECT status, COUNT(*) FROM events GROUP BY status"):
            counts[str(status)] = int(count)
        try:
            used = self._used_bytes()
        except sqlite3.Error as exc:
            raise SpoolError(f"cannot read spool {self.path}: {exc}") from None
        return SpoolUsage(
            used, self.max_bytes, counts[PENDING], counts[DELIVERED], counts[REJECTED]
        )

    def purge_delivered(self, older_than: float) -> int:
        """Forget delivered events finished before ``older_than`` (epoch seconds)."""
        return self._execute(
            "DELETE FROM events WHERE status = ? AND finished_at < ?", (DELIVERED, older_than)
        )

    def _query(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[Any, ...]]:
        try:
            return list(self._db.execute(sql, params).fetchall())
        except sqlite3.Error as exc:
            raise SpoolError(f"cannot read spool {self.path}: {exc}") from None

    def _execute(self, sql: str, params: tuple[object, ...]) -> int:
        try:
            return int(self._db.execute(sql, params).rowcount)
        except sqlite3.Error as exc:
            raise SpoolError(f"cannot update spool {self.path}: {exc}") from None
