"""Builders for the detector tests: tiny ONNX models, device identities, scripted detectors."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from detectors.config import CameraConfig
from detectors.models.base import Detections, Image, ModelInfo
from detectors.sources import Frame
from node.crypto.pki import KeyPair, create_ca, issue
from schemas.hashes import Digest

NOW = dt.datetime(2026, 3, 1, 8, 0, tzinfo=dt.UTC)
ORG = "UrbanManagementMSP"
VTEST = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")
LABELS = Path(__file__).resolve().parents[1] / "data" / "detectors" / "vtest_labels.yaml"


def constant_onnx(
    path: Path,
    output: np.ndarray,
    *,
    names: Mapping[int, str] | None = None,
    input_hw: tuple[int | str, int | str] = (320, 320),
    metadata: Mapping[str, str] | None = None,
) -> Path:
    """An ONNX model whose output is ``output`` whatever the image (it still reads the input,
    so the runtime cannot prune it). Saved with IR version 8, opset 17."""
    h, w = input_hw
    images = helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, h, w])
    out = helper.make_tensor_value_info("output0", TensorProto.FLOAT, list(output.shape))
    nodes = [
        helper.make_node("ReduceMean", ["images"], ["mean"], keepdims=0),
        helper.make_node("Mul", ["mean", "zero"], ["nothing"]),
        helper.make_node("Add", ["boxes", "nothing"], ["output0"]),
    ]
    graph = helper.make_graph(
        nodes,
        "constant-detector",
        [images],
        [out],
        initializer=[
            numpy_helper.from_array(output.astype(np.float32), "boxes"),
            numpy_helper.from_array(np.array(0.0, dtype=np.float32), "zero"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    props = dict(metadata or {})
    if names is not None:
        props["names"] = str(dict(names))
    for key, value in props.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def v8_output(
    rows: Sequence[tuple[float, float, float, float, int, float]], nc: int, n: int = 16
) -> np.ndarray:
    """A ``(1, 4 + nc, n)`` output with one anchor per ``(cx, cy, w, h, class, score)``."""
    out = np.zeros((1, 4 + nc, n), dtype=np.float32)
    for i, (cx, cy, w, h, cls, score) in enumerate(rows):
        out[0, :4, i] = (cx, cy, w, h)
        out[0, 4 + cls, i] = score
    return out


def end2end_output(
    rows: Sequence[tuple[float, float, float, float, float, int]], n: int = 300
) -> np.ndarray:
    """A ``(1, n, 6)`` output with rows ``x1, y1, x2, y2, score, class``."""
    out = np.zeros((1, n, 6), dtype=np.float32)
    for i, row in enumerate(rows):
        out[0, i] = row
    return out


def org_ca() -> KeyPair:
    return create_ca(
        "ca.urbanmanagement.evnet", "urbanmanagement.evnet", NOW - dt.timedelta(days=1)
    )


def device_pair(ca: KeyPair, role: str = "device", name: str = "edge-07") -> KeyPair:
    return issue(
        ca,
        name,
        "urbanmanagement.evnet",
        NOW - dt.timedelta(days=1),
        organizational_unit="client",
        attributes={"role": role},
    )


PERSON, UMBRELLA = 1, 28
NAMES = {PERSON: "person", 3: "car", UMBRELLA: "umbrella"}


class ScriptedDetector:
    """A detector at the model seam: returns the detections scripted for each frame index."""

    def __init__(
        self,
        script: Mapping[int, Detections],
        names: Mapping[int, str] = NAMES,
    ) -> None:
        self._script = script
        self._info = ModelInfo("scripted", "scripted", Digest.of(b"scripted-model"), dict(names))
        self.calls = 0

    @property
    def info(self) -> ModelInfo:
        return self._info

    def detect(self, image: Image) -> Detections:
        index = int(image[0, 0, 0]) * 256 + int(image[0, 0, 1])  # frames carry their index
        self.calls += 1
        return self._script.get(index, Detections.empty())


def frames(count: int, fps: float = 5.0, size: tuple[int, int] = (240, 320)) -> list[Frame]:
    """Plain grey frames whose first pixel encodes their index (for ScriptedDetector)."""
    out = []
    for i in range(count):
        image = np.full((*size, 3), 90, dtype=np.uint8)
        image[0, 0, 0], image[0, 0, 1] = divmod(i, 256)
        pts = i / fps
        out.append(Frame(i, pts, NOW + dt.timedelta(seconds=pts), image))
    return out


def person(
    x: float, y: float, conf: float = 0.9, w: float = 20, h: float = 50
) -> tuple[list[float], float, int]:
    """A person whose feet are at (x, y)."""
    return [x - w / 2, y - h, x + w / 2, y], conf, PERSON


def dets(*objects: tuple[list[float], float, int]) -> Detections:
    if not objects:
        return Detections.empty()
    return Detections.of([o[0] for o in objects], [o[1] for o in objects], [o[2] for o in objects])


ZONE = [[100.0, 100.0], [220.0, 100.0], [220.0, 200.0], [100.0, 200.0]]


def camera(**changes: Any) -> CameraConfig:
    """A valid camera configuration for the scripted detector; override any top-level key."""
    data: dict[str, Any] = {
        "camera_id": "cam-test-01",
        "source": {"uri": "/dev/null", "fps": 5},
        "sample_fps": 5,
        "model": {"backend": "yolo_onnx", "path": "model.onnx"},
        "tracking": {"min_hits": 1},
        "zones": [
            {
                "id": "stall_zone",
                "polygon": ZONE,
                "rule": "no_vending",
                "classes": ["person", "umbrella"],
                "min_dwell_seconds": 2.0,
                "cooldown_seconds": 30,
            }
        ],
    }
    data.update(changes)
    return CameraConfig.from_mapping(data)
