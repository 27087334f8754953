"""Clips redacted frame by frame: Motion-JPEG AVI in (what the detectors write), FFV1 AVI out.

FFV1 is lossless, so every pixel outside the boxes equals the decoded original frame's, and
OpenCV writes the same bytes for the same frames (no timestamps in the container), so the
copy is deterministic like a still's. Frame rate and size are kept; each region names its
frame. Lossless clips are large (about 300 KB a frame at 768x576): ``max_frames`` bounds them.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import cv2

from node.redaction.errors import TOO_LARGE, UNDECODABLE, UNSUPPORTED_MEDIA, RedactionError
from schemas.derivations import Region

if TYPE_CHECKING:
    from node.redaction.redactor import Redactor

CLIP_MEDIA_TYPE = "video/x-msvideo"


def redact_clip(redactor: Redactor, data: bytes) -> tuple[bytes, list[Region]]:
    """The FFV1 AVI copy of the AVI clip ``data`` and every region, frame by frame.

    Raises:
        RedactionError: REDACTION_UNDECODABLE (not an AVI OpenCV can read, or no frames),
            REDACTION_TOO_LARGE (over the redactor's frame or pixel limit),
            REDACTION_UNSUPPORTED_MEDIA (this OpenCV cannot write FFV1).
    """
    if not (data[:4] == b"RIFF" and data[8:12] == b"AVI "):
        raise RedactionError(UNDECODABLE, f"the bytes are not a {CLIP_MEDIA_TYPE} clip")
    with tempfile.TemporaryDirectory(prefix="evnet-redact-") as tmp:
        source, target = Path(tmp) / "in.avi", Path(tmp) / "out.avi"
        source.write_bytes(data)
        capture = cv2.VideoCapture(str(source))
        writer: cv2.VideoWriter | None = None
        regions: list[Region] = []
        try:
            if not capture.isOpened():
                raise RedactionError(UNDECODABLE, "OpenCV cannot read this clip")
            fps = capture.get(cv2.CAP_PROP_FPS)
            if not math.isfinite(fps) or fps <= 0:
                raise RedactionError(UNDECODABLE, "the clip has no frame rate")
            index = 0
            while True:
                ok, frame = capture.read()
                if not ok:
                    break
                if index >= redactor.max_frames:
                    raise RedactionError(
                        TOO_LARGE, f"the clip has over {redactor.max_frames} frames"
                    )
                height, width = frame.shape[:2]
                if writer is None:
                    writer = cv2.VideoWriter(
                        str(target), cv2.VideoWriter.fourcc(*"FFV1"), fps, (width, height)
                    )
                    if not writer.isOpened():
                        raise RedactionError(UNSUPPORTED_MEDIA, "this OpenCV cannot write FFV1")
                    size = (width, height)
                elif (width, height) != size:
                    raise RedactionError(UNDECODABLE, "the clip's frames change size")
                copy, found = redactor.redact_frame(frame, index)
                writer.write(copy)
                regions.extend(found)
                index += 1
        finally:
            capture.release()
            if writer is not None:
                writer.release()
        if writer is None:
            raise RedactionError(UNDECODABLE, "the clip has no frames")
        return target.read_bytes(), regions
