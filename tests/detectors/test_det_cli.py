"""``evnet detect``: dry runs, a live run to a local gateway, and bad input as exit codes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import yaml
from detkit import NOW, ORG, constant_onnx, end2end_output
from devicegateway import GatewayState, LocalGateway, free_port

from node.cli import main
from node.crypto.pki import KeyPair
from node.ingest import DeviceVerifier

# 320x240 frames into a 320x320 input: scale 1, 40 px bands. A "person" always standing with
# its feet at frame (160, 180), inside the zone; the model sees it in every frame.
PERSON_AT = (150, 130 + 40, 170, 180 + 40, 0.9, 0)


def setup(tmp_path: Path, **changes: Any) -> Path:
    shots = tmp_path / "shots"
    shots.mkdir(exist_ok=True)
    for i in range(20):
        cv2.imwrite(str(shots / f"{i:04d}.png"), np.full((240, 320, 3), 100 + i, np.uint8))
    constant_onnx(tmp_path / "model.onnx", end2end_output([PERSON_AT], n=20), names={0: "person"})
    config: dict[str, Any] = {
        "camera_id": "cam-cli-01",
        "source": {"uri": "shots", "fps": 5, "start_time": "2026-03-01T08:00:00+00:00"},
        "sample_fps": 5,
        "model": {"backend": "yolo_onnx", "path": "model.onnx"},
        "tracking": {"min_hits": 1},
        "zones": [
            {
                "id": "kerb",
                "polygon": [[100, 100], [220, 100], [220, 200], [100, 200]],
                "rule": "no_vending",
                "classes": ["person"],
                "min_dwell_seconds": 1.0,
            }
        ],
    }
    config.update(changes)
    path = tmp_path / "cam.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def test_dry_run_writes_events_and_annotated_frames(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    status = main(
        [
            "detect",
            "--camera",
            str(setup(tmp_path)),
            "--dry-run",
            "--out",
            str(out),
            "--preview-every",
            "5",
        ]
    )
    assert status == 0
    err = capsys.readouterr().err
    assert "dry run: 20 frames" in err
    assert "1 event(s)" in err
    assert "unsigned" in err
    (event_dir,) = (out / "events").iterdir()
    assert (event_dir / "annotated.jpg").is_file()
    assert (event_dir / "claims.json").is_file()
    # every 5th sampled frame (0, 5, 10, 15), the event's frame (5) among them
    assert sorted(p.name for p in (out / "frames").glob("frame-*.jpg")) == [
        f"frame-{i:07d}.jpg" for i in (0, 5, 10, 15)
    ]


def test_live_run_delivers_to_the_gateway(
    tmp_path: Path, ca: KeyPair, device: KeyPair, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "cert.pem").write_bytes(device.cert_pem)
    (tmp_path / "key.pem").write_bytes(device.key_pem)
    state = GatewayState(DeviceVerifier(ORG, ca.cert_pem, clock=lambda: NOW))
    gateway = LocalGateway(free_port(), state)
    camera = setup(
        tmp_path,
        device={"org": ORG, "cert": "cert.pem", "key": "key.pem"},
        delivery={
            "gateway_url": gateway.url,
            "spool_path": "spool.sqlite",
            "retry_base_seconds": 0.05,
            "retry_max_seconds": 0.2,
        },
    )
    gateway.start()
    try:
        assert main(["detect", "--camera", str(camera)]) == 0
    finally:
        gateway.stop()
    assert state.created == 1
    assert "all events delivered" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("change", "code"),
    [
        (
            {
                "zones": [
                    {
                        "id": "z",
                        "polygon": [[0, 0], [9, 9], [9, 0], [0, 9]],
                        "rule": "no_vending",
                        "classes": ["person"],
                        "min_dwell_seconds": 1,
                    }
                ]
            },
            "CONFIG_POLYGON_SELF_INTERSECTING",
        ),
        (
            {
                "zones": [
                    {
                        "id": "z",
                        "polygon": [[0, 0], [9, 0], [9, 9]],
                        "rule": "no_dumping",
                        "classes": ["garbage"],
                        "min_dwell_seconds": 1,
                    }
                ]
            },
            "CONFIG_UNKNOWN_CLASS",
        ),
        ({"source": {"uri": "broken.avi"}}, "SOURCE_UNREADABLE"),
        ({"model": {"backend": "yolo_onnx", "path": "broken.onnx"}}, "MODEL_INVALID"),
    ],
)
def test_bad_input_exits_2_with_a_stable_code(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], change: dict[str, Any], code: str
) -> None:
    (tmp_path / "broken.avi").write_bytes(b"not a video" * 100)
    (tmp_path / "broken.onnx").write_bytes(b"not a model" * 100)
    camera = setup(tmp_path, **change)
    assert main(["detect", "--camera", str(camera), "--dry-run", "--out", str(tmp_path / "o")]) == 2
    assert f"evnet: {code}: " in capsys.readouterr().err


def test_a_live_run_needs_an_identity(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["detect", "--camera", str(setup(tmp_path))]) == 2
    assert "evnet: CONFIG_INVALID: device: a live run needs" in capsys.readouterr().err
