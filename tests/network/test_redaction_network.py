"""A redacted copy on the real network: a device submits a real photo, an officer asks the
gateway for its redacted copy; the redaction view, the copy's registration and its link to
the original are on the ledger, the face is pixelated in the copy and the original is
unchanged, byte for byte and on the ledger."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest
from netsupport import case_filing, ledger_as, signed_upload
from test_package_network import _members, _write

from gateway.app import create_app
from gateway.wiring import department_gateway
from node.consortium.clients import user_identity
from node.consortium.identities import org_crypto
from node.consortium.network import Network
from node.department import NodePaths, open_parts
from node.ledger import LedgerRefused
from node.package import Manifest, verify_package
from node.package.manifest import MANIFEST, SIGNATURE
from node.redaction import DerivationConflict, DerivationsClient
from schemas.derivations import DerivationRecord, DerivationRequest
from schemas.glossary import AccessKind, Outcome
from schemas.hashes import Digest
from schemas.ledger import LedgerErrorCode

pytestmark = pytest.mark.network

URBAN, POLICE = "UrbanManagement", "PublicSecurity"
PHOTO = Path("/usr/share/doc/opencv-doc/examples/data/messi5.jpg")
MESSI_FACE = (226, 94, 37, 37)  # x, y, width, height, marked by hand


@dataclass
class Gateway:
    client: httpx.AsyncClient
    tokens: dict[str, dict[str, str]]


@pytest.fixture
async def urban(people: Network, tmp_path: Path) -> AsyncIterator[Gateway]:
    layout = people.layout
    parts = open_parts(NodePaths.of(layout.state_dir, URBAN))
    deps = department_gateway(
        layout, URBAN, parts, registrar_user="device1", work_dir=tmp_path / URBAN
    )
    tokens = {
        user: {"Authorization": f"Bearer {deps.tokens.issue_token(user, dt.timedelta(hours=1))}"}
        for user in ("device1", "officer1", "reviewer1", "auditor1")
    }
    transport = httpx.ASGITransport(app=create_app(deps))
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        yield Gateway(client, tokens)


def _photo() -> bytes:
    if not PHOTO.is_file():
        pytest.fail(f"{PHOTO} is missing: run scripts/install (it installs Debian's opencv-doc)")
    return PHOTO.read_bytes()


async def _eventually(
    read: Callable[[], Awaitable[list[DerivationRecord]]], timeout: float = 20
) -> list[DerivationRecord]:
    """What another department's peer returns once it has the block (it lags a moment)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not (found := await read()):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"no derivation seen in {timeout} s")
        await asyncio.sleep(0.1)
    return found


def _decode(data: bytes) -> np.ndarray:  # type: ignore[type-arg]
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)


