"""Acceptance on real footage: the real SSD model on vtest.avi against hand-made labels.

The labels (tests/data/detectors/vtest_labels.yaml) give, for every person whose feet entered
one of two pavement zones, when they entered and left, read off the frames by hand. With a
``no_vending`` rule and a 4 s minimum dwell, the people who stayed well over 4 s must each
give exactly one event (no duplicates for one stay), those who only walked through must give
none, and borderline stays may give at most one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from detkit import LABELS, NOW, ORG

from detectors.claims import DeviceIdentity
from detectors.config import load_camera_config
from detectors.events import Submission, ViolationEvent
from detectors.models import load_detector
from detectors.pipeline import Pipeline
from detectors.sources import open_source
from node.crypto.pki import KeyPair
from node.ingest import DeviceVerifier
from schemas.hashes import Digest

CAMERA = LABELS.parents[3] / "network-config" / "cameras" / "vtest-yard.yaml"


@dataclass(frozen=True)
class Stay:
    id: str
    zone: str
    enter: float
    leave: float
    note: str
    position: tuple[float, float] | None

    @property
    def seconds(self) -> float:
        return self.leave - self.enter


class Collect:
    def __init__(self) -> None:
        self.events: list[tuple[Submission, ViolationEvent]] = []

    def accept(self, submission: Submission, event: ViolationEvent | None) -> None:
        assert event is not None
        self.events.append((submission, event))


def load_labels() -> tuple[dict[str, Any], list[Stay]]:
    doc = yaml.safe_load(LABELS.read_text(encoding="utf-8"))
    stays = [
        Stay(
            p["id"],
            p["zone"],
            float(p["enter"]),
            float(p["leave"]),
            p["note"],
            tuple(p["position"]) if "position" in p else None,
        )
        for p in doc["people"]
    ]
    return doc, stays


def who(event: ViolationEvent, stays: list[Stay], tolerance: float) -> Stay | None:
    """The labelled stay an event belongs to: same zone, entry and confirmation inside it."""
    fits = [
        s
        for s in stays
        if s.zone == event.zone_id
        and s.enter - tolerance <= event.start_pts <= s.leave
        and s.enter <= event.confirm_pts <= s.leave + tolerance
    ]
    return min(fits, key=lambda s: abs(s.enter - event.start_pts), default=None)


def test_lingering_people_on_the_pavement_give_one_event_each(
    vtest: Path, ca: KeyPair, device: KeyPair
) -> None:
    doc, stays = load_labels()
    assert Digest.of(vtest.read_bytes()) == Digest.parse(doc["sha256"]), (
        "vtest.avi differs from the clip the labels were made on"
    )
    config = load_camera_config(CAMERA)
    assert {z.id: [list(p) for p in z.polygon] for z in config.zones} == {
        k: v["polygon"] for k, v in doc["zones"].items()
    }
    min_dwell, tolerance = float(doc["min_dwell_seconds"]), float(doc["tolerance_seconds"])
    assert all(z.min_dwell_seconds == min_dwell for z in config.zones)

    sink = Collect()
    identity = DeviceIdentity.from_pem(ORG, device.cert_pem, device.key_pem)
    detector = load_detector(config.model)
    pipeline = Pipeline(config, detector, sink, identity=identity)
    with open_source(config.source, config.sample_fps) as frames:
        stats = pipeline.run(frames)
    assert stats.frames == 398  # 795 frames at 10 fps, sampled at 5 fps

    matched: dict[str, list[ViolationEvent]] = {}
    for _, event in sink.events:
        stay = who(event, stays, tolerance)
        assert stay is not None, (
            f"event in {event.zone_id} from {event.start_pts:.1f}s to {event.confirm_pts:.1f}s"
            f" (track {event.track_id}, box {[round(v) for v in event.xyxy]}) matches no"
            " labelled stay"
        )
        matched.setdefault(stay.id, []).append(event)

    report = {k: [f"{e.start_pts:.1f}-{e.confirm_pts:.1f}" for e in v] for k, v in matched.items()}
    for stay in stays:
        got = len(matched.get(stay.id, []))
        if stay.seconds >= min_dwell + tolerance:
            assert got == 1, f"{stay.id} ({stay.note}) stayed {stay.seconds:.1f}s: {report}"
        elif stay.seconds <= min_dwell - tolerance:
            assert got == 0, f"{stay.id} ({stay.note}) only passed by: {report}"
        else:
            assert got <= 1, f"{stay.id} ({stay.note}) has duplicate events: {report}"
    must = [s.id for s in stays if s.seconds >= min_dwell + tolerance]
    assert sorted(must) == ["A", "B"]  # the labels' two clear lingerers

    for stay in stays:
        if stay.position is not None and stay.id in matched:
            (event,) = matched[stay.id]
            foot = ((event.xyxy[0] + event.xyxy[2]) / 2, event.xyxy[3])
            assert abs(foot[0] - stay.position[0]) < 40
            assert abs(foot[1] - stay.position[1]) < 40

    # What reaches the gateway is what the department node verifies.
    verifier = DeviceVerifier(ORG, ca.cert_pem, clock=lambda: NOW)
    for submission, event in sink.events:
        claims = verifier.verify(submission.claims, submission.signature, submission.certificate)
        assert claims.violation_type.value == "roaming_vendor"
        assert claims.camera_id == "vtest-yard"
        assert claims.zone == event.zone_id
        assert claims.detections[0].class_name == "person"
        assert claims.model_sha256 == detector.info.digest
        assert len(submission.files) == 5


@pytest.mark.parametrize("zone", ["pavement_west", "pavement_east"])
def test_every_label_is_inside_the_clip(zone: str) -> None:
    _, stays = load_labels()
    mine = sorted((s for s in stays if s.zone == zone), key=lambda s: s.enter)
    assert mine
    assert all(0.0 <= s.enter < s.leave <= 79.5 for s in mine)
