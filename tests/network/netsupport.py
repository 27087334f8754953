"""Helpers for scenario tests on a real Fabric network (imported by conftest and tests)."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from fabric_protos.common import ledger_pb2

from gateway.app import create_app
from gateway.remote import RemoteEvidence
from gateway.wiring import department_gateway
from node.consortium import toolchain
from node.consortium.clients import department_contract
from node.consortium.identities import ADMIN_USER, IdentityFiles, issue_user, org_crypto
from node.consortium.launch import Layout
from node.crypto.signing import EcdsaSigner
from node.department import NodeParts, NodePaths, open_parts
from node.fabric import Contract, EndorseError, EvaluateError, SubmitResult
from node.ledger import LedgerClient
from node.ledger.bootstrap import bootstrap, load_schedule
from node.settings import PROJECT_ROOT, Settings
from schemas.claims import (
    CaptureClaims,
    DeviceClaims,
    MediaRef,
    RectificationClaims,
    canonical_bytes,
)
from schemas.glossary import Role, ViolationType
from schemas.hashes import Digest


def gateway_client(
    layout: Layout,
    department: str,
    work_dir: Path,
    users: list[str],
    *,
    remote: RemoteEvidence | None = None,
    parts: NodeParts | None = None,
) -> tuple[httpx.AsyncClient, dict[str, dict[str, str]]]:
    """``department``'s gateway on the real network, over its node's own state (``parts``,
    default: opened here), served in-process to the returned client (close it); with a
    bearer token header for each of ``users`` (valid an hour). Its device ``device1``
    registers what is ingested."""
    deps = department_gateway(
        layout,
        department,
        parts or open_parts(NodePaths.of(layout.state_dir, department)),
        registrar_user="device1",
        work_dir=work_dir,
        remote=remote,
    )
    hour = dt.timedelta(hours=1)
    tokens = {u: {"Authorization": f"Bearer {deps.tokens.issue_token(u, hour)}"} for u in users}
    transport = httpx.ASGITransport(app=create_app(deps))
    client = httpx.AsyncClient(transport=transport, base_url="http://gateway", timeout=120)
    return client, tokens


def shifted_consortium(path: Path, shift: int) -> Path:
    """Write the default consortium with every port moved by ``shift``; return its path."""
    doc = yaml.safe_load((PROJECT_ROOT / "network-config" / "consortium.yaml").read_text())

    def move(node: dict[str, object]) -> None:
        for key, value in node.items():
            if key.endswith("port") and isinstance(value, int):
                node[key] = value + shift

    # A shorter batch timeout keeps sequential scenarios (1,000 transactions) quick.
    doc["orderers"]["batch_timeout_ms"] = 100
    for node in doc["orderers"]["nodes"]:
        move(node)
    for dep in doc["departments"]:
        move(dep["peer"])
        move(dep["chaincode_server"])
    path.write_text(yaml.safe_dump(doc))
    return path


def network_settings(state_dir: Path, consortium_file: Path) -> Settings:
    base = Settings.from_environment()
    if not toolchain.is_installed(base.fabric_bin) and "EVNET_FABRIC_BIN" not in os.environ:
        pytest.fail(
            f"the Fabric toolchain is not installed in {base.fabric_bin}: run scripts/install "
            "(builds Fabric v3.1.5 with Go), or point EVNET_FABRIC_BIN at its binaries"
        )
    return replace(base, state_dir=state_dir, consortium_file=consortium_file)


async def read_eventually(contract: Contract, key: str, timeout: float = 20) -> dict[str, str]:
    """Read ``key`` from another org's peer, which receives the block a moment later than
    the peer whose commit status the submitter waited for."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            doc = json.loads(await contract.evaluate("Get", key))
            assert isinstance(doc, dict)
            return doc
        except EvaluateError as exc:
            if exc.chaincode_code != "NOT_FOUND" or asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.2)


async def submit_when_discovered(
    contract: Contract, *args: str, endorsing_orgs: list[str], timeout: float = 60
) -> SubmitResult:
    """Submit once the gateway has discovered the named orgs' peers.

    Gossip tells a gateway about other departments' peers a few seconds after they join;
    until then endorsement fails with UNAVAILABLE before anything is sent for ordering, so
    trying again with a fresh proposal is safe. Any other failure is raised at once.
    """
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            return await contract.submit(*args, endorsing_orgs=endorsing_orgs)
        except EndorseError as exc:
            if exc.grpc_code != grpc.StatusCode.UNAVAILABLE:
                raise
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.5)


