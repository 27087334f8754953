"""The durable spool: survives restarts, bounded, releases evidence once delivered."""

from __future__ import annotations

from pathlib import Path

import pytest

from detectors.errors import SpoolError, SpoolFullError
from detectors.events import Submission
from detectors.evidence import EvidenceFile
from detectors.spool import DELIVERED, PENDING, REJECTED, Spool


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def submission(event_id: str, size: int = 20_000) -> Submission:
    files = (
        EvidenceFile("keyframe-start.jpg", "keyframe_start", "image/jpeg", b"\xff" * size, 5),
        EvidenceFile("clip.avi", "clip", "video/x-msvideo", b"\x00" * size),
    )
    return Submission(event_id, b'{"event_id":"%s"}' % event_id.encode(), b"sig", b"cert", files)


def test_events_survive_a_restart_byte_for_byte(tmp_path: Path) -> None:
    path = tmp_path / "spool.sqlite"
    with Spool(path, 10_000_000) as spool:
        assert spool.put(submission("evt-1"))
        assert spool.put(submission("evt-2"))
        assert not spool.put(submission("evt-1"))  # same event again: stored once
    with Spool(path, 10_000_000) as reopened:
        assert [d.event_id for d in reopened.due()] == ["evt-1", "evt-2"]
        assert reopened.load("evt-1") == submission("evt-1")


def test_a_full_spool_refuses_with_an_alarm_and_keeps_nothing(tmp_path: Path) -> None:
    alarms: list[str] = []
    with Spool(tmp_path / "s.sqlite", 1_000_000, on_alarm=alarms.append) as spool:
        stored = 0
        while spool.usage().used_bytes + 300_000 < spool.max_bytes:
            spool.put(submission(f"evt-{stored}", size=100_000))
            stored += 1
        with pytest.raises(SpoolFullError) as caught:
            spool.put(submission("evt-too-many", size=100_000))
        assert caught.value.code == "SPOOL_FULL"
        assert "the event was NOT recorded" in str(caught.value)
        assert spool.usage().pending == stored
        assert len(alarms) == 1  # the high-water warning, once
        assert alarms[0].startswith("SPOOL_HIGH")
        # Delivering frees the evidence bytes, and new events fit again.
        for due in spool.due(limit=100):
            spool.mark_delivered(due.event_id, "{}")
        spool.put(submission("evt-after", size=100_000))
        assert spool.usage().pending == 1


def test_states_and_retry_bookkeeping(tmp_path: Path) -> None:
    clock = Clock()
    with Spool(tmp_path / "s.sqlite", 10_000_000, clock=clock) as spool:
        for name in ("a", "b", "c"):
            spool.put(submission(name))
        spool.mark_retry("a", "gateway unreachable", clock.now + 30)
        spool.mark_delivered("b", '{"event_id": "b"}')
        spool.mark_rejected("c", "422 BAD_CLAIMS")
        assert spool.due() == []
        assert spool.next_attempt_at() == clock.now + 30
        clock.now += 31
        (due,) = spool.due()
        assert (due.event_id, due.attempts) == ("a", 1)
        assert [spool.status(n) for n in "abc"] == [PENDING, DELIVERED, REJECTED]
        with pytest.raises(SpoolError, match="delivered; its files were released"):
            spool.load("b")
        usage = spool.usage()
        assert (usage.pending, usage.delivered, usage.rejected) == (1, 1, 1)
        assert spool.purge_delivered(clock.now + 1) == 1


def test_unsigned_submissions_never_spool(tmp_path: Path) -> None:
    with (
        Spool(tmp_path / "s.sqlite", 10_000_000) as spool,
        pytest.raises(SpoolError, match="unsigned"),
    ):
        spool.put(Submission("evt-x", b"{}", b"", b"", ()))


def test_a_corrupt_spool_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(SpoolError, match="cannot open spool") as caught:
        Spool(path, 10_000_000)
    assert caught.value.code == "SPOOL_ERROR"
