#!/usr/bin/env python3
"""Benchmark: the full edge pipeline against a bare inference loop, and delivery throughput.

1. Pipeline overhead (target: <= 15 %). Decodes --frames sampled frames of Debian's vtest.avi
   (5 fps) into memory once, then alternates --runs times between
   - a bare loop: the SSD-MobileNet-v2 detector on each frame, nothing else, and
   - the full pipeline on the same frames: detector, tracker, zone dwell rules, evidence
     (JPEG keyframes, annotated frame, clip), capture claims signed with a device key, and a
     durable SQLite spool,
   and prints the median frames/s of each and their ratio.
2. Delivery: spools --events signed submissions with realistic evidence (about 1 MB each)
   and delivers them to an HTTP server on 127.0.0.1 that reads every byte and answers 201,
   printing events/s and MB/s (median of --runs).

Reproduce:  .venv/bin/python scripts/bench_detectors.py
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

# scripts/ is on sys.path when a benchmark is run as a file.
from benchreport import record

from detectors.claims import DeviceIdentity, seal
from detectors.config import load_camera_config
from detectors.delivery import Deliverer, RetryPolicy
from detectors.events import Submission
from detectors.evidence import EvidenceFile
from detectors.models import load_detector
from detectors.pipeline import Pipeline
from detectors.sinks import SpoolSink
from detectors.sources import Frame, open_source
from detectors.spool import Spool
from node.crypto.pki import create_ca, issue
from schemas.claims import CaptureClaims, Detection, MediaRef
from schemas.glossary import ViolationType
from schemas.hashes import Digest

ROOT = Path(__file__).resolve().parents[1]
CAMERA = ROOT / "network-config" / "cameras" / "vtest-yard.yaml"
ORG = "UrbanManagementMSP"
NOW = dt.datetime.now(dt.UTC)


def device_identity() -> DeviceIdentity:
    ca = create_ca("ca.bench.evnet", "bench.evnet", NOW - dt.timedelta(days=1))
    pair = issue(ca, "edge-bench", "bench.evnet", NOW - dt.timedelta(days=1),
                 organizational_unit="client", attributes={"role": "device"})  # fmt: skip
    return DeviceIdentity.from_pem(ORG, pair.cert_pem, pair.key_pem)


def bench_pipeline(frame_count: int, runs: int, identity: DeviceIdentity) -> None:
    config = load_camera_config(CAMERA)
    detector = load_detector(config.model)
    with open_source(config.source, config.sample_fps) as source:
        frames: list[Frame] = []
        for frame in source:
            frames.append(frame)
            if len(frames) >= frame_count:
                break
    detector.detect(frames[0].image)  # warm-up: first inference allocates
    bare: list[float] = []
    full: list[float] = []
    events = 0
    for _ in range(runs):
        start = time.perf_counter()
        for frame in frames:
            detector.detect(frame.image)
        bare.append(len(frames) / (time.perf_counter() - start))

        with tempfile.TemporaryDirectory() as tmp, Spool(Path(tmp) / "s.sqlite", 1 << 30) as spool:
            pipeline = Pipeline(config, detector, SpoolSink(spool), identity=identity)
            start = time.perf_counter()
            for frame in frames:
                pipeline.process(frame)
            full.append(len(frames) / (time.perf_counter() - start))
            events = pipeline.stats.events
    b, f = statistics.median(bare), statistics.median(full)
    print(f"pipeline on {len(frames)} frames of vtest.avi (768x576, sampled at 5 fps), "
          f"{runs} runs, {os.cpu_count()} CPUs, {events} events per run")  # fmt: skip
    print(f"  bare inference  {b:6.2f} frames/s   (runs: {', '.join(f'{x:.2f}' for x in bare)})")
    print(f"  full pipeline   {f:6.2f} frames/s   (runs: {', '.join(f'{x:.2f}' for x in full)})")
    print(f"  ratio {f / b:.3f}  overhead {(b / f - 1) * 100:.1f} % (target <= 15 %)")
    record("detectors", "full pipeline", f, "frames/s", baseline=b,
           baseline_name="bare inference (frames/s)", target=">= 0.87 (overhead <= 15 %)",
           work=f"{len(frames)} frames")  # fmt: skip


class _Accept(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        return

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        body = json.dumps({"event_id": self.headers["Idempotency-Key"]}).encode()
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def submission(i: int, identity: DeviceIdentity, files: tuple[EvidenceFile, ...]) -> Submission:
    event_id = f"bench-{i:06d}"
    claims = CaptureClaims(
        event_id=event_id, org=ORG, device_id=identity.device_id, camera_id="vtest-yard",
        captured_at=NOW, zone="pavement_east", rule="no_vending",
        violation_type=ViolationType.ROAMING_VENDOR,
        detections=[Detection(class_name="person", confidence=0.8, bbox=[1, 2, 3, 4])],
        model_sha256=Digest.of(b"model"),
        media=[MediaRef(name=f.name, media_type=f.media_type, sha256=f.digest,
                        size=len(f.data)) for f in files],
    )  # fmt: skip
    return seal(event_id, claims, files, identity)


def bench_delivery(count: int, runs: int, identity: DeviceIdentity) -> None:
    rnd = os.urandom
    files = (
        EvidenceFile("keyframe-start.jpg", "keyframe_start", "image/jpeg", rnd(90_000)),
        EvidenceFile("keyframe-middle.jpg", "keyframe_middle", "image/jpeg", rnd(90_000)),
        EvidenceFile("keyframe-confirm.jpg", "keyframe_confirm", "image/jpeg", rnd(90_000)),
        EvidenceFile("annotated.jpg", "annotated", "image/jpeg", rnd(100_000)),
        EvidenceFile("clip.avi", "clip", "video/x-msvideo", rnd(650_000)),
    )
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Accept)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    rates: list[float] = []
    size = 0
    try:
        for _ in range(runs):
            with (
                tempfile.TemporaryDirectory() as tmp,
                Spool(Path(tmp) / "s.sqlite", 1 << 34) as spool,
            ):
                for i in range(count):
                    sub = submission(i, identity, files)
                    size = sub.size
                    spool.put(sub)
                with httpx.Client(timeout=30) as client:
                    deliverer = Deliverer(spool, client, url, policy=RetryPolicy(base=0.01))
                    start = time.perf_counter()
                    while spool.usage().pending:
                        deliverer.deliver_due(limit=50)
                    rates.append(count / (time.perf_counter() - start))
    finally:
        server.shutdown()
    rate = statistics.median(rates)
    print(f"delivery of {count} spooled events of {size / 1e6:.2f} MB each to a local server, "
          f"{runs} runs, one delivery thread")  # fmt: skip
    print(f"  {rate:.1f} events/s  {rate * size / 1e6:.1f} MB/s   "
          f"(runs: {', '.join(f'{x:.1f}' for x in rates)})")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=398, help="sampled frames (398 = all)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--events", type=int, default=200)
    args = parser.parse_args()
    identity = device_identity()
    bench_pipeline(args.frames, args.runs, identity)
    bench_delivery(args.events, args.runs, identity)


if __name__ == "__main__":
    main()
