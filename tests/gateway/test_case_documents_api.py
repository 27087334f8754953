"""A step's legal document into the case file (POST /cases/{id}/documents/{step}): only the
document the step bound, signed and registered in the filer's name, idempotent; every
refusal a problem with nothing stored."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
from gatewaykit import Kit, build
from ingestkit import make_ca
from sqlalchemy import delete
from test_gateway_devices import assert_problem
from test_officer_captures import assert_nothing_stored, file_case

from node.index.schema import EvidenceRow
from node.ingest import DeviceVerifier
from node.package import ClaimsArchive
from schemas.claims import CaseDocumentClaims

DECISION = b"%PDF-1.7\n% the filing approval form, signed\n" + bytes(range(256)) * 8
SCAN = b"\x89PNG\r\n\x1a\n the reviewer's approval, scanned " + bytes(64)


@pytest.fixture
def kit(tmp_path: Path) -> Kit:
    return build(tmp_path, claims=ClaimsArchive(tmp_path / "claims"))


def sha(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


def walk(kit: Kit, approval: bytes | None = SCAN) -> None:
    """case-1 through step 1 (no document), 2 (the form: DECISION) and 3 (``approval``)."""
    file_case(kit)
    steps: list[tuple[str, dict[str, Any]]] = [
        ("officer1", {"to": "preliminary_check"}),
        ("officer1", {"to": "filing_approval", "document_hash": sha(DECISION)}),
        ("reviewer1", {"to": "investigation", "document_hash": sha(approval or b"")}),
    ]
    for user, body in steps:
        resp = kit.client.post("/cases/case-1/stage", json=body, headers=kit.token(user))
        assert resp.status_code == 200, resp.text


def send(
    kit: Kit,
    step: int = 2,
    data: bytes | None = DECISION,
    user: str = "officer1",
    case_id: str = "case-1",
    files: list[tuple[str, bytes]] | None = None,
) -> Any:
    sent = files if files is not None else ([] if data is None else [("form.pdf", data)])
    parts: list[tuple[str, Any]] = [
        ("document", (name, body, "application/octet-stream")) for name, body in sent
    ]
    # Without a file: a form with a field only, which is no document.
    parts = parts or [("note", (None, b"the form follows"))]
    return kit.client.post(
        f"/cases/{case_id}/documents/{step}", files=parts, headers=kit.token(user)
    )


def test_the_step_s_document_is_filed_in_the_filer_s_name(kit: Kit) -> None:
    walk(kit)
    resp = send(kit)
    assert resp.status_code == 201, resp.text
    doc = resp.json()
    evidence_id = doc["evidence_id"]
    assert (doc["step"], doc["stage"], doc["sha256"]) == (2, "filing_approval", sha(DECISION))
    assert (doc["media_type"], doc["duplicate"]) == ("application/pdf", False)
    assert doc["ledger_tx"]
    assert kit.chain.registered_by[evidence_id] == "officer1"
    assert evidence_id in kit.chain.attached["case-1"]
    # The kept claims are the filer's, and verify as ingest verifies any claims.
    assert kit.deps.claims is not None
    kept = kit.deps.claims.get(evidence_id)
    verifier = DeviceVerifier("UrbanManagementMSP", make_ca(kit.root / "node").cert_pem)
    claims = verifier.verify(kept.claims_json, kept.signature, kept.certificate_pem)
    assert isinstance(claims, CaseDocumentClaims)
    assert (claims.device_id, claims.case_id, claims.step, claims.stage) == (
        "officer1",
        "case-1",
        2,
        "filing_approval",
    )
    assert [m.name for m in claims.media] == ["filing_approval-2.pdf"]
    row = kit.deps.index.evidence(evidence_id)
    assert row is not None
    assert (row.text, row.camera_id, row.media_type) == (
        "document filing_approval",
        "case-file",
        "application/pdf",
    )
    assert kit.spooled() == []


def test_a_reviewer_files_the_approval_and_the_list_shows_each_step(kit: Kit) -> None:
    walk(kit)
    listed = kit.client.get("/cases/case-1/documents", headers=kit.token("auditor1"))
    assert listed.status_code == 200, listed.text
    assert [(d["step"], d["stage"], d["evidence_id"]) for d in listed.json()] == [
        (2, "filing_approval", None),
        (3, "investigation", None),
    ]
    resp = send(kit, step=3, data=SCAN, user="reviewer1", files=[("approval.png", SCAN)])
    assert resp.status_code == 201, resp.text
    assert resp.json()["media_type"] == "image/png"
    assert kit.chain.registered_by[resp.json()["evidence_id"]] == "reviewer1"
    listed = kit.client.get("/cases/case-1/documents", headers=kit.token("officer1")).json()
    assert [(d["step"], d["evidence_id"]) for d in listed] == [
        (2, None),
        (3, resp.json()["evidence_id"]),
    ]
    assert listed[1]["document_hash"] == sha(SCAN)


def test_filing_again_stores_nothing_new_whoever_sends_it(kit: Kit) -> None:
    walk(kit)
    first = send(kit).json()
    blobs = kit.blobs()
    assert kit.deps.claims is not None
    kept = kit.deps.claims.get(first["evidence_id"])
    again = send(kit, user="reviewer1")
    assert again.status_code == 201, again.text
    assert again.json()["evidence_id"] == first["evidence_id"]
    assert again.json()["duplicate"] is True
    assert kit.blobs() == blobs
    # The first filer's signed claims stay: the ledger's claims hash binds them.
    assert kit.deps.claims.get(first["evidence_id"]) == kept
    assert kit.chain.attached["case-1"].count(first["evidence_id"]) == 1


@pytest.mark.parametrize(
    ("request_args", "status", "code"),
    [
        ({"data": DECISION + b"altered"}, 409, "DOCUMENT_MISMATCH"),
        ({"step": 3}, 409, "DOCUMENT_MISMATCH"),  # another step's document
        ({"step": 1}, 409, "NO_DOCUMENT_BOUND"),
        ({"step": 9}, 404, "STEP_NOT_FOUND"),
        ({"step": 0}, 422, "INVALID_REQUEST"),
        ({"case_id": "case-404"}, 404, "NOT_FOUND"),
        ({"data": None}, 422, "MISSING_PART"),
        ({"files": [("a.pdf", DECISION), ("b.pdf", DECISION)]}, 422, "TOO_MANY_FILES"),
        ({"files": [("../form.pdf", DECISION)]}, 422, "BAD_FILE_NAME"),
        ({"user": "auditor1"}, 403, "ACCESS_DENIED"),
        ({"user": "partner1"}, 403, "ACCESS_DENIED"),
        ({"user": "edge-07"}, 403, "ACCESS_DENIED"),
    ],
)
def test_refusals_store_nothing(
    kit: Kit, request_args: dict[str, Any], status: int, code: str
) -> None:
    walk(kit)
    items = list(kit.chain.attached["case-1"])
    assert_problem(send(kit, **request_args), status, code)
    assert kit.chain.attached["case-1"] == items
    assert_nothing_stored(kit)


def test_only_documents_are_filed(kit: Kit) -> None:
    """A file that is no PDF or image is refused even when the step bound its hash."""
    script = b"#!/bin/sh\necho not a decision\n"
    walk(kit, approval=script)
    resp = send(kit, step=3, user="reviewer1", files=[("approval.sh", script)])
    assert_problem(resp, 415, "UNSUPPORTED_DOCUMENT")
    assert_nothing_stored(kit)


def test_an_empty_or_oversized_document_is_refused(kit: Kit) -> None:
    walk(kit, approval=b"")
    assert_problem(send(kit, step=3, user="reviewer1", files=[("a.pdf", b"")]), 422, "EMPTY_FILE")
    big = b"%PDF-" + bytes(21 << 20)
    assert_problem(send(kit, files=[("big.pdf", big)]), 413, "BODY_TOO_LARGE")
    assert_nothing_stored(kit)


def test_a_case_held_elsewhere_takes_no_document_here(kit: Kit) -> None:
    walk(kit)
    case = kit.chain.cases["case-1"]
    kit.chain.cases["case-1"] = case.model_copy(update={"holder_org": "MarketSupervisionMSP"})
    assert_problem(send(kit), 403, "CASE_NOT_HELD")
    assert_nothing_stored(kit)


def test_without_signing_keys_the_gateway_files_no_documents(tmp_path: Path) -> None:
    kit = build(tmp_path, claims=ClaimsArchive(tmp_path / "claims"), signer_for=None)
    walk(kit)
    assert_problem(send(kit), 501, "DOCUMENTS_NOT_CONFIGURED")
    assert_nothing_stored(kit)


def test_a_document_the_index_has_not_followed_is_found_on_the_ledger(kit: Kit) -> None:
    """Filed by another department before a transfer, or before the follower caught up: the
    list finds it among the ledger's records of the items the index does not know."""
    walk(kit)
    evidence_id = send(kit).json()["evidence_id"]
    with kit.deps.index.session() as session:
        session.execute(delete(EvidenceRow).where(EvidenceRow.evidence_id == evidence_id))
    assert kit.deps.index.evidence(evidence_id) is None
    listed = kit.client.get("/cases/case-1/documents", headers=kit.token("officer1")).json()
    assert [(d["step"], d["evidence_id"]) for d in listed] == [(2, evidence_id), (3, None)]
