"""Rectification check on synthetic detections: clear for long enough, or not by the deadline."""

from __future__ import annotations

import datetime as dt

from detkit import NOW, ORG, ScriptedDetector, camera, dets, frames, person

from detectors.claims import DeviceIdentity
from detectors.events import Submission
from detectors.geometry import Polygon
from detectors.models.base import Detections
from detectors.rectification import (
    RectificationCheck,
    RectificationStatus,
    RectificationWatcher,
    WatchState,
    advance_watch,
    zone_occupied,
)
from node.crypto.pki import KeyPair
from node.crypto.signing import verify_signature
from schemas.claims import RectificationClaims, parse_device_claims
from schemas.hashes import Digest
from schemas.rectification import RectificationRequest

W, R, N = (
    RectificationStatus.WATCHING,
    RectificationStatus.RECTIFIED,
    RectificationStatus.NOT_RECTIFIED,
)


def fold(
    samples: list[tuple[float, bool]], clear: float, deadline: float | None = None
) -> WatchState:
    state = WatchState(samples[0][0])
    for t, occupied in samples:
        state = advance_watch(state, occupied, t, clear, deadline)
    return state


def test_clear_for_the_whole_window_is_rectified() -> None:
    state = fold([(t / 2, t < 6) for t in range(0, 40)], clear=10.0)
    assert (state.status, state.clear_since, state.decided_at) == (R, 3.0, 13.0)


def test_any_sighting_restarts_the_count() -> None:
    samples = [(t / 2, t < 6 or t == 20) for t in range(0, 40)]  # seen again at 10 s
    state = fold(samples, clear=10.0)
    assert (state.status, state.clear_since, state.decided_at) == (W, 10.5, None)


def test_the_deadline_gives_not_rectified_and_a_decision_stays() -> None:
    state = fold([(float(t), True) for t in range(0, 100)], clear=10.0, deadline=60.0)
    assert (state.status, state.decided_at) == (N, 60.0)
    assert advance_watch(state, False, 500.0, 10.0, 60.0) is state


def test_occupancy_uses_the_ground_anchor_and_the_classes() -> None:
    zone = Polygon.parse([[0, 0], [100, 0], [100, 100], [0, 100]])
    inside_feet = Detections.of([[40, 50, 60, 90]], [0.9], [1])
    head_only = Detections.of([[40, 60, 60, 150]], [0.9], [1])  # feet below the zone
    assert zone_occupied(inside_feet, zone, {1})
    assert not zone_occupied(head_only, zone, {1})
    assert not zone_occupied(inside_feet, zone, {28})
    assert not zone_occupied(Detections.empty(), zone, {1})


def test_the_check_reports_once_with_signed_evidence(device: KeyPair) -> None:
    identity = DeviceIdentity.from_pem(ORG, device.cert_pem, device.key_pem)
    zone = camera().zones[0]
    check = RectificationCheck(
        camera_id="cam-test-01",
        zone=zone,
        model=ScriptedDetector({}).info,
        clear_seconds=3.0,
        flag_id="evt-0001",
        identity=identity,
        new_id=lambda: "rect-0001",
    )
    reports = []
    for frame in frames(40):
        # The stall is packed away at frame 10 (2 s); a passer-by outside the zone later.
        seen = dets(person(150, 180)) if frame.index < 10 else dets(person(20, 20))
        report = check.observe(frame, seen)
        if report is not None:
            reports.append((frame.index, report))
    ((index, report),) = reports
    assert index == 25
    assert report.status is R
    submission = report.submission
    assert verify_signature(
        __import__("cryptography.x509", fromlist=["x"])
        .load_pem_x509_certificate(device.cert_pem)
        .public_key(),
        submission.claims,
        submission.signature,
    )
    claims = parse_device_claims(submission.claims)
    assert isinstance(claims, RectificationClaims)  # told apart from captures by its kind
    assert claims.flag_id == "evt-0001"
    assert claims.status == "rectified"
    assert claims.clear_since == NOW.replace(second=2)
    assert claims.captured_at == NOW.replace(second=5)
    assert (claims.zone, claims.rule) == (zone.id, zone.rule.value)
    assert [m.name for m in claims.media] == [
        "keyframe-clear-start.jpg",
        "keyframe-confirm.jpg",
        "annotated.jpg",
    ]
    for media, f in zip(claims.media, submission.files, strict=True):
        assert Digest.of(f.data) == media.sha256


def _request(flag_id: str, **changes: object) -> RectificationRequest:
    doc: dict[str, object] = {
        "flag_id": flag_id,
        "device_id": "edge-07",
        "camera_id": "cam-test-01",
        "zone": camera().zones[0].id,
        "requested_at": NOW,
        "deadline": NOW + dt.timedelta(hours=2),
        "clear_seconds": 3.0,
    }
    return RectificationRequest.model_validate({**doc, **changes})


def test_the_watcher_takes_requests_for_its_camera_and_zones_and_reports_once(
    device: KeyPair,
) -> None:
    sent: list[Submission] = []
    config = camera()
    watcher = RectificationWatcher(
        camera_id=config.camera_id,
        zones=config.zones,
        model=ScriptedDetector({}).info,
        sink=sent.append,
        identity=DeviceIdentity.from_pem(ORG, device.cert_pem, device.key_pem),
    )
    accepted = watcher.offer(
        [
            _request("evt-0001"),
            _request("evt-other-camera", camera_id="cam-elsewhere"),
            _request("evt-other-zone", zone="no_such_zone"),
        ]
    )
    assert accepted == ["evt-0001"]
    assert watcher.offer([_request("evt-0001")]) == []  # already watching
    decided = []
    for frame in frames(40):
        seen = dets(person(150, 180)) if frame.index < 10 else Detections.empty()
        decided += [(frame.index, r.status) for r in watcher.observe(frame, seen)]
    assert decided == [(25, R)]
    [report] = sent
    claims = parse_device_claims(report.claims)
    assert isinstance(claims, RectificationClaims)
    assert (claims.flag_id, claims.status, claims.device_id) == ("evt-0001", "rectified", "edge-07")
    assert watcher.watching == []
    assert watcher.offer([_request("evt-0001")]) == []  # reported: never watched again


def test_a_request_past_its_deadline_reports_not_rectified_at_once(device: KeyPair) -> None:
    sent: list[Submission] = []
    config = camera()
    watcher = RectificationWatcher(
        camera_id=config.camera_id,
        zones=config.zones,
        model=ScriptedDetector({}).info,
        sink=sent.append,
        identity=DeviceIdentity.from_pem(ORG, device.cert_pem, device.key_pem),
    )
    watcher.offer([_request("evt-late", deadline=NOW - dt.timedelta(minutes=1))])
    [frame] = frames(1)
    [report] = watcher.observe(frame, dets(person(150, 180)))
    assert report.status is N
    assert parse_device_claims(sent[0].claims).status == "not_rectified"  # type: ignore[union-attr]
