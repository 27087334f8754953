"""One configuration file per department: ``<state>/departments/<Department>.toml``.

Every key is optional; with no file at all a department runs on the local consortium with
a SQLite index and a filesystem store under the state directory. A file that exists is
parsed strictly: an unknown key, a bad port or a missing path is an error naming the file,
the key and what is wrong.

    [gateway]
    host = "127.0.0.1"          # loopback only
    port = 7156                 # default: the department's peer port + 5
    registrar_user = "device1"  # the identity (role device) that registers ingested evidence
    max_upload_mb = 1024
    tls = true                  # HTTPS, certificate from the department's TLS CA
    client_certificates = "optional"  # off | optional | required: mutual TLS identities
    exchange_port = 7157        # default: the peer port + 6; other nodes fetch granted items
    seal_user_keys = true       # `evnet up` keeps people's private keys encrypted at rest

    [node]
    dir = "/srv/evnet/urban"    # default: <state>/nodes/<Department>; must exist if given
    index_url = "sqlite:////srv/evnet/urban/node.sqlite"  # default: <dir>/node.sqlite

    [[areas]]                   # 片区: officers get their areas' flags (GET /assignments)
    name = "renmin-rd"
    cameras = ["cam-jiangbei-*"] # camera-id patterns (* and ?)
    officers = ["officer1"]

    [calendar]                  # the year's working days (法定节假日, 调休): deadlines the
    holidays = [2026-10-01, 2026-10-02]  # console shows and the disclosure check counts
    workdays = [2026-10-10]     # weekend days worked; default: Monday to Friday

    [[detectors]]               # optional processes started by `evnet up`
    name = "cam-group-7"
    argv = ["python", "-m", "detectors", "..."]
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from node.consortium.config import Department
from node.consortium.errors import ConsortiumConfigError
from node.consortium.identities import OrgCrypto
from node.department import NodePaths
from node.disclosure.timeliness import MAX_CALENDAR_DAYS, WorkCalendar
from node.dispatch import CAMERA_PATTERN, Area
from node.index.database import sqlite_url

Port = Annotated[int, Field(ge=1024, le=65535)]
Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")]
# The gateway's and the exchange's ports unless the file names them: free in the default
# consortium's plan (peer 7151, gateway 7156, exchange 7157, chaincode server 7159).
GATEWAY_PORT_OFFSET = 5
EXCHANGE_PORT_OFFSET = 6


class DepartmentConfigError(ConsortiumConfigError):
    """A department configuration file is unreadable or invalid (one line: file, key, what)."""

    code = "DEPARTMENT_CONFIG_INVALID"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GatewaySection(_Strict):
    host: str = "127.0.0.1"
    port: Port | None = None
    registrar_user: Name = "device1"
    max_upload_mb: Annotated[int, Field(ge=1, le=1 << 20)] = 1024
    # HTTPS with a certificate from the department's TLS CA; plain HTTP only if turned off.
    tls: bool = True
    # Callers may present their enrollment certificate instead of a token (mutual TLS).
    client_certificates: Literal["off", "optional", "required"] = "optional"
    # The node's exchange server: other departments' nodes fetch granted items here.
    exchange_port: Port | None = None
    # People's private keys encrypted at rest under <state>/secrets/<Dept>.key-passphrase
    # (`evnet up` seals them; see node.crypto.user_keys). Off: keys held some other way.
    seal_user_keys: bool = True

    @field_validator("host")
    @classmethod
    def _loopback(cls, host: str) -> str:
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise ValueError(f"{host!r} is not a loopback address; the gateway binds 127.0.0.1")
        return host


class NodeSection(_Strict):
    dir: Path | None = None
    index_url: str | None = None

    @field_validator("dir")
    @classmethod
    def _exists(cls, path: Path | None) -> Path | None:
        if path is not None and not path.is_dir():
            raise ValueError(f"directory {str(path)!r} does not exist")
        return path

    @field_validator("index_url")
    @classmethod
    def _scheme(cls, url: str | None) -> str | None:
        if url is not None and not url.startswith(("sqlite:///", "postgresql+psycopg://")):
            raise ValueError("expected a sqlite:/// or postgresql+psycopg:// URL")
        return url


class DetectorSection(_Strict):
    name: Name
    argv: Annotated[list[str], Field(min_length=1)]
    env: dict[str, str] = Field(default_factory=dict)


class AreaSection(_Strict):
    name: Name
    cameras: Annotated[
        list[Annotated[str, Field(pattern=CAMERA_PATTERN)]], Field(min_length=1, max_length=200)
    ]
    officers: Annotated[list[Name], Field(min_length=1, max_length=200)]

    def area(self) -> Area:
        return Area(self.name, tuple(self.cameras), frozenset(self.officers))


CalendarDays = Annotated[list[dt.date], Field(max_length=MAX_CALENDAR_DAYS)]


class CalendarSection(_Strict):
    """The department's working days: Monday to Friday, less the public holidays that
    fall on them (法定节假日), plus the weekend days worked instead (调休). The State
    Council publishes them each December for the next year; the department's admin adds
    them here. Deadlines counted in working days use it."""

    holidays: CalendarDays = Field(default_factory=list)
    workdays: CalendarDays = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> CalendarSection:
        self.work_calendar()  # a day both a holiday and a working day is refused here
        return self

    def work_calendar(self) -> WorkCalendar:
        """Raises ValueError: a day named both a holiday and a working day."""
        return WorkCalendar(frozenset(self.holidays), frozenset(self.workdays))


class DepartmentConfig(_Strict):
    gateway: GatewaySection = Field(default_factory=GatewaySection)
    node: NodeSection = Field(default_factory=NodeSection)
    areas: list[AreaSection] = Field(default_factory=list)
    calendar: CalendarSection = Field(default_factory=CalendarSection)
    detectors: list[DetectorSection] = Field(default_factory=list)

    @field_validator("areas")
    @classmethod
    def _unique_areas(cls, areas: list[AreaSection]) -> list[AreaSection]:
        names = [a.name for a in areas]
        if len(names) != len(set(names)):
            raise ValueError("area names must be unique")
        return areas

    @field_validator("detectors")
    @classmethod
    def _unique(cls, detectors: list[DetectorSection]) -> list[DetectorSection]:
        names = [d.name for d in detectors]
        if len(names) != len(set(names)):
            raise ValueError("detector names must be unique")
        return detectors

    @classmethod
    def from_toml(cls, text: str, source: str) -> DepartmentConfig:
        """Parse and validate a configuration file's text.

        Raises:
            DepartmentConfigError: malformed TOML or an invalid key, naming ``source``.
        """
        try:
            raw = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise DepartmentConfigError(f"{source}: malformed TOML: {exc}") from exc
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            first = exc.errors()[0]
            key = ".".join(str(p) for p in first["loc"]) or "(top level)"
            if first["type"] == "extra_forbidden":
                msg = "unknown key"
            else:
                msg = first["msg"].removeprefix("Value error, ")
            more = f" (+{exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
            raise DepartmentConfigError(f"{source}: {key}: {msg}{more}") from exc


def config_path(state_dir: Path, department: str) -> Path:
    return state_dir / "departments" / f"{department}.toml"


def load_department_config(path: Path, *, required: bool = False) -> DepartmentConfig:
    """The configuration at ``path``; the defaults if it does not exist and not ``required``.

    Raises:
        DepartmentConfigError: the file is unreadable, missing (when required) or invalid.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        if not required:
            return DepartmentConfig()
        raise DepartmentConfigError(f"{path}: configuration file not found") from exc
    except OSError as exc:
        raise DepartmentConfigError(f"{path}: cannot read ({exc.strerror})") from exc
    except UnicodeDecodeError as exc:
        raise DepartmentConfigError(
            f"{path}: not UTF-8 text (byte {exc.start}); save the file as UTF-8"
        ) from None
    return DepartmentConfig.from_toml(text, source=str(path))


