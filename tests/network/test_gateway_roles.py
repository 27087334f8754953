"""Every endpoint group of the gateway on the real network, called by each of the six roles
(officer, reviewer, auditor, partner, device, admin).

A role the API admits gets its answer, the ledger call behind it made as that person (the
chaincode decides again); every other role gets ``403 ACCESS_DENIED`` as problem+json
and nothing is written. Then the API is bypassed: the same writes sent straight to the
chaincode as the roles it must refuse are refused there, with nothing written.
"""

from __future__ import annotations

import datetime as dt
import io
import tarfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from netsupport import (
    capture_upload,
    case_filing,
    caught_up,
    gateway_client,
    ledger_as,
    signed_upload,
)
from test_evidence_chaincode import refused_with, registration
from test_redaction_network import _photo as real_photo

from node.consortium.identities import ADMIN_USER, org_crypto
from node.consortium.network import Network
from schemas.glossary import AccessKind, Outcome, Stage, ViolationType
from schemas.hashes import Digest
from schemas.ledger import (
    AccessRequest,
    CaseFiling,
    CaseSource,
    GrantRequest,
    StageDetails,
    SubjectKind,
    TargetKind,
    TrailBy,
    TrailQuery,
)
from schemas.violations import ViolationReview

pytestmark = pytest.mark.network

URBAN, POLICE, MARKET = "UrbanManagement", "PublicSecurity", "MarketSupervision"
ROLES = ("officer", "reviewer", "auditor", "partner", "device", "admin")
USERS = {role: ADMIN_USER if role == "admin" else f"{role}1" for role in ROLES}
Send = Callable[[str], Awaitable[httpx.Response]]


