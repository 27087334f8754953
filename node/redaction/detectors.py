"""The detectors a redaction runs: OpenCV's shipped Haar cascades, pinned by their SHA-256."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy.typing as npt

from node.redaction.errors import MODEL_MISSING, RedactionError
from schemas.derivations import DetectorModel, RegionClass
from schemas.hashes import Digest

Box = tuple[int, int, int, int]  # x, y, width, height
Gray = npt.NDArray[Any]  # 8-bit; OpenCV's stubs type results loosely


@dataclass(frozen=True)
class CascadeSpec:
    """One cascade file and how it is run (fixed: the same image gives the same boxes)."""

    region_class: RegionClass
    file: str
    scale_factor: float
    min_neighbors: int
    min_size: tuple[int, int]
    mirrored: bool = False  # also run on the mirrored image (profile faces look one way)


DEFAULT_CASCADES = (
    CascadeSpec(RegionClass.FACE, "haarcascade_frontalface_default.xml", 1.1, 5, (24, 24)),
    CascadeSpec(RegionClass.FACE, "haarcascade_profileface.xml", 1.1, 5, (24, 24), True),
    CascadeSpec(RegionClass.PLATE, "haarcascade_russian_plate_number.xml", 1.05, 3, (40, 13)),
)


class Cascade:
    """A loaded cascade; ``model`` names its file and hash for the derivation description."""

    def __init__(self, spec: CascadeSpec, directory: Path) -> None:
        path = directory / spec.file
        try:
            raw = path.read_bytes()
        except OSError as err:
            raise RedactionError(MODEL_MISSING, f"cannot read detector {path}: {err}") from None
        try:
            classifier = cv2.CascadeClassifier(str(path))
        except (cv2.error, SystemError):  # OpenCV's parser raises on a malformed file
            classifier = None
        if classifier is None or classifier.empty():
            raise RedactionError(MODEL_MISSING, f"{path} is not a cascade OpenCV can load")
        self.spec, self._classifier = spec, classifier
        self.model = DetectorModel(
            region_class=spec.region_class,
            file=spec.file,
            sha256=Digest("sha256", hashlib.sha256(raw).digest()),
        )

    def detect(self, gray: Gray) -> list[Box]:
        """Boxes in ``gray`` (equalised 8-bit), sorted; mirrored hits mapped back."""
        boxes = self._run(gray)
        if self.spec.mirrored:
            width = gray.shape[1]
            boxes += [(width - x - w, y, w, h) for x, y, w, h in self._run(cv2.flip(gray, 1))]
        return sorted(set(boxes))

    def _run(self, gray: Gray) -> list[Box]:
        found = self._classifier.detectMultiScale(
            gray,
            scaleFactor=self.spec.scale_factor,
            minNeighbors=self.spec.min_neighbors,
            minSize=self.spec.min_size,
        )
        return [(int(x), int(y), int(w), int(h)) for x, y, w, h in found]


def opencv_cascade_dir() -> Path:
    """Where the OpenCV wheel keeps its Haar cascades."""
    # cv2.data.haarcascades, which the stubs do not declare.
    return Path(cv2.__file__).parent / "data"