async def test_a_redacted_copy_is_registered_and_linked_on_the_ledger(
    people: Network, urban: Gateway, tmp_path: Path
) -> None:
    layout, t = people.layout, urban.tokens
    photo = _photo()
    device = org_crypto(layout.state_dir, layout.consortium, URBAN).user("device1")
    msp = layout.consortium.department(URBAN).msp_id
    upload = signed_upload(device, msp, photo, event_id=f"evt-red-{uuid.uuid4().hex[:10]}")
    submitted = await urban.client.post("/devices/submissions", files=upload, headers=t["device1"])
    assert submitted.status_code == 201, submitted.text
    original_id = submitted.json()["items"][0]["evidence_id"]
    auditor = ledger_as(layout, URBAN, "auditor")
    original_before = await auditor.evidence(original_id)

    # A reviewer cannot (RegisterEvidence admits officers); nothing is recorded for it.
    refused = await urban.client.post(f"/evidence/{original_id}/redactions", headers=t["reviewer1"])
    assert refused.status_code == 403, refused.text

    made = await urban.client.post(f"/evidence/{original_id}/redactions", headers=t["officer1"])
    assert made.status_code == 201, made.text
    body = made.json()
    derived_id = body["derived_id"]
    assert body["regions"]["face"] >= 1

    # On the ledger: the access (a granted view for redaction by the officer) ...
    access = await auditor.access_record(body["access_record_tx"])
    assert (access.target_id, access.kind, access.purpose) == (
        original_id,
        AccessKind.VIEW,
        "redaction",
    )
    assert access.outcome is Outcome.GRANTED
    assert "officer1" in access.accessor
    # ... the copy, registered by the officer with the description's hash as its claims ...
    copy = await auditor.evidence(derived_id)
    assert copy.registered_tx == body["registration_tx"]
    assert copy.claims_hash == body["description_hash"]
    assert (copy.owner_org, copy.media_type) == (msp, "image/png")
    assert "officer1" in copy.registered_by
    # ... and the link, readable by any department.
    police = DerivationsClient(ledger_as(layout, POLICE, "partner"))
    [link] = await _eventually(lambda: police.derivations(original_id))
    assert (link.derived_id, link.recorded_tx) == (derived_id, body["derivation_tx"])
    assert link.access_record == body["access_record_tx"]
    assert await police.derived_from(derived_id) == link
    # The original is unchanged on the ledger.
    assert await auditor.evidence(original_id) == original_before

    # The copy's bytes hide the face; the original's are the photo, byte for byte.
    got = await urban.client.get(
        f"/evidence/{derived_id}/content?purpose=review&kind=view", headers=t["officer1"]
    )
    assert got.status_code == 200, got.text
    assert str(Digest.of(got.content)) == copy.plaintext_hash
    before, after = _decode(photo), _decode(got.content)
    x, y, w, h = MESSI_FACE
    face_change = np.abs(before[y : y + h, x : x + w].astype(int) - after[y : y + h, x : x + w])
    assert face_change.mean() > 5
    assert np.array_equal(before[300:, :150], after[300:, :150])
    original = await urban.client.get(
        f"/evidence/{original_id}/content?purpose=review", headers=t["officer1"]
    )
    assert original.content == photo

    # Asking again returns the same copy and records nothing new.
    again = await urban.client.post(f"/evidence/{original_id}/redactions", headers=t["officer1"])
    assert again.status_code == 200, again.text
    assert again.json()["derivation_tx"] == body["derivation_tx"]
    listed = await urban.client.get(f"/evidence/{original_id}/derivations", headers=t["auditor1"])
    assert [d["derived_id"] for d in listed.json()["derivations"]] == [derived_id]

    # Both go into a case, and its package verifies offline: the copy carries its
    # derivation description (what the ledger registered as its claims) instead of
    # device-signed claims, and names the original packaged beside it.
    case_id = f"CASE-RED-{uuid.uuid4().hex[:8]}"
    filed = await urban.client.post(
        "/cases",
        json=case_filing(case_id, [original_id, derived_id]),
        headers=t["officer1"],
    )
    assert filed.status_code == 201, filed.text
    exported = await urban.client.post(f"/cases/{case_id}/packages", headers=t["officer1"])
    assert exported.status_code == 200, exported.text
    package = tmp_path / "redacted.tar"
    package.write_bytes(exported.content)
    report = verify_package(package)
    assert report.ok, report.render()
    assert report.checked["redacted copies"] == 1
    manifest = Manifest.from_json(_members(package)[MANIFEST])
    copy_item = next(i for i in manifest.items if i.evidence_id == derived_id)
    assert copy_item.claims is None
    assert copy_item.derivation is not None
    assert copy_item.derivation["original_id"] == original_id
    assert next(i for i in manifest.items if i.evidence_id == original_id).claims is not None
    # A dishonest exporter who rewrites the copy's description (and signs again) is caught
    # by the ledger's hash of it.
    _, signer = user_identity(layout, layout.consortium.department(URBAN), "officer1")
    members = _members(package)
    doc = json.loads(members[MANIFEST])
    for item in doc["items"]:
        if item["evidence_id"] == derived_id:
            item["derivation"]["method"] = "blur_less_v0"
    members[MANIFEST] = Manifest.model_validate(doc).canonical_bytes()
    members[SIGNATURE] = signer.sign(members[MANIFEST])
    tampered = _write(tmp_path / "tampered.tar", members)
    assert verify_package(tampered).codes == {"DERIVATION_HASH_MISMATCH"}
    # Nor can an item carry a second, unchecked provenance beside the one the ledger binds.
    doc = json.loads(_members(package)[MANIFEST])
    copy_doc = next(i for i in doc["items"] if i["evidence_id"] == derived_id)
    for item in doc["items"]:
        if item["evidence_id"] == original_id:
            item["derivation"] = copy_doc["derivation"]
    members = _members(package)
    members[MANIFEST] = Manifest.model_validate(doc).canonical_bytes()
    members[SIGNATURE] = signer.sign(members[MANIFEST])
    doubled = _write(tmp_path / "doubled.tar", members)
    assert verify_package(doubled).codes == {"PROVENANCE_AMBIGUOUS"}

    # The chaincode refuses a replayed link, and another department's officer.
    replay = DerivationRequest(
        original_id=original_id,
        derived_id=derived_id,
        method=link.method,
        description_hash=Digest.parse(link.description_hash),
        access_record=link.access_record,
    )
    officer = DerivationsClient(ledger_as(layout, URBAN, "officer"))
    with pytest.raises(DerivationConflict):
        await officer.record_derivation(replay)
    with pytest.raises(LedgerRefused) as caught:
        await DerivationsClient(ledger_as(layout, POLICE, "officer")).record_derivation(replay)
    assert caught.value.code is LedgerErrorCode.ACCESS_DENIED
