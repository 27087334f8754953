"""The ByteTrack-style tracker on synthetic boxes."""

from __future__ import annotations

from detkit import PERSON, dets, person

from detectors.models.base import Detections
from detectors.tracking import ByteTracker, TrackerParams


def ids(tracked: Detections) -> list[int]:
    assert tracked.tracker_id is not None
    return tracked.tracker_id.tolist()


def test_a_walker_keeps_its_id_and_a_track_needs_two_hits() -> None:
    tracker = ByteTracker(TrackerParams(min_hits=2))
    seen = []
    for i in range(10):  # 12 px per frame at 5 fps: a brisk walk for a 20 px wide person
        seen.append(ids(tracker.update(dets(person(50 + 12 * i, 100)), i * 0.2)))
    assert seen[0] == []  # tentative on its first frame
    assert all(s == [1] for s in seen[1:])


def test_two_people_crossing_keep_their_ids() -> None:
    tracker = ByteTracker(TrackerParams(min_hits=1))
    history: dict[int, list[float]] = {}
    for i in range(12):
        tracked = tracker.update(dets(person(40 + 10 * i, 100), person(200 - 10 * i, 140)), i * 0.2)
        for box, tid in zip(tracked.xyxy, ids(tracked), strict=True):
            history.setdefault(tid, []).append(float(box[3]))
    assert sorted(history) == [1, 2]
    assert set(history[1]) == {100.0}
    assert set(history[2]) == {140.0}


def test_a_low_confidence_frame_continues_the_track_but_cannot_start_one() -> None:
    tracker = ByteTracker(TrackerParams(min_hits=1, high_threshold=0.5, low_threshold=0.1))
    assert ids(tracker.update(dets(person(100, 100, conf=0.9)), 0.0)) == [1]
    # Half hidden behind a post: the detector is unsure, ByteTrack's second pass keeps it.
    assert ids(tracker.update(dets(person(101, 100, conf=0.2)), 0.2)) == [1]
    assert ids(tracker.update(dets(person(300, 100, conf=0.2)), 0.4)) == []


def test_a_track_survives_a_short_gap_but_not_a_long_one() -> None:
    tracker = ByteTracker(TrackerParams(min_hits=1, lost_seconds=1.0))
    assert ids(tracker.update(dets(person(100, 100)), 0.0)) == [1]
    tracker.update(Detections.empty(), 0.4)
    assert ids(tracker.update(dets(person(100, 100)), 0.8)) == [1]
    tracker.update(Detections.empty(), 1.0)
    assert ids(tracker.update(dets(person(100, 100)), 2.2)) == [2]


def test_matching_is_class_aware() -> None:
    tracker = ByteTracker(TrackerParams(min_hits=1))
    tracker.update(dets(person(100, 100)), 0.0)
    box, conf, _ = person(100, 100)
    umbrella = Detections.of([box], [conf], [28])
    tracked = tracker.update(umbrella, 0.2)
    assert ids(tracked) == [2]
    assert tracked.class_id.tolist() == [28]
    assert PERSON != 28
