"""``evnet up/down/status``: the network plus each department's gateway and detectors.

The network part is :class:`node.consortium.network.Network`; on top of it each department
runs its gateway (``evnet gateway serve``) and any detectors its configuration names, all
started detached through the same :class:`Supervisor`: pid files in ``<state>/run``, logs
in ``<state>/logs/<name>.log``. ``up`` starts only what is not running; ``down`` stops only
the pids it recorded.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Mapping
from dataclasses import dataclass

from node.consortium.config import Department
from node.consortium.identities import issue_user, org_crypto, seal_people
from node.consortium.network import Network
from node.consortium.processes import ProcessSpec, ensure_ports_free, healthy
from node.crypto.user_keys import ensure_passphrase_file, passphrase_path
from node.ops.config import DepartmentRuntime, department_runtime
from schemas.glossary import Role


def gateway_name(department: str) -> str:
    return f"gateway.{department}"


def detector_name(department: str, detector: str) -> str:
    return f"detector.{department}.{detector}"


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    pid: int | None
    healthy: bool | None
    where: str


class Stack:
    """The whole department stack of one state directory.

    ``cli_env`` is the environment a child ``evnet`` needs to find this state directory,
    consortium file and Fabric binaries (the entry point builds it from its settings).
    """

    def __init__(self, network: Network, cli_env: Mapping[str, str]) -> None:
        self.network = network
        self.layout = network.layout
        self.supervisor = network.supervisor
        self._cli_env = dict(cli_env)

    def runtimes(self) -> list[DepartmentRuntime]:
        """Each department's configuration, validated (all files are read before any start).

        Raises:
            DepartmentConfigError: a department's file is invalid.
        """
        return [department_runtime(self.layout.state_dir, d) for d in self.departments()]

    def departments(self) -> list[Department]:
        return list(self.layout.consortium.departments)

    def gateway_spec(self, runtime: DepartmentRuntime) -> ProcessSpec:
        return ProcessSpec(
            name=gateway_name(runtime.name),
            argv=[sys.executable, "-m", "node.cli", "gateway", "serve", "--department",
                  runtime.name],
            env=self._cli_env,
            health_url=runtime.health_url,
            health_ca=runtime.tls_ca,
        )  # fmt: skip

    def detector_specs(self, runtime: DepartmentRuntime) -> list[ProcessSpec]:
        return [
            ProcessSpec(
                name=detector_name(runtime.name, d.name),
                argv=d.argv,
                env={**self._cli_env, **d.env},
            )
            for d in runtime.detectors
        ]

    def up(self, *, with_network: bool = True) -> list[str]:
        """Start whatever is not running yet; return the names of the processes started.

        Raises:
            DepartmentConfigError: a department's configuration file is invalid.
            PortInUseError: a gateway's port is held by a process we did not record.
            ProcessStartError: a gateway exited or stayed unhealthy (see its log).
            NetworkError: the network part failed (see :meth:`Network.up`).
        """
        runtimes = self.runtimes()
        if with_network:
            self.network.up()
        started: list[str] = []
        try:
            for runtime in runtimes:
                self._ensure_registrar(runtime)
                self._seal_people(runtime)
                spec = self.gateway_spec(runtime)
                if self.supervisor.pid(spec.name) is None:
                    ensure_ports_free(
                        [
                            (spec.name, runtime.host, runtime.port),
                            (f"{spec.name} exchange", "127.0.0.1", runtime.exchange_port),
                        ]
                    )
                    self.network.progress(f"starting {spec.name} on {runtime.health_url}")
                    self.supervisor.start(spec)
                    started.append(spec.name)
            for runtime in runtimes:
                self.supervisor.wait_healthy(self.gateway_spec(runtime), timeout=90)
                for spec in self.detector_specs(runtime):
                    if self.supervisor.pid(spec.name) is None:
                        self.network.progress(f"starting {spec.name}")
                        self.supervisor.start(spec)
                        started.append(spec.name)
        except BaseException:
            for name in reversed(started):
                self.supervisor.stop(name)
            raise
        return started

    def _seal_people(self, runtime: DepartmentRuntime) -> None:
        """People's keys encrypted at rest (idempotent; later identities are sealed at issue)."""
        if not runtime.seal_user_keys:
            return
        crypto = org_crypto(self.layout.state_dir, self.layout.consortium, runtime.name)
        passphrase = ensure_passphrase_file(passphrase_path(self.layout.state_dir, runtime.name))
        seal_people(crypto, passphrase)

    def _ensure_registrar(self, runtime: DepartmentRuntime) -> None:
        crypto = org_crypto(self.layout.state_dir, self.layout.consortium, runtime.name)
        if not crypto.user(runtime.registrar_user).cert.exists():
            issue_user(
                self.layout.state_dir,
                self.layout.consortium,
                runtime.name,
                Role.DEVICE,
                runtime.registrar_user,
                dt.datetime.now(dt.UTC),
            )

    def service_names(self) -> list[str]:
        """Gateways and detectors that have a pid file (configured or not any more)."""
        prefixes = ("gateway.", "detector.")
        return [n for n in self.supervisor.recorded() if n.startswith(prefixes)]

    def down(self, *, with_network: bool = True) -> list[str]:
        """Stop the services (detectors first), then the network; return what was stopped."""
        names = sorted(self.service_names(), key=lambda n: not n.startswith("detector."))
        stopped = [n for n in names if self.supervisor.stop(n)]
        if with_network:
            stopped += self.network.down()
        return stopped

    def status(self, *, with_network: bool = True) -> list[ServiceStatus]:
        """Every service (gateways with their /healthz), after the network's processes."""
        runtimes = self.runtimes()  # a bad configuration file is reported first
        rows = [
            ServiceStatus(
                r.name, r.pid, r.healthy, " ".join(f"{k}={v}" for k, v in r.ports.items())
            )
            for r in (self.network.status() if with_network else [])
        ]
        for runtime in runtimes:
            name = gateway_name(runtime.name)
            pid = self.supervisor.pid(name)
            ok = None if pid is None else healthy(runtime.health_url, runtime.tls_ca)
            rows.append(ServiceStatus(name, pid, ok, runtime.health_url))
            for spec in self.detector_specs(runtime):
                pid = self.supervisor.pid(spec.name)
                rows.append(ServiceStatus(spec.name, pid, None if pid is None else True, "-"))
        return rows
