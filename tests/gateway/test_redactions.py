"""Redacted copies through the gateway: the real app, a real IngestService and the real
redactor over temp dirs, a fake ledger at the seam that keeps RecordDerivation's contract."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from gatewaykit import ORG, FakeChain, FakeLedger, Kit, build
from ingestkit import CLIP, NOW, FileLedger, claims, device, make_ca, signed
from test_gateway_devices import assert_problem, parts, submit

from detectors.evidence import write_clip
from node.fabric import SubmitError
from node.ledger import Committed, LedgerRefused
from schemas.derivations import DerivationRecord, DerivationRequest
from schemas.glossary import AccessKind, Outcome, Role
from schemas.hashes import Digest
from schemas.ledger import (
    AccessRecord,
    AccessRequest,
    EvidenceRecord,
    EvidenceRegistration,
    LedgerErrorCode,
    ledger_time,
)

PHOTO = Path("/usr/share/doc/opencv-doc/examples/data/messi5.jpg")
MESSI_FACE = (226, 94, 37, 37)  # x, y, width, height, marked by hand


@dataclass
class Links:
    """RecordDerivation's state in the fake, and faults to inject."""

    records: dict[str, DerivationRecord] = field(default_factory=dict)  # by derived id
    fail_links: list[Exception] = field(default_factory=list)
    deny_access: bool = False


class DerivingLedger(FakeLedger):
    def __init__(self, chain: FakeChain, user: str, links: Links) -> None:
        super().__init__(chain, user)
        self.links = links

    async def request_access(self, req: AccessRequest) -> Committed[AccessRecord]:
        committed = await super().request_access(req)
        if not self.links.deny_access:
            return committed
        denied = committed.value.model_copy(
            update={"outcome": Outcome.DENIED, "reason": "retention_expired"}
        )
        self.chain.accesses[-1] = denied
        return Committed(denied, committed.tx_id, committed.block_number)

    async def register_evidence(self, reg: EvidenceRegistration) -> Committed[EvidenceRecord]:
        if self.role not in (Role.OFFICER, Role.DEVICE) or reg.owner_org != self.org:
            raise self._deny()
        try:
            await FileLedger(self.chain.evidence_file).register_evidence(reg)
        except RuntimeError:
            raise LedgerRefused(LedgerErrorCode.EVIDENCE_CONFLICT, "other content", "") from None
        record = await self.evidence(reg.evidence_id)
        return Committed(record, record.registered_tx, 7)

    async def record_derivation(self, req: DerivationRequest) -> Committed[DerivationRecord]:
        if self.links.fail_links:
            raise self.links.fail_links.pop(0)
        if self.role not in (Role.OFFICER, Role.REVIEWER):
            raise self._deny()
        original = await self.evidence(req.original_id)
        derived = await self.evidence(req.derived_id)
        if self.org != original.owner_org or derived.owner_org != original.owner_org:
            raise self._deny()
        if derived.claims_hash != str(req.description_hash):
            raise LedgerRefused(LedgerErrorCode.VALIDATION_FAILED, "claims hash", "")
        access = next(a for a in self.chain.accesses if a.record_id == req.access_record)
        assert (access.purpose, access.kind, access.outcome) == (
            "redaction",
            AccessKind.VIEW,
            Outcome.GRANTED,
        )
        assert req.derived_id not in self.links.records, "the flow must not replay a link"
        tx = self.chain.tx()
        record = DerivationRecord(
            **req.model_dump(mode="json"),
            owner_org=self.org,
            recorded_by=f"CN={self.user}",
            recorded_role=self.role.value,
            recorded_at=ledger_time(NOW),
            recorded_tx=tx,
        )
        self.links.records[req.derived_id] = record
        return Committed(record, tx, 8)

    async def derivations(self, original_id: str) -> list[DerivationRecord]:
        await self.evidence(original_id)
        return [r for r in self.links.records.values() if r.original_id == original_id]

    async def derived_from(self, derived_id: str) -> DerivationRecord | None:
        return self.links.records.get(derived_id)


@pytest.fixture
def links() -> Links:
    return Links()


@pytest.fixture
def kit(tmp_path: Path, links: Links) -> Kit:
    kit = build(tmp_path)
    chain = kit.chain
    kit.deps.ledger_for = lambda user: DerivingLedger(chain, user, links)
    return kit


@pytest.fixture
def photo_bytes() -> bytes:
    if not PHOTO.is_file():
        pytest.fail(f"{PHOTO} is missing: run scripts/install (it installs Debian's opencv-doc)")
    return PHOTO.read_bytes()


