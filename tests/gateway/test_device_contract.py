"""The edge detectors' delivery code against the real gateway app: the submission contract
of docs/DETECTORS.md, end to end through both sides' own code (no hand-built requests)."""

from __future__ import annotations

import random
import socket
import threading
import time
from pathlib import Path

import httpx
import pytest
import uvicorn
from gatewaykit import Kit, build
from ingestkit import CLIP, KEYFRAME, claims, device, make_ca, signed

from detectors.delivery import Deliverer, RetryPolicy
from detectors.events import Submission
from detectors.evidence import EvidenceFile
from detectors.spool import DELIVERED, PENDING, REJECTED, Spool

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
