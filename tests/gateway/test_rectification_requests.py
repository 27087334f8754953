"""After a reminder the camera is asked to watch its zone; its signed report comes back as
evidence attached to the request, for an officer to cite. Nothing is stored for a report
nobody asked for."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from gatewaykit import Kit, build
from ingestkit import NOW, ORG, device, make_ca, signed
from test_gateway_devices import assert_problem, parts, submit

from gateway.rectification import RectificationRequests
from node.package import ClaimsArchive
from schemas.claims import RectificationClaims
from schemas.hashes import Digest

FLAG = "evt-20261122-0001"  # the event id of gatewaykit's capture claims


@pytest.fixture
def kit(tmp_path: Path) -> Kit:
    return build(
        tmp_path,
        claims=ClaimsArchive(tmp_path / "claims"),
        rectifications=RectificationRequests(tmp_path / "rectifications.sqlite"),
    )


def _report(
    kit: Kit, *, flag_id: str = FLAG, event_id: str = "rect-0001", device_id: str = "edge-07",
    status: str = "rectified",
) -> list[tuple[str, Any]]:  # fmt: skip
    picture = b"\xff\xd8 the pavement, clear " * 500
    claims = RectificationClaims(
        event_id=event_id,
        flag_id=flag_id,
        org=ORG,
        device_id=device_id,
        camera_id="cam-jiangbei-12",
        captured_at=NOW,
        zone="pavement_east",
        rule="no_vending",
        violation_type="road_occupation",
        classes=["person"],
        status=status,
        watch_started_at=NOW - dt.timedelta(minutes=5),
        clear_since=NOW - dt.timedelta(minutes=2),
        clear_seconds=120,
        model_sha256=Digest.of(b"ssd-mobilenet-v2"),
        media=[
            {
                "name": "keyframe-confirm.jpg",
                "media_type": "image/jpeg",
                "sha256": str(Digest.of(picture)),
                "size": len(picture),
            }
        ],
    )
    body, sig, cert = signed(claims, device(make_ca(kit.root / "node")))  # type: ignore[arg-type]
    return [
        ("claims", (None, body)),
        ("signature", (None, sig)),
        ("certificate", (None, cert)),
        ("files", ("keyframe-confirm.jpg", picture, "image/jpeg")),
    ]


def _remind(kit: Kit) -> None:
    assert submit(kit, parts(kit)).status_code == 201
    resp = kit.client.post(
        f"/violations/{FLAG}/review",
        json={"decision": "confirmed", "reason": "confirmed_on_footage", "action": "reminder"},
        headers=kit.token("reviewer1"),
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["status"] == "reminded"


def test_a_reminder_asks_the_camera_that_raised_the_flag(kit: Kit) -> None:
    _remind(kit)
    asked = kit.client.get("/devices/rectification-requests", headers=kit.token("edge-07"))
    assert asked.status_code == 200, asked.text
    [request] = asked.json()
    assert (request["flag_id"], request["device_id"], request["zone"]) == (
        FLAG,
        "edge-07",
        "pavement_east",  # from the device's own signed claims
    )
    assert request["status"] == "pending"
    assert request["clear_seconds"] == 120
    seen = kit.client.get(f"/violations/{FLAG}/rectification", headers=kit.token("officer1"))
    assert seen.json()["status"] == "pending"


def test_the_report_becomes_evidence_attached_to_the_request(kit: Kit) -> None:
    _remind(kit)
    resp = submit(kit, _report(kit))
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert (body["flag_id"], body["flag_tx"], body["rectification"]) == (FLAG, None, "rectified")
    [item] = body["items"]
    assert item["ledger_tx"]  # registered on the ledger like any capture
    request = kit.client.get(f"/violations/{FLAG}/rectification", headers=kit.token("officer1"))
    doc = request.json()
    assert (doc["status"], doc["outcome"], doc["evidence_ids"]) == (
        "reported",
        "rectified",
        [item["evidence_id"]],
    )
    asked = kit.client.get("/devices/rectification-requests", headers=kit.token("edge-07"))
    assert asked.json() == []  # answered
    # No new flag: the report answers the reminded one.
    no_flag = kit.client.get("/violations/rect-0001", headers=kit.token("reviewer1"))
    assert no_flag.status_code == 404
    # The officer cites the device's evidence to close the loop on the ledger.
    closed = kit.client.post(
        f"/violations/{FLAG}/rectified",
        json={"evidence_ids": doc["evidence_ids"]},
        headers=kit.token("officer1"),
    )
    assert closed.status_code == 200, closed.text
    assert closed.json()["status"] == "rectified"


def test_a_replayed_report_changes_nothing(kit: Kit) -> None:
    _remind(kit)
    first = submit(kit, _report(kit)).json()
    blobs = kit.blobs()
    again = submit(kit, _report(kit))
    assert again.status_code == 201
    assert [i["duplicate"] for i in again.json()["items"]] == [True]
    assert again.json()["items"][0]["evidence_id"] == first["items"][0]["evidence_id"]
    assert kit.blobs() == blobs


def test_a_report_nobody_asked_for_stores_nothing(kit: Kit) -> None:
    assert submit(kit, parts(kit)).status_code == 201  # flagged, never reminded
    blobs = kit.blobs()
    assert_problem(submit(kit, _report(kit)), 409, "RECTIFICATION_NOT_REQUESTED")
    assert_problem(
        submit(kit, _report(kit, flag_id="evt-unknown")), 409, "RECTIFICATION_NOT_REQUESTED"
    )
    assert kit.blobs() == blobs


def test_a_second_different_report_or_another_device_s_report_stores_nothing(kit: Kit) -> None:
    _remind(kit)
    assert submit(kit, _report(kit)).status_code == 201
    blobs = kit.blobs()
    other = _report(kit, event_id="rect-0002", status="not_rectified")
    assert_problem(submit(kit, other), 409, "RECTIFICATION_NOT_REQUESTED")
    assert kit.blobs() == blobs
    stranger = _report(kit, event_id="rect-0003", device_id="edge-99")
    assert_problem(submit(kit, stranger), 403, "DEVICE_MISMATCH")
    assert kit.blobs() == blobs


def test_malformed_report_claims_are_refused_with_nothing_stored(kit: Kit) -> None:
    _remind(kit)
    blobs = kit.blobs()
    files = _report(kit)
    files[0] = ("claims", (None, files[0][1][1].replace(b'"rectified"', b'"maybe"')))
    assert_problem(submit(kit, files), 422, "BAD_CLAIMS")
    assert kit.blobs() == blobs


@pytest.mark.parametrize("user", ["officer1", "reviewer1", "auditor1", "partner1"])
def test_only_devices_read_their_requests(kit: Kit, user: str) -> None:
    resp = kit.client.get("/devices/rectification-requests", headers=kit.token(user))
    assert_problem(resp, 403, "ACCESS_DENIED")


def test_a_flag_without_a_request_answers_404(kit: Kit) -> None:
    resp = kit.client.get("/violations/evt-none/rectification", headers=kit.token("officer1"))
    assert_problem(resp, 404, "NOT_FOUND")


def test_without_a_request_store_a_report_is_refused(tmp_path: Path) -> None:
    bare = build(tmp_path)
    blobs = bare.blobs()
    assert_problem(submit(bare, _report(bare)), 409, "RECTIFICATION_NOT_REQUESTED")
    assert bare.blobs() == blobs
