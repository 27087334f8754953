#!/usr/bin/env python3
"""Benchmark: build and verify a case's evidence package, each as a ratio to reading and
hashing the same plaintext files in the same run; peak RSS of the process.

A fresh local consortium (ports shifted by --port-shift) in a temporary state directory;
UrbanManagement's node ingests --items device-signed files totalling --mb MB; an officer
files a case on them (AttachEvidence past the first 100) and exports it. Targets (issue 7):
build <= 1.5x, verify <= 1.2x of the baseline. A second baseline, copying the same bytes
into one new file beside the package, written as the build writes its archive
(node.package.archive_file), is the floor of any build on this disk.

Each package is built as the gateway builds it by default (``--destination stream``:
``stream_package`` in a worker thread on its own event loop, its ledger calls on the main
loop, every byte sent through a loopback socket to a reader thread that discards it, as
the response sends it to its client); ``--destination spool`` as the gateway built it
until 2026-12-08 (into a spool file through the page cache, then read back once, as that
response did: "build + read back"); ``--destination kept`` as ``evnet package --out`` does
(around the page cache, synced before it appears); ``--destination both`` builds each run
the stream's way and the kept file's, alternating which goes first. A streamed package
is not kept: each run's package to verify is then built once more, untimed, as a file.

The baseline reads files in the page cache. So each package is verified twice: first from
the disk (evicted first), against the plaintext also read from the disk, then from the
page cache, against the baseline (the headline ratio, as a recipient verifies a package
just downloaded).

As the department's gateway runs it, the node keeps its own copy of the channel's blocks
(node.chain, followed in the same process) and the build reads its proofs from there;
``--archive off`` reads every block from the peer instead, and ``--archive both`` builds
each run both ways, alternating which goes first, and prints both medians.

Reproduce (``--phases`` also prints when each step of every build started and ended;
``--memory cold`` idles 5 s before each timed step, see scripts/bench_archive_write.py):
  EVNET_FABRIC_BIN=/path/to/fabric/bin .venv/bin/python scripts/bench_package.py \
      --items 200 --mb 1000 --port-shift 4200 [--memory cold] [--archive both] \
      [--destination both]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import functools
import hashlib
import os
import resource
import socket
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

# scripts/ is on sys.path when a benchmark is run as a file.
from benchfiles import (
    MEMORY_HELP,
    MEMORY_STATES,
    copy_files,
    evict_files,
    hash_files,
    prepare_memory,
)
from benchreport import record

from gateway.routes.packages import start_stream
from gateway.wiring import chain_follower
from node.chain import BlockArchive, follow_chain
from node.cli.network import network_from
from node.consortium.clients import user_identity
from node.consortium.identities import org_crypto
from node.consortium.launch import Layout
from node.crypto.signing import EcdsaSigner
from node.department import NodePaths, open_parts
from node.fabric.ledger import LedgerQueries
from node.ingest import DeviceVerifier, IngestService
from node.ledger import LedgerClient
from node.package import (
    ClaimsArchive,
    Destination,
    Exporter,
    build_package,
    evidence_files,
    verify_package,
)
from node.package import builder as package_builder
from node.package.verifier import HASH_WORKERS
from node.settings import PROJECT_ROOT
from schemas.claims import CaptureClaims, canonical_bytes
from schemas.glossary import ViolationType
from schemas.hashes import Digest
from schemas.ledger import MAX_CASE_EVIDENCE, CaseFiling, CaseSource, SubjectKind

sys.path.insert(0, str(PROJECT_ROOT / "tests" / "network"))
from netsupport import (
    bootstrap_ledger,
    issue_people,
    ledger_as,
    network_settings,
    shifted_consortium,
)

URBAN = "UrbanManagement"
CHUNK = 1 << 20


class Phases:
    """``--phases``: when each step of a build started and ended (seconds from its start),
    by wrapping the builder's steps; printed after each build."""

    STEPS = ("_record_export", "_trails_and_blocks", "_blocks_of", "_fetch_foreign")

    def __init__(self) -> None:
        self.t0 = 0.0
        self.spans: list[tuple[str, float, float]] = []
        for name in self.STEPS:
            setattr(package_builder, name, self._timed(name, getattr(package_builder, name)))
        write_own = evidence_files.write_own_evidence

        def timed_write_own(*args: Any) -> None:
            start = time.perf_counter()
            try:
                write_own(*args)
            finally:
                self._span("decrypt + write (own items)", start)

        evidence_files.write_own_evidence = timed_write_own
        request = LedgerClient.request_package_access

        async def timed_request(
            client: LedgerClient, batch: Any, on_endorsed: Callable[[], object] | None = None
        ) -> Any:
            start = time.perf_counter()

            def endorsed() -> None:
                self._span("export batch endorsed", start)
                if on_endorsed is not None:
                    on_endorsed()

            try:
                return await request(client, batch, on_endorsed=endorsed)
            finally:
                self._span("export batch committed", start)

        LedgerClient.request_package_access = timed_request  # type: ignore[method-assign]

    def _span(self, name: str, start: float) -> None:
        self.spans.append((name, start - self.t0, time.perf_counter() - self.t0))

    def _timed(self, name: str, step: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(step)
        async def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return await step(*args, **kwargs)
            finally:
                self._span(name, start)

        return timed

    def start(self) -> None:
        self.t0 = time.perf_counter()
        self.spans.clear()

    def print(self, total: float) -> None:
        print("  build phases (s from the start):")
        for name, start, end in sorted(self.spans, key=lambda s: s[1]):
            print(f"    {name:30s} {start:6.2f} -> {end:6.2f}")
        print(f"    {'published':30s} {total:6.2f}")


class CpuSeconds:
    """``--cpu``: CPU seconds each kind of process on the machine spent during a build (user
    plus system, from /proc), so the ledger's share of two cores is seen beside the
    build's own."""

    def __init__(self, chaincode_orgs: dict[str, str]) -> None:
        self.before: dict[int, tuple[str, float]] = {}
        self.chaincode_orgs = chaincode_orgs  # chaincode server address -> its MSP id

    def _org(self, task: Path) -> str:
        """The MSP a consortium process serves, from its environment ("" if none)."""
        try:
            env = dict(
                v.split(b"=", 1) for v in (task / "environ").read_bytes().split(b"\0") if b"=" in v
            )
        except OSError:
            return ""
        for key in (b"CORE_PEER_LOCALMSPID", b"ORDERER_GENERAL_LOCALMSPID"):
            if key in env:
                return env[key].decode()
        address = env.get(b"CHAINCODE_SERVER_ADDRESS", b"").decode()
        return self.chaincode_orgs.get(address, "")

    def _snapshot(self) -> dict[int, tuple[str, float]]:
        tick = os.sysconf("SC_CLK_TCK")
        threads = {t.native_id: t.name for t in threading.enumerate()}
        seen: dict[int, tuple[str, float]] = {}
        tasks = [p for p in Path("/proc").iterdir() if p.name.isdigit()]
        # This process by thread (the decrypting thread apart from the event loop's).
        tasks += list(Path(f"/proc/{os.getpid()}/task").iterdir())
        for task in tasks:
            try:
                stat = (task / "stat").read_text()
                cmdline = (task / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            # comm (a kernel worker's names its current work) is only a label: keyed by id.
            fields = stat[stat.rindex(")") + 2 :].split()
            name = stat[stat.index("(") + 1 : stat.rindex(")")]
            key = int(task.name)
            if task.parent.name == "task":
                name = f"build thread {threads.get(key, name)}"
                key = -key
            elif key == os.getpid():
                name = "build process, all threads"
            elif name.startswith("python") and len(cmdline) > 2:
                name = "python " + " ".join(a.decode(errors="replace") for a in cmdline[1:3])
            if name in ("peer", "orderer", "python -m chaincode"):
                name = f"{name} {self._org(task)}"
            elif name.startswith("kworker"):
                name = "kernel workers"
            seen[key] = (name, (int(fields[11]) + int(fields[12])) / tick)
        return seen

    def start(self) -> None:
        self.before = self._snapshot()

    def print(self) -> None:
        spent: dict[str, float] = {}
        for key, (name, cpu) in self._snapshot().items():
            prior = self.before.get(key)
            delta = cpu - (prior[1] if prior is not None else 0.0)
            if delta > 0:
                spent[name] = spent.get(name, 0.0) + delta
        threads = sum(cpu for name, cpu in spent.items() if name.startswith("build thread"))
        spent["build threads ended since (the decrypting one)"] = (
            spent.get("build process, all threads", 0.0) - threads
        )
        print("  CPU seconds during the build:")
        for name, cpu in sorted(spent.items(), key=lambda kv: -kv[1])[:14]:
            print(f"    {cpu:6.2f}  {name[:70]}")
        print(
            f"    {sum(v for k, v in spent.items() if not k.startswith('build ')):6.2f}  "
            "other processes"
        )


def _way_name(archived: bool, destination: Destination | None) -> str:
    way = "stream" if destination is None else destination.value
    return f"{'archive' if archived else 'peer'}, {way}"


async def stream_to_client(case_id: str, exporter: Exporter, staging: Path) -> int:
    """Build the package as the gateway does (its route, gateway/routes/packages.py) and
    send every byte through a loopback socket to a reader thread, as its response sends
    them to the client; returns how many bytes the client got."""
    loop = asyncio.get_running_loop()
    stream, opened, building = start_stream(case_id, exporter, staging)
    sender, receiver = socket.socketpair()
    sender.setblocking(False)
    client = asyncio.ensure_future(asyncio.to_thread(_receive_all, receiver))
    try:
        async for chunk in stream.chunks():
            await loop.sock_sendall(sender, chunk)
    finally:
        stream.cancel()
        sender.close()
    await building
    assert opened.done()
    return await client


def _receive_all(sock: socket.socket) -> int:
    got = 0
    buffer = bytearray(1 << 20)
    with sock:
        while n := sock.recv_into(buffer):
            got += n
    return got


def read_back(path: Path) -> None:
    """Read the file once, as the gateway's response does."""
    with path.open("rb", buffering=0) as f:
        buffer = bytearray(1 << 20)
        while f.readinto(buffer):
            pass


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def _scenario(
    layout: Layout, root: Path, items: int, size: int
) -> tuple[Exporter, str, list[Path]]:
    dep = layout.consortium.department(URBAN)
    crypto = org_crypto(layout.state_dir, layout.consortium, URBAN)
    device = crypto.user("device1")
    signer = EcdsaSigner.from_pem(device.key.read_bytes())
    identity, officer_signer = user_identity(layout, dep, "officer1")
    paths = NodePaths(root / "node")
    parts = open_parts(paths)
    officer = ledger_as(layout, URBAN, "officer")
    exporter = Exporter(
        ledger=officer,
        queries=LedgerQueries(officer.contract.gateway, officer.contract.channel),
        parts=parts,
        claims=ClaimsArchive(paths.root / "claims"),
        identity=identity,
        signer=officer_signer,
    )
    ingest = IngestService(
        verifier=DeviceVerifier(dep.msp_id, crypto.ca_cert.read_bytes()),
        store=parts.store,
        vault=parts.vault,
        keyring=parts.keyring,
        ledger=ledger_as(layout, URBAN, "device"),
        index=parts.index,
        max_item_bytes=size + 1,
    )
    sources: list[Path] = []
    ids: list[str] = []
    for i in range(items):
        src = root / "src" / f"clip-{i}.mp4"
        src.parent.mkdir(parents=True, exist_ok=True)
        with src.open("wb") as f:
            block = hashlib.sha256(f"{i}".encode()).digest() * (CHUNK // 32)
            for _ in range(size // CHUNK):
                f.write(block)
            f.write(block[: size % CHUNK])
        sources.append(src)
        h = hashlib.sha256()
        with src.open("rb") as f:
            while chunk := f.read(CHUNK):
                h.update(chunk)
        claims = CaptureClaims.model_validate(
            {
                "event_id": f"bench-{uuid.uuid4().hex[:12]}",
                "org": dep.msp_id,
                "device_id": "device1",
                "camera_id": "cam-bench",
                "captured_at": dt.datetime.now(dt.UTC).isoformat(),
                "zone": "pavement_east",
                "rule": "no_vending",
                "violation_type": "roaming_vendor",
                "model_sha256": str(Digest.of(b"model")),
                "media": [
                    {
                        "name": "clip.mp4",
                        "media_type": "video/mp4",
                        "sha256": f"sha256:{h.hexdigest()}",
                        "size": size,
                    }
                ],
            }
        )
        body = canonical_bytes(claims)
        signature = signer.sign(body)
        with src.open("rb") as f:
            (item,) = await ingest.ingest(
                body, signature, device.cert.read_bytes(), {"clip.mp4": f}
            )
        exporter.claims.put(item.evidence_id, body, signature, device.cert.read_bytes())
        ids.append(item.evidence_id)
    case_id = f"CASE-{uuid.uuid4().hex[:8]}"
    await officer.file_case(
        CaseFiling(
            case_id=case_id,
            violation_type=ViolationType.ROAMING_VENDOR,
            subject_key=hashlib.sha256(case_id.encode()).hexdigest(),
            subject_kind=SubjectKind.PERSON,
            source=CaseSource.CAMERA,
            evidence_ids=ids[:MAX_CASE_EVIDENCE],
        )
    )
    for evidence_id in ids[MAX_CASE_EVIDENCE:]:
        await officer.attach_evidence(case_id, evidence_id)
    return exporter, case_id, sources


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--items", type=int, default=20)
    parser.add_argument("--mb", type=int, default=100, help="total size of the case, MB")
    parser.add_argument("--port-shift", type=int, default=4200)
    parser.add_argument("--runs", type=int, default=3, help="repeats; medians are printed")
    parser.add_argument("--phases", action="store_true", help="print each build's step times")
    parser.add_argument("--cpu", action="store_true", help="print CPU seconds per process")
    parser.add_argument("--memory", choices=MEMORY_STATES, default="as-is", help=MEMORY_HELP)
    parser.add_argument(
        "--archive",
        choices=("on", "off", "both"),
        default="on",
        help="read the proofs' blocks from the node's block archive (as the gateway does), "
        "from the peer, or build both ways in each run",
    )
    parser.add_argument(
        "--destination",
        choices=("stream", "spool", "kept", "both"),
        default="stream",
        help="build as the gateway does, streamed to its client; into a spool file read "
        "back at once (through the page cache), as it did before; as `evnet package --out` "
        "does (around the page cache, synced); or both the stream's and the kept file's "
        "ways in each run",
    )
    args = parser.parse_args()
    if args.archive == "both" and args.destination == "both":
        parser.error("--archive both and --destination both: choose one to compare")
    size = args.mb * 1_000_000 // args.items
    phases = Phases() if args.phases else None
    with tempfile.TemporaryDirectory(prefix="evnet-bench-package-") as tmp:
        root = Path(tmp)
        settings = network_settings(
            root / "state", shifted_consortium(root / "c.yaml", args.port_shift)
        )
        net = network_from(settings, verbose=False)
        net.up()
        chaincodes = {
            d.chaincode_server.address: d.msp_id for d in net.layout.consortium.departments
        }
        cpu = CpuSeconds(chaincodes) if args.cpu else None
        try:
            issue_people(net.layout)

            async def run() -> None:
                await bootstrap_ledger(net.layout)
                exporter, case_id, sources = await _scenario(net.layout, root, args.items, size)
                archive = BlockArchive(root / "node" / "chain.sqlite")
                follower = chain_follower(net.layout, URBAN, archive)
                height = (await exporter.queries.chain_info()).height
                await follower.run(until_height=height)  # a node that has been running
                following = asyncio.create_task(follow_chain(follower, retry_seconds=0.5))
                gateway = exporter.ledger.contract.gateway
                channel = exporter.ledger.contract.channel

                def exporter_for(archived: bool) -> Exporter:
                    # A fresh LedgerQueries per build, so that its counters are the build's.
                    queries = LedgerQueries(gateway, channel, archive=archive if archived else None)
                    return dataclasses.replace(exporter, queries=queries)

                # Each way a build may go: (blocks from the archive, destination); the first
                # is the headline, as the gateway builds unless the options say otherwise.
                by_option: dict[str, list[Destination | None]] = {  # None: streamed
                    "stream": [None],
                    "spool": [Destination.SPOOL],
                    "kept": [Destination.KEPT],
                    "both": [None, Destination.KEPT],
                }
                destinations = by_option[args.destination]
                ways = [
                    (archived, destination)
                    for archived in {"on": [True], "off": [False], "both": [True, False]}[
                        args.archive
                    ]
                    for destination in destinations
                ]
                Way = tuple[bool, Destination | None]
                build_by_way: dict[Way, list[float]] = {w: [] for w in ways}
                read_by_way: dict[Way, list[float]] = {w: [] for w in ways}
                # The copy is written as the headline's build writes its archive (a stream's
                # reader, as the spool was).
                copy_direct = ways[0][1] is Destination.KEPT
                rss_before = _peak_rss_mb()
                base_runs, copy_runs, verify_runs, verify1_runs = [], [], [], []
                cold_base_runs, cold_verify_runs = [], []
                # Interleaved, so a noisy neighbour slows baselines and product alike.
                for run_no in range(args.runs):
                    prepare_memory(args.memory)
                    start = time.perf_counter()
                    hash_files(sources)
                    base_runs.append(time.perf_counter() - start)
                    prepare_memory(args.memory)
                    start = time.perf_counter()
                    copy_files(sources, root / f"copy-{run_no}.bin", direct=copy_direct)
                    copy_runs.append(time.perf_counter() - start)
                    prepare_memory(args.memory)
                    if phases is not None:
                        phases.start()
                    if cpu is not None:
                        cpu.start()
                    # With --archive both, the first way alternates between runs.
                    order = ways if run_no % 2 == 0 else ways[::-1]
                    for way, (archived, destination) in enumerate(order):
                        if way:  # the second way starts as the first did
                            prepare_memory(args.memory)
                            if phases is not None:
                                phases.start()
                            if cpu is not None:
                                cpu.start()
                        builder = exporter_for(archived)
                        name = _way_name(archived, destination)
                        out = root / f"case-{run_no}-{name.replace(', ', '-')}.tar"
                        start = time.perf_counter()
                        if destination is None:
                            await stream_to_client(case_id, builder, root / "staging")
                        else:
                            await build_package(case_id, builder, out, destination=destination)
                        took = time.perf_counter() - start
                        build_by_way[archived, destination].append(took)
                        # What the spool's response did next: read the package back (a
                        # stream was sent as it was built).
                        start = time.perf_counter()
                        if destination is not None:
                            read_back(out)
                        read_by_way[archived, destination].append(time.perf_counter() - start)
                        reads = builder.queries
                        print(
                            f"build ({name}): {took:.2f} s, read back "
                            f"{read_by_way[archived, destination][-1]:.2f} s, blocks from the "
                            f"archive {reads.archived_block_reads}, from the peer "
                            f"{reads.peer_block_reads}"
                        )
                        if phases is not None:
                            phases.print(took)
                        if cpu is not None:
                            cpu.print()
                        if way < len(order) - 1 and destination is not None:
                            out.unlink()  # the last is verified below
                    if destination is None:  # untimed: a package to verify
                        await build_package(case_id, exporter_for(archived), out)
                    # Read from the disk: the package as the build left it (written around
                    # the page cache), against the plaintext files read from the disk.
                    evict_files([out])
                    prepare_memory(args.memory)
                    start = time.perf_counter()
                    report = verify_package(out)
                    cold_verify_runs.append(time.perf_counter() - start)
                    assert report.ok, report.render()
                    evict_files(sources)
                    prepare_memory(args.memory)
                    start = time.perf_counter()
                    hash_files(sources)
                    cold_base_runs.append(time.perf_counter() - start)
                    # From the page cache, as the baseline's files are (and as a recipient
                    # holds a package just downloaded or copied): the same package, now read.
                    prepare_memory(args.memory)
                    start = time.perf_counter()
                    report = verify_package(out)
                    verify_runs.append(time.perf_counter() - start)
                    assert report.ok, report.render()
                    prepare_memory(args.memory)
                    start = time.perf_counter()
                    report = verify_package(out, hash_workers=1)
                    verify1_runs.append(time.perf_counter() - start)
                    assert report.ok, report.render()
                    out.unlink()
                baseline = statistics.median(base_runs)
                copied = statistics.median(copy_runs)
                built = statistics.median(build_by_way[ways[0]])
                served = statistics.median(
                    b + r for b, r in zip(build_by_way[ways[0]], read_by_way[ways[0]], strict=True)
                )
                verified = statistics.median(verify_runs)
                verified1 = statistics.median(verify1_runs)
                cold_baseline = statistics.median(cold_base_runs)
                cold_verified = statistics.median(cold_verify_runs)
                work = f"{args.items} items, {args.items * size / 1e6:.0f} MB"
                if args.memory != "as-is":
                    work += f", memory {args.memory} before each step"
                print(f"{work}; medians of {args.runs} runs")
                print(f"read+hash baseline (files in the page cache): {baseline:.2f} s")
                print(
                    f"copy into one new file, written as the build writes (the disk's floor "
                    f"for any build): {copied:.2f} s  ratio {copied / baseline:.2f}x"
                )
                print(
                    f"build ({_way_name(*ways[0])}):  {built:.2f} s  ratio "
                    f"{built / baseline:.2f}x (target <= 1.5x); {built / copied:.2f}x the copy"
                )
                print(
                    f"build + read back ({_way_name(*ways[0])}):  {served:.2f} s  ratio "
                    f"{served / baseline:.2f}x"
                )
                for other in ways[1:]:
                    theirs = statistics.median(build_by_way[other])
                    print(
                        f"build ({_way_name(*other)}): {theirs:.2f} s  ratio "
                        f"{theirs / baseline:.2f}x; + read back "
                        f"{statistics.median(read_by_way[other]):.2f} s; the headline's build "
                        f"{built / theirs:.2f}x"
                    )
                print(
                    f"verify (package in the page cache): {verified:.2f} s  ratio "
                    f"{verified / baseline:.2f}x (target <= 1.2x; {HASH_WORKERS} hashing "
                    f"threads); with one: {verified1:.2f} s  ratio {verified1 / baseline:.2f}x"
                )
                print(
                    f"from the disk: verify {cold_verified:.2f} s, read+hash "
                    f"{cold_baseline:.2f} s, ratio {cold_verified / cold_baseline:.2f}x"
                )
                print(
                    f"peak RSS: {rss_before:.0f} MB before the first build, "
                    f"{_peak_rss_mb():.0f} MB after all runs"
                )
                record("package", "build", built, "s", baseline=baseline,
                       baseline_name="read + SHA-256 of the plaintext (s)", better="lower",
                       target="<= 1.5x", work=work)  # fmt: skip
                record("package", "build vs copy", built, "s", baseline=copied,
                       baseline_name="copy of the plaintext into one file, as the build writes (s)",
                       better="lower", work=work)  # fmt: skip
                record("package", "verify", verified, "s", baseline=baseline,
                       baseline_name="read + SHA-256 of the plaintext (s)", better="lower",
                       target="<= 1.2x", work=work)  # fmt: skip
                record("package", "verify from the disk", cold_verified, "s",
                       baseline=cold_baseline,
                       baseline_name="read + SHA-256 of the plaintext from the disk (s)",
                       better="lower", work=work)  # fmt: skip
                record("package", "verify, one hashing thread", verified1, "s",
                       baseline=baseline, baseline_name="read + SHA-256 of the plaintext (s)",
                       better="lower", work=work)  # fmt: skip
                record("package", "peak RSS", _peak_rss_mb(), "MB", baseline=rss_before,
                       baseline_name="before the first build", better="lower",
                       work=work)  # fmt: skip

                following.cancel()
                await asyncio.gather(following, return_exceptions=True)
                archive.close()

            asyncio.run(run())
        finally:
            net.down()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
