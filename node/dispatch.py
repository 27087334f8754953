"""Areas (片区): which officers answer for what which cameras see.

The field reports' grid officers (网格员, 片区执法队员) get the flags of their own streets
pushed to their phones as they happen, instead of waiting for someone at the centre to
forward them. A department lists its areas in its configuration (``[[areas]]``: a name,
camera-id patterns, the officers); an officer's handheld then gets the flags of its areas,
each change once, in the order the changes happened: pushed as the index follower writes
them (``GET /assignments/stream``), or asked for (``GET /assignments``).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

# Camera ids are ledger identifiers; a pattern adds the glob's * and ?.
CAMERA_PATTERN = r"^[A-Za-z0-9*?][A-Za-z0-9._:*?-]{0,127}$"


@dataclass(frozen=True)
class Area:
    name: str
    cameras: tuple[str, ...]  # glob patterns over camera ids: "cam-jiangbei-*"
    officers: frozenset[str]  # the officers' user names

    def covers(self, camera_id: str) -> bool:
        return any(fnmatch.fnmatchcase(camera_id, p) for p in self.cameras)


# Every camera of the department: what the centre's reviewers follow (no officer answers
# for it; it names the flags' area in their feed).
DEPARTMENT = Area("department", ("*",), frozenset())


def areas_of(areas: Iterable[Area], officer: str) -> list[Area]:
    """The areas ``officer`` answers for, in configuration order."""
    return [a for a in areas if officer in a.officers]


def area_of(areas: Sequence[Area], camera_id: str) -> str | None:
    """The first of ``areas`` that covers ``camera_id``, by name."""
    return next((a.name for a in areas if a.covers(camera_id)), None)


def like_pattern(glob: str) -> str:
    """A camera glob as an SQL LIKE pattern with ``\\`` as its escape character."""
    escaped = glob.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped.replace("*", "%").replace("?", "_")
