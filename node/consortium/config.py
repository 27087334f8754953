"""The consortium definition (network-config/consortium.yaml), parsed into typed models.

Everything a process binds or dials is read from here, so adding a department is an edit
of that file, and one org can run only its own processes on its own host.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from node.consortium.errors import ConsortiumConfigError

# Names end up in file paths, TLS host names and Fabric policy expressions.
_NAME = r"^[A-Za-z][A-Za-z0-9]{0,39}$"
Name = Annotated[str, Field(pattern=_NAME)]
MspId = Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9]{0,39}MSP$")]
Port = Annotated[int, Field(ge=1024, le=65535)]
Host = Annotated[str, Field(pattern=r"^[A-Za-z0-9.\-]{1,253}$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Endpoint(_Strict):
    host: Host
    port: Port

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


class OrdererNode(_Strict):
    name: Name
    host: Host
    port: Port
    admin_port: Port
    operations_port: Port

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def ports(self) -> dict[str, int]:
        return {
            "port": self.port,
            "admin_port": self.admin_port,
            "operations_port": self.operations_port,
        }


class OrdererOrg(_Strict):
    org: Name
    msp_id: MspId
    consensus: Literal["raft", "bft"] = "raft"
    batch_timeout_ms: Annotated[int, Field(ge=10, le=10_000)] = 500
    max_message_count: Annotated[int, Field(ge=1, le=10_000)] = 100
    nodes: Annotated[list[OrdererNode], Field(min_length=1, max_length=15)]

    @model_validator(mode="after")
    def _enough_nodes(self) -> OrdererOrg:
        if self.consensus == "bft" and len(self.nodes) < 4:
            raise ValueError("bft consensus needs at least 4 orderer nodes")
        return self


class Peer(_Strict):
    name: Name
    host: Host
    port: Port
    chaincode_port: Port
    operations_port: Port

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def ports(self) -> dict[str, int]:
        return {
            "port": self.port,
            "chaincode_port": self.chaincode_port,
            "operations_port": self.operations_port,
        }


class Department(_Strict):
    name: Name
    msp_id: MspId
    peer: Peer
    chaincode_server: Endpoint

    @property
    def domain(self) -> str:
        """The DNS-style name used in certificates, e.g. ``urbanmanagement.evnet``."""
        return f"{self.name.lower()}.evnet"


class ChaincodeDefinition(_Strict):
    name: Name
    version: Annotated[str, Field(pattern=r"^[0-9A-Za-z.\-]{1,20}$")]
    sequence: Annotated[int, Field(ge=1)] = 1


class Consortium(_Strict):
    """A validated consortium. Build it with :func:`load_consortium` or :meth:`from_yaml`."""

    version: Literal[1]
    channel: Annotated[str, Field(pattern=r"^[a-z][a-z0-9.\-]{0,48}$")]
    chaincode: ChaincodeDefinition
    orderers: OrdererOrg
    departments: Annotated[list[Department], Field(min_length=1, max_length=20)]

    @model_validator(mode="after")
    def _unique(self) -> Consortium:
        names = [self.orderers.org, *(d.name for d in self.departments)]
        msps = [self.orderers.msp_id, *(d.msp_id for d in self.departments)]
        for label, values in (("org name", names), ("MSP id", msps)):
            dupes = sorted(v for v, n in Counter(v.lower() for v in values).items() if n > 1)
            if dupes:
                raise ValueError(f"duplicate {label}: {', '.join(dupes)}")
        node_names = [n.name for n in self.orderers.nodes]
        if len(set(node_names)) != len(node_names):
            raise ValueError("duplicate orderer node name")
        seen: dict[tuple[str, int], str] = {}
        for owner, host, port in self._bindings():
            key = (host, port)
            if key in seen:
                raise ValueError(
                    f"port {port} on {host} is assigned twice: {seen[key]} and {owner}"
                )
            seen[key] = owner
        return self

    def _bindings(self) -> list[tuple[str, str, int]]:
        out: list[tuple[str, str, int]] = []
        for node in self.orderers.nodes:
            out += [(f"{node.name}.{k}", node.host, p) for k, p in node.ports().items()]
        for dep in self.departments:
            out += [(f"{dep.name}.peer.{k}", dep.peer.host, p) for k, p in dep.peer.ports().items()]
            cs = dep.chaincode_server
            out.append((f"{dep.name}.chaincode_server", cs.host, cs.port))
        return out

    def bindings(self, org: str | None = None) -> list[tuple[str, str, int]]:
        """(owner, host, port) for every listening socket, optionally of one org only."""
        if org is None:
            return self._bindings()
        if org == self.orderers.org:
            prefixes = tuple(f"{n.name}." for n in self.orderers.nodes)
        else:
            self.department(org)
            prefixes = (f"{org}.",)
        return [b for b in self._bindings() if b[0].startswith(prefixes)]

    def department(self, name: str) -> Department:
        """The department named ``name``.

        Raises:
            ConsortiumConfigError: no such department.
        """
        for dep in self.departments:
            if dep.name == name:
                return dep
        known = ", ".join(d.name for d in self.departments)
        raise ConsortiumConfigError(f"unknown department {name!r} (known: {known})")

    def org_names(self) -> list[str]:
        return [self.orderers.org, *(d.name for d in self.departments)]

    @classmethod
    def from_yaml(cls, text: str, source: str = "<consortium>") -> Consortium:
        """Parse and validate a consortium file's text.

        Raises:
            ConsortiumConfigError: malformed YAML or an invalid definition; the message is
                one line naming the file and the offending field.
        """
        try:
            raw = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" line {mark.line + 1}" if mark is not None else ""
            problem = getattr(exc, "problem", None) or "malformed YAML"
            raise ConsortiumConfigError(f"{source}:{where} {problem}") from exc
        if not isinstance(raw, dict):
            raise ConsortiumConfigError(f"{source}: expected a mapping at the top level")
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            first = exc.errors()[0]
            loc = ".".join(str(p) for p in first["loc"]) or "(top level)"
            msg = re.sub(r"^Value error, ", "", first["msg"])
            more = f" (+{exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
            raise ConsortiumConfigError(f"{source}: {loc}: {msg}{more}") from exc


def load_consortium(path: Path) -> Consortium:
    """Read and validate the consortium file at ``path``.

    Raises:
        ConsortiumConfigError: the file is missing, unreadable or invalid.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConsortiumConfigError(
            f"{path}: cannot read consortium file ({exc.strerror})"
        ) from exc
    except UnicodeDecodeError as exc:
        raise ConsortiumConfigError(
            f"{path}: not UTF-8 text (byte {exc.start}); save the file as UTF-8"
        ) from None
    return Consortium.from_yaml(text, source=str(path))
