"""Camera configuration: one YAML file per camera, parsed once into a typed, checked object.

Relative paths in the file are relative to the file's folder. See docs/DETECTORS.md for an
annotated example. :func:`load_camera_config` is the one constructor; what it returns is
well-formed (polygons simple, rules and violation types consistent, zone ids unique).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from detectors.errors import ConfigError, PolygonError, UnknownClassError
from detectors.geometry import InvalidPolygon, Polygon
from detectors.models.base import SSD_BACKEND, YOLO_BACKEND
from detectors.models.coco import COCO_TF_NAMES
from detectors.rules import DwellParams, Rule, violation_type_for
from schemas.glossary import ViolationType

# Identifiers go into the shared claims schema: zone ids are codes, camera ids identifiers.
_ZONE_ID = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_CAMERA_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
_MSP_ID = re.compile(r"^[A-Za-z][A-Za-z0-9.-]{0,63}$")
_STREAM_SCHEMES = ("rtsp://", "rtsps://", "http://", "https://")


def _resolve(value: Path | None, info: ValidationInfo) -> Path | None:
    base = (info.context or {}).get("base_dir")
    if value is None or value.is_absolute() or base is None:
        return value
    return Path(base) / value


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SourceConfig(_Model):
    """Where frames come from: a video file, a directory of images, or a stream URL."""

    uri: str = Field(min_length=1)
    fps: Annotated[float, Field(gt=0)] | None = None
    start_time: dt.datetime | None = None

    @field_validator("uri")
    @classmethod
    def _resolve_uri(cls, value: str, info: ValidationInfo) -> str:
        if value.startswith(_STREAM_SCHEMES):
            return value
        resolved = _resolve(Path(value), info)
        return str(resolved)

    @field_validator("start_time")
    @classmethod
    def _aware(cls, value: dt.datetime | None) -> dt.datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("start_time needs a UTC offset, e.g. 2026-03-01T08:00:00+08:00")
        return value

    @property
    def is_stream(self) -> bool:
        return self.uri.startswith(_STREAM_SCHEMES)


class ModelConfig(_Model):
    """Which detector runs and how its raw output is filtered."""

    backend: Literal["ssd_mobilenet_v2_coco", "yolo_onnx"]
    path: Path | None = None
    confidence: Annotated[float, Field(gt=0, le=1)] = 0.4
    iou: Annotated[float, Field(gt=0, le=1)] = 0.45
    layout: Literal["auto", "v8", "end2end"] = "auto"
    input_size: tuple[Annotated[int, Field(gt=0)], Annotated[int, Field(gt=0)]] | None = None
    class_names: dict[int, str] | None = None

    @field_validator("path")
    @classmethod
    def _resolve_path(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        return _resolve(value, info)

    @model_validator(mode="after")
    def _backend_fields(self) -> ModelConfig:
        if self.backend == YOLO_BACKEND and self.path is None:
            raise ValueError("backend yolo_onnx needs 'path' (the .onnx file)")
        if self.backend == SSD_BACKEND and (self.class_names or self.input_size):
            raise ValueError("class_names and input_size apply to yolo_onnx only")
        return self


class TrackingConfig(_Model):
    """ByteTrack-style association settings (see detectors/tracking.py)."""

    high_threshold: Annotated[float, Field(gt=0, le=1)] = 0.5
    low_threshold: Annotated[float, Field(gt=0, le=1)] = 0.1
    match_iou: Annotated[float, Field(gt=0, le=1)] = 0.2
    lost_seconds: Annotated[float, Field(ge=0)] = 2.0
    min_hits: Annotated[int, Field(ge=1)] = 2

    @model_validator(mode="after")
    def _ordered(self) -> TrackingConfig:
        if self.low_threshold > self.high_threshold:
            raise ValueError("low_threshold must not exceed high_threshold")
        return self


class ZoneConfig(_Model):
    """A polygon in frame pixels and the rule that applies inside it."""

    id: str
    polygon: tuple[tuple[float, float], ...]
    rule: Rule
    violation_type: ViolationType | None = None
    classes: tuple[str, ...] = Field(min_length=1)
    min_dwell_seconds: Annotated[float, Field(gt=0)]
    cooldown_seconds: Annotated[float, Field(ge=0)] = 300.0
    exit_grace_seconds: Annotated[float, Field(ge=0)] = 1.0
    dedupe_iou: Annotated[float, Field(gt=0, le=1)] = 0.5
    handover_seconds: Annotated[float, Field(ge=0)] = 3.0

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not _ZONE_ID.match(value):
            raise ValueError("zone id: lower-case letters, digits and '_', at most 64")
        return value

    @field_validator("polygon")
    @classmethod
    def _simple(cls, value: tuple[tuple[float, float], ...]) -> tuple[tuple[float, float], ...]:
        try:
            Polygon.parse(value)
        except InvalidPolygon as exc:
            if exc.reason == "self_intersecting":
                raise PydanticCustomError(
                    "polygon_self_intersecting",
                    "polygon is self-intersecting: {detail}",
                    {"detail": str(exc)},
                ) from exc
            raise ValueError(str(exc)) from exc
        return value

    @field_validator("classes")
    @classmethod
    def _unique(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(value)) != len(value):
            raise ValueError("classes must not repeat")
        return value

    @model_validator(mode="after")
    def _violation(self) -> ZoneConfig:
        violation_type_for(self.rule, self.violation_type)
        return self

    @property
    def shape(self) -> Polygon:
        return Polygon.parse(self.polygon)

    @property
    def flags(self) -> ViolationType:
        """The violation type this zone reports."""
        return violation_type_for(self.rule, self.violation_type)

    @property
    def dwell(self) -> DwellParams:
        return DwellParams(
            min_dwell=self.min_dwell_seconds,
            cooldown=self.cooldown_seconds,
            exit_grace=self.exit_grace_seconds,
            dedupe_iou=self.dedupe_iou,
            handover=self.handover_seconds,
        )


class EvidenceConfig(_Model):
    jpeg_quality: Annotated[int, Field(ge=30, le=100)] = 85
    max_clip_seconds: Annotated[float, Field(gt=0)] = 20.0


class DeviceConfig(_Model):
    """The edge box's identity, issued by the department (``evnet identity issue``)."""

    org: str = Field(description="the department's MSP id, e.g. UrbanManagementMSP")
    cert: Path
    key: Path

    @field_validator("org")
    @classmethod
    def _msp(cls, value: str) -> str:
        if not _MSP_ID.match(value):
            raise ValueError("org must be an MSP id such as UrbanManagementMSP")
        return value

    @field_validator("cert", "key")
    @classmethod
    def _resolve_paths(cls, value: Path, info: ValidationInfo) -> Path | None:
        return _resolve(value, info)


