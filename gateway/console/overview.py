"""The overview's numbers, straight from this node's search index: evidence items counted
by violation type, camera and day, and the coordinates for the scatter map (drawn as inline
SVG, no tile server)."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.sql.elements import ColumnElement

from node.index import IndexDatabase
from node.index.schema import EvidenceRow

MAX_CAMERAS = 20
MAX_POINTS = 5000
MAP_WIDTH, MAP_HEIGHT, MAP_MARGIN = 640.0, 400.0, 12.0


@dataclass(frozen=True)
class Dot:
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
    mid = math.cos(math.radians((min(lats) + max(lats)) / 2))
    span_x = max((max(lons) - min(lons)) * mid, 1e-9)
    span_y = max(max(lats) - min(lats), 1e-9)
    scale = min((MAP_WIDTH - 2 * MAP_MARGIN) / span_x, (MAP_HEIGHT - 2 * MAP_MARGIN) / span_y)
    return [
        Dot(
            x=round(MAP_MARGIN + (lon - min(lons)) * mid * scale, 1),
            y=round(MAP_HEIGHT - MAP_MARGIN - (lat - min(lats)) * scale, 1),
            violation_type=kind,
        )
        for lat, lon, kind in points
    ]