# --- people and the evidence chaincode --------------------------------------------------

ROLES = (Role.OFFICER, Role.REVIEWER, Role.DEVICE, Role.PARTNER, Role.AUDITOR)


def issue_people(layout: Layout) -> None:
    """One identity per role in every department (``officer1``, ``reviewer1``, ...)."""
    now = dt.datetime.now(dt.UTC)
    for dep in layout.consortium.departments:
        crypto = org_crypto(layout.state_dir, layout.consortium, dep.name)
        for role in ROLES:
            if not crypto.user(f"{role}1").cert.exists():
                issue_user(layout.state_dir, layout.consortium, dep.name, role, f"{role}1", now)


def ledger_as(
    layout: Layout, org: str, role: str = "admin", *, via: str | None = None
) -> LedgerClient:
    """The chaincode as ``org``'s ``role`` identity, through ``via``'s gateway (default: own)."""
    consortium = layout.consortium
    user = ADMIN_USER if role == "admin" else f"{role}1"
    contract = department_contract(
        layout, consortium.department(via or org), identity_of=consortium.department(org), user=user
    )
    return LedgerClient(contract)


async def caught_up(client: LedgerClient, block_number: int, timeout: float = 20) -> None:
    """Wait until the client's gateway peer has committed ``block_number``: a peer receives
    a block a moment after the one whose commit status the submitter waited for."""
    qscc = client.contract.gateway.contract(client.contract.channel, "qscc")
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        raw = await qscc.evaluate("GetChainInfo", client.contract.channel)
        if ledger_pb2.BlockchainInfo.FromString(raw).height > block_number:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"peer did not reach block {block_number} in {timeout} s")
        await asyncio.sleep(0.05)


async def bootstrap_ledger(layout: Layout) -> None:
    """Org keys (fresh X25519 keys) and the consortium's first penalty schedule."""
    keys = {
        dep.name: X25519PrivateKey.generate()
        .public_key()
        .public_bytes(Encoding.Raw, PublicFormat.Raw)
        for dep in layout.consortium.departments
    }
    schedule = load_schedule(PROJECT_ROOT / "network-config" / "penalty-schedule.yaml")
    await bootstrap(layout, keys, schedule)


# --- a second "host": a network namespace joined to this one by a veth pair --------------


def sh(*argv: str) -> None:
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        pytest.fail(f"{' '.join(argv)}: {proc.stderr.strip()} (network namespaces need root)")


@dataclass(frozen=True)
class Namespace:
    name: str  # run a command inside with: ip netns exec NAME ...
    host_if: str  # this side of the veth pair: set it down to cut the namespace off
    host_ip: str
    inner_ip: str


@contextmanager
def namespace(tag: str, host_ip: str, inner_ip: str) -> Iterator[Namespace]:
    """A namespace reachable at ``inner_ip`` from here (and us at ``host_ip`` from there),
    removed on exit; ``tag`` keeps two tests' interfaces apart."""
    pid = os.getpid()
    ns = Namespace(f"evnet{tag}{pid}", f"evh{tag}{pid}", host_ip, inner_ip)
    inner_if = f"evn{tag}{pid}"
    sh("ip", "netns", "add", ns.name)
    try:
        sh("ip", "link", "add", ns.host_if, "type", "veth", "peer", "name", inner_if)
        sh("ip", "link", "set", inner_if, "netns", ns.name)
        sh("ip", "addr", "add", f"{host_ip}/30", "dev", ns.host_if)
        sh("ip", "link", "set", ns.host_if, "up")
        sh("ip", "netns", "exec", ns.name, "ip", "addr", "add", f"{inner_ip}/30", "dev", inner_if)
        sh("ip", "netns", "exec", ns.name, "ip", "link", "set", inner_if, "up")
        sh("ip", "netns", "exec", ns.name, "ip", "link", "set", "lo", "up")
        yield ns
    finally:
        subprocess.run(["ip", "link", "del", ns.host_if], capture_output=True, check=False)
        subprocess.run(["ip", "netns", "del", ns.name], capture_output=True, check=False)


