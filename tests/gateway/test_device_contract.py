"""The edge detectors' delivery code against the real gateway app: the submission contract
of docs/DETECTORS.md, end to end through both sides' own code (no hand-built requests)."""

from __future__ import annotations

import datetime as dt
import random
import socket
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
import uvicorn
from gatewaykit import Kit, build
from ingestkit import CLIP, KEYFRAME, ORG, claims, device, make_ca, signed

from detectors.claims import DeviceIdentity
from detectors.config import ZoneConfig
from detectors.delivery import Deliverer, RetryPolicy, fetch_rectification_requests
from detectors.events import Submission
from detectors.evidence import EvidenceFile
from detectors.models.base import Detections, ModelInfo
from detectors.rectification import RectificationWatcher
from detectors.sources import Frame
from detectors.spool import DELIVERED, PENDING, REJECTED, Spool
from gateway.rectification import RectificationPolicy, RectificationRequests
from node.package import ClaimsArchive
from schemas.hashes import Digest

FAST = RetryPolicy(base=0.01, factor=2.0, max_delay=0.02)


@pytest.fixture
def kit(tmp_path: Path) -> Kit:
    return build(tmp_path)


def submission(kit: Kit, **changes: object) -> Submission:
    body, sig, cert = signed(claims(**changes), device(make_ca(kit.root / "node")))
    files = (
        EvidenceFile("keyframe.jpg", "keyframe", "image/jpeg", KEYFRAME),
        EvidenceFile("clip.mp4", "clip", "video/mp4", CLIP),
    )
    return Submission(str(claims(**changes).event_id), body, sig, cert, files)


def deliver(
    kit: Kit, sub: Submission, user: str | None = "edge-07"
) -> tuple[str | None, list[str]]:
    alarms: list[str] = []
    if user is not None:
        kit.client.headers.update(kit.token(user))
    with Spool(kit.root / "device-spool.sqlite", 50_000_000) as spool:
        spool.put(sub)
        Deliverer(
            spool, kit.client, "http://testserver", policy=FAST, rng=random.Random(1),
            on_alarm=alarms.append,
        ).deliver_due()  # fmt: skip
        return spool.status(sub.event_id), alarms


def test_a_device_event_is_stored_once_and_a_replay_is_harmless(kit: Kit) -> None:
    sub = submission(kit)
    status, alarms = deliver(kit, sub)
    assert (status, alarms) == (DELIVERED, [])
    blobs = kit.blobs()
    assert len(blobs) == 2
    # The device lost the answer and sends the event again under a fresh spool entry.
    (kit.root / "device-spool.sqlite").unlink()
    status, _ = deliver(kit, sub)
    assert status == DELIVERED
    assert kit.blobs() == blobs


def test_a_missing_token_keeps_the_event_pending_and_raises_an_alarm(kit: Kit) -> None:
    status, alarms = deliver(kit, submission(kit), user=None)
    assert status == PENDING
    assert any("DEVICE_UNAUTHENTICATED" in a for a in alarms)
    assert kit.blobs() == []


def test_an_idempotency_key_for_another_event_is_refused(kit: Kit) -> None:
    sub = submission(kit)
    forged = Submission("evt-someone-else", sub.claims, sub.signature, sub.certificate, sub.files)
    status, alarms = deliver(kit, forged)
    assert status == REJECTED
    assert any("IDEMPOTENCY_KEY_MISMATCH" in a for a in alarms)
    assert kit.blobs() == []


