"""Zone polygons in frame pixels: validity and point membership, as pure functions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

Point = tuple[float, float]


class InvalidPolygon(ValueError):
    """The points do not form a simple polygon; ``reason`` is a stable short name."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


def _orientation(p: Point, q: Point, r: Point) -> int:
    value = (q[1] - p[1]) * (r[0] - q[0]) - (q[0] - p[0]) * (r[1] - q[1])
    if value == 0:
        return 0
    return 1 if value > 0 else 2


def _on_segment(p: Point, q: Point, r: Point) -> bool:
    """q lies on segment pr, given the three are collinear."""
    return min(p[0], r[0]) <= q[0] <= max(p[0], r[0]) and min(p[1], r[1]) <= q[1] <= max(p[1], r[1])


def segments_intersect(p1: Point, q1: Point, p2: Point, q2: Point) -> bool:
    """True when closed segments p1q1 and p2q2 share at least one point."""
    o1, o2 = _orientation(p1, q1, p2), _orientation(p1, q1, q2)
    o3, o4 = _orientation(p2, q2, p1), _orientation(p2, q2, q1)
    if o1 != o2 and o3 != o4:
        return True
    return (
        (o1 == 0 and _on_segment(p1, p2, q1))
        or (o2 == 0 and _on_segment(p1, q2, q1))
        or (o3 == 0 and _on_segment(p2, p1, q2))
        or (o4 == 0 and _on_segment(p2, q1, q2))
    )


@dataclass(frozen=True, slots=True)
class Polygon:
    """A simple (non-self-intersecting) polygon with at least three vertices.

    Build one with :meth:`parse`; any instance you hold is simple and has non-zero area.
    """

    points: tuple[Point, ...]

    @classmethod
    def parse(cls, points: Sequence[Sequence[float]]) -> Polygon:
        """Check and build a polygon from ``[[x, y], ...]``.

        Raises:
            InvalidPolygon: fewer than 3 points, repeated consecutive points, zero area, or
                edges that cross (``reason == "self_intersecting"``).
        """
        pts = tuple((float(p[0]), float(p[1])) for p in points)
        if len(pts) < 3:
            raise InvalidPolygon("a polygon needs at least 3 points", "too_few_points")
        n = len(pts)
        for i in range(n):
            if pts[i] == pts[(i + 1) % n]:
                raise InvalidPolygon(f"point {i} repeats the next point", "repeated_point")
        for i in range(n):
            a1, a2 = pts[i], pts[(i + 1) % n]
            for j in range(i + 1, n):
                if j == i + 1 or (i == 0 and j == n - 1):
                    continue  # adjacent edges share a vertex by construction
                b1, b2 = pts[j], pts[(j + 1) % n]
                if segments_intersect(a1, a2, b1, b2):
                    raise InvalidPolygon(
                        f"edge {i}-{(i + 1) % n} crosses edge {j}-{(j + 1) % n}",
                        "self_intersecting",
                    )
        polygon = cls(pts)
        if polygon.area == 0.0:
            raise InvalidPolygon("polygon has no area", "self_intersecting")
        return polygon

    @property
    def area(self) -> float:
        xs = [p[0] for p in self.points]
        ys = [p[1] for p in self.points]
        n = len(xs)
        twice = sum(xs[i] * ys[(i + 1) % n] - xs[(i + 1) % n] * ys[i] for i in range(n))
        return abs(twice) / 2.0

    def contains(self, x: float, y: float) -> bool:
        """Even-odd rule; points on an edge may fall either side."""
        return bool(self.contains_points(np.array([[x, y]], dtype=np.float64))[0])

    def contains_points(self, xy: NDArray[np.floating]) -> NDArray[np.bool_]:
        """Membership of each row of an ``(N, 2)`` array of points."""
        x = xy[:, 0].astype(np.float64)
        y = xy[:, 1].astype(np.float64)
        inside = np.zeros(len(xy), dtype=np.bool_)
        n = len(self.points)
        for i in range(n):
            x1, y1 = self.points[i]
            x2, y2 = self.points[(i + 1) % n]
            if y1 == y2:
                continue
            crosses = (y1 > y) != (y2 > y)
            x_at = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
            inside ^= crosses & (x < x_at)
        return inside

    def as_list(self) -> list[list[float]]:
        return [[p[0], p[1]] for p in self.points]


def bottom_centres(xyxy: NDArray[np.floating]) -> NDArray[np.float64]:
    """Ground-contact anchor of each box: the middle of its bottom edge."""
    out = np.empty((len(xyxy), 2), dtype=np.float64)
    out[:, 0] = (xyxy[:, 0] + xyxy[:, 2]) / 2.0
    out[:, 1] = xyxy[:, 3]
    return out


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two ``(x1, y1, x2, y2)`` boxes."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def iou_matrix(a: NDArray[np.floating], b: NDArray[np.floating]) -> NDArray[np.float64]:
    """Pairwise IoU of ``(N, 4)`` and ``(M, 4)`` boxes."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)), dtype=np.float64)
    a64 = a.astype(np.float64)[:, None, :]
    b64 = b.astype(np.float64)[None, :, :]
    ix = np.clip(
        np.minimum(a64[..., 2], b64[..., 2]) - np.maximum(a64[..., 0], b64[..., 0]), 0, None
    )
    iy = np.clip(
        np.minimum(a64[..., 3], b64[..., 3]) - np.maximum(a64[..., 1], b64[..., 1]), 0, None
    )
    inter = ix * iy
    area_a = (a64[..., 2] - a64[..., 0]) * (a64[..., 3] - a64[..., 1])
    area_b = (b64[..., 2] - b64[..., 0]) * (b64[..., 3] - b64[..., 1])
    union = area_a + area_b - inter
    out: NDArray[np.float64] = np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)
    return out
