"""An officer's capture on the spot (POST /captures): stored, registered and attached to a
case in the officer's name; signed with the officer's key; idempotent; every refusal a
problem with nothing stored."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from gatewaykit import PARTNER_ORG, Kit, build, submit
from ingestkit import CLIP, KEYFRAME, make_ca
from test_gateway_access import filing
from test_gateway_devices import assert_problem

from node.ingest import DeviceVerifier
from node.package import ClaimsArchive
from schemas.canonical import canonical_json
from schemas.claims import OfficerCaptureClaims
from schemas.glossary import Stage

PHOTO = KEYFRAME + b" taken by hand"


@pytest.fixture
def kit(tmp_path: Path) -> Kit:
    return build(tmp_path, claims=ClaimsArchive(tmp_path / "claims"))


def media(name: str, data: bytes, media_type: str = "image/jpeg") -> dict[str, Any]:
    return {
        "name": name,
        "media_type": media_type,
        "sha256": f"sha256:{hashlib.sha256(data).hexdigest()}",
        "size": len(data),
    }


def capture(**changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "event_id": "hh-0042-20261122-0001",
        "camera_id": "bodycam-0042",
        "captured_at": "2026-11-22T10:15:00+08:00",
        "violation_type": "road_occupation",
        "place": {"lat": 29.8886, "lon": 121.5561},
        "note": "stall on the pavement outside no. 12, owner present",
        "media": [media("photo.jpg", PHOTO), media("clip.mp4", CLIP, "video/mp4")],
    }
    return {**doc, **changes}


def send(
    kit: Kit,
    doc: dict[str, Any] | bytes,
    files: dict[str, bytes] | None = None,
    user: str = "officer1",
    headers: dict[str, str] | None = None,
) -> Any:
    raw = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
    sent = {"photo.jpg": PHOTO, "clip.mp4": CLIP} if files is None else files
    parts = [
        ("capture", (None, raw)),
        *[("files", (name, data, "application/octet-stream")) for name, data in sent.items()],
    ]
    return kit.client.post("/captures", files=parts, headers={**kit.token(user), **(headers or {})})


def file_case(kit: Kit, case_id: str = "case-1") -> None:
    resp = kit.client.post("/cases", json=filing(case_id), headers=kit.token("officer1"))
    assert resp.status_code == 201, resp.text


def assert_nothing_stored(kit: Kit) -> None:
    assert kit.blobs() == []
    assert kit.spooled() == []
    assert kit.deps.claims is not None
    root = kit.deps.claims.root
    assert (sorted(root.glob("*.json")) if root.exists() else []) == []


def test_a_capture_is_stored_registered_and_attached_in_the_officer_s_name(kit: Kit) -> None:
    file_case(kit)
    resp = send(kit, capture(case_id="case-1"))
    assert resp.status_code == 201, resp.text
    doc = resp.json()
    ids = [i["evidence_id"] for i in doc["items"]]
    assert [i["file_name"] for i in doc["items"]] == ["photo.jpg", "clip.mp4"]
    assert all(i["ledger_tx"] and not i["duplicate"] for i in doc["items"])
    assert doc["case_id"] == "case-1"
    assert [a["evidence_id"] for a in doc["attached"]] == ids
    assert kit.chain.attached["case-1"] == ids
    assert [kit.chain.registered_by[i] for i in ids] == ["officer1", "officer1"]
    assert kit.spooled() == []
    # The kept capture is signed by the officer and names them: it verifies as ingest
    # verifies any claims, and a package carries it.
    assert kit.deps.claims is not None
    kept = kit.deps.claims.get(ids[0])
    verifier = DeviceVerifier("UrbanManagementMSP", make_ca(kit.root / "node").cert_pem)
    claims = verifier.verify(kept.claims_json, kept.signature, kept.certificate_pem)
    assert isinstance(claims, OfficerCaptureClaims)
    assert (claims.device_id, claims.camera_id, claims.case_id) == (
        "officer1",
        "bodycam-0042",
        "case-1",
    )
    row = kit.deps.index.evidence(ids[0])
    assert row is not None
    assert row.text == capture()["note"]
    assert row.camera_id == "bodycam-0042"


def test_a_reported_capture_raises_the_officer_s_own_flag_for_review(kit: Kit) -> None:
    """上报: a grid officer's report enters the review queue like a camera's flag, and the
    violation loop (with the schedule's reminders) follows from it."""
    doc = capture(flag=True, violation_type="shopfront_operation")
    resp = send(kit, doc)
    assert resp.status_code == 201, resp.text
    out = resp.json()
    ids = [i["evidence_id"] for i in out["items"]]
    assert (out["flag_id"], out["case_id"], out["attached"]) == (doc["event_id"], None, [])
    assert out["flag_tx"]
    flag = kit.chain.flags[doc["event_id"]]
    assert (flag.flagged_by, flag.evidence_ids, flag.confidence) == ("CN=officer1", ids, 1.0)
    assert (flag.camera_id, flag.violation_type.value) == ("bodycam-0042", "shopfront_operation")
    # The flag binds the officer-signed capture the package will carry.
    assert kit.deps.claims is not None
    kept = canonical_json(json.loads(kit.deps.claims.get(ids[0]).claims_json))
    assert flag.claims_hash == f"sha256:{hashlib.sha256(kept).hexdigest()}"
    assert b'"flag"' not in kept  # what the officer asserts about the files, not a request
    queue = kit.client.get("/violations", headers=kit.token("reviewer1")).json()
    assert [v["flag_id"] for v in queue["items"]] == [doc["event_id"]]
    # A replay: the same items and the same flag, nothing new.
    again = send(kit, doc).json()
    assert (again["flag_id"], [i["evidence_id"] for i in again["items"]]) == (out["flag_id"], ids)
    assert all(i["duplicate"] for i in again["items"])
    assert len(kit.chain.flags) == 1


def test_a_report_under_another_event_s_flag_id_stores_nothing(kit: Kit) -> None:
    done = submit(kit, event_id="hh-0042-20261122-0001")  # a camera's flag took the id
    assert kit.chain.flags[done["flag_id"]].flagged_by != "CN=officer1"
    blobs, registered = kit.blobs(), dict(kit.chain.registered_by)
    resp = send(kit, capture(flag=True))
    assert_problem(resp, 409, "EVENT_CONFLICT")
    assert "already exists for another event" in resp.json()["detail"]
    assert (kit.blobs(), kit.chain.registered_by) == (blobs, registered)
    assert kit.spooled() == []


def test_a_capture_without_a_case_is_stored_and_attached_to_nothing(kit: Kit) -> None:
    resp = send(kit, capture())
    assert resp.status_code == 201, resp.text
    assert resp.json()["attached"] == []
    assert resp.json()["case_id"] is None
    assert kit.chain.attached == {}


def test_a_replay_returns_the_same_ids_and_stores_nothing_new(kit: Kit) -> None:
    file_case(kit)
    first = send(kit, capture(case_id="case-1")).json()
    blobs = kit.blobs()
    again = send(kit, capture(case_id="case-1"), headers={"Idempotency-Key": first["event_id"]})
    assert again.status_code == 201, again.text
    assert [i["evidence_id"] for i in again.json()["items"]] == [
        i["evidence_id"] for i in first["items"]
    ]
    assert all(i["duplicate"] for i in again.json()["items"])
    assert kit.blobs() == blobs
    assert kit.chain.attached["case-1"] == [i["evidence_id"] for i in first["items"]]


def test_other_content_under_a_stored_event_id_is_refused(kit: Kit) -> None:
    first = send(kit, capture()).json()
    assert kit.deps.claims is not None
    kept = kit.deps.claims.get(first["items"][0]["evidence_id"])
    blobs = kit.blobs()
    assert_problem(send(kit, capture(note="another stall")), 409, "EVENT_CONFLICT")
    assert kit.deps.claims.get(first["items"][0]["evidence_id"]) == kept
    assert kit.blobs() == blobs
    assert kit.spooled() == []


def test_a_file_other_than_the_handheld_hashed_is_refused(kit: Kit) -> None:
    resp = send(kit, capture(), files={"photo.jpg": PHOTO + b"edited", "clip.mp4": CLIP})
    assert_problem(resp, 422, "MEDIA_MISMATCH")
    assert_nothing_stored(kit)


@pytest.mark.parametrize(
    ("files", "code"),
    [
        ({"photo.jpg": PHOTO}, "UNKNOWN_MEDIA"),  # a named file not sent
        ({"photo.jpg": PHOTO, "clip.mp4": CLIP, "extra.jpg": PHOTO}, "UNKNOWN_MEDIA"),
    ],
)
def test_files_must_be_the_ones_named(kit: Kit, files: dict[str, bytes], code: str) -> None:
    assert_problem(send(kit, capture(), files=files), 422, code)
    assert_nothing_stored(kit)


@pytest.mark.parametrize(
    ("doc", "where"),
    [
        (b"{not json", "capture: not a JSON document"),
        (b'{"event_id": "a", "event_id": "b"}', "capture: not a JSON document"),
        (capture(note="x" * 501), "capture.note"),
        (capture(media=[]), "capture.media"),
        (capture(captured_at="2026-11-22T10:15:00"), "capture.captured_at"),
        (capture(violation_type="jaywalking"), "capture.violation_type"),
        (capture(event_id="../etc"), "capture.event_id"),
        (capture(device_id="officer2"), "capture.device_id"),  # the signer is not the caller's
        (capture(media=[media("../photo.jpg", PHOTO)]), "capture.media.0.name"),
        (capture(case_id="case-1", flag=True), "capture: Value error, a capture joins a case"),
        (capture(flag="yes please"), "capture.flag"),
        (capture(flag="true"), "capture.flag"),  # a JSON boolean, not a string that reads so
    ],
)
def test_a_malformed_capture_is_refused_with_where(kit: Kit, doc: Any, where: str) -> None:
    resp = send(kit, doc)
    assert_problem(resp, 422, "INVALID_REQUEST")
    assert resp.json()["detail"].startswith(where)
    assert_nothing_stored(kit)


def test_the_capture_part_is_required(kit: Kit) -> None:
    parts = [("files", ("photo.jpg", PHOTO, "image/jpeg"))]
    resp = kit.client.post("/captures", files=parts, headers=kit.token("officer1"))
    assert_problem(resp, 422, "MISSING_PART")
    assert_nothing_stored(kit)


def test_an_idempotency_key_must_name_the_event(kit: Kit) -> None:
    resp = send(kit, capture(), headers={"Idempotency-Key": "hh-0042-other"})
    assert_problem(resp, 422, "IDEMPOTENCY_KEY_MISMATCH")
    assert_nothing_stored(kit)


def test_a_case_that_does_not_exist_stores_nothing(kit: Kit) -> None:
    assert_problem(send(kit, capture(case_id="case-9")), 404, "NOT_FOUND")
    assert_nothing_stored(kit)


def test_a_case_held_by_another_department_stores_nothing(kit: Kit) -> None:
    file_case(kit)
    held = kit.chain.cases["case-1"]
    kit.chain.cases["case-1"] = held.model_copy(update={"holder_org": PARTNER_ORG})
    assert_problem(send(kit, capture(case_id="case-1")), 403, "CASE_NOT_HELD")
    assert_nothing_stored(kit)


def test_a_closed_case_stores_nothing(kit: Kit) -> None:
    file_case(kit)
    held = kit.chain.cases["case-1"]
    kit.chain.cases["case-1"] = held.model_copy(update={"stage": Stage.CLOSURE})
    assert_problem(send(kit, capture(case_id="case-1")), 409, "CASE_CLOSED")
    assert_nothing_stored(kit)


@pytest.mark.parametrize("user", ["edge-07", "reviewer1", "auditor1", "partner1", "admin"])
def test_only_officers_capture(kit: Kit, user: str) -> None:
    assert_problem(send(kit, capture(), user=user), 403, "ACCESS_DENIED")
    assert_nothing_stored(kit)


def test_no_token(kit: Kit) -> None:
    resp = kit.client.post("/captures", files=[("capture", (None, b"{}"))])
    assert_problem(resp, 401, "UNAUTHENTICATED")


def test_an_oversized_file_is_stopped_while_streaming(tmp_path: Path) -> None:
    kit = build(tmp_path, max_upload_bytes=len(PHOTO) - 1, claims=ClaimsArchive(tmp_path / "c"))
    assert_problem(send(kit, capture()), 413, "TOO_LARGE")
    assert_nothing_stored(kit)


def test_a_gateway_without_signing_keys_takes_no_captures(tmp_path: Path) -> None:
    kit = build(tmp_path, signer_for=None, claims=ClaimsArchive(tmp_path / "claims"))
    assert_problem(send(kit, capture()), 501, "CAPTURES_NOT_CONFIGURED")
    assert_nothing_stored(kit)


def test_a_device_cannot_pass_a_capture_off_as_an_officer_s(kit: Kit) -> None:
    # An officer-capture document sent to the device route: not a device's claims.
    doc = OfficerCaptureClaims.model_validate(
        {**capture(), "org": "UrbanManagementMSP", "device_id": "edge-07"}
    )
    parts = [
        ("claims", (None, doc.model_dump_json().encode())),
        ("signature", (None, b"x")),
        ("certificate", (None, b"x")),
        ("files", ("photo.jpg", PHOTO, "image/jpeg")),
        ("files", ("clip.mp4", CLIP, "video/mp4")),
    ]
    resp = kit.client.post("/devices/submissions", files=parts, headers=kit.token("edge-07"))
    assert_problem(resp, 422, "BAD_CLAIMS")
    assert_nothing_stored(kit)
