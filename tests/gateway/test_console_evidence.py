"""Evidence an officer adds to a case in the console: hashed as it arrives, signed with the
officer's key, registered in the officer's name and attached; the same files again change
nothing; every refusal a page naming the problem, with nothing stored and nothing spooled."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from consolekit import file_case, sign_in
from gatewaykit import Kit, build
from ingestkit import CLIP, KEYFRAME, NOW

from gateway.console import pages
from node.package import ClaimsArchive
from schemas.claims import parse_evidence_claims
from schemas.glossary import Stage

PHOTO = KEYFRAME + b" from the officer's phone"


@pytest.fixture
def kit(tmp_path: Path) -> Kit:
    kit = build(tmp_path, clock=lambda: NOW, claims=ClaimsArchive(tmp_path / "claims"))
    file_case(kit)
    return kit


def add(kit: Kit, files: list[tuple[str, bytes, str]], user: str = "officer1", **form: Any) -> Any:
    client, csrf = sign_in(kit, user)
    return client.post(
        "/console/cases/case-1/evidence",
        data={"csrf": csrf, **form},
        files=[("files", f) for f in files],
        follow_redirects=False,
    )


def assert_refused(resp: Any, status: int, code: str) -> None:
    assert resp.status_code == status, resp.text
    assert code in resp.text
    assert "Traceback" not in resp.text


def assert_nothing_stored(kit: Kit) -> None:
    assert kit.blobs() == []
    assert kit.spooled() == []
    assert kit.chain.attached["case-1"] == []


def test_the_officer_s_files_join_the_case_in_the_officer_s_name(kit: Kit) -> None:
    files = [("stall.jpg", PHOTO, "image/jpeg"), ("talk.mp4", CLIP, "video/mp4")]
    resp = add(kit, files, note="owner present", taken_at="2026-11-22T10:15")
    assert resp.status_code == 303, resp.text
    assert resp.headers["location"].startswith("/console/cases/case-1?tx=")
    items = kit.chain.attached["case-1"]
    assert len(items) == 2
    assert {kit.chain.registered_by[i] for i in items} == {"officer1"}
    assert kit.deps.claims is not None
    claims = parse_evidence_claims(kit.deps.claims.get(items[0]).claims_json)
    assert (claims.kind, claims.device_id, claims.camera_id) == (
        "officer_capture",
        "officer1",
        "console-upload",
    )
    assert claims.captured_at.isoformat() == "2026-11-22T10:15:00+08:00"  # Beijing time
    assert sorted((m.name, m.media_type, m.size) for m in claims.media) == [
        ("stall.jpg", "image/jpeg", len(PHOTO)),
        ("talk.mp4", "video/mp4", len(CLIP)),
    ]
    assert kit.spooled() == []
    # The case page lists them.
    officer, _ = sign_in(kit, "officer1")
    page = officer.get("/console/cases/case-1")
    assert all(i in page.text for i in items)
    assert 'id="add-evidence"' in page.text


def test_the_same_files_again_change_nothing(kit: Kit) -> None:
    files = [("stall.jpg", PHOTO, "image/jpeg")]
    assert add(kit, files).status_code == 303
    blobs, attached = kit.blobs(), list(kit.chain.attached["case-1"])
    assert add(kit, files).status_code == 303  # the same capture: a replay
    assert (kit.blobs(), kit.chain.attached["case-1"]) == (blobs, attached)
    assert_refused(add(kit, files, note="again, later"), 409, "ALREADY_IN_CASE")
    assert kit.blobs() == blobs


@pytest.mark.parametrize(
    ("files", "status", "code"),
    [
        ([("../stall.jpg", PHOTO, "image/jpeg")], 422, "BAD_FILE_NAME"),
        ([("a.jpg", PHOTO, "image/jpeg"), ("a.jpg", CLIP, "image/jpeg")], 422, "DUPLICATE_FILE"),
        ([("empty.jpg", b"", "image/jpeg")], 422, "EMPTY_FILE"),
        ([(f"p{i}.jpg", PHOTO + bytes([i]), "image/jpeg") for i in range(11)], 422, "TOO_MANY"),
    ],
)
def test_bad_files_are_named_and_nothing_is_kept(
    kit: Kit, files: list[tuple[str, bytes, str]], status: int, code: str
) -> None:
    assert_refused(add(kit, files), status, code)
    assert_nothing_stored(kit)


def test_files_over_the_limit_are_stopped_while_read(
    kit: Kit, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pages, "MAX_CONSOLE_EVIDENCE", len(PHOTO) + len(CLIP) - 1)
    files = [("stall.jpg", PHOTO, "image/jpeg"), ("talk.mp4", CLIP, "video/mp4")]
    assert_refused(add(kit, files), 413, "TOO_LARGE")
    assert_nothing_stored(kit)


def test_a_closed_case_takes_no_evidence(kit: Kit) -> None:
    held = kit.chain.cases["case-1"]
    kit.chain.cases["case-1"] = held.model_copy(update={"stage": Stage.CLOSURE})
    assert_refused(add(kit, [("stall.jpg", PHOTO, "image/jpeg")]), 409, "CASE_CLOSED")
    assert_nothing_stored(kit)


@pytest.mark.parametrize("user", ["reviewer1", "auditor1", "partner1"])
def test_only_officers_add_evidence(kit: Kit, user: str) -> None:
    assert_refused(add(kit, [("stall.jpg", PHOTO, "image/jpeg")], user), 403, "ACCESS_DENIED")
    assert_nothing_stored(kit)


def test_a_form_without_its_csrf_token_is_refused(kit: Kit) -> None:
    client, _ = sign_in(kit, "officer1")
    resp = client.post(
        "/console/cases/case-1/evidence",
        files=[("files", ("stall.jpg", PHOTO, "image/jpeg"))],
        follow_redirects=False,
    )
    assert_refused(resp, 403, "CSRF_REJECTED")
    assert_nothing_stored(kit)
