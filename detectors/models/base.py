"""One framework-neutral detections type and the interface every model backend implements."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from schemas.hashes import Digest, Hasher

#: Backend names as camera configurations spell them.
SSD_BACKEND = "ssd_mobilenet_v2_coco"
YOLO_BACKEND = "yolo_onnx"

Image = NDArray[np.uint8]
"""A BGR frame, ``(height, width, 3)``, as OpenCV reads it."""


@dataclass(frozen=True, slots=True)
class Detections:
    """Boxes in frame pixels with their scores and classes (and track ids once tracked).

    ``xyxy`` is ``(N, 4)`` float32, ``confidence`` ``(N,)`` float32, ``class_id`` ``(N,)``
    int64 (the model's own class ids), ``tracker_id`` ``(N,)`` int64 or ``None``.
    """

    xyxy: NDArray[np.float32]
    confidence: NDArray[np.float32]
    class_id: NDArray[np.int64]
    tracker_id: NDArray[np.int64] | None = None

    def __post_init__(self) -> None:
        n = len(self.xyxy)
        if self.xyxy.shape != (n, 4) or self.confidence.shape != (n,):
            raise ValueError("detections: xyxy must be (N, 4) and confidence (N,)")
        if self.class_id.shape != (n,):
            raise ValueError("detections: class_id must be (N,)")
        if self.tracker_id is not None and self.tracker_id.shape != (n,):
            raise ValueError("detections: tracker_id must be (N,)")

    @classmethod
    def empty(cls) -> Detections:
        return cls(
            np.zeros((0, 4), np.float32), np.zeros((0,), np.float32), np.zeros((0,), np.int64)
        )

    @classmethod
    def of(
        cls,
        xyxy: NDArray[np.floating] | list[list[float]],
        confidence: NDArray[np.floating] | list[float],
        class_id: NDArray[np.integer] | list[int],
        tracker_id: NDArray[np.integer] | list[int] | None = None,
    ) -> Detections:
        """Build from any array-likes (copied and cast to the canonical dtypes)."""
        boxes = np.asarray(xyxy, dtype=np.float32).reshape(-1, 4)
        return cls(
            boxes,
            np.asarray(confidence, dtype=np.float32).reshape(-1),
            np.asarray(class_id, dtype=np.int64).reshape(-1),
            None if tracker_id is None else np.asarray(tracker_id, dtype=np.int64).reshape(-1),
        )

    def __len__(self) -> int:
        return len(self.xyxy)

    def select(self, mask: NDArray[np.bool_] | NDArray[np.integer]) -> Detections:
        return Detections(
            self.xyxy[mask],
            self.confidence[mask],
            self.class_id[mask],
            None if self.tracker_id is None else self.tracker_id[mask],
        )


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """What the capture claims say about the model that saw the violation."""

    backend: str
    name: str
    digest: Digest
    class_names: Mapping[int, str]

    def class_ids(self, names: set[str] | frozenset[str]) -> frozenset[int]:
        return frozenset(i for i, n in self.class_names.items() if n in names)


class Detector(Protocol):
    """A model backend: frames in, detections in frame pixels out."""

    @property
    def info(self) -> ModelInfo: ...

    def detect(self, image: Image) -> Detections:
        """Detect objects in one BGR frame; boxes come back in that frame's pixels."""
        ...


def file_digest(*paths: str) -> Digest:
    """SHA-256 over the files' bytes, in order (streamed)."""
    hasher = Hasher()
    for path in paths:
        with open(path, "rb") as fh:
            while chunk := fh.read(1 << 20):
                hasher.update(chunk)
    return hasher.digest()
