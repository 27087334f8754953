"""The pipeline with a scripted detector: one signed event per stay, with its evidence."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import cv2
import pytest
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from detkit import NOW, ORG, ScriptedDetector, camera, dets, device_pair, frames, person

from detectors.claims import DeviceIdentity
from detectors.errors import DeviceIdentityError, SpoolFullError, UnknownClassError
from detectors.events import Submission, ViolationEvent
from detectors.evidence import decode_jpeg
from detectors.models.base import Detections
from detectors.pipeline import Pipeline
from detectors.sinks import DirectorySink
from node.crypto.pki import KeyPair, issue
from node.crypto.signing import P256_ORDER
from node.ingest import DeviceVerifier
from schemas.claims import CaptureClaims
from schemas.glossary import ViolationType
from schemas.hashes import Digest


class ListSink:
    def __init__(self) -> None:
        self.got: list[tuple[Submission, ViolationEvent | None]] = []

    def accept(self, submission: Submission, event: ViolationEvent | None) -> None:
        self.got.append((submission, event))


def identity(device: KeyPair) -> DeviceIdentity:
    return DeviceIdentity.from_pem(ORG, device.cert_pem, device.key_pem)


def stall_script() -> dict[int, Detections]:
    """Frames 0-4: nobody. 5-29 (5 s): a vendor standing at (150, 180) inside the zone.
    10-14: a passer-by crossing the zone in 1 s. 30-40: the zone is empty."""
    script = {}
    for i in range(41):
        objects = []
        if 5 <= i < 30:
            objects.append(person(150, 180, conf=0.8 + 0.01 * (i % 3)))
        if 10 <= i < 15:
            objects.append(person(105 + 25 * (i - 10), 130))
        script[i] = dets(*objects)
    return script


def test_a_stay_becomes_one_signed_event_the_node_accepts(ca: KeyPair, device: KeyPair) -> None:
    sink = ListSink()
    detector = ScriptedDetector(stall_script())
    pipeline = Pipeline(
        camera(), detector, sink, identity=identity(device), new_event_id=lambda: "evt-0001"
    )

    stats = pipeline.run(frames(41))

    assert (stats.frames, stats.events, stats.dropped) == (41, 1, 0)
    ((submission, event),) = sink.got
    assert event is not None
    assert (event.zone_id, event.track_id, event.class_name) == ("stall_zone", 1, "person")
    assert (event.start_frame, event.confirm_frame) == (5, 15)  # 2 s minimum dwell at 5 fps
    assert event.violation_type is ViolationType.ROAD_OCCUPATION  # no_vending's default

    # The department node's own verifier accepts exactly these bytes from this device.
    claims = DeviceVerifier(ORG, ca.cert_pem, clock=lambda: NOW).verify(
        submission.claims, submission.signature, submission.certificate
    )
    assert isinstance(claims, CaptureClaims)
    assert claims.event_id == "evt-0001"
    assert claims.device_id == "edge-07"
    assert claims.captured_at == NOW.replace(second=3)  # frame 15 at 5 fps
    assert claims.zone == "stall_zone"
    assert claims.rule == "no_vending"
    (detection,) = claims.detections
    assert detection.class_name == "person"
    assert detection.bbox == [140, 130, 160, 180]
    assert claims.model_sha256 == Digest.of(b"scripted-model")
    by_name = {f.name: f for f in submission.files}
    assert [m.name for m in claims.media] == [
        "keyframe-start.jpg",
        "keyframe-middle.jpg",
        "keyframe-confirm.jpg",
        "annotated.jpg",
        "clip.avi",
    ]
    for media in claims.media:
        assert Digest.of(by_name[media.name].data) == media.sha256
        assert len(by_name[media.name].data) == media.size
    frames_of = {f.name: f.frame_index for f in submission.files}
    assert (frames_of["keyframe-start.jpg"], frames_of["keyframe-middle.jpg"]) == (5, 10)
    assert frames_of["keyframe-confirm.jpg"] == 15
    assert decode_jpeg(by_name["annotated.jpg"].data).shape == (240, 320, 3)


def test_the_clip_covers_entry_to_confirmation(tmp_path: Path, device: KeyPair) -> None:
    sink = ListSink()
    Pipeline(camera(), ScriptedDetector(stall_script()), sink, identity=identity(device)).run(
        frames(41)
    )
    clip = next(f for f in sink.got[0][0].files if f.name == "clip.avi")
    path = tmp_path / "clip.avi"
    path.write_bytes(clip.data)
    cap = cv2.VideoCapture(str(path))
    count = 0
    while cap.read()[0]:
        count += 1
    assert count == 11  # frames 5..15 at the sampling rate
    assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(5.0)


def test_nothing_is_kept_while_nobody_lingers() -> None:
    script = {i: dets(person(40 + 30 * i, 150)) for i in range(12)}  # crosses in 0.8 s
    sink = ListSink()
    pipeline = Pipeline(camera(), ScriptedDetector(script), sink)
    pipeline.run(frames(12))
    assert sink.got == []
    assert len(pipeline._store) == 0  # no frame encoded once no episode can confirm


def test_a_class_the_model_lacks_is_refused_before_any_frame() -> None:
    config = camera(
        zones=[
            {
                "id": "dump",
                "polygon": [[0, 0], [10, 0], [10, 10]],
                "rule": "no_dumping",
                "classes": ["garbage"],
                "min_dwell_seconds": 60,
            }
        ]
    )
    with pytest.raises(UnknownClassError) as caught:
        Pipeline(config, ScriptedDetector({}), ListSink())
    assert caught.value.code == "CONFIG_UNKNOWN_CLASS"


def test_a_full_spool_raises_the_alarm_and_the_pipeline_goes_on() -> None:
    class FullSink:
        def accept(self, submission: Submission, event: ViolationEvent | None) -> None:
            raise SpoolFullError(1000, 500, 1200)

    alarms: list[str] = []
    pipeline = Pipeline(
        camera(),
        ScriptedDetector(stall_script()),
        FullSink(),
        on_alarm=alarms.append,
    )
    stats = pipeline.run(frames(41))
    assert (stats.frames, stats.events, stats.dropped) == (41, 0, 1)
    assert alarms
    assert alarms[0].startswith("SPOOL_FULL: event ")


def test_dry_run_folder_holds_claims_and_evidence(tmp_path: Path) -> None:
    sink = DirectorySink(tmp_path / "out")
    Pipeline(camera(), ScriptedDetector(stall_script()), sink, new_event_id=lambda: "evt-dry").run(
        frames(41)
    )
    folder = tmp_path / "out" / "events" / "evt-dry"
    assert sorted(p.name for p in folder.iterdir()) == [
        "annotated.jpg",
        "claims.json",
        "clip.avi",
        "keyframe-confirm.jpg",
        "keyframe-middle.jpg",
        "keyframe-start.jpg",
    ]
    claims = CaptureClaims.model_validate_json((folder / "claims.json").read_bytes())
    assert claims.device_id == "unsigned"
    (line,) = (tmp_path / "out" / "events.jsonl").read_text().splitlines()
    summary = json.loads(line)
    assert summary["signed"] is False
    assert summary["dwell_seconds"] == 2.0


def test_a_certificate_without_the_device_role_is_refused(ca: KeyPair) -> None:
    officer = device_pair(ca, role="officer", name="officer-li")
    with pytest.raises(DeviceIdentityError, match="role officer, not device") as caught:
        DeviceIdentity.from_pem(ORG, officer.cert_pem, officer.key_pem)
    assert caught.value.code == "DEVICE_IDENTITY_INVALID"
    with pytest.raises(DeviceIdentityError, match="not an unencrypted P-256"):
        DeviceIdentity.from_pem(ORG, officer.cert_pem, b"garbage")


def test_signatures_are_low_s(device: KeyPair) -> None:
    me = identity(device)
    for i in range(20):
        _, s = decode_dss_signature(me.sign(f"claims {i}".encode()))
        assert s <= P256_ORDER // 2


def test_the_device_id_is_the_enrollment_id_of_a_consortium_identity(ca: KeyPair) -> None:
    # The consortium's CA names identities "<name>@<domain>" with the bare name as the
    # enrollment id; claims carry the bare name (an id, which "@" is not part of).
    pair = issue(
        ca,
        "cam-12@urbanmanagement.evnet",
        "urbanmanagement.evnet",
        NOW - dt.timedelta(days=1),
        organizational_unit="client",
        attributes={"role": "device", "hf.EnrollmentID": "cam-12"},
    )
    assert DeviceIdentity.from_pem(ORG, pair.cert_pem, pair.key_pem).device_id == "cam-12"
