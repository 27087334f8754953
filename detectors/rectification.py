"""Rectification check: after a reminder, watch a zone until it has stayed clear long enough.

The decision is a pure fold over (occupied?, time) pairs, :func:`advance_watch`: the zone is
*rectified* once no object of the watched classes has been in it for ``clear_seconds`` in a
row (any sighting restarts the count, so a flickering detector errs towards "not yet"), and
*not rectified* if ``deadline_seconds`` pass first. :class:`RectificationCheck` wraps it with
frames and detections and produces a signed submission with evidence when it decides.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum

import numpy as np

from detectors.claims import DeviceIdentity, media_refs, seal
from detectors.config import ZoneConfig
from detectors.events import Submission
from detectors.evidence import JPEG, Box, EvidenceFile, annotate, encode_jpeg
from detectors.geometry import Polygon, bottom_centres
from detectors.models.base import Detections, ModelInfo
from detectors.rules import violation_type_for
from detectors.sources import Frame
from schemas.claims import Place, RectificationClaims
from schemas.rectification import RectificationRequest


class RectificationStatus(StrEnum):
    WATCHING = "watching"
    RECTIFIED = "rectified"
    NOT_RECTIFIED = "not_rectified"


@dataclass(frozen=True, slots=True)
class WatchState:
    started_at: float
    clear_since: float | None = None
    status: RectificationStatus = RectificationStatus.WATCHING
    decided_at: float | None = None


def zone_occupied(detections: Detections, zone: Polygon, class_ids: Collection[int]) -> bool:
    """Some detection of ``class_ids`` has its ground anchor inside ``zone``."""
    wanted = np.isin(detections.class_id, np.fromiter(class_ids, dtype=np.int64))
    if not wanted.any():
        return False
    return bool(zone.contains_points(bottom_centres(detections.xyxy[wanted])).any())


def advance_watch(
    state: WatchState,
    occupied: bool,
    t: float,
    clear_seconds: float,
    deadline_seconds: float | None = None,
) -> WatchState:
    """Fold one observation at time ``t`` into the watch (a decided watch stays decided)."""
    if state.status is not RectificationStatus.WATCHING:
        return state
    clear_since = None if occupied else (state.clear_since if state.clear_since is not None else t)
    if clear_since is not None and t - clear_since >= clear_seconds:
        return WatchState(state.started_at, clear_since, RectificationStatus.RECTIFIED, t)
    if deadline_seconds is not None and t - state.started_at >= deadline_seconds:
        return WatchState(state.started_at, clear_since, RectificationStatus.NOT_RECTIFIED, t)
    return replace(state, clear_since=clear_since)


@dataclass(frozen=True, slots=True)
class RectificationReport:
    status: RectificationStatus
    submission: Submission


class RectificationCheck:
    """Watch one zone for one reminder; feed it every sampled frame and its detections."""

    def __init__(
        self,
        *,
        camera_id: str,
        zone: ZoneConfig,
        model: ModelInfo,
        clear_seconds: float,
        flag_id: str,
        deadline_seconds: float | None = None,
        place: Place | None = None,
        identity: DeviceIdentity | None = None,
        jpeg_quality: int = 85,
        new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
    ) -> None:
        self._camera_id = camera_id
        self._zone = zone
        self._shape = zone.shape
        self._model = model
        self._class_ids = model.class_ids(frozenset(zone.classes))
        self._clear_seconds = clear_seconds
        self._deadline = deadline_seconds
        self._flag_id = flag_id
        self._place = place
        self._identity = identity
        self._quality = jpeg_quality
        self._new_id = new_id
        self._state: WatchState | None = None
        self._started: Frame | None = None
        self._clear_frame: Frame | None = None

    @property
    def state(self) -> WatchState | None:
        return self._state

    def observe(self, frame: Frame, detections: Detections) -> RectificationReport | None:
        """Fold one frame in; returns the report once (when the watch decides)."""
        occupied = zone_occupied(detections, self._shape, self._class_ids)
        if self._state is None:
            self._state = WatchState(frame.pts)
            self._started = frame
        before = self._state
        self._state = advance_watch(
            before, occupied, frame.pts, self._clear_seconds, self._deadline
        )
        if self._state.clear_since is None:
            self._clear_frame = None
        elif self._clear_frame is None:
            self._clear_frame = frame
        if (
            before.status is RectificationStatus.WATCHING
            and self._state.status is not before.status
        ):
            return self._report(frame, detections)
        return None

    def _report(self, frame: Frame, detections: Detections) -> RectificationReport:
        state = self._state
        assert state is not None
        assert self._started is not None
        names = self._model.class_names
        in_zone = [
            Box(
                (float(d[0]), float(d[1]), float(d[2]), float(d[3])), f"{names.get(int(c))} {s:.2f}"
            )
            for d, c, s in zip(
                detections.xyxy, detections.class_id, detections.confidence, strict=True
            )
            if int(c) in self._class_ids
        ]
        status = state.status
        caption = [
            f"{self._camera_id}  zone {self._zone.id}  {status.value.upper()}",
            f"{frame.captured_at:%Y-%m-%d %H:%M:%S}Z  clear for"
            f" {0.0 if state.clear_since is None else frame.pts - state.clear_since:.1f}s"
            f" (need {self._clear_seconds:g}s)",
        ]
        picture = annotate(frame.image, self._shape, None, in_zone, caption)
        files: list[EvidenceFile] = []
        if self._clear_frame is not None:
            files.append(self._keyframe("clear-start", self._clear_frame))
        files.append(self._keyframe("confirm", frame))
        files.append(
            EvidenceFile(
                "annotated.jpg",
                "annotated",
                JPEG,
                encode_jpeg(picture, self._quality),
                frame.index,
                frame.captured_at,
            )
        )
        clear_since = None if self._clear_frame is None else self._clear_frame.captured_at
        event_id = self._new_id()
        claims = RectificationClaims(
            event_id=event_id,
            flag_id=self._flag_id,
            org=self._identity.org if self._identity else "unsigned",
            device_id=self._identity.device_id if self._identity else "unsigned",
            camera_id=self._camera_id,
            captured_at=frame.captured_at,
            zone=self._zone.id,
            rule=self._zone.rule.value,
            violation_type=violation_type_for(self._zone.rule, self._zone.violation_type),
            place=self._place,
            classes=list(self._zone.classes),
            status="rectified" if status is RectificationStatus.RECTIFIED else "not_rectified",
            watch_started_at=self._started.captured_at,
            clear_since=clear_since,
            clear_seconds=self._clear_seconds,
            model_sha256=self._model.digest,
            media=media_refs(files),
        )
        return RectificationReport(status, seal(event_id, claims, files, self._identity))

    def _keyframe(self, role: str, frame: Frame) -> EvidenceFile:
        return EvidenceFile(
            f"keyframe-{role}.jpg",
            f"keyframe_{role.replace('-', '_')}",
            JPEG,
            encode_jpeg(frame.image, self._quality),
            frame.index,
            frame.captured_at,
        )


class RectificationWatcher:
    """The camera's side of the gateway's rectification requests.

    The delivery side hands it the gateway's open requests (:meth:`offer`, any thread); the
    pipeline feeds it every sampled frame with its detections (:meth:`observe`, the pipeline
    thread). A request for this camera and one of its zones starts a
    :class:`RectificationCheck` at the next frame, with the time left to the request's
    deadline; when the check decides, its signed report goes to ``sink`` (the spool), and the
    request is not watched again.
    """

    def __init__(
        self,
        *,
        camera_id: str,
        zones: Sequence[ZoneConfig],
        model: ModelInfo,
        sink: Callable[[Submission], object],
        place: Place | None = None,
        identity: DeviceIdentity | None = None,
        jpeg_quality: int = 85,
        new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
    ) -> None:
        self._camera_id = camera_id
        self._zones = {z.id: z for z in zones}
        self._model = model
        self._sink = sink
        self._place = place
        self._identity = identity
        self._quality = jpeg_quality
        self._new_id = new_id
        self._lock = threading.Lock()
        self._offered: dict[str, RectificationRequest] = {}
        self._active: dict[str, RectificationCheck] = {}
        self._done: set[str] = set()

    def offer(self, requests: Iterable[RectificationRequest]) -> list[str]:
        """Take the gateway's pending requests; returns the flag ids newly accepted (requests
        for another camera or an unknown zone are left alone)."""
        accepted = []
        with self._lock:
            for r in requests:
                known = r.flag_id in self._offered or r.flag_id in self._active
                if known or r.flag_id in self._done:
                    continue
                if r.camera_id != self._camera_id or r.zone not in self._zones:
                    continue
                self._offered[r.flag_id] = r
                accepted.append(r.flag_id)
        return accepted

    @property
    def watching(self) -> list[str]:
        with self._lock:
            return sorted([*self._offered, *self._active])

    def observe(self, frame: Frame, detections: Detections) -> list[RectificationReport]:
        """Fold one frame into every active check; the reports decided on this frame."""
        with self._lock:
            for flag_id, request in self._offered.items():
                left = (request.deadline - frame.captured_at).total_seconds()
                self._active[flag_id] = RectificationCheck(
                    camera_id=self._camera_id,
                    zone=self._zones[request.zone],
                    model=self._model,
                    clear_seconds=request.clear_seconds,
                    flag_id=flag_id,
                    deadline_seconds=max(left, 0.0),
                    place=self._place,
                    identity=self._identity,
                    jpeg_quality=self._quality,
                    new_id=self._new_id,
                )
            self._offered.clear()
            active = list(self._active.items())
        reports = []
        for flag_id, check in active:
            report = check.observe(frame, detections)
            if report is None:
                continue
            self._sink(report.submission)
            reports.append(report)
            with self._lock:
                del self._active[flag_id]
                self._done.add(flag_id)
        return reports
