"""User YOLO weights exported to ONNX (v8, 11 and 26 layouts), run with ONNX Runtime."""

from __future__ import annotations

import ast
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from detectors.errors import ModelError
from detectors.models._ort import OrtSession
from detectors.models.base import Detections, Image, ModelInfo, file_digest
from detectors.models.yolo_decode import (
    Layout,
    Letterbox,
    decode_end2end,
    decode_v8,
    detect_layout,
    to_input_tensor,
)

BACKEND = "onnxruntime"
_DEFAULT_SIZE = 640


def parse_names(text: str) -> dict[int, str]:
    """Class names from Ultralytics' ``names`` metadata (``"{0: 'person', ...}"``).

    Raises:
        ModelError: not a literal dict of int → str (or a list of str).
    """
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        raise ModelError("model metadata 'names' is not a literal mapping") from None
    if isinstance(value, list):
        value = dict(enumerate(value))
    if not isinstance(value, dict) or not all(
        isinstance(k, int) and isinstance(v, str) for k, v in value.items()
    ):
        raise ModelError("model metadata 'names' must map class ids to names")
    return dict(value)


def _input_size(
    session: OrtSession, override: tuple[int, int] | None, path: Path
) -> tuple[int, int]:
    shape = session.input_shape
    if len(shape) != 4 or shape[1] not in (3, "3"):
        raise ModelError(f"{path}: expected an NCHW 3-channel image input, got {shape}")
    if override is not None:
        return override
    h, w = shape[2], shape[3]
    if isinstance(h, int) and isinstance(w, int):
        return h, w
    imgsz = session.metadata.get("imgsz")
    if imgsz:
        try:
            value = ast.literal_eval(imgsz)
        except (ValueError, SyntaxError):
            value = None
        if isinstance(value, list) and len(value) == 2 and all(isinstance(v, int) for v in value):
            return value[0], value[1]
    return _DEFAULT_SIZE, _DEFAULT_SIZE


class YoloOnnxDetector:
    """A YOLO ONNX export; class names come from its ``names`` metadata.

    Loading runs one blank frame through the model so that a model whose output we cannot
    decode fails here, not in the middle of a stream.
    """

    def __init__(
        self,
        path: Path,
        *,
        confidence: float = 0.4,
        iou: float = 0.45,
        layout: str = "auto",
        input_size: tuple[int, int] | None = None,
        class_names: Mapping[int, str] | None = None,
        threads: int | None = None,
    ) -> None:
        """Raises:
        ModelError: missing or corrupt file, no class names, or an unsupported output.
        """
        if not path.is_file():
            raise ModelError(f"model file {path} does not exist")
        self._session = OrtSession(path, threads=threads)
        names_text = self._session.metadata.get("names")
        if names_text is not None:
            names = parse_names(names_text)
        elif class_names:
            names = dict(class_names)
        else:
            raise ModelError(
                f"{path} has no 'names' metadata (export it with Ultralytics, or set"
                " model.class_names in the camera configuration)"
            )
        self._input_h, self._input_w = _input_size(self._session, input_size, path)
        self._confidence = confidence
        self._iou = iou
        blank = np.zeros((1, 3, self._input_h, self._input_w), dtype=np.float32)
        outputs = self._session.run(blank)
        if not outputs:
            raise ModelError(f"{path} has no outputs")
        self.layout: Layout = detect_layout(tuple(outputs[0].shape), len(names), layout)
        self._info = ModelInfo(BACKEND, path.name, file_digest(str(path)), names)

    @property
    def info(self) -> ModelInfo:
        return self._info

    @property
    def input_size(self) -> tuple[int, int]:
        return self._input_h, self._input_w

    def detect(self, image: Image) -> Detections:
        h, w = image.shape[:2]
        box = Letterbox.fit(h, w, self._input_h, self._input_w)
        tensor = to_input_tensor(box.apply(image, self._input_h, self._input_w))
        output = self._session.run(tensor)[0]
        if self.layout == "v8":
            xyxy, scores, classes = decode_v8(output, self._confidence, self._iou)
        else:
            xyxy, scores, classes = decode_end2end(output, self._confidence)
        frame_boxes = box.to_frame(xyxy)
        valid = (frame_boxes[:, 2] > frame_boxes[:, 0]) & (frame_boxes[:, 3] > frame_boxes[:, 1])
        return Detections(frame_boxes[valid], scores[valid], classes[valid])
