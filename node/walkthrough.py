"""The demo's story on a running department stack (``evnet up``), with the real parts: a
street camera runs the real detection model on real footage and delivers device-signed
events to UrbanManagement's gateway; the reviewer confirms one (a case is filed), rejects
another and sends a co-governance reminder for a third; the case walks its stages, moves to
MarketSupervision; PublicSecurity is refused, granted, and fetches the evidence from the
owner's node; the case is closed; UrbanManagement exports the evidence package over HTTP and
it verifies offline; the auditor reads the trail and the integrity sweep is clean.

``evnet demo`` runs it after bringing the stack up; a network test runs it too, so the main
job cannot silently rot.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import io
import json
import ssl
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import httpx
import yaml
from fabric_protos.common import ledger_pb2

from gateway.feeds import Event, EventReader
from node.chain import BlockArchive
from node.consortium.clients import department_contract
from node.consortium.config import Department
from node.consortium.identities import ADMIN_USER, issue_user, org_crypto
from node.consortium.launch import Layout
from node.department import NodeParts, NodePaths, open_parts
from node.disclosure import SignedBulletin, render_page, verify_bulletin
from node.doctor import ClientLedgerView, Problem, sweep
from node.fabric import LedgerQueries
from node.ledger import LedgerClient
from node.ledger.bootstrap import bootstrap, load_schedule
from node.ops.config import config_path, department_runtime
from node.package import verify_package
from node.package.anchors import TrustAnchors
from node.settings import PROJECT_ROOT
from schemas.glossary import Role, Stage
from schemas.hashes import Digest
from schemas.ledger import (
    ExecutionResult,
    GrantRequest,
    Penalty,
    StageDetails,
    StatementRight,
    TargetKind,
    TrailBy,
    TrailQuery,
    TransferAnswer,
    TransferProposal,
    parse_ledger_time,
)

STREET_FOOTAGE = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")
Say = Callable[[str], None]


@dataclass(frozen=True)
class Outcome:
    evidence_id: str
    case_id: str
    fetched_to: Path
    trail: list[str]
    problems: list[Problem]
    package: Path
    flags: list[str]
    urban_gateway: str
    bulletin: Path  # the holder's signed bulletin of the day's decisions (行政执法公示)


@dataclass(frozen=True)
class _Item:
    evidence_id: str


class GatewaySession:
    """One department's running gateway (``evnet up``), with bearer tokens issued for the
    demo's people straight into its token file, as ``evnet gateway token issue`` does."""

    def __init__(self, layout: Layout, dep: Department) -> None:
        self.layout, self.dep = layout, dep
        self.runtime = department_runtime(layout.state_dir, dep)
        self.base_url = self.runtime.base_url
        # HTTPS: trust the department's TLS CA, which signed the gateway's certificate.
        ca = self.runtime.tls_ca
        self.verify: ssl.SSLContext | bool = (
            ssl.create_default_context(cafile=str(ca)) if ca is not None else True
        )
        # The gateway's own token store (a file it reads on every request).
        from gateway.auth import TokenStore

        self.tokens = TokenStore(
            self.runtime.work_dir / "tokens.json", lambda: dt.datetime.now(dt.UTC)
        )

    def token(self, user: str) -> str:
        return self.tokens.issue_token(user, dt.timedelta(hours=12))

    def as_user(self, role: Role) -> httpx.AsyncClient:
        as_user(self.layout, self.dep, role)  # issues demo-<role> if missing
        return httpx.AsyncClient(
            base_url=self.base_url,
            verify=self.verify,
            headers={"Authorization": f"Bearer {self.token(f'demo-{role}')}"},
            timeout=120.0,
        )


def _camera_token(gw: GatewaySession, out_dir: Path) -> str:
    """A bearer token file for the camera when the gateway serves plain HTTP."""
    token_file = out_dir / "camera.token"
    token_file.write_text(gw.token("demo-camera") + "\n")
    token_file.chmod(0o600)
    return str(token_file)