@pytest.fixture
def items(kit: Kit, photo_bytes: bytes) -> dict[str, str]:
    """A device's submission of a real photo, a Motion-JPEG clip of it (as the detectors
    write clips) and an MP4 clip: evidence ids by file name."""
    photo = cv2.imdecode(np.frombuffer(photo_bytes, np.uint8), cv2.IMREAD_COLOR)
    pan = write_clip([np.roll(photo, shift, axis=1) for shift in (0, 6)], fps=5.0)
    sent = {
        "keyframe.jpg": ("image/jpeg", photo_bytes),
        "pan.avi": ("video/x-msvideo", pan),
        "clip.mp4": ("video/mp4", CLIP),
    }
    media = [
        {"name": name, "media_type": kind, "sha256": str(Digest.of(data)), "size": len(data)}
        for name, (kind, data) in sent.items()
    ]
    body, sig, cert = signed(claims(media=media), device(make_ca(kit.root / "node")))
    files: list[tuple[str, Any]] = [
        ("claims", (None, body)),
        ("signature", (None, sig)),
        ("certificate", (None, cert)),
    ]
    files += [("files", (n, d, "application/octet-stream")) for n, (_, d) in sent.items()]
    resp = submit(kit, files)
    assert resp.status_code == 201, resp.text
    return {i["file_name"]: i["evidence_id"] for i in resp.json()["items"]}


def _redact(kit: Kit, evidence_id: str, user: str = "officer1") -> Any:
    return kit.client.post(f"/evidence/{evidence_id}/redactions", headers=kit.token(user))


def _decode(data: bytes) -> Any:
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)


def _state(kit: Kit, links: Links) -> tuple[Any, ...]:
    """Everything a refused request must leave as it was."""
    ledger = FileLedger(kit.chain.evidence_file).records()
    redactions = sorted((kit.root / "redactions").glob("*"))
    return (kit.blobs(), set(ledger), len(kit.chain.accesses), dict(links.records), redactions)


def test_an_officer_gets_a_linked_redacted_copy_and_the_original_is_untouched(
    kit: Kit, links: Links, items: dict[str, str], photo_bytes: bytes
) -> None:
    original_id = items["keyframe.jpg"]
    original_record = FileLedger(kit.chain.evidence_file).records()[original_id]
    original_blobs = {p: p.read_bytes() for p in kit.blobs()}
    resp = _redact(kit, original_id)
    assert resp.status_code == 201, resp.text
    body = resp.json()
    derived_id = body["derived_id"]
    assert derived_id != original_id
    assert body["regions"]["face"] >= 1
    assert body["media_type"] == "image/png"
    assert {m["file"] for m in body["models"]} >= {"haarcascade_frontalface_default.xml"}
    assert resp.headers["X-Access-Record"] == body["access_record_tx"]
    # The access is on the (fake) ledger: a granted view for redaction, by the officer.
    access = next(a for a in kit.chain.accesses if a.record_id == body["access_record_tx"])
    assert (access.target_id, access.kind, access.purpose) == (original_id, "view", "redaction")
    assert access.accessor == "CN=officer1"
    # The copy is an evidence item of the owner, registered with the description's hash.
    copy_record = FileLedger(kit.chain.evidence_file).records()[derived_id]
    assert copy_record["content"]["claims_hash"] == body["description_hash"]
    assert copy_record["content"]["owner_org"] == ORG
    assert copy_record["tx"] == body["registration_tx"]
    link = links.records[derived_id]
    assert (link.original_id, link.recorded_tx) == (original_id, body["derivation_tx"])
    assert kit.deps.index.evidence(derived_id) is not None
    # Its content (read through its own access record) is the original with the face hidden.
    officer = kit.token("officer1")
    got = kit.client.get(f"/evidence/{derived_id}/content?purpose=review", headers=officer)
    assert got.status_code == 200, got.text
    before, after = _decode(photo_bytes), _decode(got.content)
    x, y, w, h = MESSI_FACE
    assert np.abs(before[y : y + h, x : x + w].astype(int) - after[y : y + h, x : x + w]).mean() > 5
    assert np.array_equal(before[300:, :150], after[300:, :150])  # grass far from any face
    # The original: same ledger record, same blobs, same bytes.
    assert FileLedger(kit.chain.evidence_file).records()[original_id] == original_record
    assert all(p.read_bytes() == data for p, data in original_blobs.items())
    again = kit.client.get(f"/evidence/{original_id}/content?purpose=review", headers=officer)
    assert again.content == photo_bytes
    # Anyone who may read records sees the link.
    for user in ("auditor1", "reviewer1", "partner1"):
        listed = kit.client.get(f"/evidence/{original_id}/derivations", headers=kit.token(user))
        assert listed.status_code == 200, listed.text
        assert [d["derived_id"] for d in listed.json()["derivations"]] == [derived_id]


