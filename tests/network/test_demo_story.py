"""The main job's story (``evnet demo``) on the real network, so it cannot silently break."""

from __future__ import annotations

from pathlib import Path

import pytest

from node import walkthrough
from node.consortium.network import Network
from schemas.hashes import Digest

pytestmark = pytest.mark.network


async def test_the_demo_story_runs_end_to_end(people: Network, tmp_path: Path) -> None:
    lines: list[str] = []
    outcome = await walkthrough.run(people.layout, lines.append, tmp_path)
    # On a fresh network the sweep is clean (that is what `evnet demo` shows). This session's
    # ledger also holds UrbanManagement items other tests registered without a node, which
    # the sweep rightly lists as registered-but-not-held; nothing else may appear.
    assert {p.kind for p in outcome.problems} <= {"LEDGER_WITHOUT_INDEX"}
    assert all(p.subject != outcome.evidence_id for p in outcome.problems)
    # PublicSecurity's copy is the camera's photo, byte for byte.
    assert Digest.of(outcome.fetched_to.read_bytes()) == Digest.of(walkthrough.street_photo())
    assert [t.split(" → ")[1] for t in outcome.trail] == ["denied (no_grant)", "granted (grant)"]
    assert any("refused (RECORD_DENIED)" in line for line in lines)
    assert any(line.startswith("== 8.") for line in lines)
