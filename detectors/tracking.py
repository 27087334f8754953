"""Multi-object tracking: a compact ByteTrack-style tracker over :class:`Detections`.

supervision removed its ByteTrack in 0.30 (it moved to the separate ``trackers`` package),
so the association lives here, small enough to read: predict each track's box with a
constant-velocity model; match high-confidence detections to all live tracks by IoU; then
match low-confidence detections to the tracks still unmatched that were seen on the previous
frame (ByteTrack's idea: a person half hidden behind a post scores low but is still the same
person); new tracks start from unmatched high-confidence detections and get an id once they
have been matched ``min_hits`` times; a track unseen for ``lost_seconds`` is dropped.
Matching is class-aware and greedy by IoU.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from detectors.geometry import iou_matrix
from detectors.models.base import Detections


@dataclass(frozen=True, slots=True)
class TrackerParams:
    high_threshold: float = 0.5
    low_threshold: float = 0.1
    match_iou: float = 0.2
    low_match_iou: float = 0.5
    lost_seconds: float = 2.0
    min_hits: int = 2


@dataclass(slots=True, eq=False)  # tracks compare by identity
class _Track:
    box: NDArray[np.float64]
    class_id: int
    last_t: float
    velocity: NDArray[np.float64] = field(default_factory=lambda: np.zeros(4))
    hits: int = 1
    track_id: int = 0  # 0 until confirmed

    def predicted(self, t: float, horizon: float) -> NDArray[np.float64]:
        dt = min(max(t - self.last_t, 0.0), horizon)
        out: NDArray[np.float64] = self.box + self.velocity * dt
        return out


def _greedy(scores: NDArray[np.float64], threshold: float) -> list[tuple[int, int]]:
    pairs: list[tuple[int, int]] = []
    if scores.size == 0:
        return pairs
    rows, cols = np.nonzero(scores >= threshold)
    order = np.argsort(-scores[rows, cols], kind="stable")
    used_r: set[int] = set()
    used_c: set[int] = set()
    for k in order:
        r, c = int(rows[k]), int(cols[k])
        if r not in used_r and c not in used_c:
            used_r.add(r)
            used_c.add(c)
            pairs.append((r, c))
    return pairs


class ByteTracker:
    """Stateful tracker; call :meth:`update` once per sampled frame, in time order."""

    def __init__(self, params: TrackerParams | None = None) -> None:
        self._p = params or TrackerParams()
        self._tracks: list[_Track] = []
        self._next_id = 1
        self._last_t: float | None = None

    def update(self, detections: Detections, t: float) -> Detections:
        """Associate this frame's detections; returns those on confirmed tracks, with ids."""
        p = self._p
        self._tracks = [tr for tr in self._tracks if t - tr.last_t <= p.lost_seconds]
        boxes = detections.xyxy.astype(np.float64)
        conf = detections.confidence
        cls = detections.class_id
        high = np.nonzero(conf >= p.high_threshold)[0]
        low = np.nonzero((conf >= p.low_threshold) & (conf < p.high_threshold))[0]
        assigned: dict[int, _Track] = {}  # detection index -> track

        def match(tracks: list[_Track], dets: NDArray[np.intp], threshold: float) -> list[_Track]:
            if not tracks or len(dets) == 0:
                return tracks
            predicted = np.stack([tr.predicted(t, p.lost_seconds) for tr in tracks])
            scores = iou_matrix(predicted, boxes[dets])
            same_class = np.array([tr.class_id for tr in tracks])[:, None] == cls[dets][None, :]
            scores = np.where(same_class, scores, 0.0)
            matched_tracks: set[int] = set()
            for ti, di in _greedy(scores, threshold):
                assigned[int(dets[di])] = tracks[ti]
                matched_tracks.add(ti)
            return [tr for i, tr in enumerate(tracks) if i not in matched_tracks]

        unmatched = match(self._tracks, high, p.match_iou)
        recent = [tr for tr in unmatched if tr.last_t == self._last_t]
        still = match(recent, low, p.low_match_iou)
        unmatched = [tr for tr in unmatched if tr not in recent or tr in still]

        for di, track in assigned.items():
            dt = t - track.last_t
            if dt > 0:
                observed = (boxes[di] - track.box) / dt
                track.velocity = (
                    observed if track.hits == 1 else 0.5 * track.velocity + 0.5 * observed
                )
            track.box = boxes[di]
            track.last_t = t
            track.hits += 1
            if track.track_id == 0 and track.hits >= p.min_hits:
                track.track_id = self._next_id
                self._next_id += 1

        survivors = [tr for tr in self._tracks if tr not in unmatched]
        for track in unmatched:
            # Tentative tracks die on their first miss; confirmed ones wait lost_seconds.
            if track.track_id and t - track.last_t <= p.lost_seconds:
                survivors.append(track)
        assigned_ids = set(assigned)
        for index in high:
            di = int(index)
            if di not in assigned_ids:
                track = _Track(boxes[di].copy(), int(cls[di]), t)
                if p.min_hits <= 1:
                    track.track_id = self._next_id
                    self._next_id += 1
                survivors.append(track)
                assigned[di] = track
        self._tracks = survivors
        self._last_t = t

        keep = sorted(di for di, tr in assigned.items() if tr.track_id)
        idx = np.asarray(keep, dtype=np.int64)
        ids = np.asarray([assigned[di].track_id for di in keep], dtype=np.int64)
        return Detections(detections.xyxy[idx], conf[idx], cls[idx], ids)