class DeliveryConfig(_Model):
    gateway_url: str = Field(pattern=r"^https?://")
    # A file holding the device's bearer token (issued by the department's admin); the token
    # itself never sits in the configuration, which is shared and versioned.
    token_file: Path | None = None
    spool_path: Path = Path("spool.sqlite")
    spool_max_bytes: Annotated[int, Field(ge=1_000_000)] = 2 * 1024**3
    timeout_seconds: Annotated[float, Field(gt=0)] = 30.0
    retry_base_seconds: Annotated[float, Field(gt=0)] = 1.0
    retry_max_seconds: Annotated[float, Field(gt=0)] = 300.0
    # HTTPS: the CA the gateway's certificate chains to (the department's TLS CA).
    ca_file: Path | None = None
    # Mutual TLS: present the device's own certificate (the device section) as its identity,
    # so no bearer token has to sit on the box.
    client_certificate: bool = False
    # How often to ask the gateway which reminded zones to watch (rectification requests).
    rectification_poll_seconds: Annotated[float, Field(gt=0)] = 30.0

    @field_validator("spool_path", "token_file", "ca_file")
    @classmethod
    def _resolve_paths(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        return _resolve(value, info)

    @model_validator(mode="after")
    def _tls_fields(self) -> DeliveryConfig:
        https = self.gateway_url.startswith("https://")
        if (self.ca_file is not None or self.client_certificate) and not https:
            raise ValueError("ca_file and client_certificate need an https:// gateway_url")
        if self.ca_file is not None and not self.ca_file.is_file():
            raise ValueError(f"ca_file {self.ca_file} does not exist")
        return self

    def bearer_headers(self) -> dict[str, str]:
        """The ``Authorization`` header for the gateway, read from ``token_file`` now.

        Raises:
            ConfigError: the token file is missing, unreadable or empty.
        """
        if self.token_file is None:
            return {}
        try:
            token = self.token_file.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(
                f"delivery.token_file {self.token_file}: cannot read it ({exc})"
            ) from None
        if not token or any(c.isspace() for c in token):
            raise ConfigError(
                f"delivery.token_file {self.token_file}: expected one bearer token on one line"
            )
        return {"Authorization": f"Bearer {token}"}


class PlaceConfig(_Model):
    lat: Annotated[float, Field(ge=-90, le=90)]
    lon: Annotated[float, Field(ge=-180, le=180)]


class CameraConfig(_Model):
    """One camera: source, sampling, model, zones and (for live runs) identity and delivery."""

    camera_id: str
    place: PlaceConfig | None = None
    source: SourceConfig
    sample_fps: Annotated[float, Field(gt=0, le=60)] = 5.0
    model: ModelConfig
    tracking: TrackingConfig = TrackingConfig()
    zones: tuple[ZoneConfig, ...] = Field(min_length=1)
    evidence: EvidenceConfig = EvidenceConfig()
    device: DeviceConfig | None = None
    delivery: DeliveryConfig | None = None

    @model_validator(mode="after")
    def _client_certificate_needs_device(self) -> CameraConfig:
        if self.delivery is not None and self.delivery.client_certificate and self.device is None:
            raise ValueError("delivery.client_certificate needs the device section (cert, key)")
        return self

    @field_validator("camera_id")
    @classmethod
    def _camera_id(cls, value: str) -> str:
        if not _CAMERA_ID.match(value):
            raise ValueError("camera id: letters, digits, '.', '_', ':' or '-', at most 128")
        return value

    @field_validator("zones")
    @classmethod
    def _unique_zones(cls, value: tuple[ZoneConfig, ...]) -> tuple[ZoneConfig, ...]:
        ids = [z.id for z in value]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"zone ids repeat: {', '.join(dupes)}")
        return value

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], base_dir: Path | None = None) -> CameraConfig:
        """Validate an already-parsed mapping (relative paths against ``base_dir``).

        Raises:
            ConfigError: (or :class:`PolygonError`, :class:`UnknownClassError`) naming the field.
        """
        try:
            config = cls.model_validate(data, context={"base_dir": base_dir})
        except ValidationError as exc:
            raise _translate(exc, data) from None
        if config.model.backend == SSD_BACKEND:
            config.check_classes(COCO_TF_NAMES.values())
        return config

    def check_classes(self, model_classes: Collection[str]) -> None:
        """Every zone's classes must be classes the model reports.

        Raises:
            UnknownClassError: naming the zone, the class and the nearest model classes.
        """
        known = set(model_classes)
        for zi, zone in enumerate(self.zones):
            for ci, name in enumerate(zone.classes):
                if name not in known:
                    hint = _close(name, known)
                    raise UnknownClassError(
                        f"model has no class {name!r}{hint}",
                        field=f"zones[{zi}] ({zone.id}).classes[{ci}]",
                    )


