"""Joining the channel and deploying the chaincode as a service, with Fabric's own CLIs.

Every step first asks whether it is already done (joined, installed, approved, committed),
so ``up`` after ``down`` or after a partial failure repeats nothing.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import socket
import subprocess
import tarfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from node.consortium.config import Department, OrdererNode
from node.consortium.errors import NetworkError
from node.consortium.identities import ADMIN_USER, org_crypto
from node.consortium.launch import Layout


class LifecycleError(NetworkError):
    """A Fabric CLI step (channel join, install, approve, commit, invoke) failed."""

    code = "LIFECYCLE_FAILED"


# Answers that mean "not ready yet" right after a (re)start: Raft is electing a leader,
# or a peer is still connecting to its chaincode server. Ordering steps retry on these.
NOT_READY = (
    "SERVICE_UNAVAILABLE",
    "no Raft leader",
    "could not launch chaincode",
    "connection refused",
)


PEER_READY_WAIT = 120.0  # seconds a (re)started peer may take before it accepts calls


def _run(
    argv: Sequence[str],
    env: Mapping[str, str],
    what: str,
    timeout: float = 120,
    *,
    retry_for: float = 0.0,
) -> str:
    deadline = time.monotonic() + retry_for
    while True:
        proc = subprocess.run(
            list(argv), env=dict(env), capture_output=True, text=True, timeout=timeout,
            check=False,
        )  # fmt: skip
        if proc.returncode == 0:
            return proc.stdout + proc.stderr
        lines = [ln for ln in (proc.stderr + proc.stdout).splitlines() if ln.strip()]
        last = lines[-1].strip() if lines else "no output"
        if any(s in last for s in NOT_READY) and time.monotonic() < deadline:
            time.sleep(1.0)
            continue
        raise LifecycleError(f"{what} failed: {last}")


def join_orderer(layout: Layout, node: OrdererNode) -> bool:
    """Join ``node`` to the channel through its admin endpoint; False if already joined."""
    c = layout.consortium
    admin = org_crypto(layout.state_dir, c, c.orderers.org).user(ADMIN_USER)
    common = [
        "-o", f"{node.host}:{node.admin_port}",
        "--ca-file", str(admin.tls_ca),
        "--client-cert", str(admin.tls_cert),
        "--client-key", str(admin.tls_key),
    ]  # fmt: skip
    osnadmin = str(layout.toolchain.binary("osnadmin"))
    listing = _run([osnadmin, "channel", "list", *common], layout.base_env, f"{node.name} list")
    if f'"name": "{c.channel}"' in listing or f'"name":"{c.channel}"' in listing:
        return False
    argv = [osnadmin, "channel", "join", "--channelID", c.channel,
            "--config-block", str(layout.genesis_block), *common]  # fmt: skip
    _run(argv, layout.base_env, f"{node.name} channel join")
    return True


def join_peer(layout: Layout, dep: Department) -> bool:
    """Join ``dep``'s peer to the channel as the org admin; False if already joined."""
    peer = str(layout.toolchain.binary("peer"))
    env = layout.cli_env(dep)
    # A peer restarted after a crash answers its health check while it still recovers its
    # ledger, before its gRPC port listens: wait for it rather than fail the start.
    listing = _run(
        [peer, "channel", "list"], env, f"{dep.name} channel list", retry_for=PEER_READY_WAIT
    )
    if layout.consortium.channel in listing.split():
        return False
    _run([peer, "channel", "join", "-b", str(layout.genesis_block)], env, f"{dep.name} join")
    return True


