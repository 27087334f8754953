"""The gateway on the real network: a device submits, an officer files a case, a partner
agency is refused (the refusal is recorded), granted, and downloads the plaintext from the
owner's node; each download names its access record in a header."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import io
import json
import tarfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pypdf
import pytest
from netsupport import (
    Upload,
    capture_upload,
    case_filing,
    caught_up,
    gateway_client,
    ledger_as,
    rectification_upload,
    signed_upload,
)
from test_redaction_network import _photo as real_photo

from gateway.audit_pdf import records_digest
from gateway.remote import ExchangeRemote, OwnerNode
from node.consortium.clients import user_identity
from node.consortium.identities import org_crypto
from node.consortium.network import Network
from node.department import NodePaths, open_parts
from node.exchange import ExchangeServer
from node.exchange.ledger_items import LedgerOwnerItems
from node.exchange.tls import exchange_tls
from node.ledger import LedgerClient, LedgerRefused
from node.package import ClaimsArchive, Manifest, Report, verify_package
from node.package import manifest as layout
from node.redaction.archive import CopyArchive
from schemas.glossary import AccessKind, Outcome
from schemas.hashes import Digest
from schemas.ledger import LedgerErrorCode, TargetKind, TrailBy, TrailQuery

pytestmark = pytest.mark.network

URBAN, POLICE = "UrbanManagement", "PublicSecurity"
PHOTO = b"\xff\xd8 goods outside the shop door " * 20_000


@dataclass
class Gateways:
    urban: httpx.AsyncClient
    police: httpx.AsyncClient
    tokens: dict[str, dict[str, str]]  # "<dep>/<user>" -> Authorization header
    exchange: ExchangeServer  # UrbanManagement's node, releasing its items to PublicSecurity


@pytest.fixture
async def gateways(people: Network, tmp_path: Path) -> AsyncIterator[Gateways]:
    layout = people.layout
    msp = {dep: layout.consortium.department(dep).msp_id for dep in (URBAN, POLICE)}
    parts = {dep: open_parts(NodePaths.of(layout.state_dir, dep)) for dep in (URBAN, POLICE)}
    # The partner's node key goes on the ledger: the owner wraps data keys to it on release.
    published = await ledger_as(layout, POLICE).publish_org_key(
        base64.b64encode(parts[POLICE].keyring.current.raw).decode()
    )
    owner_view = ledger_as(layout, URBAN, "officer")
    await caught_up(owner_view, published.block_number)
    tls = {dep: exchange_tls(people.layout, dep) for dep in (URBAN, POLICE)}
    cas = {msp[dep]: tls[dep][2] for dep in (URBAN, POLICE)}
    server = ExchangeServer(
        LedgerOwnerItems(
            owner_view,
            parts[URBAN].vault,
            msp[URBAN],
            ClaimsArchive(NodePaths.of(layout.state_dir, URBAN).root / "claims"),
            CopyArchive(NodePaths.of(layout.state_dir, URBAN).root / "redactions"),
        ),
        parts[URBAN].store,
        parts[URBAN].keyring,
        cas,
    )
    port = await server.start("127.0.0.1:0", tls[URBAN][0], tls[URBAN][1])
    remote = ExchangeRemote(
        {msp[URBAN]: OwnerNode(f"127.0.0.1:{port}", tls[URBAN][2])},
        client_cert_pem=tls[POLICE][0],
        client_key_pem=tls[POLICE][1],
        keyring=parts[POLICE].keyring,
    )
    clients: dict[str, httpx.AsyncClient] = {}
    tokens: dict[str, dict[str, str]] = {}
    users = ["device1", "officer1", "reviewer1", "partner1", "auditor1"]
    for dep in (URBAN, POLICE):
        clients[dep], issued = gateway_client(
            layout,
            dep,
            tmp_path / dep,
            users,
            remote=remote if dep == POLICE else None,
            parts=parts[dep],
        )
        tokens |= {f"{dep}/{user}": header for user, header in issued.items()}
    try:
        yield Gateways(clients[URBAN], clients[POLICE], tokens, server)
    finally:
        for client in clients.values():
            await client.aclose()
        await server.stop()


def device_upload(people: Network, **claims: Any) -> Upload:
    layout = people.layout
    device = org_crypto(layout.state_dir, layout.consortium, URBAN).user("device1")
    msp = layout.consortium.department(URBAN).msp_id
    event_id = f"evt-gw-{uuid.uuid4().hex[:10]}"
    return signed_upload(device, msp, PHOTO, event_id=event_id, **claims)


async def _camera_photo(people: Network, g: Gateways, event_prefix: str) -> tuple[str, bytes]:
    """UrbanManagement's camera submits a real street photo through its gateway, signed by
    the device; returns the evidence id and the photo's bytes."""
    urban_msp = people.layout.consortium.department(URBAN).msp_id
    device = org_crypto(people.layout.state_dir, people.layout.consortium, URBAN).user("device1")
    photo = real_photo()
    event_id = f"{event_prefix}-{uuid.uuid4().hex[:10]}"
    upload = signed_upload(device, urban_msp, photo, event_id=event_id)
    submitted = await g.urban.post(
        "/devices/submissions", files=upload, headers=g.tokens[f"{URBAN}/device1"]
    )
    assert submitted.status_code == 201, submitted.text
    return submitted.json()["items"][0]["evidence_id"], photo