def load_camera_config(path: Path) -> CameraConfig:
    """Read and check a camera configuration YAML file.

    Raises:
        ConfigError: unreadable file, bad YAML, or a field that fails its check (the message
            names the field); :class:`PolygonError` for a self-intersecting zone polygon and
            :class:`UnknownClassError` for a class the model lacks.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read camera configuration {path}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"camera configuration {path}: not UTF-8 text (byte {exc.start}); save it as UTF-8"
        ) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" at line {where.line + 1}" if where is not None else ""
        raise ConfigError(f"{path} is not valid YAML{line}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping of settings")
    return CameraConfig.from_mapping(data, base_dir=path.resolve().parent)


def _close(name: str, known: Collection[str]) -> str:
    import difflib

    near = difflib.get_close_matches(name, sorted(known), n=3, cutoff=0.6)
    return f" (did you mean {', '.join(repr(n) for n in near)}?)" if near else ""


def _field_path(loc: Sequence[int | str], data: Mapping[str, Any]) -> str:
    parts: list[str] = []
    node: Any = data
    for item in loc:
        if isinstance(item, int):
            label = f"[{item}]"
            if isinstance(node, list) and 0 <= item < len(node):
                node = node[item]
                if isinstance(node, dict) and isinstance(node.get("id"), str):
                    label += f" ({node['id']})"
            else:
                node = None
            parts.append(label)
        else:
            parts.append(f".{item}" if parts else item)
            node = node.get(item) if isinstance(node, dict) else None
    return "".join(parts) or "(top level)"


def _translate(exc: ValidationError, data: Mapping[str, Any]) -> ConfigError:
    errors = exc.errors(include_url=False)
    # A crossing polygon is the one problem with its own code: report it first.
    errors.sort(key=lambda e: e["type"] != "polygon_self_intersecting")
    first = errors[0]
    field = _field_path(first["loc"], data)
    message = first["msg"].removeprefix("Value error, ")
    if len(errors) > 1:
        message += f" (and {len(errors) - 1} more problem(s))"
    if first["type"] == "polygon_self_intersecting":
        return PolygonError(message, field=field)
    return ConfigError(message, field=field)
