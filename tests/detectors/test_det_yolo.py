"""YOLO ONNX backend: v8/11 and v26 (end-to-end) layouts, letterboxing, class names, NMS.

The models are built at test time with the ``onnx`` package and output known boxes, so every
expected frame coordinate below is worked out by hand from the letterbox arithmetic.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from detkit import constant_onnx, end2end_output, v8_output

from detectors.errors import ModelError, ModelOutputError
from detectors.models import YoloOnnxDetector
from detectors.models.yolo_decode import Letterbox, decode_v8, detect_layout, nms

NAMES = {0: "person", 1: "car", 2: "umbrella"}
# A 640x480 frame into a 320x320 input: scale 0.5, 320x240 content, 40 px grey bands top
# and bottom. Frame box (100, 100, 200, 300) -> input (50, 90, 100, 190).
FRAME = np.zeros((480, 640, 3), dtype=np.uint8)


def test_v8_layout_decodes_thresholds_suppresses_and_maps_back(tmp_path: Path) -> None:
    out = v8_output(
        [
            (75, 140, 50, 100, 0, 0.90),  # person at frame (100, 100, 200, 300)
            (76, 141, 50, 100, 0, 0.80),  # the same person again: NMS removes it
            (75, 140, 50, 100, 2, 0.70),  # an umbrella on the same spot: another class, kept
            (200, 160, 40, 40, 1, 0.10),  # a car below the confidence threshold
            (
                250,
                100,
                20,
                20,
                1,
                0.60,
            ),  # car at input (240, 90, 260, 110) -> frame (480, 100, 520, 140)
        ],
        nc=3,
    )
    model = constant_onnx(tmp_path / "v8.onnx", out, names=NAMES)
    detector = YoloOnnxDetector(model, confidence=0.25, iou=0.45)

    found = detector.detect(FRAME)

    assert detector.layout == "v8"
    assert detector.info.class_names == NAMES
    assert detector.info.backend == "onnxruntime"
    order = np.argsort(-found.confidence)
    np.testing.assert_allclose(found.confidence[order], [0.9, 0.7, 0.6], atol=1e-6)
    assert found.class_id[order].tolist() == [0, 2, 1]
    np.testing.assert_allclose(
        found.xyxy[order],
        [[100, 100, 200, 300], [100, 100, 200, 300], [480, 100, 520, 140]],
        atol=1e-3,
    )


def test_end2end_layout_is_final_detections_without_nms(tmp_path: Path) -> None:
    out = end2end_output(
        [
            (50, 90, 100, 190, 0.95, 0),  # frame (100, 100, 200, 300)
            (51, 91, 101, 191, 0.85, 0),  # overlapping: the model already chose to keep it
            (0, 30, 30, 60, 0.50, 1),  # starts in the grey band: clipped to the frame's top
            (10, 10, 20, 20, 0.05, 2),  # under the threshold
        ]
    )
    model = constant_onnx(tmp_path / "yolo26.onnx", out, names=NAMES)
    detector = YoloOnnxDetector(model, confidence=0.25)

    found = detector.detect(FRAME)

    assert detector.layout == "end2end"
    assert len(found) == 3
    np.testing.assert_allclose(found.xyxy[0], [100, 100, 200, 300], atol=1e-3)
    np.testing.assert_allclose(found.xyxy[1], [102, 102, 202, 302], atol=1e-3)
    np.testing.assert_allclose(found.xyxy[2], [0, 0, 60, 40], atol=1e-3)
    assert found.class_id.tolist() == [0, 0, 1]


def test_portrait_frame_pads_left_and_right(tmp_path: Path) -> None:
    # 300 wide x 600 high into 320x320: scale 320/600, content 160x320, 80 px bands left/right.
    out = end2end_output([(80, 0, 240, 320, 0.9, 0)])
    detector = YoloOnnxDetector(constant_onnx(tmp_path / "m.onnx", out, names=NAMES))
    found = detector.detect(np.zeros((600, 300, 3), dtype=np.uint8))
    np.testing.assert_allclose(found.xyxy[0], [0, 0, 300, 600], atol=1e-2)


def test_letterbox_round_trip_and_padding() -> None:
    box = Letterbox.fit(480, 640, 320, 320)
    assert (box.scale, box.pad_x, box.pad_y, box.new_w, box.new_h) == (0.5, 0, 40, 320, 240)
    image = np.full((480, 640, 3), 255, dtype=np.uint8)
    padded = box.apply(image, 320, 320)
    assert padded.shape == (320, 320, 3)
    assert (padded[:40] == 114).all()
    assert (padded[280:] == 114).all()
    assert (padded[40:280] == 255).all()

    rng = np.random.default_rng(7)
    frame_boxes = np.sort(rng.uniform(0, 480, size=(20, 4)), axis=1).astype(np.float32)
    frame_boxes[:, [0, 2]] = np.sort(rng.uniform(0, 640, size=(20, 2)), axis=1)
    as_input = frame_boxes * box.scale + np.array([box.pad_x, box.pad_y] * 2, dtype=np.float32)
    np.testing.assert_allclose(box.to_frame(as_input), frame_boxes, atol=1e-3)


def test_input_size_from_metadata_when_axes_are_dynamic(tmp_path: Path) -> None:
    out = end2end_output([(100, 100, 200, 200, 0.9, 0)], n=10)
    model = constant_onnx(
        tmp_path / "dyn.onnx",
        out,
        names=NAMES,
        input_hw=("height", "width"),
        metadata={"imgsz": "[256, 256]"},
    )
    detector = YoloOnnxDetector(model)
    assert detector.input_size == (256, 256)


def test_class_names_fall_back_to_configuration_and_otherwise_fail(tmp_path: Path) -> None:
    out = end2end_output([(0, 0, 10, 10, 0.9, 0)], n=10)
    model = constant_onnx(tmp_path / "anon.onnx", out)
    with pytest.raises(ModelError, match="no 'names' metadata") as caught:
        YoloOnnxDetector(model)
    assert caught.value.code == "MODEL_INVALID"
    detector = YoloOnnxDetector(model, class_names={0: "garbage"})
    assert detector.info.class_names == {0: "garbage"}


def test_ambiguous_or_unknown_output_shapes_are_refused(tmp_path: Path) -> None:
    # With two classes, (1, 6, 6) could be either layout: the configuration must say which.
    assert detect_layout((1, 6, 6), 2, "v8") == "v8"
    assert detect_layout((1, 6, 6), 2, "end2end") == "end2end"
    with pytest.raises(ModelOutputError, match="both layouts"):
        detect_layout((1, 6, 6), 2)
    model = constant_onnx(tmp_path / "odd.onnx", np.zeros((1, 9, 5), np.float32), names=NAMES)
    with pytest.raises(ModelOutputError) as caught:
        YoloOnnxDetector(model)
    assert caught.value.code == "MODEL_OUTPUT_UNSUPPORTED"


def test_corrupt_and_missing_model_files(tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(b"\x08\x07 this is not a protobuf " * 40)
    with pytest.raises(ModelError, match="cannot load ONNX model") as caught:
        YoloOnnxDetector(corrupt)
    assert caught.value.code == "MODEL_INVALID"
    with pytest.raises(ModelError, match="does not exist"):
        YoloOnnxDetector(tmp_path / "missing.onnx")


def test_nms_keeps_the_best_of_overlapping_boxes() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30]], dtype=np.float32)
    kept = nms(boxes, np.array([0.5, 0.9, 0.4], dtype=np.float32), 0.5)
    assert kept.tolist() == [1, 2]


def test_decode_v8_with_nothing_above_threshold() -> None:
    xyxy, scores, classes = decode_v8(v8_output([], nc=3), 0.25, 0.45)
    assert xyxy.shape == (0, 4)
    assert scores.shape == (0,)
    assert classes.shape == (0,)
