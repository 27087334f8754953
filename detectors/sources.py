"""Frames from a video file, a directory of images or a live stream, sampled to a rate.

:func:`open_source` opens eagerly, so an unreadable source fails before the pipeline starts;
iterating the returned source yields :class:`Frame` objects at about ``sample_fps``.

Time: ``Frame.pts`` is media seconds since the source's first frame (what dwell is measured
in). ``Frame.captured_at`` is the wall-clock capture time the claims carry: the stream's
clock for live streams (``time_source == "stream_clock"``), ``source.start_time + pts`` for
recordings when the configuration gives a start time (``"configured_start"``), otherwise the
time the replay started plus ``pts`` (``"replay"``), which the claims say plainly.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from detectors.config import SourceConfig
from detectors.errors import SourceError
from detectors.models.base import Image

Clock = Callable[[], dt.datetime]
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp"})


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True, slots=True)
class Frame:
    """One sampled frame: its index in the source, media time, capture time and pixels."""

    index: int
    pts: float
    captured_at: dt.datetime
    image: Image


class FrameSource:
    """Base of the sources: iterate for frames, ``close()`` to release the device."""

    time_source: str = "replay"
    fps: float = 0.0

    def __iter__(self) -> Iterator[Frame]:
        raise NotImplementedError

    def close(self) -> None:
        """Release the underlying capture (idempotent)."""

    def __enter__(self) -> FrameSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _step(fps: float, sample_fps: float) -> int:
    return max(1, round(fps / sample_fps))


def _start(config: SourceConfig, clock: Clock) -> tuple[dt.datetime, str]:
    if config.start_time is not None:
        return config.start_time.astimezone(dt.UTC), "configured_start"
    return clock(), "replay"


class VideoFileSource(FrameSource):
    def __init__(self, config: SourceConfig, sample_fps: float, clock: Clock) -> None:
        path = Path(config.uri)
        if not path.is_file():
            raise SourceError(f"video file {path} does not exist")
        self._cap = cv2.VideoCapture(str(path))
        if not self._cap.isOpened():
            raise SourceError(f"cannot open video {path}: not a video OpenCV can decode")
        ok, first = self._cap.read()
        if not ok or first is None:
            self._cap.release()
            raise SourceError(f"cannot read video {path}: no frame could be decoded")
        self._first: Image | None = np.asarray(first, dtype=np.uint8)
        self.fps = config.fps or float(self._cap.get(cv2.CAP_PROP_FPS))
        if not self.fps or self.fps <= 0:
            self._cap.release()
            raise SourceError(f"video {path} does not state its frame rate; set source.fps")
        self._path = path
        self._step = _step(self.fps, sample_fps)
        self._start, self.time_source = _start(config, clock)

    def __iter__(self) -> Iterator[Frame]:
        index = 0
        image = self._first
        self._first = None
        if image is None:
            return
        while True:
            pts = index / self.fps
            yield Frame(index, pts, self._start + dt.timedelta(seconds=pts), image)
            for _ in range(self._step - 1):
                if not self._cap.grab():
                    return
                index += 1
            ok, raw = self._cap.read()
            if not ok or raw is None:
                return
            index += 1
            image = np.asarray(raw, dtype=np.uint8)

    def close(self) -> None:
        self._cap.release()


class ImageDirectorySource(FrameSource):
    def __init__(self, config: SourceConfig, sample_fps: float, clock: Clock) -> None:
        folder = Path(config.uri)
        self._files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not self._files:
            raise SourceError(f"image directory {folder} holds no .jpg/.png/.bmp files")
        if config.fps is None:
            raise SourceError(f"image directory {folder}: set source.fps (frames per second)")
        self.fps = config.fps
        self._step = _step(self.fps, sample_fps)
        self._start, self.time_source = _start(config, clock)

    def __iter__(self) -> Iterator[Frame]:
        for index in range(0, len(self._files), self._step):
            path = self._files[index]
            raw = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if raw is None:
                raise SourceError(f"cannot read image {path}")
            pts = index / self.fps
            yield Frame(
                index, pts, self._start + dt.timedelta(seconds=pts), np.asarray(raw, np.uint8)
            )


class StreamSource(FrameSource):
    """A live RTSP/HTTP stream, sampled by the wall clock (frames in between are dropped)."""

    time_source = "stream_clock"

    def __init__(
        self,
        config: SourceConfig,
        sample_fps: float,
        clock: Clock,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._cap = cv2.VideoCapture(config.uri, cv2.CAP_FFMPEG)
        if not self._cap.isOpened():
            raise SourceError(f"cannot open stream {_redact(config.uri)}")
        self.fps = float(self._cap.get(cv2.CAP_PROP_FPS)) or sample_fps
        self._interval = 1.0 / sample_fps
        self._clock = clock
        self._monotonic = monotonic
        self._uri = config.uri

    def __iter__(self) -> Iterator[Frame]:
        start = self._monotonic()
        next_due = start
        index = -1
        while True:
            ok = self._cap.grab()
            if not ok:
                raise SourceError(f"stream {_redact(self._uri)} stopped sending frames")
            index += 1
            now = self._monotonic()
            if now < next_due:
                continue
            ok, raw = self._cap.retrieve()
            if not ok or raw is None:
                continue
            next_due = max(next_due + self._interval, now)
            yield Frame(index, now - start, self._clock(), np.asarray(raw, np.uint8))

    def close(self) -> None:
        self._cap.release()


def _redact(uri: str) -> str:
    """Drop credentials (``rtsp://user:pass@host``) from a URL before it reaches a log."""
    scheme, sep, rest = uri.partition("://")
    if "@" in rest.split("/", 1)[0]:
        rest = "***@" + rest.split("@", 1)[1]
    return f"{scheme}{sep}{rest}"


def open_source(config: SourceConfig, sample_fps: float, clock: Clock = utc_now) -> FrameSource:
    """Open the configured source and check that it yields frames.

    Raises:
        SourceError: missing path, a file OpenCV cannot decode, an empty directory, an
            unreachable stream, or a frame rate that cannot be known.
    """
    if config.is_stream:
        return StreamSource(config, sample_fps, clock)
    path = Path(config.uri)
    if path.is_dir():
        return ImageDirectorySource(config, sample_fps, clock)
    return VideoFileSource(config, sample_fps, clock)
