"""The index follower's choice of cases and its supervisor loop (ledger reads faked at the
client's seam; the real event stream is tests/network/test_index_follower.py): a
department's index holds the cases it holds, is offered or was granted, keeps following a
case it handed on, and ignores the rest; a broken stream is reopened."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from pathlib import Path
from typing import Any, cast

import pytest
from sqlalchemy import select

from node.fabric import ChaincodeEvent, FileCheckpointer
from node.follower import IndexFollower, follow
from node.index import IndexDatabase, open_index
from node.index.changes import ChangeSignal
from node.index.database import sqlite_url
from node.index.schema import FlagRow
from node.ledger import LedgerClient
from schemas.glossary import AccessKind, Procedure, Stage, ViolationStatus, ViolationType
from schemas.ledger import (
    CaseRecord,
    CaseSource,
    GrantRecord,
    PendingTransfer,
    SubjectKind,
    TargetKind,
    ledger_time,
)
from schemas.violations import ViolationRecord

URBAN, MARKET, POLICE = "UrbanManagementMSP", "MarketSupervisionMSP", "PublicSecurityMSP"
AT = ledger_time(dt.datetime(2026, 11, 22, 9, tzinfo=dt.UTC))


def case(case_id: str, holder: str, **changes: Any) -> CaseRecord:
    doc: dict[str, Any] = {
        "case_id": case_id,
        "violation_type": ViolationType.ROAD_OCCUPATION,
        "stage": Stage.SOURCE,
        "subject_key": "a" * 64,
        "subject_kind": SubjectKind.PERSON,
        "source": CaseSource.CAMERA,
        "procedure": Procedure.GENERAL,
        "holder_org": holder,
        "filed_by_org": holder,
        "filed_by": "CN=officer1",
        "filed_at": AT,
        "filed_tx": "f" * 64,
        "updated_at": AT,
        **changes,
    }
    return CaseRecord.model_validate(doc)


def grant(case_id: str, grantee: str) -> GrantRecord:
    return GrantRecord(
        target=TargetKind.CASE,
        target_id=case_id,
        grantee_org=grantee,
        purpose="joint_enforcement",
        kinds=[AccessKind.VIEW],
        expires_at=AT,
        granted_by_org=MARKET,
        granted_by="CN=officer1",
        granted_at=AT,
        granted_tx="g" * 64,
    )


class Ledger:
    """What the follower reads: cases (no items), grants and flags."""

    def __init__(self) -> None:
        self.cases: dict[str, CaseRecord] = {}
        self.grant_list: dict[str, list[GrantRecord]] = {}
        self.flags: dict[str, ViolationRecord] = {}

    async def violation(self, flag_id: str) -> ViolationRecord:
        return self.flags[flag_id]

    async def case(self, case_id: str) -> CaseRecord:
        return self.cases[case_id]

    async def case_evidence(self, case_id: str) -> list[str]:
        return []

    async def grants(self, target: TargetKind, target_id: str) -> list[GrantRecord]:
        return self.grant_list.get(target_id, [])


@pytest.fixture
def index(tmp_path: Path) -> IndexDatabase:
    return open_index(sqlite_url(tmp_path / "index.sqlite"))


def follower(
    ledger: Ledger, index: IndexDatabase, tmp_path: Path, changes: ChangeSignal | None = None
) -> IndexFollower:
    checkpoint = FileCheckpointer(tmp_path / "follower.json")
    return IndexFollower(
        cast(LedgerClient, ledger), index, checkpoint, org=URBAN, flag_changes=changes
    )


def event(name: str, **payload: Any) -> ChaincodeEvent:
    return ChaincodeEvent(7, "t" * 64, "evidence", name, json.dumps(payload).encode())


async def test_only_the_departments_cases_are_indexed(index: IndexDatabase, tmp_path: Path) -> None:
    ledger = Ledger()
    ledger.cases = {
        "ours": case("ours", URBAN),
        "theirs": case("theirs", MARKET),
        "offered": case("offered", MARKET, pending_transfer=PendingTransfer(seq=1, to_org=URBAN)),
    }
    f = follower(ledger, index, tmp_path)
    for case_id in ledger.cases:
        await f.handle(event("CaseFiled", case_id=case_id))
    assert index.case("ours") is not None
    assert index.case("offered") is not None
    assert index.case("theirs") is None


async def test_a_case_granted_to_the_department_is_indexed(
    index: IndexDatabase, tmp_path: Path
) -> None:
    ledger = Ledger()
    ledger.cases = {"shared": case("shared", MARKET), "other": case("other", MARKET)}
    ledger.grant_list = {"shared": [grant("shared", URBAN)], "other": [grant("other", POLICE)]}
    f = follower(ledger, index, tmp_path)
    await f.handle(event("AccessGranted", target="case", target_id="shared", grantee_org=URBAN))
    await f.handle(event("AccessGranted", target="case", target_id="other", grantee_org=POLICE))
    shared = index.case("shared")
    assert shared is not None
    assert shared.holder_org == MARKET
    assert index.case("other") is None


def flag(flag_id: str, org: str, status: ViolationStatus, **changes: Any) -> ViolationRecord:
    doc: dict[str, Any] = {
        "flag_id": flag_id,
        "org": org,
        "camera_id": "cam-jiangbei-12",
        "violation_type": ViolationType.ROAD_OCCUPATION,
        "detected_at": AT,
        "evidence_ids": ["EV-1"],
        "confidence": 0.9,
        "claims_hash": "sha256:" + "c" * 64,
        "status": status,
        "flagged_by": "CN=edge-07",
        "flagged_tx": "t" * 64,
        "updated_at": AT,
        "steps": 1,
        **changes,
    }
    return ViolationRecord.model_validate(doc)


def flags_ledger() -> Ledger:
    """A ledger with two detected flags: evt-1 this department's, evt-9 another's."""
    ledger = Ledger()
    ledger.flags = {
        "evt-1": flag("evt-1", URBAN, ViolationStatus.DETECTED),
        "evt-9": flag("evt-9", MARKET, ViolationStatus.DETECTED),
    }
    return ledger


async def test_the_department_s_flags_are_indexed_as_they_stand_now(
    index: IndexDatabase, tmp_path: Path
) -> None:
    ledger = flags_ledger()
    f = follower(ledger, index, tmp_path)
    await f.handle(event("ViolationFlagged", flag_id="evt-1", org=URBAN))
    await f.handle(event("ViolationFlagged", flag_id="evt-9", org=MARKET))
    ledger.flags["evt-1"] = flag("evt-1", URBAN, ViolationStatus.CASE_FILED, case_id="CASE-1")
    await f.handle(event("ViolationMoved", flag_id="evt-1", org=URBAN, status="case_filed"))
    # A step that opens a case: the transaction's one event is the case's, naming the flag.
    ledger.flags["evt-2"] = flag("evt-2", URBAN, ViolationStatus.DETECTED)
    await f.handle(event("ViolationFlagged", flag_id="evt-2", org=URBAN))
    ledger.flags["evt-2"] = flag("evt-2", URBAN, ViolationStatus.CASE_FILED, case_id="CASE-2")
    ledger.cases["CASE-2"] = case("CASE-2", URBAN)
    await f.handle(event("CaseFiled", case_id="CASE-2", holder_org=URBAN, flag_id="evt-2"))
    with index.session() as session:
        rows = {r.flag_id: r for r in session.execute(select(FlagRow)).scalars()}
    assert sorted(rows) == ["evt-1", "evt-2"]  # another department's flag is its own index's
    assert (rows["evt-1"].status, rows["evt-1"].case_id) == ("case_filed", "CASE-1")
    assert (rows["evt-2"].status, rows["evt-2"].case_id) == ("case_filed", "CASE-2")
    assert index.case("CASE-2") is not None
    assert rows["evt-1"].detected_at == dt.datetime(2026, 11, 22, 9, tzinfo=dt.UTC)


async def test_each_flag_written_is_signalled_to_the_open_feeds(
    index: IndexDatabase, tmp_path: Path
) -> None:
    ledger = flags_ledger()
    ledger.cases = {"CASE-1": case("CASE-1", URBAN)}
    changes = ChangeSignal()
    f = follower(ledger, index, tmp_path, changes)
    await f.handle(event("ViolationFlagged", flag_id="evt-1", org=URBAN))
    assert changes.count == 1
    # Another department's flag and a case without one write no flag here: no news.
    await f.handle(event("ViolationFlagged", flag_id="evt-9", org=MARKET))
    await f.handle(event("CaseFiled", case_id="CASE-1", holder_org=URBAN))
    assert changes.count == 1
    ledger.flags["evt-1"] = flag("evt-1", URBAN, ViolationStatus.REMINDED)
    await f.handle(event("ViolationMoved", flag_id="evt-1", org=URBAN, status="reminded"))
    assert changes.count == 2


async def test_a_case_handed_on_stays_current_in_the_index(
    index: IndexDatabase, tmp_path: Path
) -> None:
    ledger = Ledger()
    ledger.cases = {"moved": case("moved", URBAN)}
    f = follower(ledger, index, tmp_path)
    await f.handle(event("CaseFiled", case_id="moved"))
    ledger.cases["moved"] = case("moved", MARKET, stage=Stage.INVESTIGATION, filed_by_org=URBAN)
    await f.handle(event("TransferAccepted", case_id="moved"))
    row = index.case("moved")
    assert row is not None
    assert (row.holder_org, row.stage) == (MARKET, "investigation")
    assert row.filed_at == dt.datetime(2026, 11, 22, 9, tzinfo=dt.UTC)
    assert row.filed_by_org == URBAN  # filed here, held there now


async def test_follow_reopens_a_broken_stream_and_stops_when_cancelled() -> None:
    runs: list[int | None] = []
    second = asyncio.Event()

    class Flaky:
        async def run(self, *, start_block: int | None = None) -> int:
            runs.append(start_block)
            if len(runs) == 1:
                raise ConnectionError("peer restarting")
            second.set()
            await asyncio.sleep(3600)
            return 0

    task = asyncio.create_task(
        follow(cast(IndexFollower, Flaky()), start_block=0, retry_seconds=0.01)
    )
    await asyncio.wait_for(second.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert runs == [0, 0]