async def _grant_case_to_police(
    people: Network,
    g: Gateways,
    case_id: str,
    police: LedgerClient,
    kinds: list[str] | None = None,
) -> None:
    """UrbanManagement's officer grants PublicSecurity the case for a day (the gateway's
    default kinds unless ``kinds``); returns once ``police``'s peer sees the grant."""
    body: dict[str, Any] = {
        "grantee_org": people.layout.consortium.department(POLICE).msp_id,
        "purpose": "joint_enforcement",
        "expires_at": (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).isoformat(),
    }
    if kinds is not None:
        body["kinds"] = kinds
    granted = await g.urban.post(
        f"/cases/{case_id}/grants", json=body, headers=g.tokens[f"{URBAN}/officer1"]
    )
    assert granted.status_code == 201, granted.text

    async def visible() -> bool:
        grants = await police.grants(TargetKind.CASE, case_id)
        return any(gr.revoked_at is None for gr in grants)

    await _eventually(visible)


async def test_device_to_download_through_the_gateway(people: Network, gateways: Gateways) -> None:
    g, t = gateways, gateways.tokens
    upload = device_upload(people)
    submitted = await g.urban.post(
        "/devices/submissions", files=upload, headers=t[f"{URBAN}/device1"]
    )
    assert submitted.status_code == 201, submitted.text
    [item] = submitted.json()["items"]
    evidence_id = item["evidence_id"]
    replay = await g.urban.post("/devices/submissions", files=upload, headers=t[f"{URBAN}/device1"])
    assert replay.status_code == 201, replay.text
    assert replay.json()["items"][0]["evidence_id"] == evidence_id
    assert replay.json()["items"][0]["duplicate"] is True

    case_id = f"CASE-GW-{uuid.uuid4().hex[:8]}"
    filed = await g.urban.post(
        "/cases",
        json=case_filing(case_id, [evidence_id]),
        headers=t[f"{URBAN}/officer1"],
    )
    assert filed.status_code == 201, filed.text
    assert "officer1" in filed.json()["filed_by"]

    police_ledger = ledger_as(people.layout, POLICE, "partner")
    await _eventually(lambda: _visible(police_ledger, evidence_id))
    content = f"/evidence/{evidence_id}/content"
    denied = await g.police.get(
        content, params={"purpose": "joint_enforcement"}, headers=t[f"{POLICE}/partner1"]
    )
    assert denied.status_code == 403, denied.text
    assert denied.headers["content-type"] == "application/problem+json"
    denial = await police_ledger.access_record(denied.headers["x-access-record"])
    assert denial.outcome is Outcome.DENIED

    await _grant_case_to_police(people, g, case_id, police_ledger)
    remote = await g.police.get(
        content, params={"purpose": "joint_enforcement"}, headers=t[f"{POLICE}/partner1"]
    )
    # Granted and recorded; the owner's node released it against that record.
    assert remote.status_code == 200, remote.text
    assert remote.content == PHOTO
    grant_record = await police_ledger.access_record(remote.headers["x-access-record"])
    assert grant_record.outcome is Outcome.GRANTED
    assert "partner1" in grant_record.accessor

    own = await g.urban.get(
        content, params={"purpose": "case_review"}, headers=t[f"{URBAN}/officer1"]
    )
    assert own.status_code == 200, own.text
    assert own.content == PHOTO
    record = await police_ledger.access_record(own.headers["x-access-record"])
    assert record.outcome is Outcome.GRANTED
    assert "officer1" in record.accessor

    trail = await g.urban.get(
        "/audit/trail",
        params={"by": "evidence", "target_id": evidence_id},
        headers=t[f"{URBAN}/auditor1"],
    )
    assert trail.status_code == 200, trail.text
    outcomes = [(r["accessor_org"], r["kind"], r["outcome"]) for r in trail.json()["records"]]
    police_msp = people.layout.consortium.department(POLICE).msp_id
    urban_msp = people.layout.consortium.department(URBAN).msp_id
    assert (police_msp, "download", "denied") in outcomes
    assert (police_msp, "download", "granted") in outcomes
    assert (urban_msp, "share", "granted") in outcomes  # the grant, in the item's trail
    assert len(outcomes) == 4

    # The same trail as the auditors' PDF report, read back: every record of the ledger's
    # answer, and the digest of exactly those records.
    pdf = await g.urban.get(
        "/audit/trail.pdf",
        params={"by": "evidence", "target_id": evidence_id},
        headers=t[f"{URBAN}/auditor1"],
    )
    assert pdf.status_code == 200, pdf.text
    text = "\n".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(pdf.content)).pages)
    assert "Records: 4 (准许 granted 3, 拒绝 denied 1)" in text
    on_ledger = await ledger_as(people.layout, URBAN, "auditor").access_trail(
        TrailQuery(by=TrailBy.EVIDENCE, target_id=evidence_id, page_size=200)
    )
    assert records_digest(on_ledger.records) in text.replace("\n", "")
    refused = await g.urban.get(
        "/audit/trail.pdf",
        params={"by": "evidence", "target_id": evidence_id},
        headers=t[f"{URBAN}/officer1"],
    )
    assert refused.status_code == 403


