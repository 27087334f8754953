"""Device ingest through the gateway: streamed, size-limited, idempotent, nothing stored on
refusal."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from gatewaykit import FakeLedger, Kit, build
from ingestkit import CLIP, KEYFRAME, claims, device, make_ca, signed

from gateway.routes import devices
from gateway.uploads import FIELDS_PER_UPLOAD, MAX_PARTS
from node.ledger import LedgerRefused
from node.package.claims_archive import ClaimsArchive
from schemas.ledger import LedgerErrorCode
from schemas.violations import ViolationFlag

PROBLEM = "application/problem+json"


@pytest.fixture
def kit(tmp_path: Path) -> Kit:
    return build(tmp_path)


def parts(kit: Kit, *, role: str = "device", **files: bytes) -> list[tuple[str, Any]]:
    body, sig, cert = signed(claims(), device(make_ca(kit.root / "node"), role=role))
    sent = files or {"keyframe.jpg": KEYFRAME, "clip.mp4": CLIP}
    return [
        ("claims", (None, body)),
        ("signature", (None, sig)),
        ("certificate", (None, cert)),
        *[("files", (name, data, "application/octet-stream")) for name, data in sent.items()],
    ]


def submit(kit: Kit, files: list[tuple[str, Any]], user: str = "edge-07") -> Any:
    return kit.client.post("/devices/submissions", files=files, headers=kit.token(user))


def assert_problem(resp: Any, status: int, code: str) -> None:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"] == PROBLEM
    doc = resp.json()
    assert doc["code"] == code
    assert doc["status"] == status
    assert "Traceback" not in resp.text


def test_submission_returns_evidence_and_ledger_ids(kit: Kit) -> None:
    resp = submit(kit, parts(kit))
    assert resp.status_code == 201, resp.text
    items = resp.json()["items"]
    assert [i["file_name"] for i in items] == ["keyframe.jpg", "clip.mp4"]
    assert all(i["ledger_tx"] and not i["duplicate"] for i in items)
    assert kit.spooled() == []


def test_replayed_submission_returns_the_same_ids(kit: Kit) -> None:
    first = submit(kit, parts(kit)).json()["items"]
    blobs = kit.blobs()
    again = submit(kit, parts(kit))
    assert again.status_code == 201
    second = again.json()["items"]
    assert [i["evidence_id"] for i in second] == [i["evidence_id"] for i in first]
    assert all(i["duplicate"] for i in second)
    assert kit.blobs() == blobs


def test_a_replay_with_other_claims_is_refused_and_keeps_the_stored_ones(
    tmp_path: Path,
) -> None:
    archive = ClaimsArchive(tmp_path / "claims")
    kit = build(tmp_path, claims=archive)
    first = submit(kit, parts(kit)).json()["items"]
    kept = {i["evidence_id"]: archive.get(i["evidence_id"]) for i in first}
    blobs = kit.blobs()
    # The same event id and files, another capture time: not the event the ledger holds.
    body, sig, cert = signed(
        claims(captured_at="2026-11-22T08:58:00+08:00"), device(make_ca(kit.root / "node"))
    )
    files = parts(kit)
    files[:3] = [
        ("claims", (None, body)),
        ("signature", (None, sig)),
        ("certificate", (None, cert)),
    ]
    assert_problem(submit(kit, files), 409, "EVENT_CONFLICT")
    assert {e: archive.get(e) for e in kept} == kept
    assert kit.blobs() == blobs
    assert kit.spooled() == []
    # The same claims again are still a harmless replay.
    again = submit(kit, parts(kit))
    assert again.status_code == 201, again.text
    assert all(i["duplicate"] for i in again.json()["items"])


def test_oversized_file_is_stopped_while_streaming(tmp_path: Path) -> None:
    kit = build(tmp_path, max_upload_bytes=len(KEYFRAME) + 10)
    resp = submit(kit, parts(kit))
    assert_problem(resp, 413, "TOO_LARGE")
    assert kit.spooled() == []
    assert kit.blobs() == []


def test_many_small_parts_are_refused_while_streaming(kit: Kit) -> None:
    many = [*parts(kit), *[(f"note{i}", (None, b"x")) for i in range(MAX_PARTS)]]
    assert_problem(submit(kit, many), 413, "TOO_MANY_PARTS")
    assert kit.spooled() == []
    assert kit.blobs() == []


def test_fields_in_memory_are_capped_in_all(kit: Kit) -> None:
    # Each field within its own limit; together past what one upload may hold in memory.
    each = kit.deps.max_claims_bytes
    many = [*parts(kit), *[(f"note{i}", (None, b"x" * each)) for i in range(FIELDS_PER_UPLOAD)]]
    assert_problem(submit(kit, many), 413, "TOO_LARGE")
    assert kit.spooled() == []


def test_a_field_sent_twice_is_refused(kit: Kit) -> None:
    twice = [*parts(kit), ("claims", (None, b"{}"))]
    assert_problem(submit(kit, twice), 422, "DUPLICATE_FIELD")
    assert kit.spooled() == []
    assert kit.blobs() == []


def test_wrong_content_type(kit: Kit) -> None:
    resp = kit.client.post(
        "/devices/submissions", json={"claims": "{}"}, headers=kit.token("edge-07")
    )
    assert_problem(resp, 415, "UNSUPPORTED_MEDIA_TYPE")


def test_bad_signature_stores_nothing(kit: Kit) -> None:
    files = parts(kit)
    files[1] = ("signature", (None, b"\x30\x06\x02\x01\x01\x02\x01\x01"))
    assert_problem(submit(kit, files), 422, "BAD_SIGNATURE")
    assert kit.blobs() == []
    assert kit.spooled() == []


def test_a_device_cannot_deliver_another_device_s_claims(kit: Kit) -> None:
    # edge-07 made and signed these claims; edge-08 holds a valid device identity too.
    assert_problem(submit(kit, parts(kit), user="edge-08"), 403, "DEVICE_MISMATCH")
    assert kit.blobs() == []
    assert kit.spooled() == []


def test_claims_naming_another_device_are_refused(kit: Kit) -> None:
    # Sent by edge-08 and in its name, but signed with edge-07's key and certificate.
    body, sig, cert = signed(claims(device_id="edge-08"), device(make_ca(kit.root / "node")))
    files = parts(kit)
    files[:3] = [
        ("claims", (None, body)),
        ("signature", (None, sig)),
        ("certificate", (None, cert)),
    ]
    assert_problem(submit(kit, files, user="edge-08"), 403, "DEVICE_MISMATCH")
    assert kit.blobs() == []
    assert kit.spooled() == []


@pytest.mark.parametrize("name", ["../clip.mp4", "..", "/etc/passwd", "a/b.jpg", ".hidden"])
def test_path_traversal_names_are_refused(kit: Kit, name: str) -> None:
    files = parts(kit, **{name: CLIP})
    assert_problem(submit(kit, files), 422, "BAD_FILE_NAME")
    assert kit.spooled() == []
    assert kit.blobs() == []


def test_file_not_named_in_claims(kit: Kit) -> None:
    files = parts(kit, **{"keyframe.jpg": KEYFRAME, "clip.mp4": CLIP, "extra.bin": b"x"})
    assert_problem(submit(kit, files), 422, "UNKNOWN_MEDIA")
    assert kit.blobs() == []


def test_missing_part(kit: Kit) -> None:
    files = [p for p in parts(kit) if p[0] != "signature"]
    assert_problem(submit(kit, files), 422, "MISSING_PART")


def test_a_certificate_without_the_device_role_is_refused(kit: Kit) -> None:
    assert_problem(submit(kit, parts(kit, role="officer")), 403, "NOT_A_DEVICE")


@pytest.mark.parametrize("user", ["officer1", "auditor1", "partner1"])
def test_only_device_identities_submit(kit: Kit, user: str) -> None:
    assert_problem(submit(kit, parts(kit), user=user), 403, "ACCESS_DENIED")


def test_no_token(kit: Kit) -> None:
    resp = kit.client.post("/devices/submissions", files=parts(kit))
    assert_problem(resp, 401, "UNAUTHENTICATED")
    assert resp.headers["www-authenticate"] == "Bearer"


def _flag_not_found_for(kit: Kit, monkeypatch: pytest.MonkeyPatch, times: int) -> list[int]:
    """The peer that endorses FlagViolation first does not show the items ``times`` times
    (it has just restarted and is replaying blocks), then it does."""
    calls: list[int] = []
    real = FakeLedger.flag_violation

    async def lagging(self: FakeLedger, flag: ViolationFlag) -> Any:
        calls.append(1)
        if len(calls) <= times:
            raise LedgerRefused(LedgerErrorCode.NOT_FOUND, "no evidence EV-1", "tx-lag")
        return await real(self, flag)

    monkeypatch.setattr(FakeLedger, "flag_violation", lagging)
    monkeypatch.setattr(devices, "FLAG_RETRY_DELAYS", (0.0, 0.0))
    return calls


def test_a_peer_that_has_not_caught_up_is_asked_again(
    kit: Kit, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _flag_not_found_for(kit, monkeypatch, times=2)
    resp = submit(kit, parts(kit))
    assert resp.status_code == 201, resp.text
    assert len(calls) == 3
    assert resp.json()["flag_id"] in kit.chain.flags


def test_a_ledger_still_behind_asks_the_device_to_resend_and_loses_nothing(
    kit: Kit, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _flag_not_found_for(kit, monkeypatch, times=3)
    resp = submit(kit, parts(kit))
    assert_problem(resp, 503, "LEDGER_NOT_CAUGHT_UP")  # retryable: not a 404 the device drops
    assert resp.headers["retry-after"] == "5"
    assert len(calls) == 3
    assert kit.chain.flags == {}
    blobs = kit.blobs()
    assert blobs  # the evidence is stored and registered
    again = submit(kit, parts(kit))  # the device's resend, once the peer caught up
    assert again.status_code == 201, again.text
    assert all(i["duplicate"] for i in again.json()["items"])
    assert kit.blobs() == blobs
    assert again.json()["flag_id"] in kit.chain.flags


def test_other_refusals_of_the_flag_are_not_retried(
    kit: Kit, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []

    async def refused(self: FakeLedger, flag: ViolationFlag) -> Any:
        calls.append(1)
        raise LedgerRefused(LedgerErrorCode.VIOLATION_CONFLICT, "flag exists otherwise", "tx")

    monkeypatch.setattr(FakeLedger, "flag_violation", refused)
    assert_problem(submit(kit, parts(kit)), 409, "VIOLATION_CONFLICT")
    assert calls == [1]
