"""One-click packages through the gateway on the real network.

A device submits two photos over HTTP (the gateway keeps their signed claims), an officer
files a case on one and attaches the other, downloads the case's package over HTTP, and the
package verifies offline with ``evnet verify``; the gateway's verifier endpoint says the same,
and rejects a tampered copy naming the failure. A partner agency without a grant is refused
and the refusal is on the ledger. The auditor exports the trail as CSV and runs the node's
integrity sweep.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from netsupport import (
    Upload,
    capture_upload,
    case_filing,
    gateway_client,
    ledger_as,
    signed_upload,
)
from test_gateway_api import POLICE, URBAN, _eventually, _visible

from node.consortium.identities import org_crypto
from node.consortium.network import Network
from node.ledger import LedgerRefused
from node.package import Manifest, verify_package
from node.package import manifest as layout
from schemas.glossary import AccessKind, Outcome
from schemas.ledger import DocumentFiling, EvidenceContent

pytestmark = pytest.mark.network


@dataclass
class Gateways:
    urban: httpx.AsyncClient
    police: httpx.AsyncClient
    tokens: dict[str, dict[str, str]]


@pytest.fixture
async def gateways(people: Network, tmp_path: Path) -> AsyncIterator[Gateways]:
    users = ["device1", "officer1", "partner1", "auditor1"]
    urban, urban_tokens = gateway_client(people.layout, URBAN, tmp_path / URBAN, users)
    police, police_tokens = gateway_client(people.layout, POLICE, tmp_path / POLICE, users)
    tokens = {f"{URBAN}/{u}": t for u, t in urban_tokens.items()}
    tokens |= {f"{POLICE}/{u}": t for u, t in police_tokens.items()}
    async with urban, police:
        yield Gateways(urban, police, tokens)


def _upload(people: Network, photo: bytes) -> Upload:
    lay = people.layout
    device = org_crypto(lay.state_dir, lay.consortium, URBAN).user("device1")
    return signed_upload(
        device,
        lay.consortium.department(URBAN).msp_id,
        photo,
        event_id=f"evt-pkg-gw-{uuid.uuid4().hex[:10]}",
        camera_id="cam-jiangbei-7",
        zone="shopfront_1",
        detections=[],
    )


async def _submit(people: Network, g: Gateways, photo: bytes) -> str:
    resp = await g.urban.post(
        "/devices/submissions",
        files=_upload(people, photo),
        headers=g.tokens[f"{URBAN}/device1"],
    )
    assert resp.status_code == 201, resp.text
    return str(resp.json()["items"][0]["evidence_id"])


def _tampered(package: Path, out: Path, evidence_id: str) -> Path:
    with tarfile.open(package) as src, tarfile.open(out, "w:") as dst:
        for member in src.getmembers():
            f = src.extractfile(member)
            assert f is not None
            data = f.read()
            if member.name == layout.evidence_path(evidence_id):
                data = data[:-1] + bytes([data[-1] ^ 1])
            info = tarfile.TarInfo(member.name)
            info.size = len(data)
            dst.addfile(info, io.BytesIO(data))
    return out


async def _verify_upload(g: Gateways, path: Path, trust: bytes | None = None) -> httpx.Response:
    return await g.urban.post(
        "/packages/verify",
        files=[("package", (path.name, path.read_bytes(), "application/x-tar"))],
        data=None if trust is None else {"trust": trust.decode()},
        headers=g.tokens[f"{URBAN}/auditor1"],
    )


async def test_package_download_verify_and_tamper(
    people: Network, gateways: Gateways, tmp_path: Path
) -> None:
    g, t = gateways, gateways.tokens
    photos = [b"\xff\xd8\xff\xe0" + hashlib.sha256(uuid.uuid4().bytes).digest() * 2048]
    photos.append(b"\xff\xd8\xff\xe0" + hashlib.sha256(uuid.uuid4().bytes).digest() * 1024)
    first = await _submit(people, g, photos[0])
    second = await _submit(people, g, photos[1])

    case_id = f"CASE-PKG-GW-{uuid.uuid4().hex[:8]}"
    filed = await g.urban.post(
        "/cases",
        json=case_filing(case_id, [first]),
        headers=t[f"{URBAN}/officer1"],
    )
    assert filed.status_code == 201, filed.text
    attached = await g.urban.post(
        f"/cases/{case_id}/evidence",
        json={"evidence_ids": [second]},
        headers=t[f"{URBAN}/officer1"],
    )
    assert attached.status_code == 200, attached.text
    assert attached.json()["attached"][0]["evidence_id"] == second
    # An auditor may not attach; the chaincode would refuse too.
    assert (
        await g.urban.post(
            f"/cases/{case_id}/evidence",
            json={"evidence_ids": [second]},
            headers=t[f"{URBAN}/auditor1"],
        )
    ).status_code == 403

    resp = await g.urban.post(f"/cases/{case_id}/packages", headers=t[f"{URBAN}/officer1"])
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == "application/x-tar"
    assert f'filename="{case_id}.tar"' in resp.headers["content-disposition"]
    package = tmp_path / f"{case_id}.tar"
    package.write_bytes(resp.content)
    exports = resp.headers["x-access-record"].split(",")
    assert resp.headers["x-access-records-total"] == "2"

    # The export records named in the header are on the ledger: package accesses, granted.
    owner = ledger_as(people.layout, URBAN, "officer")
    for tx_id in exports:
        record = await owner.access_record(tx_id)
        assert record.kind is AccessKind.PACKAGE
        assert record.outcome is Outcome.GRANTED
        assert "officer1" in record.accessor
    with tarfile.open(package) as archive:
        f = archive.extractfile(layout.MANIFEST)
        assert f is not None
        manifest = Manifest.from_json(f.read())
        for evidence_id, photo in zip((first, second), photos, strict=True):
            member = archive.extractfile(layout.evidence_path(evidence_id))
            assert member is not None
            assert member.read() == photo
    assert sorted(manifest.export_records) == sorted(exports)
    assert {i.evidence_id for i in manifest.items} == {first, second}
    assert all(i.claims is not None for i in manifest.items)  # kept at ingest

    # Offline: the library and the command line agree that it holds.
    report = verify_package(package)
    assert report.ok, report.render()
    # Pinned as a court would: the trust anchors the consortium's administrator exports.
    lay = people.layout
    evnet = str(Path(sys.executable).parent / "evnet")
    env = {
        **os.environ,
        "EVNET_STATE_DIR": str(lay.state_dir),
        "EVNET_CONSORTIUM": str(lay.state_dir.parent / "c.yaml"),  # conftest's shifted copy
    }
    anchors = tmp_path / "anchors.json"
    exported = subprocess.run(
        [evnet, "trust-anchors", "--out", str(anchors)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert exported.returncode == 0, exported.stdout + exported.stderr
    cli = subprocess.run(
        [evnet, "verify", str(package), "--trust", str(anchors), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert cli.returncode == 0, cli.stdout + cli.stderr
    assert json.loads(cli.stdout)["ok"] is True
    assert not any("PEM bundle" in note for note in json.loads(cli.stdout)["notes"])

    # The gateway's verifier: the untouched package holds, a tampered one fails precisely.
    good = await _verify_upload(g, package, anchors.read_bytes())
    assert good.status_code == 200, good.text
    assert good.json()["ok"] is True, good.text
    assert not any("no --trust" in note for note in good.json()["notes"])  # anchors used
    bad_path = _tampered(package, tmp_path / "tampered.tar", second)
    bad = await _verify_upload(g, bad_path)
    assert bad.status_code == 200, bad.text
    assert bad.json()["ok"] is False
    codes = {f["code"] for f in bad.json()["failures"]}
    assert "FILE_HASH_MISMATCH" in codes, bad.text
    assert not verify_package(bad_path).ok

    # A partner agency without a grant: refused, and the refusal is recorded.
    police_ledger = ledger_as(people.layout, POLICE, "partner")

    async def case_evidence_visible() -> bool:
        if not await _visible(police_ledger, second):
            return False
        return len(await police_ledger.case_evidence(case_id)) == 2

    await _eventually(case_evidence_visible)
    refused = await g.police.post(f"/cases/{case_id}/packages", headers=t[f"{POLICE}/partner1"])
    assert refused.status_code == 403, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    denial = await police_ledger.access_record(refused.headers["x-access-record"])
    assert denial.outcome is Outcome.DENIED
    assert denial.kind is AccessKind.PACKAGE

    # The auditor: the trail as CSV names the exports; the node's integrity sweep runs.
    trail = await g.urban.get(
        "/audit/trail.csv",
        params={"by": "evidence", "target_id": second},
        headers=t[f"{URBAN}/auditor1"],
    )
    assert trail.status_code == 200, trail.text
    assert trail.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(trail.text)))
    # One export record per item: this item's is in its trail, and so is the partner's denial.
    assert len({r["record_id"] for r in rows} & set(exports)) == 1
    police_msp = people.layout.consortium.department(POLICE).msp_id
    assert (police_msp, "package", "denied") in {
        (r["accessor_org"], r["kind"], r["outcome"]) for r in rows
    }
    assert all(r["target_id"] == second for r in rows)
    sweep = await g.urban.get("/audit/integrity", headers=t[f"{URBAN}/auditor1"])
    assert sweep.status_code == 200, sweep.text
    mine = [p for p in sweep.json()["problems"] if p["subject"] in (first, second)]
    assert mine == [], sweep.text


async def test_an_officer_s_capture_on_the_spot_is_in_the_case_s_package_in_their_name(
    people: Network, gateways: Gateways, tmp_path: Path
) -> None:
    g, t = gateways, gateways.tokens
    by_device = await _submit(people, g, b"\xff\xd8\xff\xe0" + uuid.uuid4().bytes * 4096)
    case_id = f"CASE-CAPTURE-{uuid.uuid4().hex[:8]}"
    officer = t[f"{URBAN}/officer1"]
    filed = await g.urban.post("/cases", json=case_filing(case_id, [by_device]), headers=officer)
    assert filed.status_code == 201, filed.text
    photo = b"\xff\xd8\xff\xe0" + uuid.uuid4().bytes * 2048
    # A device may not capture in an officer's place; nothing of its attempt is kept.
    upload = capture_upload(photo, case_id)
    refused = await g.urban.post("/captures", files=upload, headers=t[f"{URBAN}/device1"])
    assert refused.status_code == 403, refused.text
    taken = await g.urban.post("/captures", files=upload, headers=officer)
    assert taken.status_code == 201, taken.text
    assert taken.json()["items"][0]["duplicate"] is False
    on_spot = taken.json()["items"][0]["evidence_id"]
    assert [a["evidence_id"] for a in taken.json()["attached"]] == [on_spot]

    # The ledger names the officer who took it, and holds it in the case.
    owner = ledger_as(people.layout, URBAN, "officer")
    record = await owner.evidence(on_spot)
    assert "officer1" in record.registered_by
    assert record.registered_role.value == "officer"
    assert (record.device_id, record.camera_id) == ("officer1", "bodycam-0042")
    assert sorted(await owner.case_evidence(case_id)) == sorted([by_device, on_spot])

    resp = await g.urban.post(f"/cases/{case_id}/packages", headers=officer)
    assert resp.status_code == 200, resp.text
    package = tmp_path / f"{case_id}.tar"
    package.write_bytes(resp.content)
    with tarfile.open(package) as archive:
        f = archive.extractfile(layout.MANIFEST)
        assert f is not None
        manifest = Manifest.from_json(f.read())
        member = archive.extractfile(layout.evidence_path(on_spot))
        assert member is not None
        assert member.read() == photo
    item = next(i for i in manifest.items if i.evidence_id == on_spot)
    assert item.claims is not None
    assert item.claims.claims["kind"] == "officer_capture"
    assert item.claims.claims["device_id"] == "officer1"
    # Offline, the officer-signed capture verifies against the officer's certificate.
    report = verify_package(package)
    assert report.ok, report.render()


async def test_a_step_s_legal_document_is_filed_and_proven_in_the_package(
    people: Network, gateways: Gateways, tmp_path: Path
) -> None:
    """The chaincode takes a document into the case file only if the step bound its hash;
    the package carries it, and the verifier names it as that step's document."""
    g, t = gateways, gateways.tokens
    officer = t[f"{URBAN}/officer1"]
    by_device = await _submit(people, g, b"\xff\xd8\xff\xe0" + uuid.uuid4().bytes * 1024)
    case_id = f"CASE-DOC-{uuid.uuid4().hex[:8]}"
    filed = await g.urban.post("/cases", json=case_filing(case_id, [by_device]), headers=officer)
    assert filed.status_code == 201, filed.text
    form = b"%PDF-1.7\n% filing approval form " + uuid.uuid4().bytes * 256
    bound = f"sha256:{hashlib.sha256(form).hexdigest()}"
    for body in ({"to": "preliminary_check"}, {"to": "filing_approval", "document_hash": bound}):
        moved = await g.urban.post(f"/cases/{case_id}/stage", json=body, headers=officer)
        assert moved.status_code == 200, moved.text

    # On the ledger itself: another file for that step is refused, whoever asks.
    owner = ledger_as(people.layout, URBAN, "officer")
    record = await owner.evidence(by_device)
    forged = DocumentFiling.model_validate_json(
        json.dumps(
            record.model_dump(mode="json", include=set(EvidenceContent.model_fields))
            | {"evidence_id": f"EV-forged-{uuid.uuid4().hex[:8]}", "case_id": case_id, "step": 2}
        )
    )
    with pytest.raises(LedgerRefused) as refused:
        await owner.file_document(forged)
    assert refused.value.code == "DOCUMENT_MISMATCH"

    upload = [("document", ("form.pdf", form, "application/pdf"))]
    resp = await g.urban.post(f"/cases/{case_id}/documents/2", files=upload, headers=officer)
    assert resp.status_code == 201, resp.text
    document = resp.json()["evidence_id"]
    listed = await g.urban.get(f"/cases/{case_id}/documents", headers=t[f"{URBAN}/auditor1"])
    assert [(d["step"], d["evidence_id"]) for d in listed.json()] == [(2, document)]
    on_ledger = await owner.evidence(document)
    assert on_ledger.plaintext_hash == bound
    assert "officer1" in on_ledger.registered_by

    resp = await g.urban.post(f"/cases/{case_id}/packages", headers=officer)
    assert resp.status_code == 200, resp.text
    package = tmp_path / f"{case_id}.tar"
    package.write_bytes(resp.content)
    with tarfile.open(package) as archive:
        member = archive.extractfile(layout.evidence_path(document))
        assert member is not None
        assert member.read() == form
    report = verify_package(package)
    assert report.ok, report.render()
    assert report.checked["case documents"] == 1
    # The case's two steps, proven by their transactions; the second with its document.
    assert [(s.entry.seq, s.document_item) for s in report.steps] == [(1, None), (2, document)]
    # The gateway's verifier gives the same timeline.
    verified = await _verify_upload(g, package)
    assert verified.status_code == 200, verified.text
    assert verified.json()["steps"] == report.to_json()["steps"]
    assert verified.json()["steps"][1]["from"] == "preliminary_check"
    assert any(f"{document} is the document of step 2 (filing_approval)" in n for n in report.notes)