async def test_a_partner_granted_a_case_exports_its_package(
    people: Network, gateways: Gateways, tmp_path: Path
) -> None:
    """PublicSecurity, granted UrbanManagement's case for packaging (a joint operation),
    exports it from its own gateway: the items come from the owner's node, the package
    carries their trails, and it verifies offline. Before the grant the export is refused
    and the refusal recorded."""
    g, t = gateways, gateways.tokens
    urban_msp = people.layout.consortium.department(URBAN).msp_id
    police_msp = people.layout.consortium.department(POLICE).msp_id
    evidence_id, photo = await _camera_photo(people, g, "evt-gw-p")
    case_id = f"CASE-GW-P-{uuid.uuid4().hex[:8]}"
    filed = await g.urban.post(
        "/cases", json=case_filing(case_id, [evidence_id]), headers=t[f"{URBAN}/officer1"]
    )
    assert filed.status_code == 201, filed.text
    partner = ledger_as(people.layout, POLICE, "partner")
    await _eventually(lambda: _visible(partner, evidence_id))
    refused = await g.police.post(f"/cases/{case_id}/packages", headers=t[f"{POLICE}/partner1"])
    assert refused.status_code == 403, refused.text

    await _grant_case_to_police(people, g, case_id, partner, kinds=["view", "package"])
    package = tmp_path / "partner.tar"
    await _exported(g.police, case_id, t[f"{POLICE}/partner1"], package)
    with tarfile.open(package) as archive:
        manifest = Manifest.from_json(_member(archive, layout.MANIFEST))
        assert _member(archive, layout.evidence_path(evidence_id)) == photo
        trail = json.loads(_member(archive, layout.TRAIL))
    assert manifest.exporter_org == police_msp
    (item,) = manifest.items
    assert (item.owner_org, item.claims is not None) == (urban_msp, True)
    # The trail it carries shows the refusal before the grant, and this export.
    mine = [r for r in trail if r["accessor_org"] == police_msp and r["kind"] == "package"]
    assert sorted(r["outcome"] for r in mine) == ["denied", "granted"]