@dataclass
class Desk:
    """UrbanManagement's gateway, a bearer token per role, and the items and flags made
    through it for the calls below."""

    client: httpx.AsyncClient
    tokens: dict[str, dict[str, str]]  # role -> Authorization header
    people: Network

    async def call(self, role: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return await self.client.request(method, path, headers=self.tokens[role], **kwargs)

    def upload(self, photo: bytes) -> Any:
        layout = self.people.layout
        device = org_crypto(layout.state_dir, layout.consortium, URBAN).user("device1")
        msp = layout.consortium.department(URBAN).msp_id
        return signed_upload(device, msp, photo, event_id=f"evt-roles-{uuid.uuid4().hex[:10]}")

    async def submitted(self, photo: bytes) -> dict[str, Any]:
        done = await self.call("device", "POST", "/devices/submissions", files=self.upload(photo))
        assert done.status_code == 201, done.text
        doc: dict[str, Any] = done.json()
        return doc

    async def filed(self, evidence_ids: list[str]) -> str:
        case_id = f"CASE-ROLES-{uuid.uuid4().hex[:8]}"
        done = await self.call("officer", "POST", "/cases", json=case_filing(case_id, evidence_ids))
        assert done.status_code == 201, done.text
        return case_id


@pytest.fixture
async def desk(people: Network, tmp_path: Path) -> AsyncIterator[Desk]:
    client, tokens = gateway_client(people.layout, URBAN, tmp_path / URBAN, list(USERS.values()))
    async with client:
        yield Desk(client, {role: tokens[user] for role, user in USERS.items()}, people)


@dataclass(frozen=True)
class Endpoint:
    """One route: who the API admits, the status it answers them, and the call per role
    (a write the allowed roles make on targets of their own, so one's success does not
    change what the next finds)."""

    group: str
    name: str
    allowed: frozenset[str]
    ok: int
    send: Send


async def _endpoints(d: Desk) -> list[Endpoint]:
    """The routes of every group, over items, flags and cases made for this test."""
    photo = real_photo()
    first = await d.submitted(photo)
    evidence_id, flag_id = first["items"][0]["evidence_id"], first["flag_id"]
    spare = (await d.submitted(photo + b"\x00"))["items"][0]["evidence_id"]
    case_id = await d.filed([evidence_id])
    # The stage each admitted role may take from ``source``, each on a case of its own.
    stage_cases = {role: await d.filed([evidence_id]) for role in ("officer", "reviewer")}
    transfer_case = await d.filed([evidence_id])
    # A case whose filing approval bound a form: its document is filed by either admitted role.
    form = b"%PDF-1.7\n% filing approval form " + uuid.uuid4().bytes
    document_case = await d.filed([evidence_id])
    for body in (
        {"to": "preliminary_check"},
        {"to": "filing_approval", "document_hash": str(Digest.of(form))},
    ):
        moved = await d.call("officer", "POST", f"/cases/{document_case}/stage", json=body)
        assert moved.status_code == 200, moved.text
    police = d.people.layout.consortium.department(POLICE).msp_id
    week = (dt.datetime.now(dt.UTC) + dt.timedelta(days=7)).isoformat()
    upload = d.upload(photo + b"\x01")  # one device submission, tried by every role
    stage_body = {
        "officer": {"to": "preliminary_check"},
        # Closing a case without penalty, the conduct rectified: a reviewer's act.
        "reviewer": {
            "to": "closed_without_penalty",
            "rectified": True,
            "document_hash": str(Digest.of(b"decision not to penalise")),
        },
    }

    # A bulletin of today's decisions, as published: what the auditor's check is given.
    published = await d.call("reviewer", "POST", "/disclosures/day")
    assert published.status_code == 200, published.text
    bulletin = published.json()

    def get(path: str, **params: Any) -> Send:
        return lambda role: d.call(role, "GET", path, params=params)

    def post(path: str, body: Callable[[str], Any] | None = None) -> Send:
        return lambda role: d.call(role, "POST", path, json=body(role) if body else {})

    def file_case(role: str) -> Awaitable[httpx.Response]:
        case = f"CASE-ROLES-{role}-{uuid.uuid4().hex[:6]}"
        return d.call(role, "POST", "/cases", json=case_filing(case, [evidence_id]))

    def stage(role: str) -> Awaitable[httpx.Response]:
        target = stage_cases.get(role, stage_cases["officer"])
        body = stage_body.get(role, stage_body["officer"])
        return d.call(role, "POST", f"/cases/{target}/stage", json=body)

    def verify(role: str) -> Awaitable[httpx.Response]:
        empty = io.BytesIO()
        tarfile.open(fileobj=empty, mode="w:").close()  # a tar archive, and no package
        files = {"package": ("case.tar", empty.getvalue(), "application/x-tar")}
        return d.call(role, "POST", "/packages/verify", files=files)

    everyone = frozenset(ROLES)
    staff = frozenset({"officer", "reviewer", "auditor"})
    readers = staff | {"partner"}
    # Reading and exporting the plaintext: the department's own staff and its partner
    # identity (the chaincode gives a partner view, download and package).
    exporters = frozenset({"officer", "reviewer", "partner"})
    officer, reviewer = frozenset({"officer"}), frozenset({"reviewer"})
    auditor, device = frozenset({"auditor"}), frozenset({"device"})
    trail = {"by": "evidence", "target_id": evidence_id}
    return [
        Endpoint(
            "devices",
            "submit",
            device,
            201,
            lambda role: d.call(role, "POST", "/devices/submissions", files=upload),
        ),
        Endpoint(
            "devices", "rectification requests", device, 200, get("/devices/rectification-requests")
        ),
        Endpoint("review", "queue", staff, 200, get("/violations")),
        Endpoint("review", "flag", staff, 200, get(f"/violations/{flag_id}")),
        Endpoint("review", "history", staff, 200, get(f"/violations/{flag_id}/history")),
        Endpoint(
            "review",
            "decide",
            reviewer,
            200,
            post(
                f"/violations/{flag_id}/review",
                lambda _: {"decision": "rejected", "reason": "false_positive"},
            ),
        ),
        Endpoint("cases", "file", officer, 201, file_case),
        Endpoint("cases", "search", staff, 200, get("/cases", text=case_id)),
        Endpoint("cases", "read", readers, 200, get(f"/cases/{case_id}")),
        Endpoint("cases", "history", staff, 200, get(f"/cases/{case_id}/history")),
        Endpoint("cases", "transfers", staff, 200, get(f"/cases/{case_id}/transfers")),
        # Recording one needs a decided case: tests/network/test_demo_story.py.
        Endpoint("cases", "set-asides", staff, 200, get(f"/cases/{case_id}/set-asides")),
        Endpoint("cases", "services", staff, 200, get(f"/cases/{case_id}/services")),
        Endpoint("cases", "stage", frozenset(stage_body), 200, stage),
        Endpoint(
            "cases",
            "file a step's document",
            frozenset({"officer", "reviewer"}),
            201,
            lambda role: d.call(
                role,
                "POST",
                f"/cases/{document_case}/documents/2",
                files=[("document", ("form.pdf", form, "application/pdf"))],
            ),
        ),
        Endpoint("cases", "documents", staff, 200, get(f"/cases/{document_case}/documents")),
        Endpoint(
            "cases",
            "attach",
            officer,
            200,
            post(f"/cases/{case_id}/evidence", lambda _: {"evidence_ids": [spare]}),
        ),
        Endpoint(
            "cases",
            "grant",
            officer,
            201,
            post(
                f"/cases/{case_id}/grants",
                lambda _: {
                    "grantee_org": police,
                    "purpose": "joint_enforcement",
                    "expires_at": week,
                },
            ),
        ),
        Endpoint("cases", "grants", staff, 200, get(f"/cases/{case_id}/grants")),
        Endpoint(
            "cases",
            "transfer",
            officer,
            201,
            post(
                f"/cases/{transfer_case}/transfers",
                lambda _: {"to_org": police, "reason": "jurisdiction"},
            ),
        ),
        Endpoint("evidence", "search", staff, 200, get("/evidence")),
        Endpoint("evidence", "record", readers, 200, get(f"/evidence/{evidence_id}")),
        Endpoint(
            "evidence",
            "content",
            exporters,
            200,
            get(f"/evidence/{evidence_id}/content", purpose="case_review"),
        ),
        Endpoint(
            "evidence", "derivations", readers, 200, get(f"/evidence/{evidence_id}/derivations")
        ),
        Endpoint("evidence", "redact", officer, 201, post(f"/evidence/{evidence_id}/redactions")),
        Endpoint(
            "evidence",
            "capture on the spot",
            officer,
            201,
            # A new event for each role: a refused one must store nothing the next could find.
            lambda role: d.call(
                role, "POST", "/captures", files=capture_upload(photo + b"\x02", case_id)
            ),
        ),
        Endpoint(
            "packages",
            "export",
            exporters,
            200,
            post(f"/cases/{case_id}/packages"),
        ),
        Endpoint("packages", "verify", everyone, 200, verify),
        Endpoint("audit", "trail", auditor, 200, get("/audit/trail", **trail)),
        Endpoint("audit", "trail csv", auditor, 200, get("/audit/trail.csv", **trail)),
        Endpoint("audit", "trail pdf", auditor, 200, get("/audit/trail.pdf", **trail)),
        Endpoint("audit", "flags", auditor, 200, get("/audit/flags", **trail)),
        Endpoint("audit", "integrity", auditor, 200, get("/audit/integrity")),
        Endpoint("dispatch", "assignments", officer, 200, get("/assignments")),
        # This gateway gives its officer no area: admitted, then told so, before any stream
        # begins (a stream on the real network: tests/network/test_demo_story.py).
        Endpoint("dispatch", "assignment stream", officer, 409, get("/assignments/stream")),
        Endpoint(
            "disclosures",
            "publish",
            frozenset({"reviewer", "admin"}),
            200,
            post("/disclosures/day"),
        ),
        Endpoint(
            "disclosures", "check", auditor, 200, post("/disclosures/check", lambda _: bulletin)
        ),
        Endpoint("reports", "day", staff, 200, get("/reports/day")),
        Endpoint("reports", "week as csv", staff, 200, get("/reports/week.csv")),
        Endpoint(
            "subjects",
            "history",
            staff,
            200,
            post(
                "/subjects/history",
                lambda _: {"subject": "粤B 12345", "violation_type": "road_occupation"},
            ),
        ),
    ]


async def test_each_endpoint_group_admits_its_roles_and_refuses_the_others(desk: Desk) -> None:
    endpoints = await _endpoints(desk)
    assert {e.group for e in endpoints} == {
        "devices",
        "review",
        "cases",
        "evidence",
        "packages",
        "audit",
        "subjects",
        "reports",
        "dispatch",
        "disclosures",
    }
    wrong: list[str] = []
    # The refused roles first: a write refused must leave the target as the admitted
    # role then finds it.
    for endpoint in endpoints:
        for role in sorted(ROLES, key=lambda r: r in endpoint.allowed):
            resp = await endpoint.send(role)
            label = f"{endpoint.group}/{endpoint.name} as {role}"
            said = resp.text[:300] if "json" in resp.headers.get("content-type", "") else ""
            if role in endpoint.allowed:
                if resp.status_code != endpoint.ok:
                    wrong.append(f"{label}: {resp.status_code} {said}")
            elif (
                resp.status_code != 403
                or resp.headers.get("content-type") != "application/problem+json"
                or resp.json().get("code") != "ACCESS_DENIED"
            ):
                wrong.append(f"{label}: {resp.status_code} {said}, not 403 ACCESS_DENIED")
    assert not wrong, "\n".join(wrong)


async def test_refused_roles_write_nothing_and_the_ledger_names_the_admitted_person(
    desk: Desk,
) -> None:
    photo = real_photo()
    upload = desk.upload(photo)
    for role in ROLES:
        if role != "device":
            refused = await desk.call(role, "POST", "/devices/submissions", files=upload)
            assert refused.status_code == 403, refused.text
    first = await desk.call("device", "POST", "/devices/submissions", files=upload)
    assert first.status_code == 201, first.text
    assert first.json()["items"][0]["duplicate"] is False  # nothing of the refused kept
    evidence_id, flag_id = first.json()["items"][0]["evidence_id"], first.json()["flag_id"]

    case_id = f"CASE-ROLES-{uuid.uuid4().hex[:8]}"
    for role in ROLES:
        if role != "officer":
            resp = await desk.call(role, "POST", "/cases", json=case_filing(case_id, [evidence_id]))
            assert resp.status_code == 403, resp.text
    gone = await desk.call("officer", "GET", f"/cases/{case_id}")
    assert gone.status_code == 404, gone.text
    reject = {"decision": "rejected", "reason": "false_positive"}
    for role in ROLES:
        if role != "reviewer":
            resp = await desk.call(role, "POST", f"/violations/{flag_id}/review", json=reject)
            assert resp.status_code == 403, resp.text
    history = await desk.call("auditor", "GET", f"/violations/{flag_id}/history")
    assert [s["to_status"] for s in history.json()] == ["detected"]
    decided = await desk.call("reviewer", "POST", f"/violations/{flag_id}/review", json=reject)
    assert decided.status_code == 200, decided.text
    steps = (await desk.call("auditor", "GET", f"/violations/{flag_id}/history")).json()
    assert steps[-1]["to_status"] == "rejected"
    assert "reviewer1" in steps[-1]["by"]  # the person, not a service account


async def test_the_chaincode_refuses_the_same_roles_without_the_api(desk: Desk) -> None:
    layout = desk.people.layout

    # Items and cases of MarketSupervision, made without a node (the ledger alone): no test
    # sweeps its node, where such items would rightly show as held nowhere. The flags are
    # UrbanManagement's, raised through the desk's gateway.
    def as_(role: str, department: str = MARKET) -> Any:
        return ledger_as(layout, department, role)

    device, officer = as_("device"), as_("officer")
    evidence_id = f"EV-ROLES-{uuid.uuid4().hex[:8]}"
    for role in ("reviewer", "auditor", "partner", "admin"):
        await refused_with(
            "ACCESS_DENIED", as_(role).register_evidence(registration(evidence_id, MARKET))
        )
    await refused_with("NOT_FOUND", officer.evidence(evidence_id))
    await device.register_evidence(registration(evidence_id, MARKET))

    case_id = f"CASE-ROLES-{uuid.uuid4().hex[:8]}"
    filing = CaseFiling(
        case_id=case_id,
        violation_type=ViolationType.SHOPFRONT_OPERATION,
        subject_key=Digest.of(case_id.encode()).hex,
        subject_kind=SubjectKind.PERSON,
        source=CaseSource.CAMERA,
        evidence_ids=[evidence_id],
    )
    for role in ("reviewer", "auditor", "partner", "device", "admin"):
        await refused_with("ACCESS_DENIED", as_(role).file_case(filing))
    await refused_with("NOT_FOUND", officer.case(case_id))
    filed = await officer.file_case(filing)

    for role in ("reviewer", "auditor", "partner", "device", "admin"):
        await refused_with(
            "ACCESS_DENIED",
            as_(role).change_stage(case_id, Stage.PRELIMINARY_CHECK, StageDetails()),
        )
    assert (await officer.case(case_id)).stage is Stage.SOURCE

    grant = GrantRequest(
        target=TargetKind.CASE,
        target_id=case_id,
        grantee_org=layout.consortium.department(POLICE).msp_id,
        purpose="joint_enforcement",
        expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(days=1),
    )
    for role in ("auditor", "partner", "device"):
        await refused_with("ACCESS_DENIED", as_(role).grant_access(grant))
    assert await officer.grants(TargetKind.CASE, case_id) == []

    # An item's trail: the trail readers', and whoever may package the item (a package
    # carries it): not a device, not another department's partner without a grant; the
    # trail of a whole department: the trail readers' only.
    by_item = TrailQuery(by=TrailBy.EVIDENCE, target_id=evidence_id)
    await refused_with("ACCESS_DENIED", as_("device").access_trail(by_item))
    police_partner = ledger_as(layout, POLICE, "partner")
    await caught_up(police_partner, filed.block_number)  # the item is on its peer too
    await refused_with("ACCESS_DENIED", police_partner.access_trail(by_item))
    assert (await as_("partner").access_trail(by_item)).records == []
    by_org = TrailQuery(by=TrailBy.ORG, org=layout.consortium.department(MARKET).msp_id)
    for role in ("partner", "device"):
        await refused_with("ACCESS_DENIED", as_(role).access_trail(by_org))
    # An access the rules do not give a role is recorded as denied, not refused unseen.
    download = AccessRequest(
        target=TargetKind.EVIDENCE,
        target_id=evidence_id,
        purpose="case_review",
        kind=AccessKind.DOWNLOAD,
    )
    denied = await as_("auditor").request_access(download)
    assert denied.value.outcome is Outcome.DENIED

    flagged = (await desk.submitted(real_photo()))["flag_id"]
    review = ViolationReview(flag_id=flagged, decision="rejected", reason="false_positive")
    for role in ("officer", "auditor", "partner", "device", "admin"):
        await refused_with("ACCESS_DENIED", as_(role, URBAN).review_violation(review))
    assert (await as_("officer", URBAN).violation(flagged)).status == "detected"
    await as_("reviewer", URBAN).review_violation(review)
