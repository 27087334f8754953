"""Camera configuration: parsed once, every problem named by its field and a stable code."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from detkit import camera

from detectors.config import load_camera_config
from detectors.errors import ConfigError, PolygonError, UnknownClassError
from detectors.rules import RULE_VIOLATIONS, Rule, violation_type_for
from schemas.glossary import ViolationType

GOOD = """
camera_id: cam-jiangbei-12
source: {uri: clips/yard.avi, start_time: "2026-03-01T08:00:00+08:00"}
sample_fps: 5
model: {backend: ssd_mobilenet_v2_coco, confidence: 0.35}
zones:
  - id: pavement_west
    polygon: [[230, 262], [360, 262], [360, 335], [230, 300]]
    rule: no_vending
    violation_type: roaming_vendor
    classes: [person]
    min_dwell_seconds: 4
  - id: bike_bay
    polygon: [[0, 0], [50, 0], [50, 50]]
    rule: no_parking_nonmotor
    classes: [bicycle, motorcycle]
    min_dwell_seconds: 60
    cooldown_seconds: 600
device: {org: UrbanManagementMSP, cert: keys/cert.pem, key: keys/key.pem}
delivery: {gateway_url: "https://gw.urban.example:8443", spool_path: spool/cam.sqlite}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cam.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def edited(**changes: Any) -> str:
    data = yaml.safe_load(GOOD)
    for dotted, value in changes.items():
        node = data
        *parents, last = dotted.split("__")
        for key in parents:
            node = node[int(key)] if key.isdigit() else node[key]
        node[last] = value
    return yaml.safe_dump(data)


def test_a_good_file_parses_with_paths_relative_to_it(tmp_path: Path) -> None:
    config = load_camera_config(write(tmp_path, GOOD))
    assert config.source.uri == str(tmp_path / "clips" / "yard.avi")
    assert config.device is not None
    assert config.device.key == tmp_path / "keys" / "key.pem"
    assert config.delivery is not None
    assert config.delivery.spool_path == tmp_path / "spool" / "cam.sqlite"
    west, bikes = config.zones
    assert west.flags is ViolationType.ROAMING_VENDOR
    assert bikes.flags is ViolationType.NONMOTOR_PARKING  # the rule's only type
    assert west.dwell.min_dwell == 4
    assert west.dwell.cooldown == 300


def test_self_intersecting_polygon_is_refused_with_its_own_code(tmp_path: Path) -> None:
    bow_tie = [[0, 0], [100, 100], [100, 0], [0, 100]]
    with pytest.raises(PolygonError) as caught:
        load_camera_config(write(tmp_path, edited(zones__1__polygon=bow_tie)))
    assert caught.value.code == "CONFIG_POLYGON_SELF_INTERSECTING"
    assert caught.value.field == "zones[1] (bike_bay).polygon"
    assert "edge 0-1 crosses edge 2-3" in str(caught.value)


def test_unknown_class_names_the_zone_and_suggests(tmp_path: Path) -> None:
    with pytest.raises(UnknownClassError) as caught:
        load_camera_config(write(tmp_path, edited(zones__1__classes=["bicycle", "motorbike"])))
    assert caught.value.code == "CONFIG_UNKNOWN_CLASS"
    assert caught.value.field == "zones[1] (bike_bay).classes[1]"
    assert "'motorcycle'" in str(caught.value)  # the nearest COCO class


