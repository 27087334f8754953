"""Zone rules as pure functions: which violation a rule flags, and dwell episodes.

A *dwell episode* is one tracked object's stay in one zone: it starts when the object is first
seen in the zone and ends when it has been out of the zone (or unseen) for longer than the
zone's exit grace. An episode yields at most one confirmation, when the object has stayed
``min_dwell_seconds``. A confirmation is suppressed (the episode stays silent) when it repeats
one already made:

- the same track was confirmed in this zone and last seen less than ``cooldown_seconds`` ago
  (it left and came back); or
- the episode began where a confirmed object was last seen (boxes overlap by at least
  ``dedupe_iou``) within ``handover_seconds`` of that sighting: the signature of a tracker id
  switch on a stationary object, which would otherwise flood events from one stall.

A different person who stops on the same spot after it has been empty for longer than the
handover window is a new episode and is reported.

Times are media seconds (``Frame.pts``), so replaying a file gives the same result at any speed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum

from detectors.geometry import iou
from schemas.glossary import ViolationType


class Rule(StrEnum):
    """Zone rules a camera configuration may name."""

    NO_VENDING = "no_vending"
    SHOPFRONT = "shopfront"
    NO_PARKING_MOTOR = "no_parking_motor"
    NO_PARKING_NONMOTOR = "no_parking_nonmotor"
    NO_DUMPING = "no_dumping"
    NO_HANGING = "no_hanging"


#: The violation types each rule may flag; the first is the default when a zone names none.
RULE_VIOLATIONS: Mapping[Rule, tuple[ViolationType, ...]] = {
    Rule.NO_VENDING: (ViolationType.ROAD_OCCUPATION, ViolationType.ROAMING_VENDOR),
    Rule.SHOPFRONT: (ViolationType.SHOPFRONT_OPERATION,),
    Rule.NO_PARKING_MOTOR: (ViolationType.MOTOR_PARKING,),
    Rule.NO_PARKING_NONMOTOR: (ViolationType.NONMOTOR_PARKING,),
    Rule.NO_DUMPING: (ViolationType.GARBAGE_PILE,),
    Rule.NO_HANGING: (ViolationType.STREET_HANGING,),
}


def violation_type_for(rule: Rule, chosen: ViolationType | None = None) -> ViolationType:
    """The violation type a zone flags: ``chosen`` if the rule allows it, else the default.

    Raises:
        ValueError: ``chosen`` is not one the rule may flag.
    """
    allowed = RULE_VIOLATIONS[rule]
    if chosen is None:
        return allowed[0]
    if chosen not in allowed:
        names = ", ".join(v.value for v in allowed)
        raise ValueError(f"rule {rule.value} flags {names}, not {chosen.value}")
    return chosen


@dataclass(frozen=True, slots=True)
class DwellParams:
    """One zone's dwell settings (seconds)."""

    min_dwell: float
    cooldown: float
    exit_grace: float = 1.0
    dedupe_iou: float = 0.5
    handover: float = 3.0


@dataclass(frozen=True, slots=True)
class Observation:
    """A tracked object of a zone's classes whose anchor is inside the zone at time ``t``."""

    track_id: int
    t: float
    frame_index: int
    class_id: int
    confidence: float
    xyxy: tuple[float, float, float, float]


@dataclass(frozen=True, slots=True)
class Episode:
    """One object's stay in one zone."""

    track_id: int
    started_at: float
    start_frame: int
    last_seen_at: float
    first: Observation
    last: Observation
    settled: bool = False  # confirmed or suppressed: no further confirmation this episode

    @property
    def dwell(self) -> float:
        return self.last_seen_at - self.started_at


@dataclass(frozen=True, slots=True)
class Confirmation:
    """An episode reached the minimum dwell: the rule fires once for it."""

    episode: Episode
    observation: Observation

    @property
    def dwell(self) -> float:
        return self.observation.t - self.episode.started_at


@dataclass(frozen=True, slots=True)
class _Fired:
    """A confirmed object, followed while it stays so that repeats can be recognised."""

    track_id: int
    last_seen_at: float
    xyxy: tuple[float, float, float, float]


@dataclass(frozen=True, slots=True)
class DwellState:
    """Open episodes by track id, and recent confirmations (for the cooldown)."""

    episodes: Mapping[int, Episode] = field(default_factory=dict)
    fired: tuple[_Fired, ...] = ()
    suppressed: int = 0

    @property
    def watching(self) -> bool:
        """Some episode may still confirm (its frames may become evidence)."""
        return any(not e.settled for e in self.episodes.values())


def _repeats(fired: Iterable[_Fired], episode: Episode, params: DwellParams) -> bool:
    for rec in fired:
        if rec.track_id == episode.track_id:
            return True
        gap = episode.started_at - rec.last_seen_at
        if -params.handover <= gap <= params.handover and (
            iou(rec.xyxy, episode.first.xyxy) >= params.dedupe_iou
        ):
            return True
    return False


def advance(
    state: DwellState, seen: Iterable[Observation], t: float, params: DwellParams
) -> tuple[DwellState, list[Confirmation]]:
    """Fold one sampled frame's in-zone observations (all at time ``t``) into the state.

    Returns the new state and the confirmations this frame produced (at most one per track).
    """
    episodes = dict(state.episodes)
    observed = {obs.track_id: obs for obs in seen}
    for obs in observed.values():
        current = episodes.get(obs.track_id)
        if current is None:
            episodes[obs.track_id] = Episode(obs.track_id, obs.t, obs.frame_index, obs.t, obs, obs)
        else:
            episodes[obs.track_id] = replace(current, last_seen_at=obs.t, last=obs)

    for track_id in [k for k, e in episodes.items() if k not in observed]:
        if t - episodes[track_id].last_seen_at > params.exit_grace:
            del episodes[track_id]

    fired = tuple(
        replace(f, last_seen_at=t, xyxy=observed[f.track_id].xyxy) if f.track_id in observed else f
        for f in state.fired
        if f.track_id in observed or t - f.last_seen_at < params.cooldown
    )
    suppressed = state.suppressed
    confirmations: list[Confirmation] = []
    for track_id in sorted(observed):
        episode = episodes[track_id]
        if episode.settled or episode.dwell < params.min_dwell:
            continue
        episodes[track_id] = replace(episode, settled=True)
        obs = episode.last
        repeat = _repeats(fired, episode, params)
        if not repeat:
            confirmations.append(Confirmation(episode, obs))
        else:
            suppressed += 1
        if not any(f.track_id == track_id for f in fired):
            # Follow the object from now on (also a suppressed one: its next id switch
            # must be recognised as the same stall too).
            fired = (*fired, _Fired(track_id, obs.t, obs.xyxy))
    return DwellState(episodes, fired, suppressed), confirmations