def package(layout: Layout, dep: Department) -> tuple[Path, str]:
    """Write ``dep``'s CCaaS package and return it with its package id.

    Each department dials its own chaincode server, so packages (and package ids) differ
    per org; the chaincode definition they approve is the same.
    """
    c = layout.consortium
    crypto = org_crypto(layout.state_dir, c, dep.name)
    peer_tls = crypto.node(dep.peer.name)
    connection = {
        "address": dep.chaincode_server.address,
        "dial_timeout": "10s",
        "tls_required": True,
        "client_auth_required": True,
        "client_key": peer_tls.tls_key.read_text(),
        "client_cert": peer_tls.tls_cert.read_text(),
        "root_cert": crypto.tlsca_cert.read_text(),
    }
    label = f"{c.chaincode.name}_{c.chaincode.version}_{dep.name}"
    code = _tar({"connection.json": json.dumps(connection, indent=2).encode()})
    metadata = json.dumps({"type": "ccaas", "label": label}).encode()
    pkg = _tar({"metadata.json": metadata, "code.tar.gz": code})
    out = layout.state_dir / "chaincode" / f"{dep.name}.tar.gz"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(pkg)
    return out, f"{label}:{hashlib.sha256(pkg).hexdigest()}"


def _tar(files: Mapping[str, bytes]) -> bytes:
    buf = io.BytesIO()
    # Fixed mtimes and modes: the package id is the hash of these bytes, so rebuilding
    # the package must reproduce it exactly.
    with tarfile.open(fileobj=buf, mode="w:gz", format=tarfile.GNU_FORMAT) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))
    raw = buf.getvalue()
    # gzip stores a timestamp too; zero it (bytes 4..7 of the header).
    return raw[:4] + b"\x00\x00\x00\x00" + raw[8:]


def install(layout: Layout, dep: Department, pkg: Path, package_id: str) -> bool:
    peer = str(layout.toolchain.binary("peer"))
    env = layout.cli_env(dep)
    installed = _run([peer, "lifecycle", "chaincode", "queryinstalled"], env, "queryinstalled")
    if package_id in installed:
        return False
    _run([peer, "lifecycle", "chaincode", "install", str(pkg)], env, f"{dep.name} install")
    return True


def _orderer_args(layout: Layout) -> list[str]:
    c = layout.consortium
    # The peer CLI talks to one orderer: pick the first that accepts connections, so a
    # crashed orderer does not stop administration while Raft carries on without it.
    node = next((n for n in c.orderers.nodes if _reachable(n.host, n.port)), c.orderers.nodes[0])
    tlsca = org_crypto(layout.state_dir, c, c.orderers.org).tlsca_cert
    return ["-o", node.address, "--tls", "--cafile", str(tlsca)]


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def _definition_args(layout: Layout) -> list[str]:
    cc = layout.consortium.chaincode
    return [
        "--channelID", layout.consortium.channel,
        "--name", cc.name, "--version", cc.version, "--sequence", str(cc.sequence),
    ]  # fmt: skip


