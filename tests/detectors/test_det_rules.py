"""Zone geometry and dwell episodes, as pure functions on synthetic observations."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pytest

from detectors.geometry import InvalidPolygon, Polygon, segments_intersect
from detectors.rules import Confirmation, DwellParams, DwellState, Observation, advance

SQUARE = Polygon.parse([[0, 0], [100, 0], [100, 100], [0, 100]])
PARAMS = DwellParams(min_dwell=4.0, cooldown=30.0, exit_grace=1.0, dedupe_iou=0.5, handover=3.0)
STALL = (40.0, 40.0, 60.0, 90.0)


def test_polygon_membership_and_concave_shapes() -> None:
    ell = Polygon.parse([[0, 0], [100, 0], [100, 40], [40, 40], [40, 100], [0, 100]])
    pts = np.array([[20, 20], [80, 20], [80, 80], [20, 80], [150, 20]], dtype=np.float64)
    assert ell.contains_points(pts).tolist() == [True, True, False, True, False]
    assert ell.area == 100 * 40 + 40 * 60


@pytest.mark.parametrize(
    ("points", "reason"),
    [
        ([[0, 0], [10, 10], [10, 0], [0, 10]], "self_intersecting"),  # bow tie
        ([[0, 0], [10, 0], [20, 0]], "self_intersecting"),  # collinear: no area
        ([[0, 0], [10, 0], [10, 10], [5, -5], [0, 10]], "self_intersecting"),
        ([[0, 0], [10, 0], [10, 0], [0, 10]], "repeated_point"),
        ([[0, 0], [10, 0]], "too_few_points"),
    ],
)
def test_invalid_polygons(points: list[list[float]], reason: str) -> None:
    with pytest.raises(InvalidPolygon) as caught:
        Polygon.parse(points)
    assert caught.value.reason == reason


def test_segment_intersection_touching_counts() -> None:
    assert segments_intersect((0, 0), (10, 0), (5, 0), (5, 5))
    assert not segments_intersect((0, 0), (10, 0), (0, 1), (10, 1))


def obs(track: int, t: float, box: tuple[float, float, float, float] = STALL) -> Observation:
    return Observation(track, t, round(t * 5), 1, 0.9, box)


def run(
    timeline: Iterable[tuple[float, list[Observation]]], params: DwellParams = PARAMS
) -> tuple[DwellState, list[Confirmation]]:
    state = DwellState()
    fired: list[Confirmation] = []
    for t, seen in timeline:
        state, new = advance(state, seen, t, params)
        fired.extend(new)
    return state, fired


def ticks(
    start: float, end: float, *tracks: int, step: float = 0.2
) -> list[tuple[float, list[Observation]]]:
    times = np.arange(start, end + 1e-9, step)
    return [(round(float(t), 3), [obs(k, round(float(t), 3)) for k in tracks]) for t in times]


def test_a_passer_by_never_fires() -> None:
    _, fired = run(ticks(0, 3.0, 7) + ticks(3.2, 10, step=0.2))
    assert fired == []


def test_a_stay_fires_once_at_the_minimum_dwell() -> None:
    state, fired = run(ticks(0, 20, 7))
    assert len(fired) == 1
    assert fired[0].episode.started_at == 0.0
    assert fired[0].observation.t == pytest.approx(4.0)
    assert fired[0].dwell == pytest.approx(4.0)
    assert not state.watching  # settled: no more evidence needed


def test_detector_dropouts_within_the_exit_grace_keep_one_episode() -> None:
    timeline = ticks(0, 2.0, 7) + ticks(2.2, 2.8) + ticks(3.0, 6.0, 7)  # 0.8 s unseen
    _, fired = run(timeline)
    assert [c.episode.started_at for c in fired] == [0.0]


def test_leaving_longer_than_the_grace_ends_the_episode() -> None:
    timeline = ticks(0, 3.0, 7) + ticks(3.2, 5.0) + ticks(5.2, 8.0, 7)
    _, fired = run(timeline)  # 3 s, gone 2 s, then 2.8 s: neither stay reaches 4 s
    assert fired == []


def test_the_same_track_coming_back_within_the_cooldown_is_not_reported_again() -> None:
    timeline = ticks(0, 6.0, 7) + ticks(6.2, 15.0) + ticks(15.2, 25.0, 7)
    state, fired = run(timeline)
    assert len(fired) == 1
    assert state.suppressed == 1


def test_after_the_cooldown_the_same_track_is_reported_again() -> None:
    timeline = ticks(0, 6.0, 7) + ticks(6.2, 40.0, step=1.0) + ticks(40.2, 46.0, 7)
    _, fired = run(timeline)
    assert [round(c.observation.t, 1) for c in fired] == [4.0, 44.2]


def test_an_id_switch_on_a_stationary_stall_does_not_flood() -> None:
    # The tracker loses the stall after 10 s and re-acquires it as track 8, then 9.
    timeline = ticks(0, 10.0, 7) + ticks(10.2, 11.0) + ticks(11.2, 20.0, 8)
    timeline += ticks(20.2, 21.6) + ticks(21.8, 30.0, 9)
    state, fired = run(timeline)
    assert [c.episode.track_id for c in fired] == [7]
    assert state.suppressed == 2


def test_someone_else_on_the_same_spot_after_a_gap_is_a_new_event() -> None:
    timeline = ticks(0, 6.0, 7) + ticks(6.2, 11.0) + ticks(11.2, 17.0, 8)  # 5 s empty
    _, fired = run(timeline)
    assert [c.episode.track_id for c in fired] == [7, 8]


def test_two_objects_at_once_fire_separately() -> None:
    a = (10.0, 10.0, 20.0, 40.0)
    b = (70.0, 10.0, 80.0, 40.0)
    timeline = [(t, [obs(1, t, a), obs(2, t, b)]) for t in np.arange(0, 6, 0.5).tolist()]
    _, fired = run(timeline)
    assert sorted(c.episode.track_id for c in fired) == [1, 2]
