"""Pure pre- and post-processing for Ultralytics YOLO ONNX exports.

Output layouts (batch 1):

``v8``       ``(1, 4 + nc, N)``: per anchor ``cx, cy, w, h`` in input pixels, then one score
             per class (already sigmoid). YOLOv8, YOLO11, and YOLO26 exported with
             ``end2end=False``. Needs class-aware NMS.
``end2end``  ``(1, N, 6)``: ``x1, y1, x2, y2, score, class_id`` in input pixels, at most N
             (300 by default) final detections. YOLO26's default export (one-to-one head, no
             NMS), and older models exported with ``nms=True``.

Both are in the letterboxed input's pixels; :meth:`Letterbox.to_frame` maps them back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np
from numpy.typing import NDArray

from detectors.errors import ModelOutputError

Layout = Literal["v8", "end2end"]
_PAD = 114


@dataclass(frozen=True, slots=True)
class Letterbox:
    """How a frame was scaled and padded into the model input (Ultralytics' convention)."""

    scale: float
    pad_x: int
    pad_y: int
    new_w: int
    new_h: int
    frame_w: int
    frame_h: int

    @classmethod
    def fit(cls, frame_h: int, frame_w: int, input_h: int, input_w: int) -> Letterbox:
        scale = min(input_h / frame_h, input_w / frame_w)
        new_w, new_h = round(frame_w * scale), round(frame_h * scale)
        pad_x = round((input_w - new_w) / 2 - 0.1)
        pad_y = round((input_h - new_h) / 2 - 0.1)
        return cls(scale, pad_x, pad_y, new_w, new_h, frame_w, frame_h)

    def apply(self, image: NDArray[np.uint8], input_h: int, input_w: int) -> NDArray[np.uint8]:
        """Resize keeping the aspect ratio and pad with grey to ``(input_h, input_w)``."""
        resized = image
        if (self.new_w, self.new_h) != (self.frame_w, self.frame_h):
            resized = np.asarray(
                cv2.resize(image, (self.new_w, self.new_h), interpolation=cv2.INTER_LINEAR),
                dtype=np.uint8,
            )
        bottom = input_h - self.new_h - self.pad_y
        right = input_w - self.new_w - self.pad_x
        out = cv2.copyMakeBorder(
            resized,
            self.pad_y,
            bottom,
            self.pad_x,
            right,
            cv2.BORDER_CONSTANT,
            value=(_PAD, _PAD, _PAD),
        )
        return np.asarray(out, dtype=np.uint8)

    def to_frame(self, xyxy: NDArray[np.floating]) -> NDArray[np.float32]:
        """Map boxes from input pixels back to frame pixels (clipped to the frame)."""
        out = xyxy.astype(np.float32, copy=True)
        out[:, [0, 2]] = (out[:, [0, 2]] - self.pad_x) / self.scale
        out[:, [1, 3]] = (out[:, [1, 3]] - self.pad_y) / self.scale
        out[:, [0, 2]] = np.clip(out[:, [0, 2]], 0, self.frame_w)
        out[:, [1, 3]] = np.clip(out[:, [1, 3]], 0, self.frame_h)
        return out


def to_input_tensor(letterboxed: NDArray[np.uint8]) -> NDArray[np.float32]:
    """BGR HWC uint8 → RGB NCHW float32 in [0, 1]."""
    rgb = letterboxed[:, :, ::-1].transpose(2, 0, 1)
    return np.ascontiguousarray(rgb, dtype=np.float32)[None] / np.float32(255.0)


def detect_layout(shape: tuple[int, ...], num_classes: int, hint: str = "auto") -> Layout:
    """Which layout an output of ``shape`` is, for a model with ``num_classes`` classes.

    Raises:
        ModelOutputError: the shape fits neither layout (or both, with no hint).
    """
    if len(shape) != 3 or shape[0] != 1:
        raise ModelOutputError(f"expected a (1, C, N) or (1, N, 6) output, got {shape}")
    v8 = shape[1] == 4 + num_classes
    e2e = shape[2] == 6
    if hint == "v8" and v8:
        return "v8"
    if hint == "end2end" and e2e:
        return "end2end"
    if hint == "auto" and v8 != e2e:
        return "v8" if v8 else "end2end"
    if hint == "auto" and v8 and e2e:
        raise ModelOutputError(
            f"output {shape} fits both layouts for {num_classes} classes; set model.layout"
        )
    raise ModelOutputError(
        f"output {shape} is neither (1, 4+{num_classes}, N) nor (1, N, 6)"
        + ("" if hint == "auto" else f" as model.layout={hint} requires")
    )


def nms(
    xyxy: NDArray[np.floating], scores: NDArray[np.floating], iou_threshold: float
) -> NDArray[np.int64]:
    """Greedy non-maximum suppression; indices of the kept boxes, best first."""
    order = np.argsort(-scores, kind="stable")
    x1, y1, x2, y2 = (xyxy[:, i].astype(np.float64) for i in range(4))
    areas = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    keep: list[int] = []
    while order.size:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        w = np.clip(np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]), 0, None)
        h = np.clip(np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]), 0, None)
        inter = w * h
        union = areas[i] + areas[rest] - inter
        overlap = np.where(union > 0, inter / np.where(union > 0, union, 1), 0)
        order = rest[overlap <= iou_threshold]
    return np.asarray(keep, dtype=np.int64)


Raw = tuple[NDArray[np.float32], NDArray[np.float32], NDArray[np.int64]]


def decode_v8(output: NDArray[np.floating], confidence: float, iou_threshold: float) -> Raw:
    """Decode a ``(1, 4 + nc, N)`` output: threshold, xywh → xyxy, class-aware NMS."""
    preds = output[0].T  # (N, 4 + nc)
    scores_all = preds[:, 4:]
    class_id = scores_all.argmax(axis=1)
    scores = scores_all[np.arange(len(preds)), class_id]
    keep = scores >= confidence
    preds, scores, class_id = preds[keep], scores[keep], class_id[keep]
    cx, cy, w, h = preds[:, 0], preds[:, 1], preds[:, 2], preds[:, 3]
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    # Offsetting each class far apart makes one NMS pass class-aware.
    offset = class_id[:, None].astype(np.float64) * 1e5
    kept = nms(boxes + offset, scores, iou_threshold)
    return (
        boxes[kept].astype(np.float32),
        scores[kept].astype(np.float32),
        class_id[kept].astype(np.int64),
    )


def decode_end2end(output: NDArray[np.floating], confidence: float) -> Raw:
    """Decode a ``(1, N, 6)`` output: rows are final detections; only thresholding."""
    rows = output[0]
    rows = rows[rows[:, 4] >= confidence]
    return (
        rows[:, :4].astype(np.float32),
        rows[:, 4].astype(np.float32),
        np.rint(rows[:, 5]).astype(np.int64),
    )
