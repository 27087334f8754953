"""The edge pipeline: frames → detections → tracks → zone dwell rules → signed events.

For each sampled frame: run the detector, update the tracker, and for every zone fold the
tracked objects of the zone's classes whose ground anchor (bottom centre of the box) is inside
the polygon into that zone's dwell state (:mod:`detectors.rules`). Each confirmation becomes
one :class:`ViolationEvent` with evidence, capture claims and the device's signature, handed
to a sink (the spool, or a folder for dry runs).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

import cv2
import numpy as np

from detectors.claims import DeviceIdentity, seal, violation_claims
from detectors.config import CameraConfig, ZoneConfig
from detectors.errors import SpoolFullError
from detectors.events import ViolationEvent
from detectors.evidence import Box, FrameStore, StoredFrame, annotate, collect
from detectors.geometry import Polygon, bottom_centres
from detectors.models.base import Detections, Detector, Image
from detectors.rules import Confirmation, DwellParams, DwellState, Observation, advance
from detectors.sinks import EventSink
from detectors.sources import Frame
from detectors.tracking import ByteTracker, TrackerParams
from schemas.glossary import ViolationType

log = logging.getLogger(__name__)

#: Device and org of dry-run claims made without a device identity (they are never sent).
UNSIGNED = "unsigned"


@dataclass(frozen=True, slots=True)
class BoundZone:
    """A zone checked against the model: its polygon, class ids and dwell parameters."""

    config: ZoneConfig
    shape: Polygon
    class_ids: frozenset[int]
    params: DwellParams
    violation_type: ViolationType


@dataclass(frozen=True, slots=True)
class FrameResult:
    frame: Frame
    tracks: Detections
    events: tuple[ViolationEvent, ...]


@dataclass(slots=True)
class Stats:
    frames: int = 0
    events: int = 0
    suppressed: int = 0
    dropped: int = 0
    started: float = field(default_factory=time.perf_counter)
    elapsed: float = 0.0

    @property
    def fps(self) -> float:
        return self.frames / self.elapsed if self.elapsed > 0 else 0.0


def tracker_for(config: CameraConfig) -> ByteTracker:
    t = config.tracking
    return ByteTracker(
        TrackerParams(
            high_threshold=t.high_threshold,
            low_threshold=t.low_threshold,
            match_iou=t.match_iou,
            lost_seconds=t.lost_seconds,
            min_hits=t.min_hits,
        )
    )


class Pipeline:
    """One camera's pipeline. Not thread-safe; feed frames in order."""

    def __init__(
        self,
        config: CameraConfig,
        detector: Detector,
        sink: EventSink,
        *,
        identity: DeviceIdentity | None = None,
        tracker: ByteTracker | None = None,
        new_event_id: Callable[[], str] = lambda: str(uuid.uuid4()),
        on_alarm: Callable[[str], None] | None = None,
    ) -> None:
        """Raises:
        UnknownClassError: a zone names a class the model does not have.
        """
        info = detector.info
        config.check_classes(info.class_names.values())
        self.config = config
        self._detector = detector
        self._sink = sink
        self._identity = identity
        self._tracker = tracker or tracker_for(config)
        self._new_event_id = new_event_id
        self._on_alarm = on_alarm or (lambda message: log.error("%s", message))
        self.zones = tuple(
            BoundZone(z, z.shape, info.class_ids(frozenset(z.classes)), z.dwell, z.flags)
            for z in config.zones
        )
        self._states = [DwellState() for _ in self.zones]
        self._store = FrameStore(config.evidence.jpeg_quality)
        self._retention = max(z.params.min_dwell + z.params.exit_grace for z in self.zones) + 1.0
        self.stats = Stats()

    def process(self, frame: Frame) -> FrameResult:
        """Run one sampled frame through the pipeline; events are already handed to the sink."""
        detections = self._detector.detect(frame.image)
        tracks = self._tracker.update(detections, frame.pts)
        assert tracks.tracker_id is not None
        anchors = bottom_centres(tracks.xyxy)
        fired: list[tuple[BoundZone, Confirmation]] = []
        for i, zone in enumerate(self.zones):
            wanted = np.isin(tracks.class_id, np.fromiter(zone.class_ids, dtype=np.int64))
            inside = wanted & zone.shape.contains_points(anchors)
            seen = [
                Observation(
                    int(tracks.tracker_id[k]),
                    frame.pts,
                    frame.index,
                    int(tracks.class_id[k]),
                    float(tracks.confidence[k]),
                    (
                        float(tracks.xyxy[k, 0]),
                        float(tracks.xyxy[k, 1]),
                        float(tracks.xyxy[k, 2]),
                        float(tracks.xyxy[k, 3]),
                    ),
                )
                for k in np.nonzero(inside)[0]
            ]
            before = self._states[i].suppressed
            self._states[i], confirmations = advance(self._states[i], seen, frame.pts, zone.params)
            self.stats.suppressed += self._states[i].suppressed - before
            fired.extend((zone, c) for c in confirmations)

        watching = any(s.watching for s in self._states)
        events: list[ViolationEvent] = []
        if watching or fired:
            stored = self._store.add(frame)
            for zone, confirmation in fired:
                event = self._emit(zone, confirmation, frame, tracks, stored)
                if event is not None:
                    events.append(event)
        if watching:
            self._store.forget_before(frame.pts - self._retention)
        else:
            self._store.clear()
        self.stats.frames += 1
        self.stats.elapsed = time.perf_counter() - self.stats.started
        return FrameResult(frame, tracks, tuple(events))

    def _emit(
        self,
        zone: BoundZone,
        confirmation: Confirmation,
        frame: Frame,
        tracks: Detections,
        stored: StoredFrame,
    ) -> ViolationEvent | None:
        obs = confirmation.observation
        episode = confirmation.episode
        names = self._detector.info.class_names
        class_name = names.get(obs.class_id, str(obs.class_id))
        started_at = frame.captured_at - dt.timedelta(seconds=frame.pts - episode.started_at)
        event = ViolationEvent(
            event_id=self._new_event_id(),
            camera_id=self.config.camera_id,
            zone_id=zone.config.id,
            zone_polygon=zone.config.polygon,
            rule=zone.config.rule,
            violation_type=zone.violation_type,
            track_id=obs.track_id,
            class_id=obs.class_id,
            class_name=class_name,
            confidence=obs.confidence,
            xyxy=obs.xyxy,
            started_at=started_at,
            confirmed_at=frame.captured_at,
            dwell_seconds=confirmation.dwell,
            min_dwell_seconds=zone.params.min_dwell,
            start_frame=episode.start_frame,
            confirm_frame=frame.index,
            start_pts=episode.started_at,
            confirm_pts=frame.pts,
        )
        picture = self._annotate(zone, event, frame.image, tracks)
        files = collect(
            self._store,
            started_at=episode.started_at,
            confirmed=stored,
            annotated=picture,
            quality=self.config.evidence.jpeg_quality,
            clip_fps=self.config.sample_fps,
            max_clip_seconds=self.config.evidence.max_clip_seconds,
        )
        place = self.config.place
        claims = violation_claims(
            event,
            files,
            self._detector.info,
            org=self._identity.org if self._identity else UNSIGNED,
            device_id=self._identity.device_id if self._identity else UNSIGNED,
            place=None if place is None else (place.lat, place.lon),
        )
        submission = seal(event.event_id, claims, files, self._identity)
        try:
            self._sink.accept(submission, event)
        except SpoolFullError as exc:
            self.stats.dropped += 1
            self._on_alarm(f"{exc.code}: event {event.event_id} lost: {exc}")
            return None
        self.stats.events += 1
        return event

    def _annotate(
        self, zone: BoundZone, event: ViolationEvent, image: Image, tracks: Detections
    ) -> Image:
        assert tracks.tracker_id is not None
        names = self._detector.info.class_names
        others = [
            Box(
                (float(b[0]), float(b[1]), float(b[2]), float(b[3])),
                f"#{int(tid)} {names.get(int(c), str(int(c)))}",
            )
            for b, c, tid in zip(tracks.xyxy, tracks.class_id, tracks.tracker_id, strict=True)
            if int(tid) != event.track_id and int(c) in zone.class_ids
        ]
        subject = Box(event.xyxy, f"#{event.track_id} {event.class_name} {event.confidence:.2f}")
        caption = [
            f"{event.camera_id}  zone {event.zone_id}  {event.rule.value} -> "
            f"{event.violation_type.value}",
            f"{event.confirmed_at:%Y-%m-%d %H:%M:%S}Z  dwell {event.dwell_seconds:.1f}s"
            f" >= {event.min_dwell_seconds:g}s",
        ]
        return annotate(image, zone.shape, subject, others, caption)

    def run(
        self,
        frames: Iterable[Frame],
        *,
        on_result: Callable[[FrameResult], None] | None = None,
        max_frames: int | None = None,
    ) -> Stats:
        """Process frames until the source ends (or ``max_frames``); returns the totals."""
        for frame in frames:
            result = self.process(frame)
            if on_result is not None:
                on_result(result)
            if max_frames is not None and self.stats.frames >= max_frames:
                break
        return self.stats


def preview(result: FrameResult, zones: Iterable[BoundZone], names: Mapping[int, str]) -> Image:
    """An annotated copy of a frame: every zone and every tracked object (for dry runs)."""
    out = result.frame.image.copy()
    for zone in zones:
        pts = np.array(zone.shape.points, dtype=np.int32).reshape(-1, 1, 2)
        cv2.polylines(out, [pts], True, (0, 220, 255), 2)
        x, y = zone.shape.points[0]
        cv2.putText(
            out,
            zone.config.id,
            (round(x), round(y) - 4),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.5,
            (0, 220, 255),
            1,
        )
    tracks = result.tracks
    ids = tracks.tracker_id if tracks.tracker_id is not None else np.zeros(len(tracks), np.int64)
    for b, c, tid in zip(tracks.xyxy, tracks.class_id, ids, strict=True):
        x1, y1, x2, y2 = (round(float(v)) for v in b)
        cv2.rectangle(out, (x1, y1), (x2, y2), (0, 255, 0), 1)
        label = f"#{int(tid)} {names.get(int(c), str(int(c)))}"
        cv2.putText(
            out, label, (x1, max(12, y1 - 3)), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 255, 0), 1
        )
    return out
