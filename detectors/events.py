"""The two shapes an event takes on the edge box.

:class:`ViolationEvent` is what the rules concluded (domain data, never sent as is);
:class:`Submission` is what the device sends to its gateway: the signed canonical claims and
the evidence files they name. The spool stores submissions, delivery sends them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from detectors.evidence import EvidenceFile
from detectors.rules import Rule
from schemas.glossary import ViolationType


@dataclass(frozen=True, slots=True)
class ViolationEvent:
    """One confirmed dwell episode: who stayed where, how long, under which rule."""

    event_id: str
    camera_id: str
    zone_id: str
    zone_polygon: tuple[tuple[float, float], ...]
    rule: Rule
    violation_type: ViolationType
    track_id: int
    class_id: int
    class_name: str
    confidence: float
    xyxy: tuple[float, float, float, float]
    started_at: dt.datetime
    confirmed_at: dt.datetime
    dwell_seconds: float
    min_dwell_seconds: float
    start_frame: int
    confirm_frame: int
    start_pts: float
    confirm_pts: float


@dataclass(frozen=True, slots=True)
class Submission:
    """What the device submits for one event (see docs/DETECTORS.md, "Submission contract").

    ``claims`` are the canonical JSON bytes exactly as signed; ``signature`` is DER ECDSA
    P-256 over SHA-256(claims), low-S; ``certificate`` is the device certificate (PEM).
    Signature and certificate are empty only for unsigned dry runs, which are never spooled.
    """

    event_id: str
    claims: bytes
    signature: bytes
    certificate: bytes
    files: tuple[EvidenceFile, ...]

    @property
    def signed(self) -> bool:
        return bool(self.signature and self.certificate)

    @property
    def size(self) -> int:
        return (
            len(self.claims)
            + len(self.signature)
            + len(self.certificate)
            + sum(len(f.data) for f in self.files)
        )