# --- device submissions -------------------------------------------------------------------

Upload = list[tuple[str, tuple[str | None, bytes]]]


def case_filing(case_id: str, evidence_ids: list[str]) -> dict[str, Any]:
    """The body of ``POST /cases`` for a camera case on a person, over ``evidence_ids``."""
    return {
        "case_id": case_id,
        "violation_type": "road_occupation",
        "subject_key": hashlib.sha256(case_id.encode()).hexdigest(),
        "subject_kind": "person",
        "source": "camera",
        "evidence_ids": evidence_ids,
    }


def signed_upload(device: IdentityFiles, org: str, photo: bytes, **claims: Any) -> Upload:
    """The multipart parts of a device submission of one keyframe, its claims signed with
    ``device``'s key as the detectors sign them; ``claims`` override the defaults."""
    doc: dict[str, Any] = {
        "event_id": f"evt-{uuid.uuid4().hex[:12]}",
        "org": org,
        "device_id": "device1",
        "camera_id": "cam-jiangbei-12",
        "captured_at": dt.datetime.now(dt.UTC).isoformat(),
        "zone": "shopfront_3",
        "rule": "no_goods_outside",
        "violation_type": "road_occupation",
        "detections": [{"class_name": "person", "confidence": 0.9, "bbox": [10, 20, 110, 220]}],
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
    doc.update(claims)
    return signed_parts(device, CaptureClaims.model_validate_json(json.dumps(doc)), photo)


def signed_parts(device: IdentityFiles, claims: DeviceClaims, photo: bytes) -> Upload:
    """``claims`` (naming ``photo`` as ``keyframe.jpg``) signed with ``device``'s key."""
    body = canonical_bytes(claims)
    return [
        ("claims", (None, body)),
        ("signature", (None, EcdsaSigner.from_pem(device.key.read_bytes()).sign(body))),
        ("certificate", (None, device.cert.read_bytes())),
        ("files", ("keyframe.jpg", photo)),
    ]


def rectification_upload(device: IdentityFiles, org: str, flag_id: str, photo: bytes) -> Upload:
    """The device's signed report that the zone of ``flag_id`` stayed clear."""
    now = dt.datetime.now(dt.UTC)
    report = RectificationClaims(
        event_id=f"rect-{uuid.uuid4().hex[:12]}",
        flag_id=flag_id,
        org=org,
        device_id="device1",
        camera_id="cam-jiangbei-12",
        captured_at=now,
        zone="shopfront_3",
        rule="no_goods_outside",
        violation_type=ViolationType.ROAD_OCCUPATION,
        classes=["person"],
        status="rectified",
        watch_started_at=now - dt.timedelta(minutes=3),
        clear_since=now - dt.timedelta(minutes=2),
        clear_seconds=120,
        model_sha256=Digest.of(b"ssd_mobilenet_v2_coco"),
        media=[
            MediaRef(
                name="keyframe.jpg",
                media_type="image/jpeg",
                sha256=Digest.of(photo),
                size=len(photo),
            )
        ],
    )
    return signed_parts(device, report, photo)


def capture_upload(
    photo: bytes, case_id: str | None = None, **changes: Any
) -> list[tuple[str, object]]:
    """An officer's handheld capture of ``photo`` for ``case_id``, as the handheld sends it;
    ``changes`` override its fields."""
    capture: dict[str, Any] = {
        "event_id": f"hh-pkg-{uuid.uuid4().hex[:10]}",
        "camera_id": "bodycam-0042",
        "captured_at": "2026-11-22T10:15:00+08:00",
        "violation_type": "road_occupation",
        "note": "stall on the pavement outside no. 12, owner present",
        "case_id": case_id,
        "media": [
            {
                "name": "onsite.jpg",
                "media_type": "image/jpeg",
                "sha256": f"sha256:{hashlib.sha256(photo).hexdigest()}",
                "size": len(photo),
            }
        ],
    }
    capture.update(changes)
    return [
        ("capture", (None, json.dumps(capture).encode())),
        ("files", ("onsite.jpg", photo, "image/jpeg")),
    ]
