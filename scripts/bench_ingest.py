#!/usr/bin/env python3
"""Benchmark: node ingest (verify claims, seal, store, vault, register, index).

* Throughput without the ledger (an in-memory registrar stands in for it): MB/s of one
  item through IngestService, against the raw SHA-256 + AES-256-GCM + write + fsync rate
  measured in the same run (scripts/bench_sealing.py's baseline). Target: ratio >= 0.7.
* Peak memory: the peak RSS (VmHWM) of a fresh process ingesting a 1 GiB item, and the
  same process's RSS before it starts (imports only). Target: peak < 150 MB.
* With --network: items/s of 50 KB photos through IngestService on a fresh local
  consortium, 20 uploads in flight, against RegisterEvidence alone at the same concurrency.

Reproduce:
  .venv/bin/python scripts/bench_ingest.py
  EVNET_FABRIC_BIN=/path/to/fabric/bin .venv/bin/python scripts/bench_ingest.py --network
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from bench_sealing import CHUNK, baseline

# scripts/ is on sys.path when a benchmark is run as a file.
from benchreport import record

from node.crypto.key_wrap import EncryptionPrivateKey, KeyRing
from node.crypto.pki import KeyPair, create_ca, issue
from node.crypto.signing import EcdsaSigner
from node.index import open_index
from node.index.database import sqlite_url
from node.ingest import DeviceVerifier, IngestService
from node.store import FilesystemBlobStore
from node.streams import IterReader
from node.vault import KeyVault
from schemas.claims import CaptureClaims, canonical_bytes
from schemas.hashes import Digest
from schemas.ledger import EvidenceRecord, EvidenceRegistration, ledger_time

ORG = "UrbanManagementMSP"
NOW = dt.datetime.now(dt.UTC)


@dataclass
class _Committed:
    value: EvidenceRecord
    tx_id: str


class MemoryRegistrar:
    async def register_evidence(self, reg: EvidenceRegistration) -> _Committed:
        content = reg.model_dump(mode="json", exclude={"case_id"})
        content["captured_at"] = ledger_time(reg.captured_at)
        record = EvidenceRecord(
            **content,
            registered_by="CN=edge",
            registered_role="device",
            registered_at=ledger_time(NOW),
            registered_tx="0" * 64,
        )
        return _Committed(record, "0" * 64)


def _device() -> tuple[KeyPair, KeyPair]:
    ca = create_ca("ca.urbanmanagement.evnet", "urbanmanagement.evnet", NOW - dt.timedelta(days=1))
    dev = issue(
        ca,
        "edge-07",
        "urbanmanagement.evnet",
        NOW - dt.timedelta(days=1),
        organizational_unit="client",
        attributes={"role": "device"},
    )
    return ca, dev


def _claims(
    event_id: str, digest: Digest, size: int, media_type: str = "video/mp4"
) -> CaptureClaims:
    return CaptureClaims.model_validate_json(
        json.dumps(
            {
                "event_id": event_id,
                "org": ORG,
                "device_id": "edge-07",
                "camera_id": "cam-12",
                "captured_at": NOW.isoformat(),
                "zone": "pavement",
                "rule": "no_vending",
                "violation_type": "road_occupation",
                "model_sha256": str(Digest.of(b"m")),
                "media": [
                    {
                        "name": "clip.mp4",
                        "media_type": media_type,
                        "sha256": str(digest),
                        "size": size,
                    }
                ],
            }
        )
    )


def _service(workdir: Path, ca: KeyPair, ledger: Any) -> IngestService:
    return IngestService(
        verifier=DeviceVerifier(ORG, ca.cert_pem),
        store=FilesystemBlobStore(workdir / "blobs", max_blob_bytes=4 << 30),
        vault=KeyVault(workdir / "keys"),
        keyring=KeyRing(EncryptionPrivateKey.generate()),
        ledger=ledger,
        index=open_index(sqlite_url(workdir / "node.sqlite")),
        max_item_bytes=4 << 30,
    )


BLOCK = os.urandom(CHUNK)


def _frames(total_mb: int) -> Iterator[bytes]:
    # One random block repeated: the claims' hash must describe exactly what is streamed.
    for _ in range(total_mb):
        yield BLOCK


def _stream_digest(total_mb: int) -> Digest:
    h = hashlib.sha256()
    for block in _frames(total_mb):
        h.update(block)
    return Digest("sha256", h.digest())


def ingest_once(total_mb: int, workdir: Path, event_id: str) -> float:
    """Ingest ``total_mb`` MiB as one item; return the seconds it took (claims prepared)."""
    ca, dev = _device()
    size = total_mb * CHUNK
    c = _claims(event_id, _stream_digest(total_mb), size)
    body = canonical_bytes(c)
    sig = EcdsaSigner.from_pem(dev.key_pem).sign(body)
    svc = _service(workdir, ca, MemoryRegistrar())
    start = time.perf_counter()
    asyncio.run(svc.ingest(body, sig, dev.cert_pem, {"clip.mp4": IterReader(_frames(total_mb))}))
    return time.perf_counter() - start


def _rss_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def rss_child(total_mb: int, workdir: Path) -> None:
    before = _rss_mb("VmRSS")
    ingest_once(total_mb, workdir, "rss")
    print(json.dumps({"before": before, "peak": _rss_mb("VmHWM")}))


def throughput(total_mb: int, runs: int, root: Path) -> tuple[float, float]:
    base, ours = [], []
    for i in range(runs):
        with tempfile.TemporaryDirectory(dir=root) as d:
            start = time.perf_counter()
            baseline(total_mb, Path(d))
            base.append(total_mb * CHUNK / 1e6 / (time.perf_counter() - start))
        with tempfile.TemporaryDirectory(dir=root) as d:
            ours.append(total_mb * CHUNK / 1e6 / ingest_once(total_mb, Path(d), f"run-{i}"))
    return statistics.median(base), statistics.median(ours)


def network_items_per_s(items: int, in_flight: int) -> tuple[float, float]:
    from dataclasses import replace

    from node.cli.network import network_from
    from node.consortium.clients import department_contract
    from node.consortium.identities import issue_user, org_crypto
    from node.ledger import LedgerClient
    from node.settings import Settings
    from schemas.glossary import Role

    base = Settings.from_environment()
    with tempfile.TemporaryDirectory(prefix="evnet-bench-ingest-") as tmp:
        net = network_from(replace(base, state_dir=Path(tmp) / "state"), verbose=False)
        net.up()
        try:
            layout = net.layout
            urban = layout.consortium.departments[0]
            # Issued now, not at NOW (import time): a certificate older than the network's
            # CA fails chain validation at the peer.
            files = issue_user(
                layout.state_dir,
                layout.consortium,
                urban.name,
                Role.DEVICE,
                "device1",
                dt.datetime.now(dt.UTC),
            )
            ca_pem = org_crypto(
                layout.state_dir, layout.consortium, urban.name
            ).ca_cert.read_bytes()
            signer = EcdsaSigner.from_pem(files.key.read_bytes())
            photo = os.urandom(50_000)

            async def run() -> tuple[float, float]:
                ledger = LedgerClient(department_contract(layout, urban, user="device1"))
                svc = IngestService(
                    verifier=DeviceVerifier(urban.msp_id, ca_pem),
                    store=FilesystemBlobStore(Path(tmp) / "blobs", max_blob_bytes=1 << 30),
                    vault=KeyVault(Path(tmp) / "keys"),
                    keyring=KeyRing(EncryptionPrivateKey.generate()),
                    ledger=ledger,
                    index=open_index(sqlite_url(Path(tmp) / "node.sqlite")),
                    max_item_bytes=1 << 30,
                )
                sem = asyncio.Semaphore(in_flight)

                async def upload(i: int) -> None:
                    c = _claims(f"evt-{i}", Digest.of(photo), len(photo), "image/jpeg")
                    body = canonical_bytes(c)
                    async with sem:
                        await svc.ingest(
                            body,
                            signer.sign(body),
                            files.cert.read_bytes(),
                            {"clip.mp4": IterReader(iter([photo]))},
                        )

                async def register(i: int) -> None:
                    async with sem:
                        await ledger.contract.submit(
                            "RegisterEvidence", _raw_registration(i, urban.msp_id)
                        )

                await upload(-1)  # warm-up
                start = time.perf_counter()
                await asyncio.gather(*(upload(i) for i in range(items)))
                ingest_rate = items / (time.perf_counter() - start)
                start = time.perf_counter()
                await asyncio.gather(*(register(i) for i in range(items)))
                return ingest_rate, items / (time.perf_counter() - start)

            return asyncio.run(run())
        finally:
            net.down()


def _raw_registration(i: int, org: str) -> str:
    return json.dumps(
        {
            "evidence_id": f"RAW-{i}",
            "plaintext_hash": str(Digest.of(b"p%d" % i)),
            "ciphertext_hash": str(Digest.of(b"c%d" % i)),
            "size": 50_000,
            "media_type": "image/jpeg",
            "captured_at": NOW.isoformat(),
            "device_id": "device1",
            "camera_id": "cam-12",
            "violation_type": "road_occupation",
            "owner_org": org,
            "locator": "blob:x",
            "claims_hash": str(Digest.of(b"x")),
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=256, help="MiB per throughput run")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()))
    parser.add_argument("--network", action="store_true")
    parser.add_argument(
        "--network-only", action="store_true", help="only the --network figure (implies it)"
    )
    parser.add_argument("--items", type=int, default=200)
    parser.add_argument("--rss-child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rss_child:
        with tempfile.TemporaryDirectory(dir=args.dir) as d:
            rss_child(args.rss_child, Path(d))
        return
    if not args.network_only:
        local_figures(args)
    if args.network or args.network_only:
        ingest_rate, register_rate = network_items_per_s(args.items, 20)
        print(
            f"with the ledger, 50 KB photos, 20 in flight: {ingest_rate:.1f} items/s; "
            f"RegisterEvidence alone {register_rate:.1f} tx/s; "
            f"ratio {ingest_rate / register_rate:.2f}"
        )
        record("ingest", "ingest with the ledger (50 KB photos)", ingest_rate, "items/s",
               baseline=register_rate, baseline_name="RegisterEvidence alone (tx/s)",
               work=f"{args.items} items")  # fmt: skip


def local_figures(args: argparse.Namespace) -> None:
    print(f"machine: {os.cpu_count()} cores; {args.runs} runs of {args.mb} MiB, medians")
    base, ours = throughput(args.mb, args.runs, args.dir)
    print(f"baseline (sha256 + AES-GCM + write + fsync): {base:8.1f} MB/s")
    print(
        f"ingest without the ledger                 : {ours:8.1f} MB/s  "
        f"ratio {ours / base:.2f} (target >= 0.7)"
    )
    record("ingest", "ingest throughput (no ledger)", ours, "MB/s", baseline=base,
           baseline_name="sha256 + AES-GCM + write + fsync", target=">= 0.7",
           work=f"{args.mb} MiB")  # fmt: skip
    child = subprocess.run(
        [sys.executable, __file__, "--rss-child", "1024", "--dir", str(args.dir)],
        capture_output=True,
        text=True,
        check=True,
    )
    rss = json.loads(child.stdout)
    print(
        f"1 GiB item: RSS {rss['before']:.0f} MB after imports, "
        f"peak {rss['peak']:.0f} MB (target < 150 MB)"
    )
    record("ingest", "peak RSS ingesting a 1 GiB item", rss["peak"], "MB",
           baseline=rss["before"], baseline_name="RSS after imports", better="lower",
           target="< 150 MB")  # fmt: skip


if __name__ == "__main__":
    main()