def committed(layout: Layout, dep: Department) -> bool:
    peer = str(layout.toolchain.binary("peer"))
    cc = layout.consortium.chaincode
    proc = subprocess.run(
        [peer, "lifecycle", "chaincode", "querycommitted", "--channelID",
         layout.consortium.channel, "--name", cc.name, "--output", "json"],
        env=layout.cli_env(dep), capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        return False
    return int(json.loads(proc.stdout).get("sequence", 0)) >= cc.sequence


def approvals(layout: Layout, dep: Department) -> dict[str, bool]:
    """Which orgs (by MSP id) approved the chaincode definition, asked of ``dep``'s peer."""
    peer = str(layout.toolchain.binary("peer"))
    argv = [peer, "lifecycle", "chaincode", "checkcommitreadiness",
            *_definition_args(layout), "--output", "json"]  # fmt: skip
    out = _run(argv, layout.cli_env(dep), f"{dep.name} checkcommitreadiness")
    raw = json.loads(out[out.index("{") :]).get("approvals", {})
    return {str(k): bool(v) for k, v in raw.items()}


def approved_by_own_org(layout: Layout, dep: Department) -> bool:
    """Whether ``dep`` approved the current definition (also works after the commit,
    when an org that joins late must still approve to run the chaincode)."""
    peer = str(layout.toolchain.binary("peer"))
    cc = layout.consortium.chaincode
    proc = subprocess.run(
        [peer, "lifecycle", "chaincode", "queryapproved", "--channelID",
         layout.consortium.channel, "--name", cc.name, "--sequence", str(cc.sequence),
         "--output", "json"],
        env=layout.cli_env(dep), capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    return proc.returncode == 0


def approve(layout: Layout, dep: Department, package_id: str) -> None:
    peer = str(layout.toolchain.binary("peer"))
    argv = [peer, "lifecycle", "chaincode", "approveformyorg", *_orderer_args(layout),
            *_definition_args(layout), "--package-id", package_id, "--waitForEvent"]  # fmt: skip
    _run(argv, layout.cli_env(dep), f"{dep.name} approve", retry_for=90)


def _peer_targets(layout: Layout, deps: Sequence[Department]) -> list[str]:
    args: list[str] = []
    for dep in deps:
        tlsca = org_crypto(layout.state_dir, layout.consortium, dep.name).tlsca_cert
        args += ["--peerAddresses", dep.peer.address, "--tlsRootCertFiles", str(tlsca)]
    return args


def commit(layout: Layout, deps: Sequence[Department]) -> None:
    """Commit the definition, endorsed by the peers of ``deps`` (a majority of orgs)."""
    peer = str(layout.toolchain.binary("peer"))
    argv = [peer, "lifecycle", "chaincode", "commit", *_orderer_args(layout),
            *_definition_args(layout), *_peer_targets(layout, deps), "--waitForEvent"]  # fmt: skip
    _run(argv, layout.cli_env(deps[0]), "chaincode commit", retry_for=90)


def invoke(
    layout: Layout, deps: Sequence[Department], args: Sequence[str], retry_for: float = 0.0
) -> str:
    """Submit a transaction through the peer CLI and wait for it to commit VALID."""
    peer = str(layout.toolchain.binary("peer"))
    payload = json.dumps({"Args": list(args)})
    argv = [peer, "chaincode", "invoke", *_orderer_args(layout), "-C",
            layout.consortium.channel, "-n", layout.consortium.chaincode.name,
            *_peer_targets(layout, deps), "-c", payload, "--waitForEvent"]  # fmt: skip
    # The commit status line is logged at INFO: raise the CLI's level to read it.
    env = {**layout.cli_env(deps[0]), "FABRIC_LOGGING_SPEC": "info"}
    out = _run(argv, env, f"invoke {args[0]}", retry_for=retry_for)
    match = re.search(r"committed with status \((\w+)\)", out)
    if match is None or match.group(1) != "VALID":
        status = match.group(1) if match else "no commit status"
        raise LifecycleError(f"invoke {args[0]} did not commit VALID: {status}")
    return out


def query(layout: Layout, dep: Department, args: Sequence[str], msp_dir: Path | None = None) -> str:
    """Evaluate a function on ``dep``'s peer (as its admin, or the identity at ``msp_dir``)."""
    peer = str(layout.toolchain.binary("peer"))
    payload = json.dumps({"Args": list(args)})
    argv = [peer, "chaincode", "query", "-C", layout.consortium.channel,
            "-n", layout.consortium.chaincode.name, "-c", payload]  # fmt: skip
    return _run(argv, layout.cli_env(dep, msp_dir), f"query {args[0]}").strip()


def peer_height(layout: Layout, dep: Department) -> int:
    """The channel's block height on ``dep``'s peer."""
    peer = str(layout.toolchain.binary("peer"))
    out = _run([peer, "channel", "getinfo", "-c", layout.consortium.channel],
               layout.cli_env(dep), f"{dep.name} getinfo")  # fmt: skip
    return int(json.loads(out[out.index("{") :])["height"])


def orderer_height(layout: Layout, node: OrdererNode) -> int:
    """The channel's block height on orderer ``node`` (through its admin endpoint)."""
    c = layout.consortium
    admin = org_crypto(layout.state_dir, c, c.orderers.org).user(ADMIN_USER)
    argv = [str(layout.toolchain.binary("osnadmin")), "channel", "list",
            "--channelID", c.channel, "-o", f"{node.host}:{node.admin_port}",
            "--ca-file", str(admin.tls_ca), "--client-cert", str(admin.tls_cert),
            "--client-key", str(admin.tls_key)]  # fmt: skip
    out = _run(argv, layout.base_env, f"{node.name} channel info")
    return int(json.loads(out[out.index("{") :])["height"])