@dataclass(frozen=True)
class DepartmentRuntime:
    """A department's configuration with every default filled in."""

    name: str
    host: str
    port: int
    registrar_user: str
    max_upload_bytes: int
    paths: NodePaths
    index_url: str
    detectors: tuple[DetectorSection, ...]
    areas: tuple[Area, ...] = ()
    calendar: WorkCalendar = field(default_factory=WorkCalendar)
    tls: bool = True
    client_certificates: str = "optional"
    exchange_port: int = 0
    seal_user_keys: bool = True
    # The department's crypto: its TLS CA signs the gateway's HTTPS certificate.
    crypto: OrgCrypto | None = None

    @property
    def tls_ca(self) -> Path | None:
        """The CA a client trusts for this gateway's HTTPS certificate (None: plain HTTP)."""
        return self.crypto.tlsca_cert if self.tls and self.crypto is not None else None

    @property
    def base_url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    @property
    def work_dir(self) -> Path:
        """The gateway's tokens and upload spool."""
        return self.paths.root / "gateway"

    @property
    def health_url(self) -> str:
        return f"{self.base_url}/healthz"

    @classmethod
    def of(cls, config: DepartmentConfig, state_dir: Path, dep: Department) -> DepartmentRuntime:
        paths = NodePaths(config.node.dir) if config.node.dir else NodePaths.of(state_dir, dep.name)
        return cls(
            name=dep.name,
            host=config.gateway.host,
            port=config.gateway.port or dep.peer.port + GATEWAY_PORT_OFFSET,
            registrar_user=config.gateway.registrar_user,
            max_upload_bytes=config.gateway.max_upload_mb << 20,
            paths=paths,
            index_url=config.node.index_url or sqlite_url(paths.root / "node.sqlite"),
            detectors=tuple(config.detectors),
            areas=tuple(a.area() for a in config.areas),
            calendar=config.calendar.work_calendar(),
            tls=config.gateway.tls,
            client_certificates=config.gateway.client_certificates,
            exchange_port=config.gateway.exchange_port or dep.peer.port + EXCHANGE_PORT_OFFSET,
            seal_user_keys=config.gateway.seal_user_keys,
            crypto=OrgCrypto(state_dir / "crypto" / dep.name, dep.name, dep.domain),
        )


def department_runtime(state_dir: Path, dep: Department) -> DepartmentRuntime:
    """``dep``'s runtime from its file under ``state_dir`` (or the defaults).

    Raises:
        DepartmentConfigError: the file exists and is invalid.
    """
    config = load_department_config(config_path(state_dir, dep.name))
    return DepartmentRuntime.of(config, state_dir, dep)
