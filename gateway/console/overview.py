"""The overview's numbers: from this node's search index, evidence items counted by
violation type, camera and day, the coordinates for the scatter map (drawn as inline SVG, no
tile server) and the open cases' waiting time per stage against the legal limits; from the
ledger, the self-rectification rate of reminded flags."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import NamedTuple

from sqlalchemy import func, select
from sqlalchemy.sql.elements import ColumnElement

from node.index import IndexDatabase
from node.index.cases import StageAge, stage_ages
from node.index.schema import EvidenceRow
from schemas.glossary import Stage, ViolationStatus

MAX_CAMERAS = 20
# The map draws the newest items only: past a couple of thousand the dots overlap into a
# blot at 640 x 400, and every one is a DOM node a tablet has to lay out.
MAX_POINTS = 2000
MAP_WIDTH, MAP_HEIGHT, MAP_MARGIN = 640.0, 400.0, 12.0


class Dot(NamedTuple):
    """A map dot in SVG units (a tuple: thousands are made per page)."""

    x: float
    y: float
    violation_type: str


@dataclass(frozen=True)
class Overview:
    total: int
    by_type: list[tuple[str, int]]
    by_camera: list[tuple[str, int]]  # the busiest cameras
    by_day: list[tuple[str, int]]  # ISO dates, oldest first
    dots: list[Dot]  # the newest items with coordinates, in SVG units


def _day(dialect: str) -> ColumnElement[str]:
    if dialect == "postgresql":
        return func.to_char(func.timezone("UTC", EvidenceRow.captured_at), "YYYY-MM-DD")
    return func.date(EvidenceRow.captured_at)  # SQLite keeps UTC text


def summarise(index: IndexDatabase, now: dt.datetime, days: int = 30) -> Overview:
    """Counts over the whole index; days over the last ``days`` days before ``now``."""
    count = func.count().label("n")
    with index.session() as s:
        total = int(s.execute(select(func.count()).select_from(EvidenceRow)).scalar_one())
        by_type = s.execute(
            select(EvidenceRow.violation_type, count)
            .group_by(EvidenceRow.violation_type)
            .order_by(count.desc(), EvidenceRow.violation_type)
        ).all()
        by_camera = s.execute(
            select(EvidenceRow.camera_id, count)
            .group_by(EvidenceRow.camera_id)
            .order_by(count.desc(), EvidenceRow.camera_id)
            .limit(MAX_CAMERAS)
        ).all()
        day = _day(index.engine.dialect.name).label("day")
        by_day = s.execute(
            select(day, count)
            .where(EvidenceRow.captured_at >= now - dt.timedelta(days=days))
            .group_by(day)
            .order_by(day)
        ).all()
        points = s.execute(
            select(EvidenceRow.lat, EvidenceRow.lon, EvidenceRow.violation_type)
            .where(EvidenceRow.lat.is_not(None), EvidenceRow.lon.is_not(None))
            .order_by(EvidenceRow.captured_at.desc())
            .limit(MAX_POINTS)
        ).all()
    return Overview(
        total=total,
        by_type=[(str(t), int(n)) for t, n in by_type],
        by_camera=[(str(c), int(n)) for c, n in by_camera],
        by_day=[(str(d), int(n)) for d, n in by_day],
        dots=scatter(
            [
                (float(la), float(lo), str(t))
                for la, lo, t in points
                if la is not None and lo is not None
            ]
        ),
    )


def scatter(points: list[tuple[float, float, str]]) -> list[Dot]:
    """(lat, lon, type) into the SVG box, north up, keeping the aspect of a local map
    (a degree of longitude shrinks with the cosine of the latitude)."""
    if not points:
        return []

    lats = [p[0] for p in points]
    lons = [p[1] for p in points]
    south, north, west, east = min(lats), max(lats), min(lons), max(lons)  # once, not per dot
    if east - west < 1e-9 and north - south < 1e-9:  # one place: in the middle, not a corner
        return [Dot(MAP_WIDTH / 2, MAP_HEIGHT / 2, kind) for _, _, kind in points]
    mid = math.cos(math.radians((south + north) / 2))
    span_x = max((east - west) * mid, 1e-9)
    span_y = max(north - south, 1e-9)
    scale = min((MAP_WIDTH - 2 * MAP_MARGIN) / span_x, (MAP_HEIGHT - 2 * MAP_MARGIN) / span_y)
    # x = margin + (lon - west)·cos·scale, y = height - margin - (lat - south)·scale, folded
    # into one multiply-add per axis.
    sx, x0 = mid * scale, MAP_MARGIN - west * mid * scale
    sy, y0 = scale, MAP_HEIGHT - MAP_MARGIN + south * scale
    return [
        Dot(round(x0 + lon * sx, 1), round(y0 - lat * sy, 1), kind) for lat, lon, kind in points
    ]


def layers(dots: list[Dot]) -> list[tuple[str, str]]:
    """The dots grouped by violation type, each group's circles as one SVG string.

    One ``<g>`` per type carries the colour class and the tooltip for all its circles: 5,000
    circles each with its own class and title made the overview twice as heavy to render and
    to send. The markup holds only numbers formatted here, so it is safe to insert as is.
    """
    grouped: dict[str, list[str]] = {}
    for d in dots:
        grouped.setdefault(d.violation_type, []).append(
            f'<circle cx="{float(d.x)}" cy="{float(d.y)}" r="3"/>'
        )
    return sorted((kind, "".join(circles)) for kind, circles in grouped.items())


# How long a case may wait in each stage before the overview counts it as over the limit, in
# days. Indicative limits from the Administrative Penalty Law (行政处罚法, 2021) and common
# enforcement rules: a decision within 90 days of filing (Art. 60), a hearing requested
# within 5 days of the notice (Art. 64), a penalty paid within 15 days (Art. 67), and the
# filing decision within 15 days of discovery (e.g. 市场监督管理行政处罚程序规定 Art. 18).
STAGE_LIMIT_DAYS: dict[Stage, int] = {
    Stage.SOURCE: 15,
    Stage.PRELIMINARY_CHECK: 15,
    Stage.FILING_APPROVAL: 15,
    Stage.INVESTIGATION: 90,
    Stage.ADVANCE_NOTICE: 15,
    Stage.DECISION: 15,
    Stage.EXECUTION: 15,
}
RATE_SAMPLE = 500  # the newest flags per state the rate is computed over


@dataclass(frozen=True)
class RectificationRate:
    """Of the reminded flags that came to an end, the share that the party put right itself:
    rectified / (rectified + escalated + community reminded), over the newest flags."""

    rectified: int
    not_rectified: int
    examined: int

    @property
    def percent(self) -> float | None:
        done = self.rectified + self.not_rectified
        return None if done == 0 else round(100 * self.rectified / done, 1)


async def rectification_rate(
    count: Callable[[ViolationStatus, int], Awaitable[int]],
) -> RectificationRate:
    """``count(status, at_most)``: how many of this department's flags are in ``status``."""
    rectified = await count(ViolationStatus.RECTIFIED, RATE_SAMPLE)
    escalated = await count(ViolationStatus.ESCALATED, RATE_SAMPLE)
    community = await count(ViolationStatus.COMMUNITY_REMINDED, RATE_SAMPLE)
    return RectificationRate(rectified, escalated + community, rectified + escalated + community)


def stage_table(index: IndexDatabase, now: dt.datetime) -> list[StageAge]:
    return stage_ages(index, now, STAGE_LIMIT_DAYS)
