"""The index follower on the real network: a case transferred in, with the other
department's evidence, a grant and access records appear in MarketSupervision's index;
a restarted follower resumes from its checkpoint and repeats nothing."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import uuid
from pathlib import Path

import pytest
from netsupport import caught_up, ledger_as
from sqlalchemy import func, select

from node.consortium.network import Network
from node.fabric import FileCheckpointer
from node.follower import IndexFollower
from node.index import EvidenceQuery, open_index
from node.index.database import sqlite_url
from node.index.reports import Period, period_bounds, period_report
from node.index.schema import AccessRow, CaseRow, FlagRow, GrantRow
from schemas.glossary import AccessKind, ViolationType
from schemas.hashes import Digest
from schemas.ledger import (
    AccessRequest,
    CaseFiling,
    CaseSource,
    EvidenceRegistration,
    GrantRequest,
    PackageAccessRequest,
    SubjectKind,
    TargetKind,
    TransferAnswer,
    TransferProposal,
    package_record_id,
)
from schemas.violations import CaseOpening, ViolationFlag, ViolationReview

pytestmark = pytest.mark.network


def _registration(
    evidence_id: str,
    at: dt.datetime,
    violation_type: ViolationType,
    owner_org: str = "UrbanManagementMSP",
) -> EvidenceRegistration:
    """A camera's item, registered by its department's device without a node."""
    return EvidenceRegistration(
        evidence_id=evidence_id,
        plaintext_hash=Digest.of(b"p" + evidence_id.encode()),
        ciphertext_hash=Digest.of(b"c" + evidence_id.encode()),
        size=1234,
        media_type="image/jpeg",
        captured_at=at,
        device_id="device1",
        camera_id="cam-7",
        violation_type=violation_type,
        owner_org=owner_org,
        locator="blob:x",
        claims_hash=Digest.of(b"claims"),
    )


async def test_a_case_transferred_in_appears_in_the_receivers_index(
    people: Network, tmp_path: Path
) -> None:
    layout = people.layout
    urban, device = (
        ledger_as(layout, "UrbanManagement", "officer"),
        ledger_as(layout, "UrbanManagement", "device"),
    )
    market, police = (
        ledger_as(layout, "MarketSupervision", "officer"),
        ledger_as(layout, "PublicSecurity", "partner"),
    )
    evidence_id, case_id = f"EV-{uuid.uuid4().hex[:10]}", f"CASE-{uuid.uuid4().hex[:8]}"
    first = await device.register_evidence(
        _registration(
            evidence_id,
            dt.datetime(2026, 11, 22, 8, tzinfo=dt.UTC),
            ViolationType.SHOPFRONT_OPERATION,
        )
    )
    await urban.file_case(
        CaseFiling(
            case_id=case_id,
            violation_type=ViolationType.SHOPFRONT_OPERATION,
            subject_key=hashlib.sha256(case_id.encode()).hexdigest(),
            subject_kind=SubjectKind.ORGANIZATION,
            source=CaseSource.CAMERA,
            evidence_ids=[evidence_id],
        )
    )
    proposal = await urban.propose_transfer(
        TransferProposal(case_id=case_id, to_org="MarketSupervisionMSP", reason="competence")
    )
    await caught_up(market, proposal.block_number)
    await market.answer_transfer(TransferAnswer(case_id=case_id, accept=True))
    granted = await market.grant_access(
        GrantRequest(
            target=TargetKind.CASE,
            target_id=case_id,
            grantee_org="PublicSecurityMSP",
            purpose="joint_enforcement",
            expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(days=1),
        )
    )
    await caught_up(police, granted.block_number)
    seen = await police.request_access(
        AccessRequest(
            target=TargetKind.EVIDENCE,
            target_id=evidence_id,
            purpose="joint_enforcement",
            kind=AccessKind.VIEW,
        )
    )

    index = open_index(sqlite_url(tmp_path / "market.sqlite"))
    checkpoint = tmp_path / "follower.json"
    reader = ledger_as(layout, "MarketSupervision", "auditor")
    await caught_up(reader, seen.block_number)
    # Follow from the registration's block up to the access record (6 events), then stop.
    follower = IndexFollower(reader, index, FileCheckpointer(checkpoint))
    handled = await asyncio.wait_for(follower.run(start_block=first.block_number, stop_after=6), 60)
    assert handled == 6
    with index.session() as session:
        case = session.get(CaseRow, case_id)
        assert case is not None
        assert (case.holder_org, case.stage) == ("MarketSupervisionMSP", "source")
        assert session.get(GrantRow, ("case", case_id, "PublicSecurityMSP")) is not None
        record = session.get(AccessRow, seen.tx_id)
        assert record is not None
        assert (record.accessor_org, record.outcome) == ("PublicSecurityMSP", "granted")
    assert index.search(EvidenceQuery(case_id=case_id)).evidence_ids == [evidence_id]
    remote = index.evidence(evidence_id)
    assert remote is not None
    assert remote.owner_org == "UrbanManagementMSP"

    # A restarted follower resumes after the checkpoint: the next event is a new one.
    again = await market.request_access(
        AccessRequest(
            target=TargetKind.CASE, target_id=case_id, purpose="investigation", kind=AccessKind.VIEW
        )
    )
    await caught_up(reader, again.block_number)
    restarted = IndexFollower(reader, index, FileCheckpointer(checkpoint))
    assert await asyncio.wait_for(restarted.run(stop_after=1), 60) == 1
    with index.session() as session:
        assert session.get(AccessRow, again.tx_id) is not None
        assert session.scalar(select(func.count()).select_from(AccessRow)) == 2

    # An export's batch is one event naming every record: each lands in the index.
    exported = await market.request_package_access(
        PackageAccessRequest(evidence_ids=[evidence_id], purpose="evidence_package")
    )
    await caught_up(reader, exported.block_number)
    assert await asyncio.wait_for(restarted.run(stop_after=1), 60) == 1
    with index.session() as session:
        row = session.get(AccessRow, package_record_id(exported.tx_id, 0))
        assert row is not None
        assert (row.kind, row.outcome, row.target_id) == ("package", "granted", evidence_id)


async def test_the_department_s_flags_feed_its_period_report(
    people: Network, tmp_path: Path
) -> None:
    # MarketSupervision's, so that its ledger-only items (no node holds them) sit in no case
    # UrbanManagement holds: the console and demo tests sweep UrbanManagement's node.
    layout = people.layout
    market = "MarketSupervisionMSP"
    device = ledger_as(layout, "MarketSupervision", "device")
    reviewer = ledger_as(layout, "MarketSupervision", "reviewer")
    tag = uuid.uuid4().hex[:8]
    flags = [f"evt-report-{tag}-{n}" for n in (1, 2)]
    case_id = f"CASE-REPORT-{tag}"
    at = dt.datetime.now(dt.UTC).replace(microsecond=0)
    for flag_id in flags:
        evidence_id = f"EV-{flag_id}"
        await device.register_evidence(
            _registration(evidence_id, at, ViolationType.ROAD_OCCUPATION, market)
        )
    raised = [
        await device.flag_violation(
            ViolationFlag(
                flag_id=flag_id,
                camera_id="cam-7",
                violation_type=ViolationType.ROAD_OCCUPATION,
                detected_at=at,
                evidence_ids=[f"EV-{flag_id}"],
                confidence=0.8,
                claims_hash=Digest.of(b"claims"),
            )
        )
        for flag_id in flags
    ]
    await caught_up(reviewer, raised[-1].block_number)
    await reviewer.review_violation(
        ViolationReview(flag_id=flags[0], decision="rejected", reason="false_positive")
    )
    # Confirmed into a case: the transaction's one event is the case's CaseFiled.
    opened = await reviewer.review_violation(
        ViolationReview(
            flag_id=flags[1],
            decision="confirmed",
            reason="confirmed_on_footage",
            action="case",
            case=CaseOpening(
                case_id=case_id,
                subject_key=hashlib.sha256(case_id.encode()).hexdigest(),
                subject_kind=SubjectKind.PERSON,
            ),
        )
    )

    # The department's follower reads as its admin, as `evnet gateway serve` runs it.
    reader = ledger_as(layout, "MarketSupervision")
    await caught_up(reader, opened.block_number)
    index = open_index(sqlite_url(tmp_path / "market.sqlite"))
    follower = IndexFollower(reader, index, FileCheckpointer(tmp_path / "f.json"), org=market)
    # Two flags raised, one moved, one case filed from the other: four events.
    run = follower.run(start_block=raised[0].block_number, stop_after=4)
    assert await asyncio.wait_for(run, 60) == 4
    with index.session() as session:
        rows = [session.get(FlagRow, flag_id) for flag_id in flags]
        assert [(r.status, r.case_id) if r else None for r in rows] == [
            ("rejected", None),
            ("case_filed", case_id),
        ]
        assert rows[0] is not None
        assert (rows[0].camera_id, rows[0].detected_at) == ("cam-7", at)
    since, until = period_bounds(Period.DAY, at.date(), dt.UTC)
    report = period_report(index, market, Period.DAY, since, until, at)
    f = report.flags
    assert (f.raised, f.reviewed, f.rejected, f.cases_filed) == (2, 2, 1, 1)
    assert f.false_positive_rate == 0.5
    assert report.cases.filed == 1