async def test_a_transferred_case_is_packaged_with_the_owners_items(
    people: Network, gateways: Gateways, tmp_path: Path
) -> None:
    """UrbanManagement hands a case over to PublicSecurity (案件移送): a camera photo and
    its redacted copy. PublicSecurity's package carries both, fetched from UrbanManagement's
    node against the export's own committed records, with the photo's device-signed claims
    and the copy's derivation description, and verifies offline."""
    g, t = gateways, gateways.tokens
    urban_msp = people.layout.consortium.department(URBAN).msp_id
    police_msp = people.layout.consortium.department(POLICE).msp_id
    layout_ = people.layout
    evidence_id, photo = await _camera_photo(people, g, "evt-gw-t")
    redacted = await g.urban.post(
        f"/evidence/{evidence_id}/redactions", headers=t[f"{URBAN}/officer1"]
    )
    assert redacted.status_code == 201, redacted.text
    copy_id = redacted.json()["derived_id"]
    case_id = f"CASE-GW-T-{uuid.uuid4().hex[:8]}"
    filed = await g.urban.post(
        "/cases",
        json=case_filing(case_id, [evidence_id, copy_id]),
        headers=t[f"{URBAN}/officer1"],
    )
    assert filed.status_code == 201, filed.text
    offered = await g.urban.post(
        f"/cases/{case_id}/transfers",
        json={"to_org": police_msp, "reason": "criminal_referral"},
        headers=t[f"{URBAN}/officer1"],
    )
    assert offered.status_code == 201, offered.text
    police_ledger = ledger_as(people.layout, POLICE, "officer")

    async def offered_here() -> bool:
        try:
            return (await police_ledger.case(case_id)).pending_transfer is not None
        except LedgerRefused:
            return False

    await _eventually(offered_here)
    accepted = await g.police.post(
        f"/cases/{case_id}/transfers/answer",
        json={"accept": True},
        headers=t[f"{POLICE}/officer1"],
    )
    assert accepted.status_code == 200, accepted.text

    package = tmp_path / "transferred.tar"
    report, exported = await _exported(g.police, case_id, t[f"{POLICE}/officer1"], package)
    assert report.checked["redacted copies"] == 1
    with tarfile.open(package) as archive:
        manifest = Manifest.from_json(_member(archive, layout.MANIFEST))
        assert _member(archive, layout.evidence_path(evidence_id)) == photo
    assert manifest.exporter_org == police_msp
    item, copy = sorted(manifest.items, key=lambda i: i.evidence_id != evidence_id)
    assert (item.evidence_id, item.owner_org) == (evidence_id, urban_msp)
    assert item.claims is not None  # the device's signed claims came from the owner's node
    assert item.claims.claims["camera_id"] == "cam-jiangbei-12"
    assert (copy.evidence_id, copy.claims) == (copy_id, None)
    assert copy.derivation is not None  # and the copy's description
    assert copy.derivation["original_id"] == evidence_id
    # The copy's link to the original is among the proofs; a copy said to be linked by
    # another transaction (here its own registration), re-signed, is named.
    assert copy.derivation_tx is not None
    assert layout.transaction_path(copy.derivation_tx) in {t.path for t in manifest.transactions}
    with tarfile.open(package) as archive:
        members = {m.name: _member(archive, m.name) for m in archive.getmembers()}
    forged = manifest.model_copy(
        update={
            "items": [
                i.model_copy(update={"derivation_tx": i.registered_tx}) if i is copy else i
                for i in manifest.items
            ]
        }
    )
    _, police_signer = user_identity(layout_, layout_.consortium.department(POLICE), "officer1")
    members[layout.MANIFEST] = forged.canonical_bytes()
    members[layout.SIGNATURE] = police_signer.sign(members[layout.MANIFEST])
    relinked = tmp_path / "relinked.tar"
    with tarfile.open(relinked, "w") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    codes = verify_package(relinked).codes
    assert "DERIVATION_NOT_RECORDED" in codes, codes
    assert "MANIFEST_SIGNATURE_INVALID" not in codes
    # The owner released each against PublicSecurity's committed package record for it.
    for record_id in exported.headers["x-access-record"].split(","):
        record = await police_ledger.access_record(record_id)
        assert record.target_id in (evidence_id, copy_id)
        assert (record.accessor_org, record.kind, record.outcome) == (
            police_msp,
            AccessKind.PACKAGE,
            Outcome.GRANTED,
        )
    staged = [p.name for p in (tmp_path / POLICE / "spool").iterdir()]
    assert staged == [], staged  # no plaintext left behind beside the package

    # With the owner's node down the export is still recorded, but no package comes out,
    # and nothing of it stays behind.
    await g.exchange.stop()
    unreachable = await g.police.post(f"/cases/{case_id}/packages", headers=t[f"{POLICE}/officer1"])
    assert unreachable.status_code == 503, unreachable.text
    assert unreachable.json()["code"] == "OWNER_UNAVAILABLE"
    assert list((tmp_path / POLICE / "spool").iterdir()) == []


