"""Where finished submissions go: the durable spool (live runs) or a folder (dry runs)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Protocol

from detectors.events import Submission, ViolationEvent
from detectors.spool import Spool


class EventSink(Protocol):
    def accept(self, submission: Submission, event: ViolationEvent | None) -> None:
        """Take ownership of one submission.

        Raises:
            SpoolFullError: the sink has no room (the event is lost; the caller alarms).
            DetectorError: the sink cannot store it.
        """
        ...


class SpoolSink:
    """Live runs: submissions go to the spool; the deliverer sends them."""

    def __init__(self, spool: Spool) -> None:
        self._spool = spool

    def accept(self, submission: Submission, event: ViolationEvent | None) -> None:
        self._spool.put(submission)


class DirectorySink:
    """Dry runs: each submission becomes a folder ``events/<event_id>/`` with its claims,
    signature (when signed), certificate and evidence files, and one line in
    ``events.jsonl``. Nothing is sent anywhere.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "events").mkdir(parents=True, exist_ok=True)
        self.count = 0

    def accept(self, submission: Submission, event: ViolationEvent | None) -> None:
        folder = self.root / "events" / submission.event_id
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "claims.json").write_bytes(submission.claims)
        if submission.signed:
            (folder / "claims.sig").write_bytes(submission.signature)
            (folder / "device.pem").write_bytes(submission.certificate)
        for f in submission.files:
            (folder / f.name).write_bytes(f.data)
        summary: dict[str, object] = {"event_id": submission.event_id, "signed": submission.signed}
        if event is not None:
            summary |= {
                "zone": event.zone_id,
                "rule": event.rule.value,
                "violation_type": event.violation_type.value,
                "track_id": event.track_id,
                "class": event.class_name,
                "confidence": round(event.confidence, 4),
                "bbox": [round(v) for v in event.xyxy],
                "started_at": event.started_at.isoformat(),
                "confirmed_at": event.confirmed_at.isoformat(),
                "start_pts": round(event.start_pts, 3),
                "confirm_pts": round(event.confirm_pts, 3),
                "dwell_seconds": round(event.dwell_seconds, 3),
            }
        with (self.root / "events.jsonl").open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(summary, ensure_ascii=False) + "\n")
        self.count += 1
