"""``up``, ``down`` and ``status`` of the local (or one org's) part of the consortium.

``up`` is idempotent: what runs keeps running, what exists is reused, and it returns only
after a real transaction has committed. If any step fails, every process this call
started is stopped again, so a failed ``up`` leaves nothing half-started.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import shutil
import subprocess
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass

from node.consortium import configtx, lifecycle
from node.consortium.clients import wait_for_discovery
from node.consortium.config import Department
from node.consortium.identities import ensure_consortium_crypto
from node.consortium.launch import (
    Layout,
    chaincode_name,
    chaincode_spec,
    orderer_spec,
    peer_name,
    peer_spec,
)
from node.consortium.processes import ProcessSpec, Supervisor, ensure_ports_free, healthy

Progress = Callable[[str], None]


@dataclass(frozen=True)
class ProcessStatus:
    name: str
    pid: int | None
    ports: dict[str, int]
    healthy: bool | None


class Network:
    """The processes of one consortium under one state directory."""

    def __init__(self, layout: Layout, progress: Progress = lambda _msg: None) -> None:
        self.layout = layout
        self.supervisor = Supervisor(layout.state_dir)
        self.progress = progress

    def _process_of(self, binding_owner: str) -> str:
        # Binding owners look like "orderer1.port", "UrbanManagement.peer.port" or
        # "UrbanManagement.chaincode_server"; map each to the process that binds it.
        head, _, rest = binding_owner.partition(".")
        if rest.startswith("peer."):
            return peer_name(self.layout.consortium.department(head))
        if rest == "chaincode_server":
            return chaincode_name(self.layout.consortium.department(head))
        return head

    def _orgs(self, org: str | None) -> tuple[bool, list[Department]]:
        c = self.layout.consortium
        if org is None:
            return True, list(c.departments)
        if org == c.orderers.org:
            return True, []
        return False, [c.department(org)]

    def up(self, org: str | None = None) -> None:
        """Start (or resume) the network, or only ``org``'s processes.

        Raises:
            PortInUseError: a port we need is taken by another process.
            ToolchainError: a Fabric binary is missing.
            ProcessStartError, LifecycleError: a process or a Fabric step failed.
        """
        c = self.layout.consortium
        with_orderers, deps = self._orgs(org)
        for name in ("orderer", "peer", "configtxgen", "osnadmin"):
            self.layout.toolchain.binary(name)
        # Ports held by our own running processes are fine: those are left running.
        ensure_ports_free(
            [b for b in c.bindings(org) if self.supervisor.pid(self._process_of(b[0])) is None]
        )

        started: list[str] = []
        try:
            self._prepare()
            if with_orderers:
                self._start_orderers(started)
            self._start_peers(deps, started)
            self._deploy_chaincode(deps, started)
            if org is None:
                self._check_transaction(deps)
                self._wait_for_discovery(deps)
        except BaseException:
            for name in reversed(started):
                self.supervisor.stop(name)
            raise

    def _check_transaction(self, deps: list[Department]) -> None:
        """Submit a Ping and wait for it to commit VALID (retrying while the network is
        still electing a Raft leader or connecting chaincode after a restart)."""
        self.progress("checking a real transaction commits")
        endorsers = deps[:2] if len(deps) > 1 else deps
        lifecycle.invoke(self.layout, endorsers, ["Ping"], retry_for=90)

    def _wait_for_discovery(self, deps: list[Department]) -> None:
        self.progress("waiting until every gateway has discovered every department's peer")
        asyncio.run(wait_for_discovery(self.layout, deps, timeout=90))

    def _prepare(self) -> None:
        state = self.layout.state_dir
        now = dt.datetime.now(dt.UTC)
        if not (state / "crypto").exists():
            self.progress("generating certificate authorities and identities")
        ensure_consortium_crypto(state, self.layout.consortium, now)
        if not self.layout.genesis_block.exists():
            self.progress("creating the channel genesis block")
            cfg = configtx.write(self.layout.consortium, state)
            tmp = self.layout.genesis_block.with_suffix(".tmp")
            subprocess.run(
                [str(self.layout.toolchain.binary("configtxgen")), "-configPath", str(cfg),
                 "-profile", configtx.PROFILE, "-channelID", self.layout.consortium.channel,
                 "-outputBlock", str(tmp)],
                env=dict(self.layout.base_env), capture_output=True, check=True, timeout=60,
            )  # fmt: skip
            tmp.rename(self.layout.genesis_block)

    def _ensure_running(self, spec: ProcessSpec, started: list[str]) -> None:
        if self.supervisor.pid(spec.name) is None:
            self.progress(f"starting {spec.name}")
            self.supervisor.start(spec)
            started.append(spec.name)
        self.supervisor.wait_healthy(spec)

    def _start_orderers(self, started: list[str]) -> None:
        for node in self.layout.consortium.orderers.nodes:
            self._ensure_running(orderer_spec(self.layout, node), started)
        for node in self.layout.consortium.orderers.nodes:
            if lifecycle.join_orderer(self.layout, node):
                self.progress(f"{node.name} joined channel {self.layout.consortium.channel}")

    def _start_peers(self, deps: list[Department], started: list[str]) -> None:
        for dep in deps:
            self._ensure_running(peer_spec(self.layout, dep), started)
        for dep in deps:
            if lifecycle.join_peer(self.layout, dep):
                self.progress(f"{dep.name} peer joined channel {self.layout.consortium.channel}")

    def _deploy_chaincode(self, deps: list[Department], started: list[str]) -> None:
        """Install, approve and (once a majority approved) commit; start the servers.

        With ``--org`` each department runs this for itself on its own host; whichever
        department completes the majority commits the definition.
        """
        c = self.layout.consortium
        for dep in deps:
            pkg, package_id = lifecycle.package(self.layout, dep)
            if lifecycle.install(self.layout, dep, pkg, package_id):
                self.progress(f"installed chaincode on {dep.name}")
            self._ensure_running(chaincode_spec(self.layout, dep, package_id), started)
            if not lifecycle.approved_by_own_org(self.layout, dep):
                self.progress(f"approving chaincode definition for {dep.name}")
                lifecycle.approve(self.layout, dep, package_id)
        if not deps or lifecycle.committed(self.layout, deps[0]):
            return
        approved = lifecycle.approvals(self.layout, deps[0])
        endorsers = [d for d in c.departments if approved.get(d.msp_id)]
        if len(endorsers) * 2 > len(c.departments):
            self.progress("committing chaincode definition")
            lifecycle.commit(self.layout, endorsers)
        else:
            self.progress(
                f"chaincode approved by {len(endorsers)} of {len(c.departments)} departments; "
                "it is committed once a majority has approved"
            )

    def down(self, org: str | None = None, *, purge: bool = False) -> list[str]:
        """Stop the processes we recorded (of ``org`` only, if given); return their names."""
        with_orderers, deps = self._orgs(org)
        names = [chaincode_name(d) for d in deps] + [peer_name(d) for d in deps]
        if with_orderers:
            names += [n.name for n in self.layout.consortium.orderers.nodes]
        stopped = [n for n in names if self.supervisor.stop(n)]
        if purge and org is None:
            shutil.rmtree(self.layout.state_dir, ignore_errors=True)
        return stopped

    def raft_leader(self) -> str | None:
        """The orderer that leads the channel's Raft cluster now, from each orderer's
        ``consensus_etcdraft_is_leader`` metric; None while no leader is elected."""
        c = self.layout.consortium
        for node in c.orderers.nodes:
            if self.supervisor.pid(node.name) is None:
                continue
            url = f"http://{node.host}:{node.operations_port}/metrics"
            try:
                with urllib.request.urlopen(url, timeout=2) as resp:
                    text = resp.read().decode()
            except (urllib.error.URLError, OSError):
                continue
            if _is_leader(text, c.channel):
                return node.name
        return None

    def status(self) -> list[ProcessStatus]:
        c = self.layout.consortium
        out: list[ProcessStatus] = []
        for node in c.orderers.nodes:
            spec = orderer_spec(self.layout, node)
            pid = self.supervisor.pid(spec.name)
            out.append(ProcessStatus(spec.name, pid, node.ports(), _health(spec, pid)))
        for dep in c.departments:
            spec = peer_spec(self.layout, dep)
            pid = self.supervisor.pid(spec.name)
            out.append(ProcessStatus(spec.name, pid, dep.peer.ports(), _health(spec, pid)))
            name = chaincode_name(dep)
            pid = self.supervisor.pid(name)
            ports = {"port": dep.chaincode_server.port}
            out.append(ProcessStatus(name, pid, ports, None if pid is None else True))
        return out


def _is_leader(metrics: str, channel: str) -> bool:
    for line in metrics.splitlines():
        if line.startswith("consensus_etcdraft_is_leader{") and f'channel="{channel}"' in line:
            return float(line.rsplit(" ", 1)[1]) == 1.0
    return False


def _health(spec: ProcessSpec, pid: int | None) -> bool | None:
    if pid is None or spec.health_url is None:
        return None
    return healthy(spec.health_url)