def test_unknown_class_for_user_weights_is_checked_against_the_model() -> None:
    config = camera()
    config.check_classes(["person", "umbrella", "cart"])
    with pytest.raises(UnknownClassError, match="model has no class 'umbrella'"):
        config.check_classes(["person", "garbage"])


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"zones__0__rule": "no_smoking"}, "zones[0] (pavement_west).rule", "Input should be"),
        (
            {"zones__0__violation_type": "garbage_pile"},
            "zones[0] (pavement_west)",
            "rule no_vending flags road_occupation, roaming_vendor, not garbage_pile",
        ),
        ({"zones__0__min_dwell_seconds": 0}, "zones[0] (pavement_west).min_dwell_seconds", ""),
        ({"zones__0__polygon": [[0, 0], [1, 1]]}, "zones[0] (pavement_west).polygon", "3 points"),
        ({"zones__0__id": "Pavement West"}, "zones[0] (Pavement West).id", "lower-case"),
        ({"zones__1__id": "pavement_west"}, "zones", "zone ids repeat: pavement_west"),
        ({"sample_fps": -1}, "sample_fps", "greater than 0"),
        ({"model__backend": "yolo_onnx"}, "model", "needs 'path'"),
        ({"device__org": "urban management"}, "device.org", "MSP id"),
        ({"delivery__gateway_url": "ftp://x"}, "delivery.gateway_url", ""),
        ({"source__start_time": "2026-03-01T08:00:00"}, "source.start_time", "UTC offset"),
        ({"zones__0__colour": "red"}, "zones[0] (pavement_west).colour", "Extra inputs"),
    ],
)
def test_bad_fields_are_named(
    tmp_path: Path, change: dict[str, Any], field: str, message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_camera_config(write(tmp_path, edited(**change)))
    assert caught.value.code == "CONFIG_INVALID"
    assert caught.value.field == field
    assert message in str(caught.value)


def test_unreadable_or_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read camera configuration"):
        load_camera_config(tmp_path / "absent.yaml")
    with pytest.raises(ConfigError, match="not valid YAML at line 3"):
        load_camera_config(write(tmp_path, "camera_id: a\nzones: [\n"))
    with pytest.raises(ConfigError, match="must hold a mapping"):
        load_camera_config(write(tmp_path, "- just\n- a list\n"))
    gbk = tmp_path / "gbk.yaml"
    gbk.write_bytes("camera_id: 摄像头\n".encode("gbk"))
    with pytest.raises(ConfigError, match="not UTF-8 text"):
        load_camera_config(gbk)


def test_every_rule_maps_to_glossary_violation_types() -> None:
    assert set(RULE_VIOLATIONS) == set(Rule)
    assert violation_type_for(Rule.NO_VENDING) is ViolationType.ROAD_OCCUPATION
    assert violation_type_for(Rule.SHOPFRONT) is ViolationType.SHOPFRONT_OPERATION
    assert violation_type_for(Rule.NO_PARKING_MOTOR) is ViolationType.MOTOR_PARKING
    assert violation_type_for(Rule.NO_DUMPING) is ViolationType.GARBAGE_PILE
    assert violation_type_for(Rule.NO_HANGING) is ViolationType.STREET_HANGING
    with pytest.raises(ValueError, match="not motor_parking"):
        violation_type_for(Rule.NO_PARKING_NONMOTOR, ViolationType.MOTOR_PARKING)


def test_the_device_token_is_read_from_its_own_file(tmp_path: Path) -> None:
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "token").write_text("tok-abc123\n")
    config = load_camera_config(write(tmp_path, edited(delivery__token_file="keys/token")))
    assert config.delivery is not None
    assert config.delivery.token_file == tmp_path / "keys" / "token"
    assert config.delivery.bearer_headers() == {"Authorization": "Bearer tok-abc123"}


@pytest.mark.parametrize(
    ("content", "says"),
    [(None, "cannot read it"), ("", "one bearer token"), ("two tokens\n", "one bearer token")],
)
def test_a_missing_or_malformed_token_file_is_a_config_error(
    tmp_path: Path, content: str | None, says: str
) -> None:
    if content is not None:
        (tmp_path / "token").write_text(content)
    config = load_camera_config(write(tmp_path, edited(delivery__token_file="token")))
    assert config.delivery is not None
    with pytest.raises(ConfigError, match=says) as err:
        config.delivery.bearer_headers()
    assert "delivery.token_file" in str(err.value)
    assert "two tokens" not in str(err.value)  # the secret is never echoed


def test_mutual_tls_delivery_takes_the_gateway_ca_and_the_device_certificate(
    tmp_path: Path,
) -> None:
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    config = load_camera_config(
        write(tmp_path, edited(delivery__ca_file="keys/ca.pem", delivery__client_certificate=True))
    )
    assert config.delivery is not None
    assert config.delivery.ca_file == tmp_path / "keys" / "ca.pem"
    assert config.delivery.client_certificate


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (
            {"delivery__gateway_url": "http://gw:8080", "delivery__client_certificate": True},
            "need an https:// gateway_url",
        ),
        ({"delivery__ca_file": "absent-ca.pem"}, "does not exist"),
        ({"device": None, "delivery__client_certificate": True}, "needs the device section"),
    ],
)
def test_inconsistent_tls_delivery_is_a_config_error(
    tmp_path: Path, change: dict[str, Any], says: str
) -> None:
    data = yaml.safe_load(edited(**{k: v for k, v in change.items() if k != "device"}))
    if "device" in change:
        del data["device"]
    with pytest.raises(ConfigError, match=says) as caught:
        load_camera_config(write(tmp_path, yaml.safe_dump(data)))
    assert caught.value.code == "CONFIG_INVALID"
