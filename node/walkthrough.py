"""The demo's story on a running consortium, with the real parts: a street camera's flag is
ingested by UrbanManagement's node, becomes a case, moves to MarketSupervision, and
PublicSecurity is refused, then granted, and fetches the photo from the owner's node.

``evnet demo`` runs it after bringing the network up; a network test runs it too, so the
main job cannot silently rot.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import io
import json
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
from fabric_protos.common import ledger_pb2

from node.consortium.clients import department_contract
from node.consortium.config import Department
from node.consortium.identities import ADMIN_USER, issue_user, org_crypto
from node.consortium.launch import Layout
from node.crypto.signing import EcdsaSigner
from node.department import NodeParts, NodePaths, open_parts
from node.doctor import ClientLedgerView, Problem, sweep
from node.exchange import ExchangeServer, ReleaseRefused, fetch
from node.exchange.ledger_items import LedgerOwnerItems
from node.fabric import open_channel
from node.ingest import DeviceVerifier, IngestService
from node.ledger import LedgerClient
from node.ledger.bootstrap import bootstrap, load_schedule
from node.settings import PROJECT_ROOT
from schemas.claims import CaptureClaims, canonical_bytes
from schemas.glossary import AccessKind, Role, Stage, ViolationType
from schemas.hashes import Digest
from schemas.ledger import (
    AccessRequest,
    CaseFiling,
    CaseSource,
    ExecutionResult,
    GrantRequest,
    StageDetails,
    StatementRight,
    SubjectKind,
    TargetKind,
    TrailBy,
    TrailQuery,
    TransferAnswer,
    TransferProposal,
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


def _node_tls(layout: Layout, dep: Department) -> tuple[bytes, bytes, bytes]:
    crypto = org_crypto(layout.state_dir, layout.consortium, dep.name)
    files = crypto.ensure_identity(
        crypto.node("exchange"),
        f"exchange.{crypto.domain}",
        "peer",
        dt.datetime.now(dt.UTC),
        hosts=("127.0.0.1",),
    )
    return files.tls_cert.read_bytes(), files.tls_key.read_bytes(), crypto.tlsca_cert.read_bytes()


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

    say("== 3. a street camera flags a roaming vendor; UrbanManagement's node ingests it")
    device = as_user(layout, urban, Role.DEVICE)
    device_files = org_crypto(layout.state_dir, layout.consortium, urban.name).user("demo-device")
    photo = street_photo()
    event_id = f"evt-{dt.datetime.now(dt.UTC):%Y%m%d%H%M%S}-{uuid.uuid4().hex[:6]}"
    claims = CaptureClaims.model_validate_json(
        json.dumps(
            {
                "event_id": event_id,
                "org": urban.msp_id,
                "device_id": "demo-device",
                "camera_id": "cam-jiangbei-12",
                "captured_at": dt.datetime.now(dt.UTC).isoformat(),
                "zone": "pavement_east",
                "rule": "no_vending",
                "violation_type": "roaming_vendor",
                "place": {"lat": 29.8886, "lon": 121.5561},
                "detections": [
                    {"class_name": "person", "confidence": 0.87, "bbox": [310, 120, 352, 240]}
                ],
                "model_sha256": str(Digest.of(b"ssd_mobilenet_v2_coco")),
                "media": [
                    {
                        "name": "keyframe.jpg",
                        "media_type": "image/jpeg",
                        "sha256": str(Digest.of(photo)),
                        "size": len(photo),
                    }
                ],
            }
        )
    )
    body = canonical_bytes(claims)
    signature = EcdsaSigner.from_pem(device_files.key.read_bytes()).sign(body)
    u = nodes[urban.name]
    ingest = IngestService(
        verifier=DeviceVerifier(
            urban.msp_id,
            org_crypto(layout.state_dir, layout.consortium, urban.name).ca_cert.read_bytes(),
        ),
        store=u.store,
        vault=u.vault,
        keyring=u.keyring,
        ledger=device,
        index=u.index,
        max_item_bytes=64 << 20,
    )
    await ingest.reconcile()
    (item,) = await ingest.ingest(
        body, signature, device_files.cert.read_bytes(), {"keyframe.jpg": io.BytesIO(photo)}
    )
    say(
        f"   {len(photo):,} bytes sealed (AES-256-GCM), registered as {item.evidence_id}, "
        f"tx {item.ledger_tx[:12]}…"
    )

    say("== 4. an officer files a case; the reviewer approves it (立案审批)")
    officer, reviewer = as_user(layout, urban, Role.OFFICER), as_user(layout, urban, Role.REVIEWER)
    case_id = f"CASE-{uuid.uuid4().hex[:8]}"
    subject = hashlib.sha256(f"demo-merchant-{event_id}".encode()).hexdigest()
    await officer.file_case(
        CaseFiling(
            case_id=case_id,
            violation_type=ViolationType.ROAMING_VENDOR,
            subject_key=subject,
            subject_kind=SubjectKind.PERSON,
            source=CaseSource.CAMERA,
            evidence_ids=[item.evidence_id],
        )
    )
    await officer.change_stage(case_id, Stage.PRELIMINARY_CHECK)
    await officer.change_stage(
        case_id, Stage.FILING_APPROVAL, StageDetails(document_hash=Digest.of(b"filing form"))
    )
    await reviewer.change_stage(
        case_id, Stage.INVESTIGATION, StageDetails(document_hash=Digest.of(b"approval"))
    )
    say(f"   {case_id}: source → preliminary_check → filing_approval → investigation")

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

    say("== 6. PublicSecurity asks for the photo: refused and recorded; granted; fetched")
    partner = as_user(layout, police, Role.PARTNER)
    await _wait_for(partner, accepted.block_number)
    ask = AccessRequest(
        target=TargetKind.EVIDENCE,
        target_id=item.evidence_id,
        purpose="joint_enforcement",
        kind=AccessKind.DOWNLOAD,
    )
    denied = await partner.request_access(ask)
    say(f"   request 1: {denied.value.outcome} ({denied.value.reason}), tx {denied.tx_id[:12]}…")
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
    granted = await partner.request_access(ask)
    say(f"   MarketSupervision (holder) granted the case; request 2: {granted.value.outcome}")
    cert, key, _ = _node_tls(layout, urban)
    cas = {d.msp_id: _node_tls(layout, d)[2] for d in (urban, police, market)}
    owner_view = as_user(layout, urban, Role.OFFICER)
    await _wait_for(owner_view, granted.block_number)
    server = ExchangeServer(
        LedgerOwnerItems(owner_view, u.vault, urban.msp_id), u.store, u.keyring, cas
    )
    port = await server.start("127.0.0.1:0", cert, key)
    p_cert, p_key, _ = _node_tls(layout, police)
    out_dir = workdir or Path(tempfile.mkdtemp(prefix="evnet-demo-"))
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{item.evidence_id}.jpg"
    record = await partner.evidence(item.evidence_id)
    channel = open_channel(
        f"127.0.0.1:{port}", cas[urban.msp_id], client_cert_pem=p_cert, client_key_pem=p_key
    )
    try:
        try:
            await fetch(
                channel,
                evidence_id=item.evidence_id,
                access_tx=denied.tx_id,
                keyring=nodes[police.name].keyring,
                ledger_plaintext=Digest.parse(record.plaintext_hash),
                ledger_ciphertext=Digest.parse(record.ciphertext_hash),
                destination=target,
            )
        except ReleaseRefused as refused:
            say(f"   owner node, shown the denied record: refused ({refused.code})")
        await fetch(
            channel,
            evidence_id=item.evidence_id,
            access_tx=granted.tx_id,
            keyring=nodes[police.name].keyring,
            ledger_plaintext=Digest.parse(record.plaintext_hash),
            ledger_ciphertext=Digest.parse(record.ciphertext_hash),
            destination=target,
        )
    finally:
        await channel.close(None)
        await server.stop()
    say(
        f"   owner node, shown the granted record: released; plaintext matches the ledger"
        f" → {target}"
    )

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
    decided = await m_reviewer.change_stage(
        case_id,
        Stage.DECISION,
        StageDetails(document_hash=Digest.of(b"decision"), party_waived=True),
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

    say("== 8. the auditor's trail for the photo, and the owner node's integrity sweep")
    auditor = as_user(layout, urban, Role.AUDITOR)
    await _wait_for(auditor, closed.block_number)
    trail = await auditor.access_trail(TrailQuery(by=TrailBy.EVIDENCE, target_id=item.evidence_id))
    lines = [
        f"{r.at} {r.accessor_org} {r.role} {r.kind} → {r.outcome} ({r.reason})"
        for r in trail.records
    ]
    for line in lines:
        say(f"   {line}")

    problems = await sweep(
        org=urban.msp_id,
        store=u.store,
        vault=u.vault,
        index=u.index,
        ledger=ClientLedgerView(owner_view),
    )
    say(f"   evnet doctor --org UrbanManagement: {len(problems)} problem(s)")
    return Outcome(item.evidence_id, case_id, target, lines, problems)