def test_gateway_down_for_the_whole_run_then_every_event_exactly_once(kit: Kit) -> None:
    """The real gateway app served over HTTP on 127.0.0.1, absent while the device runs."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    events = [submission(kit, event_id=f"evt-20261122-{n:04d}") for n in range(3)]
    with (
        Spool(kit.root / "device-spool.sqlite", 50_000_000) as spool,
        httpx.Client(timeout=5.0, headers=kit.token("edge-07")) as client,
    ):
        for sub in events:
            spool.put(sub)
        deliverer = Deliverer(spool, client, url, policy=FAST, rng=random.Random(3))
        # The whole run with the gateway down: everything stays pending, nothing is lost.
        for _ in range(3):
            report = deliverer.deliver_due()
            assert (report.delivered, report.rejected) == (0, 0)
            time.sleep(0.03)
        assert kit.blobs() == []
        server = uvicorn.Server(
            uvicorn.Config(kit.client.app, host="127.0.0.1", port=port, log_level="warning")
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        try:
            deadline = time.monotonic() + 20
            while spool.usage().pending and time.monotonic() < deadline:
                deliverer.deliver_due()
                time.sleep(0.05)
        finally:
            server.should_exit = True
            thread.join(10)
        assert [spool.status(s.event_id) for s in events] == [DELIVERED] * 3
    assert len(kit.blobs()) == 2 * len(events)  # keyframe and clip of each, stored once
    assert len(kit.chain.flags) == len(events)


def test_a_reminder_reaches_the_camera_and_its_report_comes_back(tmp_path: Path) -> None:
    """The co-governance loop through both sides' code: reminder → request → the camera's
    watcher decides on its frames → the spooled report is delivered → attached as evidence."""
    kit = build(
        tmp_path,
        claims=ClaimsArchive(tmp_path / "claims"),
        rectifications=RectificationRequests(tmp_path / "rectifications.sqlite"),
        rectification_policy=RectificationPolicy(clear_seconds=1.0),
    )
    sub = submission(kit)
    assert deliver(kit, sub)[0] == DELIVERED
    kit.client.post(
        f"/violations/{sub.event_id}/review",
        json={"decision": "confirmed", "reason": "confirmed_on_footage", "action": "reminder"},
        headers=kit.token("reviewer1"),
    )
    kit.client.headers.update(kit.token("edge-07"))
    requests = fetch_rectification_requests(kit.client, "http://testserver")
    assert [(r.flag_id, r.zone) for r in requests] == [(sub.event_id, "pavement_east")]
    key = device(make_ca(kit.root / "node"))
    zone = ZoneConfig(
        id="pavement_east",
        polygon=((100, 100), (220, 100), (220, 200), (100, 200)),
        rule="no_vending",
        classes=("person",),
        min_dwell_seconds=2,
    )
    alarms: list[str] = []
    with Spool(kit.root / "device-spool.sqlite", 50_000_000) as spool:
        watcher = RectificationWatcher(
            camera_id="cam-jiangbei-12",
            zones=[zone],
            model=ModelInfo("ssd", "ssd", Digest.of(b"model"), {1: "person"}),
            sink=spool.put,
            identity=DeviceIdentity.from_pem(ORG, key.cert_pem, key.key_pem),
            new_id=lambda: "rect-0001",
        )
        watcher.offer(requests)
        start = dt.datetime.now(dt.UTC)
        decided = []
        for i in range(30):  # a vendor in the zone for 2 s, then gone for good
            frame = Frame(
                i, i / 5, start + dt.timedelta(seconds=i / 5), np.full((240, 320, 3), 90, np.uint8)
            )
            people = [[140, 130, 160, 180]] if i < 10 else []
            seen = Detections.of(people, [0.9] * len(people), [1] * len(people))
            decided += [r.status.value for r in watcher.observe(frame, seen)]
        assert decided == ["rectified"]
        Deliverer(
            spool, kit.client, "http://testserver", policy=FAST, rng=random.Random(1),
            on_alarm=alarms.append,
        ).deliver_due()  # fmt: skip
        assert spool.status("rect-0001") == DELIVERED, alarms
    answered = kit.client.get(
        f"/violations/{sub.event_id}/rectification", headers=kit.token("officer1")
    ).json()
    assert (answered["status"], answered["outcome"]) == ("reported", "rectified")
    assert len(answered["evidence_ids"]) == 3  # two keyframes and the annotated frame
    assert fetch_rectification_requests(kit.client, "http://testserver") == []
