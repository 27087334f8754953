"""Delivery: a gateway that is down, then up, gets every event exactly once.

The scenario tests run a real HTTP server on 127.0.0.1 (devicegateway.py) that verifies the
signed claims with the department node's own DeviceVerifier; the unit tests use httpx's
MockTransport for the answers a real server is awkward to produce.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from detkit import NOW, ORG, ScriptedDetector, camera, dets, frames, person
from devicegateway import GatewayState, LocalGateway, free_port

from detectors.claims import DeviceIdentity
from detectors.delivery import SUBMIT_PATH, Deliverer, RetryPolicy, multipart_parts
from detectors.events import Submission
from detectors.models.base import Detections
from detectors.pipeline import Pipeline
from detectors.sinks import SpoolSink
from detectors.spool import DELIVERED, REJECTED, Spool
from node.crypto.pki import KeyPair
from node.ingest import DeviceVerifier

FAST = RetryPolicy(base=0.02, factor=2.0, max_delay=0.1)


def three_stays() -> dict[int, Detections]:
    """Three vendors, one after another, each staying 3 s in the zone (2 s minimum dwell)."""
    script = {}
    for n, (x, start) in enumerate([(120, 0), (160, 25), (200, 50)]):
        for i in range(start, start + 15):
            script[i] = dets(person(x, 150 + 10 * n))
    return script


@pytest.fixture
def spooled(tmp_path: Path, device: KeyPair) -> Iterator[tuple[Path, list[str]]]:
    """A spool holding three signed events made by the pipeline."""
    path = tmp_path / "spool.sqlite"
    identity = DeviceIdentity.from_pem(ORG, device.cert_pem, device.key_pem)
    with Spool(path, 50_000_000) as spool:
        Pipeline(
            camera(), ScriptedDetector(three_stays()), SpoolSink(spool), identity=identity
        ).run(frames(70))
        ids = [d.event_id for d in spool.due()]
    assert len(ids) == 3
    return path, ids


def drain(deliverer: Deliverer, spool: Spool, deadline: float = 15.0) -> None:
    end = time.monotonic() + deadline
    while spool.usage().pending and time.monotonic() < end:
        deliverer.deliver_due()
        time.sleep(0.01)


def test_gateway_down_for_the_whole_run_then_every_event_once(
    spooled: tuple[Path, list[str]], ca: KeyPair
) -> None:
    path, ids = spooled
    state = GatewayState(DeviceVerifier(ORG, ca.cert_pem, clock=lambda: NOW))
    gateway = LocalGateway(free_port(), state)

    # Down: every attempt fails to connect; the events stay pending with backoff.
    with Spool(path, 50_000_000) as spool, httpx.Client(timeout=2.0) as client:
        deliverer = Deliverer(spool, client, gateway.url, policy=FAST, rng=random.Random(1))
        for _ in range(3):
            report = deliverer.deliver_due()
            time.sleep(0.12)
        assert report.retried == 3
        assert report.delivered == 0
        assert spool.usage().pending == 3

    # The edge box restarts; the gateway comes back and first answers 503 a few times, and
    # the responses to the first delivery of each event are lost after it stored them.
    state.fail_next = 2
    state.drop_first_response = True
    gateway.start()
    try:
        with Spool(path, 50_000_000) as spool, httpx.Client(timeout=2.0) as client:
            deliverer = Deliverer(spool, client, gateway.url, policy=FAST, rng=random.Random(2))
            drain(deliverer, spool)
            assert [spool.status(i) for i in ids] == [DELIVERED] * 3
    finally:
        gateway.stop()

    assert sorted(state.stored) == sorted(ids)  # exactly once each
    assert state.created == 3
    assert state.dropped == set(ids)  # each was sent again after its lost response
    assert state.posts >= 3 + 2 + 3
    for event_id in ids:
        assert set(state.files[event_id]) == {
            "keyframe-start.jpg",
            "keyframe-middle.jpg",
            "keyframe-confirm.jpg",
            "annotated.jpg",
            "clip.avi",
        }


def test_a_wrong_department_is_refused_for_good(
    spooled: tuple[Path, list[str]], ca: KeyPair
) -> None:
    path, ids = spooled
    state = GatewayState(DeviceVerifier("PublicSecurityMSP", ca.cert_pem, clock=lambda: NOW))
    gateway = LocalGateway(free_port(), state)
    gateway.start()
    alarms: list[str] = []
    try:
        with Spool(path, 50_000_000) as spool, httpx.Client(timeout=2.0) as client:
            report = Deliverer(
                spool, client, gateway.url, policy=FAST, on_alarm=alarms.append
            ).deliver_due()
            assert report.rejected == 3
            assert [spool.status(i) for i in ids] == [REJECTED] * 3
    finally:
        gateway.stop()
    assert state.stored == {}
    assert "DELIVERY_REJECTED" in alarms[0]
    assert "WRONG_ORG" in alarms[0]


class Clock:
    def __init__(self) -> None:
        self.now = 5_000.0

    def __call__(self) -> float:
        return self.now


def one_submission() -> Submission:
    return Submission("evt-9", b'{"event_id":"evt-9"}', b"sig", b"cert", ())


def test_retry_after_and_backoff_schedule(tmp_path: Path) -> None:
    clock = Clock()
    answers = iter([httpx.Response(503, headers={"Retry-After": "40"}), httpx.Response(500)])
    transport = httpx.MockTransport(lambda request: next(answers))
    with (
        Spool(tmp_path / "s.sqlite", 10_000_000, clock=clock) as spool,
        httpx.Client(transport=transport) as client,
    ):
        spool.put(one_submission())
        policy = RetryPolicy(base=1.0, factor=2.0, max_delay=300)
        deliverer = Deliverer(spool, client, "http://gw", policy=policy, clock=clock)
        deliverer.deliver_due()
        assert spool.next_attempt_at() == pytest.approx(clock.now + 40)  # the server's wish
        clock.now += 40
        deliverer.deliver_due()
        delay = (spool.next_attempt_at() or 0) - clock.now
        assert 1.0 <= delay <= 2.0  # second attempt: cap 2 s, equal jitter


def test_the_request_carries_the_idempotency_key_and_the_parts(tmp_path: Path) -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, json={"event_id": "evt-9"})

    with (
        Spool(tmp_path / "s.sqlite", 10_000_000) as spool,
        httpx.Client(transport=httpx.MockTransport(answer)) as client,
    ):
        spool.put(one_submission())
        assert Deliverer(spool, client, "https://gw.example/").deliver_due().delivered == 1
    (request,) = seen
    assert request.url == "https://gw.example" + SUBMIT_PATH
    assert request.headers["Idempotency-Key"] == "evt-9"
    assert [p[0] for p in multipart_parts(one_submission())] == [
        "claims",
        "signature",
        "certificate",
    ]


def test_an_acknowledgement_for_another_event_is_not_delivery(tmp_path: Path) -> None:
    transport = httpx.MockTransport(lambda r: httpx.Response(200, json={"event_id": "evt-1"}))
    with (
        Spool(tmp_path / "s.sqlite", 10_000_000) as spool,
        httpx.Client(transport=transport) as client,
    ):
        spool.put(one_submission())
        report = Deliverer(spool, client, "http://gw").deliver_due()
        assert (report.delivered, report.retried) == (0, 1)
