"""Model backends behind one interface: :class:`Detector` returning :class:`Detections`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from detectors.models.base import SSD_BACKEND, Detections, Detector, Image, ModelInfo
from detectors.models.ssd_opencv import SsdMobileNetDetector
from detectors.models.yolo_onnx import YoloOnnxDetector

if TYPE_CHECKING:
    from detectors.config import ModelConfig

__all__ = [
    "Detections",
    "Detector",
    "Image",
    "ModelInfo",
    "SsdMobileNetDetector",
    "YoloOnnxDetector",
    "load_detector",
]


def load_detector(config: ModelConfig) -> Detector:
    """The detector a camera configuration names.

    Raises:
        ModelError: the model files are missing, corrupt or produce an unsupported output.
    """
    if config.backend == SSD_BACKEND:
        return SsdMobileNetDetector(config.path, confidence=config.confidence)
    assert config.path is not None  # the configuration requires it for yolo_onnx
    return YoloOnnxDetector(
        config.path,
        confidence=config.confidence,
        iou=config.iou,
        layout=config.layout,
        input_size=config.input_size,
        class_names=config.class_names,
    )