async def _exported(
    client: httpx.AsyncClient, case_id: str, headers: dict[str, str], out: Path
) -> tuple[Report, httpx.Response]:
    """The case's package exported over ``client`` into ``out`` and verified offline (it
    must hold): the report and the export's response."""
    exported = await client.post(f"/cases/{case_id}/packages", headers=headers)
    assert exported.status_code == 200, exported.text
    out.write_bytes(exported.content)
    report = verify_package(out)
    assert report.ok, report.render()
    return report, exported


def _member(archive: tarfile.TarFile, name: str) -> bytes:
    f = archive.extractfile(name)
    assert f is not None, name
    return f.read()


async def _visible(ledger: LedgerClient, evidence_id: str) -> bool:
    try:
        await ledger.evidence(evidence_id)
    except LedgerRefused as err:  # NOT_FOUND: not yet on this peer
        if err.code is not LedgerErrorCode.NOT_FOUND:
            raise
        return False
    return True


async def _eventually(check: Callable[[], Awaitable[bool]], timeout: float = 20) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("not visible in time")
        await asyncio.sleep(0.2)


async def test_the_review_loop_through_the_gateway(people: Network, gateways: Gateways) -> None:
    g, t = gateways, gateways.tokens

    async def flagged(**claims: Any) -> dict[str, Any]:
        done = await g.urban.post(
            "/devices/submissions",
            files=device_upload(people, **claims),
            headers=t[f"{URBAN}/device1"],
        )
        assert done.status_code == 201, done.text
        doc: dict[str, Any] = done.json()
        return doc

    async def post(path: str, user: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        resp = await g.urban.post(path, json=body or {}, headers=t[f"{URBAN}/{user}"])
        assert resp.status_code == 200, resp.text
        doc: dict[str, Any] = resp.json()
        return doc

    a, b, c = [await flagged() for _ in range(3)]
    # Shopfront operation: the consortium's schedule asks two reminders before a case (小河共治).
    d = await flagged(violation_type="shopfront_operation")
    queue = await g.urban.get(
        "/violations", params={"page_size": 200}, headers=t[f"{URBAN}/reviewer1"]
    )
    waiting = {i["flag_id"] for i in queue.json()["items"]}
    assert {a["flag_id"], b["flag_id"], c["flag_id"], d["flag_id"]} <= waiting

    confirm = {"decision": "confirmed", "reason": "confirmed_on_footage"}
    case = await post(
        f"/violations/{a['flag_id']}/review",
        "reviewer1",
        {**confirm, "action": "case", "subject": "stall 17, Jiangbei road"},
    )
    assert case["status"] == "case_filed"
    opened = await g.urban.get(f"/cases/{case['case_id']}", headers=t[f"{URBAN}/officer1"])
    assert opened.status_code == 200, opened.text
    assert (opened.json()["stage"], opened.json()["violation_type"]) == (
        "source",
        "road_occupation",
    )

    rejected = await post(
        f"/violations/{b['flag_id']}/review",
        "reviewer1",
        {"decision": "rejected", "reason": "false_positive"},
    )
    assert rejected["status"] == "rejected"

    # The reminder asks the camera to watch; its signed report comes back as evidence on the
    # ledger, and the officer cites it to close the loop.
    flag_c = c["flag_id"]
    await post(f"/violations/{flag_c}/review", "reviewer1", {**confirm, "action": "reminder"})
    asked = await g.urban.get("/devices/rectification-requests", headers=t[f"{URBAN}/device1"])
    assert flag_c in [r["flag_id"] for r in asked.json()], asked.text
    layout = people.layout
    device = org_crypto(layout.state_dir, layout.consortium, URBAN).user("device1")
    msp = layout.consortium.department(URBAN).msp_id
    clear = b"\xff\xd8 the shop door, nothing outside " * 10_000
    reported = await g.urban.post(
        "/devices/submissions",
        files=rectification_upload(device, msp, flag_c, clear),
        headers=t[f"{URBAN}/device1"],
    )
    assert reported.status_code == 201, reported.text
    assert reported.json()["rectification"] == "rectified"
    [proof] = reported.json()["items"]
    record = await ledger_as(layout, URBAN, "officer").evidence(proof["evidence_id"])
    assert record.plaintext_hash == str(Digest.of(clear))  # registered on the ledger
    answer = await g.urban.get(
        f"/violations/{flag_c}/rectification", headers=t[f"{URBAN}/officer1"]
    )
    assert answer.json()["evidence_ids"] == [proof["evidence_id"]]
    fixed = await post(
        f"/violations/{flag_c}/rectified", "officer1", {"evidence_ids": [proof["evidence_id"]]}
    )
    assert fixed["status"] == "rectified"
    # A report nobody asked for (flag a went to a case) stores nothing.
    stray = await g.urban.post(
        "/devices/submissions",
        files=rectification_upload(device, msp, a["flag_id"], clear + b"!"),
        headers=t[f"{URBAN}/device1"],
    )
    assert stray.status_code == 409
    assert stray.json()["code"] == "RECTIFICATION_NOT_REQUESTED"

    flag_d = d["flag_id"]
    officer = t[f"{URBAN}/officer1"]

    async def refused(path: str, body: dict[str, Any], code: str, user: str = "officer1") -> None:
        resp = await g.urban.post(path, json=body, headers=t[f"{URBAN}/{user}"])
        assert resp.status_code == 409, resp.text
        assert resp.json()["code"] == code, resp.text

    no_case_yet = {"subject": "shop 12"}
    case_at_once = {**confirm, "action": "case", **no_case_yet}
    await refused(f"/violations/{flag_d}/review", case_at_once, "REMINDERS_REQUIRED", "reviewer1")
    await post(f"/violations/{flag_d}/review", "reviewer1", {**confirm, "action": "reminder"})
    await post(f"/violations/{flag_d}/escalate", "officer1", {"reason": "not_rectified"})
    await refused(f"/violations/{flag_d}/file-case", no_case_yet, "REMINDERS_REQUIRED")
    # Nor can the officer skip the loop by filing a case on the flag's evidence directly.
    d_items = [i["evidence_id"] for i in d["items"]]
    await refused("/cases", case_filing(f"CASE-skip-{flag_d}", d_items), "EVIDENCE_UNDER_FLAG")
    await post(f"/violations/{flag_d}/community-remind", "officer1")
    filed = await post(f"/violations/{flag_d}/file-case", "officer1", {"subject": "shop 12"})
    assert filed["status"] == "case_filed"
    d_steps = await g.urban.get(f"/violations/{flag_d}/history", headers=officer)
    assert [s["to_status"] for s in d_steps.json()] == [
        "detected",
        "confirmed",
        "reminded",
        "escalated",
        "community_reminded",
        "case_filed",
    ]
    missing = await g.urban.get(f"/cases/CASE-skip-{flag_d}", headers=officer)
    assert missing.status_code == 404, missing.text

    # A grid officer's own report (上报) from the handheld: a flag signed by the officer,
    # in the same queue and under the same rule.
    shot = PHOTO + uuid.uuid4().bytes
    reported = await g.urban.post(
        "/captures",
        files=capture_upload(shot, flag=True, violation_type="shopfront_operation"),
        headers=officer,
    )
    assert reported.status_code == 201, reported.text
    flag_e = reported.json()["flag_id"]
    seen = await g.urban.get(f"/violations/{flag_e}", headers=t[f"{URBAN}/reviewer1"])
    assert (seen.json()["status"], seen.json()["camera_id"]) == ("detected", "bodycam-0042")
    e_steps = await g.urban.get(f"/violations/{flag_e}/history", headers=officer)
    assert [(s["to_status"], s["role"]) for s in e_steps.json()] == [("detected", "officer")]
    await refused(f"/violations/{flag_e}/review", case_at_once, "REMINDERS_REQUIRED", "reviewer1")

    steps = await g.urban.get(f"/violations/{a['flag_id']}/history", headers=t[f"{URBAN}/auditor1"])
    assert [(s["to_status"], s["role"]) for s in steps.json()] == [
        ("detected", "device"),
        ("confirmed", "reviewer"),
        ("case_filed", "reviewer"),
    ]
    assert "reviewer1" in steps.json()[1]["by"]
    # The ledger refuses what the loop does not allow, and the gateway says so.
    again = await g.urban.post(
        f"/violations/{b['flag_id']}/remind", json={}, headers=t[f"{URBAN}/officer1"]
    )
    assert again.status_code == 409, again.text
    assert again.json()["code"] == "INVALID_VIOLATION_TRANSITION"


async def test_a_share_by_a_department_not_holding_the_case_is_refused_and_recorded(
    people: Network, gateways: Gateways
) -> None:
    g, t = gateways, gateways.tokens
    layout = people.layout
    evidence_id, _ = await _camera_photo(people, g, "evt-share")
    case_id = f"CASE-SHARE-{uuid.uuid4().hex[:8]}"
    filed = await g.urban.post(
        "/cases", json=case_filing(case_id, [evidence_id]), headers=t[f"{URBAN}/officer1"]
    )
    assert filed.status_code == 201, filed.text
    police = ledger_as(layout, POLICE, "officer")

    async def case_visible() -> bool:
        try:
            await police.case(case_id)
        except LedgerRefused:
            return False
        return True

    await _eventually(case_visible)
    market = layout.consortium.department("MarketSupervision").msp_id
    body = {
        "grantee_org": market,
        "purpose": "joint_enforcement",
        "expires_at": (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).isoformat(),
    }
    # PublicSecurity's officer tries to share UrbanManagement's case: the chaincode refuses,
    # and the attempt is on the ledger like a refused read.
    refused = await g.police.post(
        f"/cases/{case_id}/grants", json=body, headers=t[f"{POLICE}/officer1"]
    )
    assert refused.status_code == 403, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["code"] == "ACCESS_DENIED"
    record = await police.access_record(refused.headers["x-access-record"])
    assert (record.kind, record.outcome, record.reason) == (
        AccessKind.SHARE,
        Outcome.DENIED,
        "not_holder",
    )
    assert (record.shared_with, record.target_id) == (market, case_id)
    assert record.accessor_org == layout.consortium.department(POLICE).msp_id
    assert await ledger_as(layout, URBAN, "officer").grants(TargetKind.CASE, case_id) == []
    # The holder's auditor finds the attempt in the case's trail.
    auditor = ledger_as(layout, URBAN, "auditor")

    async def in_trail() -> bool:
        trail = await auditor.access_trail(TrailQuery(by=TrailBy.CASE, target_id=case_id))
        return record.record_id in {r.record_id for r in trail.records}

    await _eventually(in_trail)
