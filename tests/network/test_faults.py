"""The fault suite: a steady stream of device events while the parts fail, one after another.

UrbanManagement runs on a "host" of its own (a network namespace the test makes: its peer,
its chaincode server and its gateway process with the node inside), the orderers and the
other departments on this side. A device on this side signs an event every half second,
spools it durably and delivers it with the detectors' own Deliverer; an officer keeps
opening delivered items through the gateway. Meanwhile the test, in turn:

  kill -9 UrbanManagement's peer             then restarts it (evnet network up --org)
  kill -9 the Raft leader orderer           then restarts it
  kill -9 UrbanManagement's chaincode server then restarts it
  kill -9 the gateway (the node's process)  then restarts it (it reconciles on start)
  cuts UrbanManagement off for a minute      (blackhole routes on both sides, then removed)

Afterwards: every event delivered exactly once, every item stored once, indexed once and
registered on the ledger once (one EvidenceRegistered event each), index, store and ledger
agree (the doctor's sweep is clean), and every plaintext the officer got names a VALID
access record on the ledger that matches it. The suite prints what it injected and what it
checked.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import yaml
from fabric_protos.peer import transaction_pb2
from netsupport import (
    Namespace,
    bootstrap_ledger,
    issue_people,
    ledger_as,
    namespace,
    network_settings,
    shifted_consortium,
)

from detectors.claims import DeviceIdentity, seal
from detectors.delivery import Deliverer, RetryPolicy
from detectors.evidence import EvidenceFile
from detectors.spool import Spool
from gateway.auth import TokenStore
from node.cli.network import network_from
from node.consortium.clients import wait_for_discovery
from node.consortium.identities import org_crypto
from node.consortium.launch import chaincode_name, peer_name
from node.consortium.network import Network
from node.department import NodePaths, open_parts
from node.doctor import ClientLedgerView, sweep
from node.fabric.ledger import LedgerQueries
from node.index.schema import EvidenceRow
from node.settings import PROJECT_ROOT
from schemas.claims import CaptureClaims, evidence_id_for
from schemas.hashes import Digest
from schemas.ledger import TrailBy, TrailQuery

pytestmark = pytest.mark.network

URBAN = "UrbanManagement"
HOST_A, HOST_B = "10.214.0.1", "10.214.0.2"
PORT_SHIFT = int(os.environ.get("EVNET_TEST_PORT_SHIFT", "1000")) + 300
GATEWAY_PORT = 9700
EVENT_EVERY = 0.5  # seconds between device events
CUT_OFF = 60.0  # seconds UrbanManagement is unreachable
RETRY = RetryPolicy(base=0.2, factor=2.0, max_delay=3.0)
VALID = 0  # TxValidationCode.VALID


def _consortium(path: Path) -> Path:
    shifted_consortium(path, PORT_SHIFT)
    doc = yaml.safe_load(path.read_text())
    for node in doc["orderers"]["nodes"]:
        node["host"] = HOST_A
    for dep in doc["departments"]:
        host = HOST_B if dep["name"] == URBAN else HOST_A
        dep["peer"]["host"] = host
        dep["chaincode_server"]["host"] = host
    path.write_text(yaml.safe_dump(doc))
    return path


@dataclass
class Journal:
    """What the suite did and saw, printed at the end."""

    lines: list[str] = field(default_factory=list)
    start: float = field(default_factory=time.monotonic)

    def __call__(self, line: str) -> None:
        self.lines.append(f"[{time.monotonic() - self.start:6.1f} s] {line}")
        print(self.lines[-1], flush=True)  # shown with the failure if the suite fails


@dataclass
class Rig:
    ns: Namespace
    net: Network
    env: dict[str, str]
    work: Path
    say: Journal
    gateway: subprocess.Popen[bytes] | None = None

    def evnet_up(self, org: str) -> None:
        inside = ["ip", "netns", "exec", self.ns.name] if org == URBAN else []
        proc = subprocess.run(
            [*inside, sys.executable, "-m", "node.cli", "network", "up", "--org", org],
            env=self.env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300,
            check=False,
        )  # fmt: skip
        assert proc.returncode == 0, f"up --org {org}: {proc.stdout}\n{proc.stderr}"

    def start_gateway(self) -> None:
        layout = self.net.layout
        log = (self.work / "gateway.log").open("ab")
        self.gateway = subprocess.Popen(
            ["ip", "netns", "exec", self.ns.name, sys.executable,
             str(Path(__file__).parent / "gateway_child.py"), str(layout.state_dir),
             self.env["EVNET_CONSORTIUM"], URBAN, HOST_B, str(GATEWAY_PORT), str(self.work)],
            env=self.env, cwd=PROJECT_ROOT, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert self.gateway.poll() is None, (self.work / "gateway.log").read_text()
            time.sleep(0.2)
        raise AssertionError("the gateway did not answer /healthz within 60 s")

    def kill_gateway(self) -> None:
        assert self.gateway is not None
        self.gateway.send_signal(signal.SIGKILL)
        self.gateway.wait(10)

    def cut(self, off: bool) -> None:
        """Drop every packet between the namespace and this side, both ways, silently (a
        blackhole route on each side: no error comes back, as with a cut cable). Each side's
        own addresses stay up, so the department keeps running on its own."""
        verb = "add" if off else "del"
        for inside, target in ((False, HOST_B), (True, HOST_A)):
            prefix = ["ip", "netns", "exec", self.ns.name] if inside else []
            proc = subprocess.run(
                [*prefix, "ip", "route", verb, "blackhole", f"{target}/32"],
                capture_output=True, text=True, check=False,
            )  # fmt: skip
            assert proc.returncode == 0 or not off, proc.stderr

    @property
    def url(self) -> str:
        return f"http://{HOST_B}:{GATEWAY_PORT}"

    def kill9(self, process: str) -> None:
        pid = self.net.supervisor.pid(process)
        assert pid is not None, f"{process} is not running"
        os.kill(pid, signal.SIGKILL)
        self.say(f"INJECT kill -9 {process} (pid {pid})")


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    with namespace("f", HOST_A, HOST_B) as ns:
        settings = network_settings(tmp_path / "state", _consortium(tmp_path / "c.yaml"))
        env = {
            **os.environ,
            "EVNET_STATE_DIR": str(settings.state_dir),
            "EVNET_CONSORTIUM": str(settings.consortium_file),
            "EVNET_FABRIC_BIN": str(settings.fabric_bin),
        }
        net = network_from(settings, verbose=False)
        work = tmp_path / "gateway"
        work.mkdir()
        r = Rig(ns, net, env, work, Journal())
        r.cut(False)  # (nothing to remove yet; proves the command works before we rely on it)
        try:
            # The department inside the namespace completes the chaincode majority.
            for org in ("Orderer", "PublicSecurity", URBAN, "MarketSupervision"):
                r.evnet_up(org)
            issue_people(net.layout)
            deps = list(net.layout.consortium.departments)
            asyncio.run(wait_for_discovery(net.layout, deps, timeout=90))
            asyncio.run(bootstrap_ledger(net.layout))
            yield r
        finally:
            if r.gateway is not None and r.gateway.poll() is None:
                r.kill_gateway()
            r.cut(False)
            net.down()


# --- the device: signed events at a steady rate, spooled, delivered ----------------------


class Device:
    def __init__(self, rig: Rig, token: str) -> None:
        layout = rig.net.layout
        dep = layout.consortium.department(URBAN)
        files = org_crypto(layout.state_dir, layout.consortium, URBAN).user("device1")
        self.identity = DeviceIdentity.from_files(dep.msp_id, files.cert, files.key)
        self.org = dep.msp_id
        self.spool_path = rig.work.parent / "device-spool.sqlite"
        self.url, self.token = rig.url, token
        self.produced: list[str] = []  # event ids
        self.photos: dict[str, bytes] = {}  # evidence id -> plaintext
        self.stop_producing, self.stop_delivering = threading.Event(), threading.Event()
        self.errors: list[BaseException] = []

    def _event(self, n: int) -> tuple[str, CaptureClaims, EvidenceFile]:
        event_id = f"evt-fault-{n:04d}-{os.urandom(3).hex()}"
        photo = b"\xff\xd8\xff\xe0" + hashlib.sha256(event_id.encode()).digest() * 1500
        claims = CaptureClaims.model_validate(
            {
                "event_id": event_id,
                "org": self.org,
                "device_id": "device1",
                "camera_id": "cam-fault-1",
                "captured_at": dt.datetime.now(dt.UTC).isoformat(),
                "zone": "pavement_east",
                "rule": "no_vending",
                "violation_type": "roaming_vendor",
                "detections": [
                    {"class_name": "person", "confidence": 0.9, "bbox": [10, 20, 110, 220]}
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
        return event_id, claims, EvidenceFile("keyframe.jpg", "keyframe", "image/jpeg", photo)

    def produce(self) -> None:
        try:
            with Spool(self.spool_path, 500_000_000) as spool:
                n = 0
                while not self.stop_producing.is_set():
                    event_id, claims, file = self._event(n)
                    assert spool.put(seal(event_id, claims, [file], self.identity))
                    self.produced.append(event_id)
                    self.photos[evidence_id_for(claims, claims.media[0])] = file.data
                    n += 1
                    self.stop_producing.wait(EVENT_EVERY)
        except BaseException as exc:
            self.errors.append(exc)

    def deliver(self) -> None:
        try:
            headers = {"Authorization": f"Bearer {self.token}"}
            with (
                Spool(self.spool_path, 500_000_000) as spool,
                httpx.Client(timeout=15.0, headers=headers) as client,
            ):
                deliverer = Deliverer(spool, client, self.url, policy=RETRY, rng=random.Random(7))
                while not self.stop_delivering.is_set():
                    report = deliverer.deliver_due()
                    if not (report.delivered or report.retried or report.rejected):
                        self.stop_delivering.wait(0.1)
        except BaseException as exc:
            self.errors.append(exc)

    def receipts(self) -> dict[str, tuple[str, dict[str, object] | None]]:
        with sqlite3.connect(self.spool_path) as db:
            rows = db.execute("SELECT event_id, status, receipt FROM events").fetchall()
        return {e: (s, json.loads(r) if r else None) for e, s, r in rows}


# --- the officer: opens delivered items all along -----------------------------------------


@dataclass
class Read:
    evidence_id: str
    status: int
    access_tx: str | None
    body_digest: str | None


class Officer:
    def __init__(self, rig: Rig, device: Device, token: str) -> None:
        self.url, self.device = rig.url, device
        self.headers = {"Authorization": f"Bearer {token}"}
        self.reads: list[Read] = []
        self.stop = threading.Event()
        self.errors: list[BaseException] = []

    def run(self) -> None:
        rng = random.Random(11)
        try:
            with httpx.Client(timeout=15.0, headers=self.headers) as client:
                while not self.stop.wait(2.0):
                    delivered = [
                        item["evidence_id"]
                        for status, receipt in self.device.receipts().values()
                        if status == "delivered" and receipt
                        for item in receipt["items"]  # type: ignore[attr-defined]
                    ]
                    if delivered:
                        self._open(client, rng.choice(delivered))
        except BaseException as exc:
            self.errors.append(exc)

    def _open(self, client: httpx.Client, evidence_id: str) -> None:
        try:
            r = client.get(
                f"{self.url}/evidence/{evidence_id}/content",
                params={"purpose": "case_review", "kind": "view"},
            )
        except httpx.TransportError:
            self.reads.append(Read(evidence_id, 0, None, None))
            return
        body = str(Digest.of(r.content)) if r.status_code == 200 else None
        self.reads.append(Read(evidence_id, r.status_code, r.headers.get("X-Access-Record"), body))


def _threads(*targets: Callable[[], None]) -> list[threading.Thread]:
    threads = [threading.Thread(target=t, daemon=True) for t in targets]
    for t in threads:
        t.start()
    return threads


def _wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout:.0f} s")
        time.sleep(0.5)


def _delivered_since(device: Device, before: int) -> Callable[[], bool]:
    def check() -> bool:
        done = [s for s, _ in device.receipts().values() if s == "delivered"]
        return len(done) >= before + 3

    return check


@pytest.mark.timeout(1500)
def test_every_event_once_and_no_access_without_a_record_while_parts_fail(
    rig: Rig, capsys: pytest.CaptureFixture[str]
) -> None:
    say, layout = rig.say, rig.net.layout
    urban = layout.consortium.department(URBAN)
    tokens = TokenStore(rig.work / "tokens.json", lambda: dt.datetime.now(dt.UTC))
    device_token = tokens.issue_token("device1", dt.timedelta(hours=2))
    officer_token = tokens.issue_token("officer1", dt.timedelta(hours=2))
    rig.start_gateway()
    device = Device(rig, device_token)
    officer = Officer(rig, device, officer_token)
    threads = _threads(device.produce, device.deliver, officer.run)
    say(f"steady stream: one signed event every {EVENT_EVERY} s into {URBAN}'s gateway")

    def delivered() -> int:
        return sum(1 for s, _ in device.receipts().values() if s == "delivered")

    def recovered(after: str) -> None:
        # The system has recovered when events flow again.
        try:
            _wait_until(_delivered_since(device, delivered()), 300, f"delivery after {after}")
        except AssertionError as exc:
            # Say why: a producing, delivering or reading thread that died stops the flow.
            raise AssertionError(
                f"{exc}; {len(device.produced)} produced, {delivered()} delivered; "
                f"device errors {device.errors!r}; officer errors {officer.errors!r}"
            ) from None
        say(f"  recovered: {delivered()} events delivered so far")

    time.sleep(5)
    recovered("start-up")

    rig.kill9(peer_name(urban))
    time.sleep(5)
    rig.evnet_up(URBAN)
    say(f"  restarted {peer_name(urban)}")
    recovered("the peer's restart")

    leader = rig.net.raft_leader()
    assert leader is not None, "no Raft leader found in the orderers' metrics"
    rig.kill9(leader)
    time.sleep(5)
    rig.evnet_up("Orderer")
    say(f"  restarted {leader}; leader now {rig.net.raft_leader()}")
    recovered("the leader's restart")

    rig.kill9(chaincode_name(urban))
    time.sleep(3)
    rig.evnet_up(URBAN)
    say(f"  restarted {chaincode_name(urban)}")
    recovered("the chaincode server's restart")

    assert rig.gateway is not None
    say(f"INJECT kill -9 the gateway and node process (pid {rig.gateway.pid})")
    rig.kill_gateway()
    time.sleep(3)
    rig.start_gateway()
    say("  restarted the gateway (reconciled on start)")
    recovered("the gateway's restart")

    say(f"INJECT cut {URBAN} off for {CUT_OFF:.0f} s (packets both ways dropped)")
    rig.cut(True)
    time.sleep(CUT_OFF)
    rig.cut(False)
    say("  reconnected")
    recovered("the cut-off")

    device.stop_producing.set()
    say(f"stream stopped after {len(device.produced)} events; draining the spool")

    def drained() -> bool:
        return all(s != "pending" for s, _ in device.receipts().values())

    _wait_until(drained, 420, "draining the spool")
    device.stop_delivering.set()
    officer.stop.set()
    for t in threads:
        t.join(30)
    assert not device.errors, device.errors
    assert not officer.errors, officer.errors

    # --- checks --------------------------------------------------------------------------
    receipts = device.receipts()
    assert sorted(receipts) == sorted(device.produced)
    assert {s for s, _ in receipts.values()} == {"delivered"}
    evidence_ids = [
        item["evidence_id"]
        for _, receipt in receipts.values()
        for item in receipt["items"]  # type: ignore[index]
    ]
    assert sorted(evidence_ids) == sorted(device.photos), "receipts and events disagree"
    say(f"CHECK every one of {len(receipts)} events delivered once, each with its own item")

    parts = open_parts(NodePaths.of(layout.state_dir, URBAN))

    async def ledger_checks() -> list[str]:
        owner = ledger_as(layout, URBAN, "auditor")  # its gRPC channel belongs to this loop
        registered: dict[str, int] = {}
        height = (await LedgerQueries(owner.contract.gateway, layout.consortium.channel)
                  .chain_info()).height  # fmt: skip
        events = owner.contract.gateway.chaincode_events(
            layout.consortium.channel, layout.consortium.chaincode.name, start_block=0
        )

        async def collect() -> None:
            async for event in events:
                if event.name == "EvidenceRegistered":
                    eid = json.loads(event.payload)["evidence_id"]
                    registered[eid] = registered.get(eid, 0) + 1
                if event.block_number >= height - 1:
                    return

        await asyncio.wait_for(collect(), timeout=60)
        assert set(registered) == set(evidence_ids), "ledger and receipts disagree"
        assert set(registered.values()) == {1}, {k: v for k, v in registered.items() if v > 1}
        problems = await sweep(
            org=urban.msp_id,
            store=parts.store,
            vault=parts.vault,
            index=parts.index,
            ledger=ClientLedgerView(owner),
        )
        assert problems == [], [str(p) for p in problems]
        # Every plaintext the officer received names a VALID access record for that item.
        queries = LedgerQueries(owner.contract.gateway, layout.consortium.channel)
        served = [r for r in officer.reads if r.status == 200]
        for read in served:
            assert read.access_tx, f"plaintext of {read.evidence_id} without an access record"
            assert read.body_digest == str(Digest.of(device.photos[read.evidence_id]))
            processed = transaction_pb2.ProcessedTransaction.FromString(
                await queries.transaction_by_id(read.access_tx)
            )
            assert processed.validationCode == VALID, read
            trail = await owner.access_trail(
                TrailQuery(by=TrailBy.EVIDENCE, target_id=read.evidence_id)
            )
            assert read.access_tx in {r.record_id for r in trail.records}, read
        return [
            f"CHECK each of {len(registered)} items registered once "
            "(one EvidenceRegistered event each)",
            f"CHECK doctor sweep on {URBAN}: store, vault, index and ledger agree",
            f"CHECK {len(served)} of {len(officer.reads)} reads served plaintext; each names a "
            "VALID access record for that item and matches the camera's bytes (the others, "
            f"by HTTP status, 0 = no answer: {dict(Counter(r.status for r in officer.reads))})",
        ]

    for line in asyncio.run(ledger_checks()):
        say(line)
    with parts.index.session() as session:
        rows = session.query(EvidenceRow).count()
    blob_dir = NodePaths.of(layout.state_dir, URBAN).blobs
    blobs = sum(1 for p in blob_dir.rglob("*") if p.is_file() and ".tmp" not in p.parts)
    assert rows == len(evidence_ids), (rows, len(evidence_ids))
    assert blobs == len(evidence_ids), (blobs, len(evidence_ids))
    say(f"CHECK {rows} index rows and {blobs} stored blobs: each item stored once")
    assert any(r.status == 200 for r in officer.reads), "the officer never got to read"
    with capsys.disabled():
        print("\n== fault suite ==\n" + "\n".join(say.lines))
