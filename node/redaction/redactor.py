"""Faces and licence plates pixelated in a copy of a still image or a clip; the input is
never changed.

Deterministic: the same bytes give the same regions and the same output bytes (fixed detector
parameters, regions sorted, lossless encodings at fixed settings). A still's copy is a PNG, a
clip's (Motion-JPEG AVI, as the detectors write them) an FFV1 AVI, both lossless, so every
pixel outside the redacted boxes equals the decoded original's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from node.redaction.detectors import (
    DEFAULT_CASCADES,
    Box,
    Cascade,
    CascadeSpec,
    opencv_cascade_dir,
)
from node.redaction.errors import TOO_LARGE, UNDECODABLE, UNSUPPORTED_MEDIA, RedactionError
from node.redaction.video import CLIP_MEDIA_TYPE, redact_clip
from schemas.derivations import DetectorModel, Region

METHOD = "haar_pixelate_v1"
OUTPUT_MEDIA_TYPE = "image/png"
_MAGIC = {"image/jpeg": b"\xff\xd8\xff", "image/png": b"\x89PNG\r\n\x1a\n"}
_MARGIN = 0.15  # each box grows by this share of its size on every side
_CELLS = 6  # the longer side of a box becomes this many blocks
_PNG_LEVEL = 6

Image = npt.NDArray[Any]  # 8-bit; OpenCV's stubs type results loosely


@dataclass(frozen=True)
class Redacted:
    """The copy's bytes and what was done to make them."""

    data: bytes
    media_type: str
    method: str
    models: list[DetectorModel]
    regions: list[Region]


class Redactor:
    """Runs the cascades on an image and pixelates what they find.

    Build it once (loading the cascades reads and hashes their files) with
    :meth:`with_opencv_models` or a directory of cascade files.
    """

    def __init__(
        self,
        cascade_dir: Path,
        specs: Sequence[CascadeSpec] = DEFAULT_CASCADES,
        *,
        max_bytes: int = 64 << 20,
        max_pixels: int = 50_000_000,
        max_frames: int = 600,
    ) -> None:
        """Raises: RedactionError REDACTION_MODEL_MISSING if a cascade cannot be loaded."""
        self._cascades = [Cascade(spec, cascade_dir) for spec in specs]
        self.max_bytes, self.max_pixels, self.max_frames = max_bytes, max_pixels, max_frames

    @classmethod
    def with_opencv_models(cls) -> Redactor:
        """The cascades shipped in the OpenCV wheel (REDACTION_MODEL_MISSING without them)."""
        return cls(opencv_cascade_dir())

    @property
    def models(self) -> list[DetectorModel]:
        return [c.model for c in self._cascades]

    @staticmethod
    def supports(media_type: str) -> bool:
        return media_type in _MAGIC or media_type == CLIP_MEDIA_TYPE

    def redact(self, data: bytes, media_type: str) -> Redacted:
        """A copy of the image or clip ``data`` with every detected face and plate pixelated:
        a PNG for a JPEG or PNG image, an FFV1 AVI for a Motion-JPEG AVI clip.

        Raises:
            RedactionError: REDACTION_UNSUPPORTED_MEDIA (another media type),
                REDACTION_UNDECODABLE (bytes that are not what their media type says),
                REDACTION_TOO_LARGE (over ``max_bytes``, ``max_pixels`` or ``max_frames``).
        """
        if media_type == CLIP_MEDIA_TYPE:
            if len(data) > self.max_bytes:
                raise RedactionError(TOO_LARGE, f"the clip is over {self.max_bytes} bytes")
            encoded_clip, regions = redact_clip(self, data)
            return Redacted(encoded_clip, CLIP_MEDIA_TYPE, METHOD, self.models, regions)
        image = self._decode(data, media_type)
        copy, regions = self.redact_frame(image)
        ok, encoded = cv2.imencode(".png", copy, [cv2.IMWRITE_PNG_COMPRESSION, _PNG_LEVEL])
        if not ok:  # pragma: no cover - OpenCV encodes any 8-bit image it decoded
            raise RedactionError(UNDECODABLE, "the copy could not be encoded")
        return Redacted(encoded.tobytes(), OUTPUT_MEDIA_TYPE, METHOD, self.models, regions)

    def redact_frame(self, image: Image, frame: int | None = None) -> tuple[Image, list[Region]]:
        """A pixelated copy of one decoded image (``image`` is not changed) and its regions."""
        regions = self.find(image, frame)
        copy = image.copy()
        for region in regions:
            _pixelate(copy, region)
        return copy, regions

    def find(self, image: Image, frame: int | None = None) -> list[Region]:
        """The regions to redact, with their margins, clipped to the image, sorted."""
        if image.shape[0] * image.shape[1] > self.max_pixels:
            raise RedactionError(TOO_LARGE, f"the image has over {self.max_pixels} pixels")
        gray = _gray(image)
        height, width = gray.shape
        found: set[Region] = set()
        for cascade in self._cascades:
            for box in cascade.detect(gray):
                found.add(_region(cascade, box, width, height, frame))
        return sorted(found, key=lambda r: (r.region_class.value, r.y, r.x, r.height, r.width))

    def _decode(self, data: bytes, media_type: str) -> Image:
        magic = _MAGIC.get(media_type)
        if magic is None:
            raise RedactionError(
                UNSUPPORTED_MEDIA,
                f"{media_type} cannot be redacted (JPEG and PNG images, Motion-JPEG AVI clips)",
            )
        if len(data) > self.max_bytes:
            raise RedactionError(TOO_LARGE, f"the image is over {self.max_bytes} bytes")
        if not data.startswith(magic):
            raise RedactionError(UNDECODABLE, f"the bytes are not a {media_type} image")
        buffer = np.frombuffer(data, dtype=np.uint8)
        image = cv2.imdecode(buffer, cv2.IMREAD_UNCHANGED)
        if image is None or image.size == 0:
            raise RedactionError(UNDECODABLE, f"the {media_type} image cannot be decoded")
        if image.dtype != np.uint8:
            raise RedactionError(UNSUPPORTED_MEDIA, "only 8-bit images can be redacted")
        result: Image = image
        return result


def _gray(image: Image) -> Image:
    if image.ndim == 2:
        gray = image
    elif image.shape[2] == 4:
        gray = cv2.cvtColor(image, cv2.COLOR_BGRA2GRAY)
    else:
        gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    equalised: Image = cv2.equalizeHist(gray)
    return equalised


def _region(cascade: Cascade, box: Box, width: int, height: int, frame: int | None) -> Region:
    x, y, w, h = box
    dx, dy = math.ceil(w * _MARGIN), math.ceil(h * _MARGIN)
    x0, y0 = max(0, x - dx), max(0, y - dy)
    x1, y1 = min(width, x + w + dx), min(height, y + h + dy)
    return Region(
        region_class=cascade.spec.region_class,
        frame=frame,
        x=x0,
        y=y0,
        width=x1 - x0,
        height=y1 - y0,
    )


def _pixelate(image: Image, region: Region) -> None:
    """Replace the box by ``_CELLS`` blocks along its longer side (area means, nearest up)."""
    x, y, w, h = region.x, region.y, region.width, region.height
    block = max(1, math.ceil(max(w, h) / _CELLS))
    small = cv2.resize(
        image[y : y + h, x : x + w],
        (max(1, math.ceil(w / block)), max(1, math.ceil(h / block))),
        interpolation=cv2.INTER_AREA,
    )
    image[y : y + h, x : x + w] = cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST)
