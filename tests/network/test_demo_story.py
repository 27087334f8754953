"""The main job's story (``evnet demo``) on the real network, so it cannot silently break:
each department's gateway runs as a service (``evnet up``'s Stack), the camera runs the real
model on real footage, and the package it exports verifies offline."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import re
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from netsupport import ledger_as, network_settings

from node import walkthrough
from node.chain import BlockArchive
from node.cli import build_parser
from node.consortium.network import Network
from node.department import NodePaths
from node.disclosure import Outcome as DecisionOutcome
from node.disclosure import SignedBulletin, verify_bulletin
from node.ledger import LedgerRefused
from node.ops.stack import Stack
from node.package import verify_package
from schemas.glossary import (
    Period,
    Role,
    ServiceMethod,
    SetAsideGround,
    Stage,
    ViolationStatus,
)
from schemas.ledger import DecisionSetAside, LedgerErrorCode, parse_ledger_time

pytestmark = pytest.mark.network


@pytest.fixture
def stack(people: Network) -> Iterator[Stack]:
    layout = people.layout
    env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG") if k in os.environ}
    env |= {
        "EVNET_STATE_DIR": str(layout.state_dir),
        # The session network's consortium file sits beside its state (tests/network/conftest).
        "EVNET_CONSORTIUM": str(layout.state_dir.parent / "c.yaml"),
        "EVNET_FABRIC_BIN": str(layout.toolchain.bin_dir),
    }
    walkthrough.ensure_demo_area(layout.state_dir)  # as `evnet demo` does before `up`
    running = Stack(people, env)
    running.up(with_network=False)
    try:
        yield running
    finally:
        running.down(with_network=False)


@pytest.mark.timeout(900)
async def test_the_demo_story_runs_end_to_end(
    people: Network, stack: Stack, tmp_path: Path
) -> None:
    lines: list[str] = []
    outcome = await walkthrough.run(people.layout, lines.append, tmp_path)
    # On a fresh network the sweep is clean (that is what `evnet demo` shows). This session's
    # ledger also holds UrbanManagement items other tests registered without a node, which
    # the sweep rightly lists: registered but not held, or, once the follower indexed a case
    # of theirs that UrbanManagement held, indexed but not held. None of the demo's own items
    # (its case's, now held by MarketSupervision) may appear, and nothing else.
    holder = ledger_as(people.layout, "MarketSupervision", "officer")
    ours = set(await holder.case_evidence(outcome.case_id))
    assert outcome.evidence_id in ours
    assert [p for p in outcome.problems if p.subject in ours] == []
    others = {"LEDGER_WITHOUT_INDEX", "BLOB_MISSING", "KEY_MISSING"}
    assert {p.kind for p in outcome.problems} <= others
    assert outcome.flags, "the camera raised no flag"
    report = verify_package(outcome.package)
    assert report.ok, report.render()
    # Each gateway keeps its node's copy of the chain as its peer commits blocks (node.chain),
    # and the holder's export read its proofs from it; the copy checks clean.
    archive = BlockArchive(NodePaths.of(people.layout.state_dir, "MarketSupervision").chain)
    with tarfile.open(outcome.package) as package:
        proofs = {
            int(m.name.removeprefix("proofs/blocks/").removesuffix(".block")): m
            for m in package.getmembers()
            if m.name.startswith("proofs/blocks/")
        }
        assert proofs
        for number, member in proofs.items():
            proof = package.extractfile(member)
            assert proof is not None
            assert archive.block(number) == proof.read(), f"block {number}"
    assert archive.verify() == []
    archive.close()
    # The case file's documents travel with it: UrbanManagement's filing approval form,
    # fetched from its node for the holder's package, and MarketSupervision's decision.
    assert report.checked["case documents"] == 2
    # Every step of the case, from the source to the closure, proven in the package.
    assert [s.entry.to_stage for s in report.steps] == [
        Stage.PRELIMINARY_CHECK,
        Stage.FILING_APPROVAL,
        Stage.INVESTIGATION,
        Stage.ADVANCE_NOTICE,
        Stage.DECISION,
        Stage.EXECUTION,
        Stage.CLOSURE,
    ]
    # The case came from the camera's flag: its loop (detection, the reviewer's decision to
    # open the case) is proven too; roaming vendors owe no reminders before a case.
    assert [(e.to_status, e.role) for e in report.loop] == [
        (ViolationStatus.DETECTED, Role.DEVICE),
        (ViolationStatus.CONFIRMED, Role.REVIEWER),
        (ViolationStatus.CASE_FILED, Role.REVIEWER),
    ]
    filed = {s.entry.to_stage: s.document_item for s in report.steps if s.document_item}
    assert set(filed) == {Stage.FILING_APPROVAL, Stage.DECISION}
    assert any("document of step 2 (filing_approval)" in note for note in report.notes)
    assert any("(decision)" in note and "reviewer" in note for note in report.notes)
    # The decision handed to the party on the spot, proven with the receipt's hash; nothing
    # was set aside when the package was made.
    decided = next(s.entry for s in report.steps if s.entry.to_stage is Stage.DECISION)
    assert [(r.step_tx, r.method, str(r.document_hash)) for r in report.services] == [
        (decided.tx, ServiceMethod.IN_PERSON, decided.details["document_hash"])
    ]
    assert report.set_asides == []
    assert any("served on the party in_person (送达回证 sha256:" in line for line in lines)
    reads = [t for t in outcome.trail if " share with " not in t]
    assert [t.split(" → ")[1] for t in reads][:2] == [
        "denied (no_grant)",
        "granted (grant)",
    ]
    # Between them, the holder's sharing of the case with PublicSecurity (a grant).
    assert any(" share with PublicSecurityMSP → granted (holder)" in t for t in outcome.trail)
    # Through PublicSecurity's own gateway service: refused first, then fetched from
    # UrbanManagement's node over the exchange that `evnet gateway serve` runs.
    # The Xiaohe rule on a grid officer's report: no case before the reminders, and the shop
    # put it right itself after the first.
    assert any("refused by the ledger: 409 REMINDERS_REQUIRED" in line for line in lines)
    assert any("put it right itself: rectified" in line for line in lines)
    assert any("request 1: 403 ACCESS_DENIED" in line for line in lines)
    assert any("node released it against that record" in line for line in lines)
    # The party decided against once is on record for every department: the same violation
    # again is the next step of the schedule.
    record = next(line for line in lines if "the party's record" in line)
    assert "1 violation(s)" in record
    assert "(step 2, stepped penalty)" in record  # the decision was step 1
    dispatched = next(line for line in lines if "dispatched (派单)" in line)
    flags = len(outcome.flags)
    assert f"area vtest-yard: {flags} of {flags} flag(s)" in dispatched, dispatched
    assert any("taken on the spot (现场取证)" in line for line in lines)
    # Counted exactly in tests/network/test_index_follower.py; here, served and printed.
    day = next(line for line in lines if "today's report (日报" in line)
    assert re.search(r": \d+ flag\(s\) raised, \d+ rejected, \d+ evidence item\(s\), ", day), day
    # The holder's decisions of the day, published (行政执法公示): the case's among them, as
    # the ledger recorded it, signed by its reviewer, verified against the pinned anchors
    # (by the demo) and here against the package's own trust: the same roots.
    bulletin = SignedBulletin.parse(outcome.bulletin.read_bytes())
    ours_decided = [d for d in bulletin.bulletin.decisions if d.case_id == outcome.case_id]
    assert len(ours_decided) == 1
    assert ours_decided[0].outcome is DecisionOutcome.PENALTY
    decision_step = next(s for s in report.steps if s.entry.to_stage is Stage.DECISION)
    assert ours_decided[0].decision_tx == decision_step.entry.tx
    assert bulletin.bulletin.org == "MarketSupervisionMSP"
    published = next(line for line in lines if "published (行政执法公示" in line)
    assert "the party only as" in published, published
    assert any("evnet verify-bulletin --trust trust-anchors.json: OK" in line for line in lines)
    checked = next(line for line in lines if "(POST /disclosures/check)" in line)
    listed = len(bulletin.bulletin.decisions)
    assert f"complete, {listed} listed of {listed} decided" in checked, checked
    assert "on time (7 working days)" in checked, checked
    assert (outcome.bulletin.parent / "index.html").read_text().count(outcome.case_id) == 1
    # The same from the node's host, as a daily job would: `evnet disclose`, then checked.
    settings = network_settings(people.layout.state_dir, people.layout.state_dir.parent / "c.yaml")
    out = tmp_path / "cli-disclosure"
    args = build_parser().parse_args(
        [
            *("disclose", "--org", "MarketSupervision", "--user", "reviewer1"),
            *(
                "--period",
                "day",
                "--on",
                bulletin.bulletin.days()[0].isoformat(),
                "--out",
                str(out),
            ),
        ]
    )
    assert await asyncio.to_thread(args.handler, args, settings) == 0
    again = SignedBulletin.parse((out / "bulletin.json").read_bytes()).bulletin
    assert [d.decision_tx for d in again.decisions] == [
        d.decision_tx for d in bulletin.bulletin.decisions
    ]
    anchors = outcome.bulletin.parent.parent / "trust-anchors.json"
    verified = verify_bulletin((out / "bulletin.json").read_bytes(), anchors.read_bytes())
    assert verified.ok, verified.render()
    # Both were recorded on the ledger as published, each by the hash of what it says, by
    # the reviewer; the ledger refuses the record to anyone but a reviewer or an admin
    # (the chaincode's rule, not only the gateway's).
    records = await holder.bulletin_records(
        "MarketSupervisionMSP", Period.DAY, bulletin.bulletin.since
    )
    assert [r.bulletin_hash for r in records] == [bulletin.bulletin.digest(), again.digest()]
    assert {(r.recorded_role, r.decisions) for r in records} == {(Role.REVIEWER, listed)}
    with pytest.raises(LedgerRefused) as refused:
        await holder.record_bulletin(again.recording())
    assert refused.value.code is LedgerErrorCode.ACCESS_DENIED
    assert any(line.startswith("== 9.") for line in lines)
    # Then a reconsideration body revokes the decision (撤回): the holder's reviewer records
    # it through its gateway; the chaincode refuses the officer; the subject's violation no
    # longer counts; the day's bulletin, issued again, withdraws the decision with its
    # reason and no longer lists it; the first bulletin must come down.
    decision_tx = ours_decided[0].decision_tx
    body = {
        "decision_tx": decision_tx,
        "ground": "revoked",
        "authority": "reconsideration",
        "reason": "insufficient_evidence",
        "document_hash": "sha256:" + "e" * 64,
        "set_aside_on": dt.datetime.now(again.zone).date().isoformat(),  # decided today
    }
    market = walkthrough.GatewaySession(
        people.layout, people.layout.consortium.department("MarketSupervision")
    )
    async with market.as_user(Role.REVIEWER) as reviewer:
        resp = await reviewer.post(f"/cases/{outcome.case_id}/set-asides", json=body)
    assert resp.status_code == 201, resp.text
    with pytest.raises(LedgerRefused) as refused:
        await holder.set_aside_decision(
            DecisionSetAside.model_validate_json(json.dumps({"case_id": outcome.case_id, **body}))
        )
    assert refused.value.code is LedgerErrorCode.ACCESS_DENIED
    case = await holder.case(outcome.case_id)
    assert case.set_asides == 1
    voided = [v for v in await holder.subject_history(case.subject_key) if v.tx == decision_tx]
    assert [v.set_aside for v in voided] == [SetAsideGround.REVOKED]
    # The bulletin of the day the setting aside was recorded (the decision's day, unless the
    # test crossed midnight in Beijing).
    set_aside_day = parse_ledger_time(resp.json()["recorded_at"]).astimezone(again.zone).date()
    args = build_parser().parse_args(
        [
            *("disclose", "--org", "MarketSupervision", "--user", "reviewer1"),
            *("--period", "day", "--on", set_aside_day.isoformat(), "--out", str(out)),
        ]
    )
    assert await asyncio.to_thread(args.handler, args, settings) == 0
    withdrawn = SignedBulletin.parse((out / "bulletin.json").read_bytes()).bulletin
    assert decision_tx not in {d.decision_tx for d in withdrawn.decisions}
    assert [(w.decision_tx, w.reason) for w in withdrawn.withdrawals] == [
        (decision_tx, "insufficient_evidence")
    ]
    assert verify_bulletin((out / "bulletin.json").read_bytes(), anchors.read_bytes()).ok
    async with market.as_user(Role.AUDITOR) as auditor:
        first = await auditor.post(
            "/disclosures/check",
            content=outcome.bulletin.read_bytes(),
            headers={"Content-Type": "application/json"},
        )
        latest = await auditor.post(
            "/disclosures/check",
            content=(out / "bulletin.json").read_bytes(),
            headers={"Content-Type": "application/json"},
        )
    assert [d["decision_tx"] for d in first.json()["to_withdraw"]] == [decision_tx]
    found = latest.json()
    assert (found["complete"], found["withdrawals_listed"], found["on_time"]) == (True, 1, True)
    # Any department's auditor checks it the same, from the ledger alone: UrbanManagement's
    # node neither holds nor indexes MarketSupervision's other cases.
    urban = walkthrough.GatewaySession(
        people.layout, people.layout.consortium.department("UrbanManagement")
    )
    async with urban.as_user(Role.AUDITOR) as urban_auditor:
        across = await urban_auditor.post(
            "/disclosures/check",
            content=(out / "bulletin.json").read_bytes(),
            headers={"Content-Type": "application/json"},
        )
    assert across.status_code == 200, across.text
    checked_there = across.json()
    assert checked_there["org"] == "MarketSupervisionMSP"
    assert {k: checked_there[k] for k in ("complete", "on_ledger", "withdrawals_listed")} == {
        k: found[k] for k in ("complete", "on_ledger", "withdrawals_listed")
    }
    # The holder's integrity report re-checks its node's copy of the chain and compares it
    # with what its peer answers the auditor: the same chain.
    async with market.as_user(Role.AUDITOR) as auditor:
        integrity = await auditor.get("/audit/integrity")
    assert integrity.status_code == 200, integrity.text
    assert [p for p in integrity.json()["problems"] if p["kind"].startswith("ARCHIVE")] == []
    # Exported again now, the case's package proves the decision set aside as well, and
    # the court reading it sees why.
    again_package = tmp_path / "after-set-aside.tar"
    async with market.as_user(Role.OFFICER) as officer:
        await walkthrough.download_package(
            officer, f"/cases/{outcome.case_id}/packages", again_package
        )
    after = verify_package(again_package)
    assert after.ok, after.render()
    assert [(r.decision_tx, r.reason.value) for r in after.set_asides] == [
        (decision_tx, "insufficient_evidence")
    ]
    assert len(after.services) == 1
    assert "set aside decision " in after.render()
