"""Request logs (one JSON line per request, never a body or a token) and /metrics."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import pytest
from gatewaykit import Kit, build
from prometheus_client.parser import text_string_to_metric_families
from test_gateway_access import filing
from test_gateway_devices import parts, submit

from gateway.observability import json_log_handler


@pytest.fixture
def kit(tmp_path: Path) -> Kit:
    return build(tmp_path)


def _lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, object]]:
    return [json.loads(r.getMessage()) for r in caplog.records if r.name == "gateway.access"]


def _samples(kit: Kit) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    resp = kit.client.get("/metrics")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/plain")
    out = {}
    for family in text_string_to_metric_families(resp.text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_one_json_line_per_request_without_secrets(
    kit: Kit, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gateway.access")
    headers = kit.token("officer1")
    token = headers["Authorization"].split()[1]
    body = filing("case-secret-body", subject_key="cd" * 32)
    filed = kit.client.post("/cases", json=body, headers={**headers, "X-Request-ID": "req-42"})
    assert filed.status_code == 201
    assert filed.headers["x-request-id"] == "req-42"
    got = kit.client.get("/cases/case-secret-body", headers=headers)
    assert got.status_code == 200
    [post, get] = _lines(caplog)
    assert post == {
        "event": "request",
        "request_id": "req-42",
        "method": "POST",
        "route": "/cases",
        "status": 201,
        "duration_ms": post["duration_ms"],
        "org": kit.deps.org,
        "user": "officer1",
        "role": "officer",
        "tx_ids": [],
    }
    assert isinstance(post["duration_ms"], float)
    assert get["route"] == "/cases/{case_id}"  # the template, never the id
    assert get["request_id"] != "req-42"
    assert get["request_id"] == got.headers["x-request-id"]
    text = caplog.text
    assert token not in text
    assert "cd" * 32 not in text
    assert "case-secret-body" not in text


def test_refused_requests_are_logged_with_their_status_and_tx(
    kit: Kit, caplog: pytest.LogCaptureFixture
) -> None:
    photo = submit(kit, parts(kit)).json()["items"][0]["evidence_id"]
    caplog.set_level(logging.INFO, logger="gateway.access")
    assert kit.client.get("/cases/x", headers={"X-Request-ID": "bad id!"}).status_code == 401
    denied = kit.client.get(
        f"/evidence/{photo}/content",
        params={"purpose": "case_review"},
        headers=kit.token("partner1"),
    )
    assert denied.status_code == 403
    unauth, refused = _lines(caplog)
    assert unauth["status"] == 401
    assert unauth["user"] is None
    assert unauth["request_id"] != "bad id!"  # not a plain token: replaced
    assert refused["status"] == 403
    assert refused["user"] == "partner1"
    assert refused["tx_ids"] == [denied.headers["x-access-record"]]


def test_metrics_count_requests_by_route_and_status(kit: Kit) -> None:
    officer = kit.token("officer1")
    assert kit.client.post("/cases", json=filing(), headers=officer).status_code == 201
    for _ in range(2):
        assert kit.client.get("/cases/case-1", headers=officer).status_code == 200
    assert kit.client.get("/cases/nope", headers=officer).status_code == 404
    submitted = submit(kit, parts(kit))
    assert submitted.status_code == 201
    samples = _samples(kit)

    def count(route: str, status: str, method: str = "GET") -> float:
        labels = (("method", method), ("route", route), ("status", status))
        return samples.get(("evnet_gateway_requests_total", labels), 0)

    assert count("/cases/{case_id}", "200") == 2
    assert count("/cases/{case_id}", "404") == 1
    assert count("/cases", "201", "POST") == 1
    hist = (("method", "GET"), ("route", "/cases/{case_id}"), ("status", "200"))
    assert samples[("evnet_gateway_request_duration_seconds_count", hist)] == 2
    ingested = samples[("evnet_gateway_ingest_bytes_total", ())]
    assert ingested >= len(submitted.request.content) > 0
    ledger_case = (("call", "case"), ("outcome", "ok"))
    assert samples[("evnet_gateway_ledger_call_seconds_count", ledger_case)] == 2
    refused = (("call", "case"), ("outcome", "error"))
    assert samples[("evnet_gateway_ledger_call_seconds_count", refused)] == 1


def test_metrics_are_per_app(tmp_path: Path) -> None:
    one, two = build(tmp_path / "one"), build(tmp_path / "two")
    assert one.client.get("/healthz").status_code == 200
    samples = _samples(two)
    healthz = (("method", "GET"), ("route", "/healthz"), ("status", "200"))
    assert ("evnet_gateway_requests_total", healthz) not in samples


def test_json_log_handler_writes_one_object_per_record() -> None:
    stream = io.StringIO()
    logger = logging.getLogger("gateway.test-json")
    logger.addHandler(json_log_handler(stream))
    logger.propagate = False
    try:
        logger.warning("ledger unavailable: %s", "peer0")
    finally:
        logger.handlers.clear()
    doc = json.loads(stream.getvalue())
    assert doc == {
        "event": "log",
        "logger": "gateway.test-json",
        "level": "WARNING",
        "message": "ledger unavailable: peer0",
    }