async def _post(client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    resp = await client.post(path, json=body)
    if resp.status_code >= 300:
        raise RuntimeError(f"POST {path}: {resp.status_code} {resp.text[:300]}")
    doc: dict[str, Any] = resp.json()
    return doc


def ensure_demo_area(state_dir: Path) -> Path | None:
    """Give the demo's officer the demo camera's area (片区), in UrbanManagement's
    department file, if there is no such file yet (one written by hand is left alone).
    Returns the file written, if any. Call it before the gateway starts: it reads the file
    once."""
    path = config_path(state_dir, "UrbanManagement")
    if path.exists():
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(DEMO_AREA, encoding="utf-8")
    return path


class _Handheld:
    """The grid officer's handheld as a phone app holds it: ``GET /assignments/stream``
    open, reconnecting with the last event id when the gateway ends a stream; the flag ids
    pushed to it."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.areas: list[str] = []
        self.seen: set[str] = set()
        self.ended = False
        self._last_id: str | None = None
        self._news = asyncio.Event()

    async def run(self) -> None:
        """Hold the stream until cancelled, or until the gateway says this officer answers
        for no area. Raises RuntimeError if the gateway refuses the stream otherwise or
        ends it for good (a revoked token, a failed ledger)."""
        try:
            while True:
                reader = EventReader()
                headers = {} if self._last_id is None else {"Last-Event-ID": self._last_id}
                async with self.client.stream(
                    "GET", "/assignments/stream", headers=headers
                ) as resp:
                    if resp.status_code == 409:  # NO_AREAS: nothing would ever come
                        return
                    if resp.status_code != 200:
                        body = (await resp.aread()).decode(errors="replace")
                        raise RuntimeError(
                            f"GET /assignments/stream: {resp.status_code} {body[:300]}"
                        )
                    async for line in resp.aiter_lines():
                        self._take(reader.feed(line))
                await asyncio.sleep((reader.retry_ms or 1000) / 1000)
        finally:
            self.ended = True
            self._news.set()  # wakes until_seen: nothing more will come

    def _take(self, event: Event | None) -> None:
        if event is None:
            return
        doc = json.loads(event.data)
        if event.name == "end" and doc["code"] != "RECONNECT":
            raise RuntimeError(f"the assignment stream ended: {doc}")
        if event.name == "assignments":
            self.areas, self._last_id = doc["areas"], event.id or self._last_id
            self.seen.update(item["flag_id"] for item in doc["items"])
            self._news.set()

    async def until_seen(self, flag_ids: set[str], timeout: float) -> int:
        """How many of ``flag_ids`` were pushed, waiting up to ``timeout`` seconds for all
        of them (the gateway's index follows the ledger a moment behind)."""
        loop = asyncio.get_running_loop()
        ends_at = loop.time() + timeout
        while not flag_ids <= self.seen and not self.ended and (left := ends_at - loop.time()) > 0:
            self._news.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._news.wait(), left)
        return len(flag_ids & self.seen)


async def _capture(
    client: httpx.AsyncClient, event_id: str, photo: bytes, **fields: Any
) -> dict[str, Any]:
    """An officer's photo taken on the spot, sent as the handheld sends it: hashed when taken;
    ``fields`` (a case id, a report, the violation type, the note) complete the capture."""
    capture = {
        "event_id": event_id,  # a rerun replays it harmlessly
        "camera_id": "bodycam-demo",
        "captured_at": dt.datetime.now(dt.UTC).isoformat(),
        "violation_type": "road_occupation",
        **fields,
        "media": [
            {
                "name": "onsite.jpg",
                "media_type": "image/jpeg",
                "sha256": str(Digest.of(photo)),
                "size": len(photo),
            }
        ],
    }
    parts: dict[str, tuple[str | None, bytes, str]] = {
        "capture": (None, json.dumps(capture).encode(), "application/json"),
        "files": ("onsite.jpg", photo, "image/jpeg"),
    }
    resp = await client.post("/captures", files=parts)
    if resp.status_code >= 300:
        raise RuntimeError(f"POST /captures: {resp.status_code} {resp.text[:300]}")
    doc: dict[str, Any] = resp.json()
    return doc


async def _co_governance(gateway: GatewaySession, tag: str, say: Say) -> None:
    """The Xiaohe loop (小河共治) on a grid officer's report: goods outside a shop, for which
    the schedule asks two reminders before any case; the shop clears its doorway after the
    first, as most do."""
    async with gateway.as_user(Role.OFFICER) as officer_http:
        shop = street_photo()
        reported = await _capture(
            officer_http,
            f"hh-report-{tag}",
            shop,
            flag=True,
            violation_type="shopfront_operation",
            note="goods stacked outside the shop door at no. 12",
        )
        flag_id = reported["flag_id"]
        say(f"   a grid officer reports goods outside a shop (上报, 出店经营): flag {flag_id}")
        async with gateway.as_user(Role.REVIEWER) as reviewer_http:
            confirm = {"decision": "confirmed", "reason": "confirmed_on_footage"}
            early = await reviewer_http.post(
                f"/violations/{flag_id}/review", json={**confirm, "action": "case"}
            )
            problem = early.json()
            if early.status_code != 409 or problem.get("code") != "REMINDERS_REQUIRED":
                raise RuntimeError(f"a case before the reminders: {early.status_code} {early.text}")
            refusal = f"{early.status_code} {problem['code']} ({problem['detail']})"
            say(f"   a case on it at once is refused by the ledger: {refusal}")
            await _post(
                reviewer_http, f"/violations/{flag_id}/review", {**confirm, "action": "reminder"}
            )
        clear = await _capture(
            officer_http,
            f"hh-clear-{tag}",
            shop + b"\n",  # another photo: the doorway clear
            violation_type="shopfront_operation",
            note="doorway clear after the reminder",
        )
        proof = [i["evidence_id"] for i in clear["items"]]
        fixed = await _post(
            officer_http, f"/violations/{flag_id}/rectified", {"evidence_ids": proof}
        )
        say(
            f"   reminded (共治提醒); the shop put it right itself: {fixed['status']}, with the "
            f"officer's photo {proof[0]} as evidence (自行整改)"
        )


async def download_package(client: httpx.AsyncClient, path: str, out: Path) -> int:
    """Stream the package the gateway builds at ``path`` into ``out``; the number of export
    records it reports."""
    async with client.stream("POST", path) as resp:
        if resp.status_code != 200:
            await resp.aread()
            raise RuntimeError(f"POST {path}: {resp.status_code} {resp.text[:300]}")
        with out.open("wb") as f:
            async for chunk in resp.aiter_bytes(1 << 20):
                f.write(chunk)
        return int(resp.headers.get("x-access-records-total", "0"))


# The demo's one area: its street camera, answered for by its officer.
DEMO_AREA = """# Written by `evnet demo`: the grid officer's area (片区) for GET /assignments.
[[areas]]
name = "vtest-yard"
cameras = ["vtest-*"]
officers = ["demo-officer"]
"""

CAMERA_CONFIG = PROJECT_ROOT / "network-config" / "cameras" / "vtest-yard.yaml"


async def _camera_run(
    layout: Layout, dep: Department, gw: GatewaySession, say: Say, out_dir: Path
) -> list[dict[str, Any]]:
    """Run ``evnet detect`` on the street footage as a device of ``dep``; return the flags
    its events raised, from the reviewer's queue."""
    if not STREET_FOOTAGE.exists():
        raise FileNotFoundError(
            f"no street footage at {STREET_FOOTAGE}: run scripts/install (Debian opencv-doc)"
        )
    crypto = org_crypto(layout.state_dir, layout.consortium, dep.name)
    camera = crypto.user("demo-camera")
    if not camera.cert.exists():
        issue_user(
            layout.state_dir, layout.consortium, dep.name, Role.DEVICE, "demo-camera",
            dt.datetime.now(dt.UTC),
        )  # fmt: skip
    config = yaml.safe_load(CAMERA_CONFIG.read_text(encoding="utf-8"))
    # A live camera: its clock starts now, not when the sample clip was recorded.
    config["source"]["start_time"] = dt.datetime.now(dt.UTC).isoformat()
    config["device"] = {"org": dep.msp_id, "cert": str(camera.cert), "key": str(camera.key)}
    config["delivery"] = {
        "gateway_url": gw.base_url,
        # Mutual TLS: the camera's own certificate is its identity; no token on the box.
        **(
            {"ca_file": str(gw.runtime.tls_ca), "client_certificate": True}
            if gw.runtime.tls_ca is not None
            else {"token_file": _camera_token(gw, out_dir)}
        ),
        "spool_path": str(out_dir / "camera-spool.sqlite"),
        "retry_base_seconds": 0.5,
        "retry_max_seconds": 5,
    }
    config_file = out_dir / "camera.yaml"
    config_file.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    say(f"   evnet detect --camera {config_file}  ({STREET_FOOTAGE.name}, SSD-MobileNet-v2)")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "node.cli", "detect", "--camera", str(config_file),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    assert proc.stdout is not None
    tail: list[str] = []
    async for raw in proc.stdout:
        line = raw.decode(errors="replace").strip()
        if line:
            tail = [*tail[-20:], line]
            if line.startswith(("source ended", "all events delivered", "frames ")):
                say(f"   {line}")
    if await proc.wait() != 0:
        raise RuntimeError("evnet detect failed:\n" + "\n".join(tail))
    async with gw.as_user(Role.REVIEWER) as reviewer:
        resp = await reviewer.get("/violations", params={"page_size": 200})
        resp.raise_for_status()
        flags: list[dict[str, Any]] = [
            f for f in resp.json()["items"] if f["camera_id"] == config["camera_id"]
        ]
    if not flags:
        raise RuntimeError("the camera raised no flag; see " + str(config_file))
    flags.sort(key=lambda f: (-f["confidence"], f["flag_id"]))
    for f in flags:
        say(
            f"   flag {f['flag_id']}: {f['violation_type']}, confidence {f['confidence']:.2f}, "
            f"{len(f['evidence_ids'])} evidence item(s) sealed and registered"
        )
    return flags


def legal_document(title: str, lines: Sequence[str]) -> bytes:
    """A legal document as the office prints it: a one-page PDF, the same bytes for the same
    text (no creation time in it), so a rerun files the same document."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen.canvas import Canvas

    font = "STSong-Light"  # an Adobe-GB1 font every PDF reader has: nothing to embed
    pdfmetrics.registerFont(UnicodeCIDFont(font))
    out = io.BytesIO()
    page = Canvas(out, pagesize=A4, invariant=True)
    page.setTitle(title)
    page.setFont(font, 18)
    page.drawString(72, 770, title)
    page.setFont(font, 11)
    for n, line in enumerate(lines):
        page.drawString(72, 730 - 22 * n, line)
    page.showPage()
    page.save()
    return out.getvalue()


def filing_form(case_id: str, party: str) -> bytes:
    """The filing approval form (立案审批表) of a case."""
    return legal_document(
        "立案审批表",
        [
            f"案件编号:{case_id}",
            f"当事人:{party}",
            "承办人意见:现场照片及视频证据确凿,建议立案。",
            "审批意见:同意立案。",
        ],
    )


def decision_form(case_id: str, party: str, penalty: Penalty) -> bytes:
    """The decision on an administrative penalty (行政处罚决定书), stating what the chaincode
    assesses from the consortium's schedule."""
    return legal_document(
        "行政处罚决定书",
        [
            f"案件编号:{case_id}",
            f"当事人:{party}",
            f"依据:{penalty.legal_basis}(裁量基准 {penalty.discretion_benchmark})",
            f"决定:罚款人民币 {penalty.amount_cents / 100:.0f} 元(第 {penalty.step} 次违法)。",
            "当事人放弃陈述、申辩权利。",
        ],
    )


async def _file_document(
    client: httpx.AsyncClient, case_id: str, step: int, name: str, document: bytes
) -> dict[str, Any]:
    async with client:
        resp = await client.post(
            f"/cases/{case_id}/documents/{step}",
            files=[("document", (name, document, "application/pdf"))],
        )
    if resp.status_code >= 300:
        raise RuntimeError(f"filing the document: {resp.status_code} {resp.text[:300]}")
    doc: dict[str, Any] = resp.json()
    return doc


def street_photo() -> bytes:
    """A JPEG of real street footage (Debian's opencv-doc), or a refusal saying what to install."""
    capture = cv2.VideoCapture(str(STREET_FOOTAGE))
    ok, frame = capture.read()
    capture.release()
    if not ok:
        raise FileNotFoundError(
            f"cannot read street footage {STREET_FOOTAGE}: run scripts/install (Debian opencv-doc)"
        )
    ok, jpeg = cv2.imencode(".jpg", frame)
    if not ok:
        raise RuntimeError("could not encode the frame as JPEG")
    return bytes(jpeg.tobytes())


def as_user(layout: Layout, dep: Department, role: Role) -> LedgerClient:
    """The chaincode as ``dep``'s identity ``demo-<role>`` (issued if missing) via its gateway."""
    name = ADMIN_USER if role is Role.ADMIN else f"demo-{role}"
    crypto = org_crypto(layout.state_dir, layout.consortium, dep.name)
    if not crypto.user(name).cert.exists():
        issue_user(
            layout.state_dir, layout.consortium, dep.name, role, name, dt.datetime.now(dt.UTC)
        )
    return LedgerClient(department_contract(layout, dep, user=name))


async def _wait_for(client: LedgerClient, block: int) -> None:
    """Let this client's peer catch up with a block another department's peer committed."""
    qscc = client.contract.gateway.contract(client.contract.channel, "qscc")
    for _ in range(200):
        raw = await qscc.evaluate("GetChainInfo", client.contract.channel)
        if ledger_pb2.BlockchainInfo.FromString(raw).height > block:
            return
        await asyncio.sleep(0.05)


async def run(layout: Layout, say: Say, workdir: Path | None = None) -> Outcome:
    urban, police, market = (
        layout.consortium.department(n)
        for n in ("UrbanManagement", "PublicSecurity", "MarketSupervision")
    )
    nodes: dict[str, NodeParts] = {
        d.name: open_parts(NodePaths.of(layout.state_dir, d.name)) for d in (urban, police, market)
    }
    say("== 2. every department's node publishes its encryption key; the penalty schedule")
    keys = {d.name: nodes[d.name].keyring.current.raw for d in (urban, police, market)}
    await bootstrap(
        layout, keys, load_schedule(PROJECT_ROOT / "network-config" / "penalty-schedule.yaml")
    )
    for name, key in keys.items():
        say(f"   {name}: X25519 key {hashlib.sha256(key).hexdigest()[:16]}… on the ledger")

    out_dir = workdir or Path(tempfile.mkdtemp(prefix="evnet-demo-"))
    out_dir.mkdir(parents=True, exist_ok=True)
    u = nodes[urban.name]

    say("== 3. a street camera (real footage, real SSD model) flags roaming vendors")
    urban_gw = GatewaySession(layout, urban)
    # The grid officer's handheld is listening before the camera starts.
    async with urban_gw.as_user(Role.OFFICER) as officer_http:
        handheld = _Handheld(officer_http)
        listening = asyncio.ensure_future(handheld.run())
        try:
            flags = await _camera_run(layout, urban, urban_gw, say, out_dir)
            wanted = {f["flag_id"] for f in flags}
            seen = await handheld.until_seen(wanted, 30.0)
            if listening.done():  # refused or ended for good: say why
                listening.result()
        finally:
            listening.cancel()
            await asyncio.gather(listening, return_exceptions=True)
    say(
        f"   dispatched (派单) to the grid officer's handheld, area "
        f"{', '.join(handheld.areas) or '-'}: {seen} of {len(flags)} flag(s), each pushed "
        "as the gateway indexed it (GET /assignments/stream)"
    )

    say("== 4. the reviewer works the queue: confirm → case, reject, remind (审核)")
    reviewer_http = urban_gw.as_user(Role.REVIEWER)
    first, *others = flags
    # The party as the reviewer names it; only its keyed hash reaches the ledger.
    party = f"vendor seen by {first['camera_id']} at {first['detected_at']}"
    confirmed = await _post(
        reviewer_http,
        f"/violations/{first['flag_id']}/review",
        {"decision": "confirmed", "reason": "confirmed_on_footage", "action": "case",
         "subject": party},
    )  # fmt: skip
    case_id = confirmed["case_id"]
    say(f"   {first['flag_id']}: confirmed; case {case_id} filed (tx {confirmed['tx_id'][:12]}…)")
    if others:
        rejected = await _post(
            reviewer_http,
            f"/violations/{others[0]['flag_id']}/review",
            {"decision": "rejected", "reason": "false_positive"},
        )
        say(f"   {others[0]['flag_id']}: {rejected['status']} as a false positive")
    if len(others) > 1:
        reminded = await _post(
            reviewer_http,
            f"/violations/{others[1]['flag_id']}/review",
            {"decision": "confirmed", "reason": "confirmed_on_footage", "action": "reminder"},
        )
        say(f"   {others[1]['flag_id']}: {reminded['status']} (co-governance reminder, 共治)")
    captured = await _capture(
        urban_gw.as_user(Role.OFFICER),
        f"hh-{case_id}",
        street_photo(),
        case_id=case_id,
        note="vendor's stall on the pavement, photographed on the spot",
    )
    say(
        f"   an officer adds a photo taken on the spot (现场取证): "
        f"{captured['items'][0]['evidence_id']}, registered and attached in the officer's name"
    )
    await _co_governance(urban_gw, case_id, say)
    evidence_ids = list(first["evidence_ids"])
    item = _Item(evidence_ids[0])

    officer, reviewer = as_user(layout, urban, Role.OFFICER), as_user(layout, urban, Role.REVIEWER)
    await officer.change_stage(case_id, Stage.PRELIMINARY_CHECK)
    form = filing_form(case_id, party)
    approval_step = await officer.change_stage(
        case_id, Stage.FILING_APPROVAL, StageDetails(document_hash=Digest.of(form))
    )
    filed_form = await _file_document(
        urban_gw.as_user(Role.OFFICER),
        case_id,
        approval_step.value.stage_changes,
        "filing-form.pdf",
        form,
    )
    await reviewer.change_stage(
        case_id, Stage.INVESTIGATION, StageDetails(document_hash=Digest.of(b"approval"))
    )
    say(f"   {case_id}: source → preliminary_check → filing_approval → investigation")
    say(
        f"   the filing approval form (立案审批表, PDF) is in the case file: "
        f"{filed_form['evidence_id']}, filed in the officer's name; the step bound its hash"
    )

    say("== 5. the vendor holds a business licence matter: transfer to MarketSupervision (移送)")
    proposal = await officer.propose_transfer(
        TransferProposal(case_id=case_id, to_org=market.msp_id, reason="business_licence_matter")
    )
    m_officer, m_reviewer = (
        as_user(layout, market, Role.OFFICER),
        as_user(layout, market, Role.REVIEWER),
    )
    await _wait_for(m_officer, proposal.block_number)
    accepted = await m_officer.answer_transfer(TransferAnswer(case_id=case_id, accept=True))
    say(
        f"   MarketSupervision accepted (its own peer endorsed, as the key-level policy "
        f"requires); tx {accepted.tx_id[:12]}…"
    )

    say("== 6. PublicSecurity's partner asks its own gateway: refused and recorded; granted;")
    say("      fetched from UrbanManagement's node over the exchange")
    partner = as_user(layout, police, Role.PARTNER)
    await _wait_for(partner, accepted.block_number)
    police_gw = GatewaySession(layout, police)
    content_url = f"/evidence/{item.evidence_id}/content"
    ask = {"purpose": "joint_enforcement", "kind": "download"}
    async with police_gw.as_user(Role.PARTNER) as partner_http:
        refusal = await partner_http.get(content_url, params=ask)
        if refusal.status_code != 403:
            raise RuntimeError(f"expected a refusal, got {refusal.status_code}: {refusal.text}")
        say(
            f"   request 1: {refusal.status_code} {refusal.json()['code']}, the denial recorded"
            f" in tx {refusal.headers['X-Access-Record'][:12]}…"
        )
        grant = await m_officer.grant_access(
            GrantRequest(
                target=TargetKind.CASE,
                target_id=case_id,
                grantee_org=police.msp_id,
                purpose="joint_enforcement",
                expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(days=7),
            )
        )
        await _wait_for(partner, grant.block_number)
        say("   MarketSupervision (holder) granted the case to PublicSecurity")
        target = out_dir / item.evidence_id
        fetched = await partner_http.get(content_url, params=ask)
        if fetched.status_code != 200:
            raise RuntimeError(f"the granted fetch failed: {fetched.status_code} {fetched.text}")
        target.write_bytes(fetched.content)
    record = await partner.evidence(item.evidence_id)
    if str(Digest.of(fetched.content)) != record.plaintext_hash:
        raise RuntimeError("the fetched bytes do not match the ledger hash")
    say(
        f"   request 2: 200, recorded in tx {fetched.headers['X-Access-Record'][:12]}…;"
        f" UrbanManagement's node released it against that record; plaintext matches the"
        f" ledger → {target}"
    )
    owner_view = as_user(layout, urban, Role.OFFICER)

    say("== 7. MarketSupervision takes the case to closure (penalty from the on-chain schedule)")
    deadline = dt.datetime.now(dt.UTC) + dt.timedelta(days=3)
    await m_officer.change_stage(
        case_id,
        Stage.ADVANCE_NOTICE,
        StageDetails(
            document_hash=Digest.of(b"notice"),
            statement_right=StatementRight.STATEMENT_AND_HEARING,
            statement_deadline=deadline,
        ),
    )
    # The decision states the penalty the chaincode will assess (its preview, same rules).
    held = await m_reviewer.case(case_id)
    assessed = await m_reviewer.assess_penalty(held.subject_key, held.violation_type, False)
    decision = decision_form(case_id, party, assessed)
    decided = await m_reviewer.change_stage(
        case_id,
        Stage.DECISION,
        StageDetails(document_hash=Digest.of(decision), party_waived=True),
    )
    if decided.value.penalty is None or decided.value.penalty.amount_cents != assessed.amount_cents:
        raise RuntimeError("the decision's penalty is not what its document states")
    filed_decision = await _file_document(
        GatewaySession(layout, market).as_user(Role.REVIEWER),
        case_id,
        decided.value.stage_changes,
        "decision.pdf",
        decision,
    )
    # Handed to the party on the spot (当场交付, 行政处罚法 第六十一条): the receipt they signed
    # (送达回证) is the proof, recorded by its hash; the appeal periods run from it.
    receipt = legal_document(
        "送达回证", [f"案件编号:{case_id}", "送达文书:行政处罚决定书", f"受送达人:{party}"]
    )
    async with GatewaySession(layout, market).as_user(Role.REVIEWER) as m_reviewer_http:
        served = await _post(
            m_reviewer_http,
            f"/cases/{case_id}/services",
            {
                "step_tx": decided.tx_id,
                "method": "in_person",
                "served_at": dt.datetime.now(dt.UTC).isoformat(),
                "proof_hash": str(Digest.of(receipt)),
            },
        )
    await m_officer.change_stage(
        case_id, Stage.EXECUTION, StageDetails(document_hash=Digest.of(b"receipt"))
    )
    closed = await m_officer.change_stage(
        case_id,
        Stage.CLOSURE,
        StageDetails(document_hash=Digest.of(b"closure"), execution_result=ExecutionResult.PAID),
    )
    penalty = decided.value.penalty
    if penalty is not None:
        say(
            f"   decision: {penalty.amount_cents / 100:.0f} yuan (step {penalty.step}, "
            f"{penalty.legal_basis}); stage now {closed.value.stage}"
        )
    say(
        f"   the decision (行政处罚决定书, PDF) is in the case file: "
        f"{filed_decision['evidence_id']}, filed by MarketSupervision's reviewer; served on "
        f"the party {served['method']} (送达回证 {served['proof_hash'][:19]}…)"
    )
    # Any department's officer meeting the party again sees its record, by keyed subject.
    looked = await _post(
        urban_gw.as_user(Role.OFFICER),
        "/subjects/history",
        {"subject": party, "violation_type": first["violation_type"]},
    )
    again = looked["penalty"]
    say(
        f"   the party's record, looked up by UrbanManagement: {len(looked['violations'])} "
        f"violation(s); the same again now: {again['amount_cents'] / 100:.0f} yuan "
        f"(step {again['step']}, stepped penalty)"
    )

    # The holder exports the case for the court: its own decision, and UrbanManagement's
    # evidence and form, each fetched from UrbanManagement's node against the export's record.
    # (UrbanManagement itself may not package MarketSupervision's decision without a grant.)
    say("== 8. MarketSupervision, the holder, exports the case's evidence package (with")
    say("      UrbanManagement's items, fetched from its node); it verifies offline")
    package = out_dir / f"{case_id}.tar"
    export_records = await download_package(
        GatewaySession(layout, market).as_user(Role.OFFICER), f"/cases/{case_id}/packages", package
    )
    # What a court pins, handed over out of band: each MSP's roots and the ordering MSPs.
    anchors = out_dir / "trust-anchors.json"
    anchors.write_bytes(
        TrustAnchors.of_consortium(layout.state_dir, layout.consortium).canonical_bytes()
    )
    report = verify_package(package, anchors.read_bytes())
    say(
        f"   {package} ({package.stat().st_size:,} bytes; {export_records} export record(s) "
        f"on the ledger)"
    )
    say(
        f"   evnet verify --trust {anchors.name}: {'OK' if report.ok else 'FAILED'}: "
        + ", ".join(f"{n} {what}" for what, n in sorted(report.checked.items()))
    )
    if not report.ok:
        raise RuntimeError(f"the package did not verify:\n{report.render()}")
    bulletin = await _publish_decisions(
        GatewaySession(layout, market), decided.value.updated_at, case_id, out_dir, anchors, say
    )

    say("== 9. the auditor's trail for the evidence, and the owner node's integrity sweep")
    auditor = as_user(layout, urban, Role.AUDITOR)
    await _wait_for(auditor, closed.block_number)
    trail = await auditor.access_trail(TrailQuery(by=TrailBy.EVIDENCE, target_id=item.evidence_id))
    lines = [
        f"{r.at} {r.accessor_org} {r.role} {r.kind}"
        + (f" with {r.shared_with}" if r.shared_with else "")
        + f" → {r.outcome} ({r.reason})"
        for r in trail.records
    ]
    for line in lines:
        say(f"   {line}")

    # Its gateway keeps the node's copy of the chain: checked again, and against the peer.
    chain_file = NodePaths.of(layout.state_dir, urban.name).chain
    archive = BlockArchive(chain_file) if chain_file.exists() else None
    try:
        problems = await sweep(
            org=urban.msp_id,
            store=u.store,
            vault=u.vault,
            index=u.index,
            ledger=ClientLedgerView(owner_view),
            archive=archive,
            peer=LedgerQueries(owner_view.contract.gateway, owner_view.contract.channel),
        )
    finally:
        if archive is not None:
            archive.close()
    say(f"   evnet doctor --org UrbanManagement: {len(problems)} problem(s)")
    async with urban_gw.as_user(Role.AUDITOR) as auditor_http:
        resp = await auditor_http.get("/reports/day")
        if resp.status_code != 200:
            raise RuntimeError(f"GET /reports/day: {resp.status_code} {resp.text[:300]}")
    day = resp.json()
    # The index follows the ledger a moment behind: the figures are as of `generated_at`.
    say(
        f"   today's report (日报, GET /reports/day, evnet report): "
        f"{day['flags']['raised']} flag(s) raised, {day['flags']['rejected']} rejected, "
        f"{day['evidence']['items']} evidence item(s), {day['cases']['filed']} case(s) filed, "
        f"{day['access']['records']} access record(s), {day['access']['denied']} denied"
    )
    return Outcome(
        item.evidence_id,
        case_id,
        target,
        lines,
        problems,
        package,
        [f["flag_id"] for f in flags],
        urban_gw.base_url,
        bulletin,
    )


async def _publish_decisions(
    gateway: GatewaySession, decided_at: str, case_id: str, out_dir: Path, anchors: Path, say: Say
) -> Path:
    """The holder's reviewer publishes the department's decisions of the day the case was
    decided (行政执法公示): the signed bulletin and its page, recorded on the ledger as
    published, checked offline as anyone would. The gateway reads the day's decisions from
    the ledger's own index of them, so the decision just committed is among them."""
    on = parse_ledger_time(decided_at).astimezone(dt.timezone(dt.timedelta(hours=8))).date()
    async with gateway.as_user(Role.REVIEWER) as reviewer:
        resp = await reviewer.post("/disclosures/day", params={"on": on.isoformat()})
    if resp.status_code != 200:
        raise RuntimeError(f"POST /disclosures/day: {resp.status_code} {resp.text[:300]}")
    signed = SignedBulletin.parse(resp.content)
    recorded_tx = resp.headers["X-Ledger-Tx"]
    ours = [d for d in signed.bulletin.decisions if d.case_id == case_id]
    if not ours:
        raise RuntimeError(f"the day's bulletin does not list the decision on {case_id}")
    folder = out_dir / "disclosure"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "bulletin.json").write_bytes(resp.content)
    (folder / "index.html").write_text(render_page(signed), encoding="utf-8")
    report = verify_bulletin(resp.content, anchors.read_bytes())
    say(
        f"   published (行政执法公示, POST /disclosures/day): {len(signed.bulletin.decisions)} "
        f"decision(s) of {on}, {case_id} as {ours[0].outcome.value} "
        f"{ours[0].amount_cents / 100:.0f} yuan under {ours[0].legal_basis}; the party only as "
        f"{ours[0].subject_kind.value}; recorded as published in transaction {recorded_tx[:12]}"
    )
    say(
        f"   {folder}/index.html; evnet verify-bulletin --trust {anchors.name}: "
        + ("OK" if report.ok else "FAILED: " + "; ".join(map(str, report.failures)))
    )
    if not report.ok:
        raise RuntimeError(f"the bulletin did not verify:\n{report.render()}")
    # The department's auditor holds it against the ledger: nothing left out or changed.
    async with gateway.as_user(Role.AUDITOR) as auditor:
        resp = await auditor.post(
            "/disclosures/check", content=resp.content, headers={"Content-Type": "application/json"}
        )
    if resp.status_code != 200:
        raise RuntimeError(f"POST /disclosures/check: {resp.status_code} {resp.text[:300]}")
    found = resp.json()
    say(
        f"   the auditor's check against the ledger (POST /disclosures/check): "
        f"{'complete' if found['complete'] else 'INCOMPLETE'}, {found['listed']} listed of "
        f"{found['on_ledger']} decided; published "
        + (
            f"{found['recorded']['recorded_at']}, "
            + ("on time" if found["on_time"] else f"{len(found['late'])} decision(s) late")
            + f" ({found['deadline_working_days']} working days)"
            if found["recorded"]
            else "WITHOUT A LEDGER RECORD"
        )
    )
    if not (found["complete"] and found["on_time"]):
        raise RuntimeError(f"the bulletin departs from the ledger: {found}")
    return folder / "bulletin.json"
