"""Evidence for one confirmation: keyframes, an annotated frame and a short clip.

Frames are kept (JPEG-encoded, in a :class:`FrameStore`) only while some episode may still
confirm, so an empty street costs no encoding. For a confirmation the evidence is:

``keyframe-start.jpg``    the frame where the object entered the zone
``keyframe-middle.jpg``   the stored frame nearest the middle of the stay
``keyframe-confirm.jpg``  the frame at which the minimum dwell was reached
``annotated.jpg``         the confirmation frame with the zone, the object's box (red), the
                          other tracked objects of the zone's classes (orange) and a caption
``clip.avi``              the sampled frames from entry to confirmation (Motion-JPEG, at the
                          sampling rate, at most ``max_clip_seconds`` ending at confirmation)
"""

from __future__ import annotations

import datetime as dt
import tempfile
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

from detectors.geometry import Polygon
from detectors.models.base import Image
from detectors.sources import Frame
from schemas.hashes import Digest

JPEG = "image/jpeg"
AVI = "video/x-msvideo"


@dataclass(frozen=True, slots=True)
class EvidenceFile:
    """One evidence file: its name in the submission, what it shows, and its bytes."""

    name: str
    role: str
    media_type: str
    data: bytes
    frame_index: int | None = None
    captured_at: dt.datetime | None = None

    @property
    def digest(self) -> Digest:
        return Digest.of(self.data)


@dataclass(frozen=True, slots=True)
class StoredFrame:
    index: int
    pts: float
    captured_at: dt.datetime
    jpeg: bytes


def encode_jpeg(image: Image, quality: int) -> bytes:
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return buf.tobytes()


def decode_jpeg(data: bytes) -> Image:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError("not a JPEG image")
    return np.asarray(image, dtype=np.uint8)


class FrameStore:
    """Recent sampled frames, JPEG-encoded, for keyframes and clips."""

    def __init__(self, quality: int = 85) -> None:
        self._quality = quality
        self._frames: deque[StoredFrame] = deque()

    def __len__(self) -> int:
        return len(self._frames)

    def add(self, frame: Frame) -> StoredFrame:
        if self._frames and self._frames[-1].index == frame.index:
            return self._frames[-1]
        stored = StoredFrame(
            frame.index, frame.pts, frame.captured_at, encode_jpeg(frame.image, self._quality)
        )
        self._frames.append(stored)
        return stored

    def forget_before(self, pts: float) -> None:
        while self._frames and self._frames[0].pts < pts:
            self._frames.popleft()

    def clear(self) -> None:
        self._frames.clear()

    def between(self, start: float, end: float) -> list[StoredFrame]:
        return [f for f in self._frames if start <= f.pts <= end]

    def nearest(self, pts: float) -> StoredFrame | None:
        return min(self._frames, key=lambda f: abs(f.pts - pts), default=None)


@dataclass(frozen=True, slots=True)
class Box:
    xyxy: tuple[float, float, float, float]
    label: str


_RED = (0, 0, 255)
_YELLOW = (0, 220, 255)
_ORANGE = (0, 140, 255)


def annotate(
    image: Image,
    zone: Polygon,
    subject: Box | None,
    others: Sequence[Box],
    caption: Sequence[str],
) -> Image:
    """A copy of ``image`` with the zone, the subject's box (red), others (orange), captions."""
    out = image.copy()
    pts = np.array(zone.points, dtype=np.int32).reshape(-1, 1, 2)
    overlay = out.copy()
    cv2.fillPoly(overlay, [pts], _YELLOW)
    cv2.addWeighted(overlay, 0.15, out, 0.85, 0, dst=out)
    cv2.polylines(out, [pts], True, _YELLOW, 2)
    boxes = [(b, _ORANGE, 1) for b in others] + ([(subject, _RED, 2)] if subject else [])
    for box, colour, width in boxes:
        x1, y1, x2, y2 = (round(v) for v in box.xyxy)
        cv2.rectangle(out, (x1, y1), (x2, y2), colour, width)
        cv2.putText(
            out, box.label, (x1, max(12, y1 - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.45, colour, 1
        )
    for i, line in enumerate(caption):
        y = 20 + 18 * i
        cv2.putText(out, line, (8, y), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 3)
        cv2.putText(out, line, (8, y), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1)
    return out


def write_clip(frames: Sequence[NDArray[np.uint8]], fps: float, quality: int = 85) -> bytes:
    """Encode frames (all the same size) as a Motion-JPEG AVI and return its bytes."""
    if not frames:
        raise ValueError("a clip needs at least one frame")
    h, w = frames[0].shape[:2]
    with tempfile.TemporaryDirectory(prefix="evnet-clip-") as tmp:
        path = Path(tmp) / "clip.avi"
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), fps, (w, h))
        if not writer.isOpened():
            raise ValueError("OpenCV cannot write Motion-JPEG AVI here")
        writer.set(cv2.VIDEOWRITER_PROP_QUALITY, quality)
        try:
            for image in frames:
                writer.write(image)
        finally:
            writer.release()
        return path.read_bytes()


def collect(
    store: FrameStore,
    *,
    started_at: float,
    confirmed: StoredFrame,
    annotated: Image,
    quality: int,
    clip_fps: float,
    max_clip_seconds: float,
) -> tuple[EvidenceFile, ...]:
    """The evidence files for a stay from ``started_at`` to the ``confirmed`` frame."""
    span = store.between(started_at, confirmed.pts)
    start = span[0] if span else confirmed
    middle = store.nearest((start.pts + confirmed.pts) / 2) or confirmed

    def keyframe(role: str, frame: StoredFrame) -> EvidenceFile:
        return EvidenceFile(
            f"keyframe-{role}.jpg",
            f"keyframe_{role}",
            JPEG,
            frame.jpeg,
            frame.index,
            frame.captured_at,
        )

    clip_frames = [f for f in span if f.pts >= confirmed.pts - max_clip_seconds] or [confirmed]
    clip = write_clip([decode_jpeg(f.jpeg) for f in clip_frames], clip_fps, quality)
    return (
        keyframe("start", start),
        keyframe("middle", middle),
        keyframe("confirm", confirmed),
        EvidenceFile(
            "annotated.jpg",
            "annotated",
            JPEG,
            encode_jpeg(annotated, quality),
            confirmed.index,
            confirmed.captured_at,
        ),
        EvidenceFile(
            "clip.avi", "clip", AVI, clip, clip_frames[0].index, clip_frames[0].captured_at
        ),
    )