def test_a_clip_gets_a_lossless_copy_redacted_frame_by_frame(
    kit: Kit, links: Links, items: dict[str, str]
) -> None:
    resp = _redact(kit, items["pan.avi"])
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert body["media_type"] == "video/x-msvideo"
    assert body["regions"]["face"] >= 2  # the face in each of the two frames
    assert body["derived_id"] != _redact(kit, items["keyframe.jpg"]).json()["derived_id"]
    got = kit.client.get(
        f"/evidence/{body['derived_id']}/content?purpose=review", headers=kit.token("officer1")
    )
    assert got.status_code == 200, got.text
    assert got.content[:4] == b"RIFF"
    assert links.records[body["derived_id"]].original_id == items["pan.avi"]


def test_a_repeated_request_returns_the_same_copy_and_records_nothing(
    kit: Kit, links: Links, items: dict[str, str]
) -> None:
    first = _redact(kit, items["keyframe.jpg"]).json()
    before = _state(kit, links)
    again = _redact(kit, items["keyframe.jpg"])
    assert again.status_code == 200, again.text
    assert again.json() == {**first, "duplicate": True}
    assert "X-Access-Record" not in again.headers
    assert _state(kit, links) == before


def test_a_lost_link_transaction_is_resumed_by_a_retry(
    kit: Kit, links: Links, items: dict[str, str]
) -> None:
    links.fail_links.append(SubmitError("orderer unreachable"))
    failed = _redact(kit, items["keyframe.jpg"])
    assert_problem(failed, 503, "LEDGER_UNAVAILABLE")
    blobs, accesses = kit.blobs(), len(kit.chain.accesses)
    assert links.records == {}
    retried = _redact(kit, items["keyframe.jpg"])
    assert retried.status_code == 201, retried.text
    # Same copy, no second reading of the original, no second ciphertext.
    assert (kit.blobs(), len(kit.chain.accesses)) == (blobs, accesses)
    assert retried.json()["derived_id"] in links.records


@pytest.mark.parametrize("user", ["reviewer1", "partner1", "auditor1", "edge-07", "admin"])
def test_other_roles_are_refused_and_nothing_is_stored(
    kit: Kit, links: Links, items: dict[str, str], user: str
) -> None:
    before = _state(kit, links)
    assert_problem(_redact(kit, items["keyframe.jpg"], user), 403, "ACCESS_DENIED")
    assert _state(kit, links) == before


def test_refusals_before_the_access_store_nothing(
    kit: Kit, links: Links, items: dict[str, str]
) -> None:
    foreign = "EV-foreign-1"
    kit.chain.foreign[foreign] = EvidenceRecord(
        **FileLedger(kit.chain.evidence_file).records()[items["keyframe.jpg"]]["content"]
        | {"evidence_id": foreign, "owner_org": "PublicSecurityMSP"},
        registered_by="CN=edge-01",
        registered_role="device",
        registered_at=ledger_time(NOW),
        registered_tx="ab" * 32,
    )
    before = _state(kit, links)
    assert_problem(_redact(kit, "EV-404"), 404, "NOT_FOUND")
    assert_problem(_redact(kit, items["clip.mp4"]), 415, "REDACTION_UNSUPPORTED_MEDIA")
    assert_problem(_redact(kit, foreign), 403, "NOT_OWN_EVIDENCE")
    assert_problem(_redact(kit, "-not-an-id"), 422, "INVALID_REQUEST")
    assert_problem(
        kit.client.post(f"/evidence/{items['keyframe.jpg']}/redactions"), 401, "UNAUTHENTICATED"
    )
    assert _state(kit, links) == before


def test_a_denied_access_is_recorded_and_nothing_else_is_stored(
    kit: Kit, links: Links, items: dict[str, str]
) -> None:
    links.deny_access = True
    blobs = kit.blobs()
    resp = _redact(kit, items["keyframe.jpg"])
    assert_problem(resp, 403, "ACCESS_DENIED")
    denial = kit.chain.accesses[-1]
    assert resp.headers["X-Access-Record"] == denial.record_id
    assert (denial.outcome, denial.purpose) == ("denied", "redaction")
    assert kit.blobs() == blobs
    assert links.records == {}


def test_derivations_of_an_unknown_item_and_without_a_role(kit: Kit) -> None:
    officer = kit.token("officer1")
    assert_problem(
        kit.client.get("/evidence/EV-404/derivations", headers=officer), 404, "NOT_FOUND"
    )
    device = kit.token("edge-07")
    assert_problem(
        kit.client.get("/evidence/EV-404/derivations", headers=device), 403, "ACCESS_DENIED"
    )


def test_a_ledger_that_cannot_link_copies_answers_501(tmp_path: Path) -> None:
    kit = build(tmp_path)  # the plain fake: no Derivations calls
    officer = kit.token("officer1")
    assert_problem(kit.client.post("/evidence/EV-1/redactions", headers=officer), 404, "NOT_FOUND")
    photo = str(submit(kit, parts(kit)).json()["items"][0]["evidence_id"])
    resp = kit.client.post(f"/evidence/{photo}/redactions", headers=officer)
    assert_problem(resp, 501, "REDACTION_NOT_CONFIGURED")
