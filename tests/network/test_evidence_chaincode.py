"""The evidence chaincode on the real network: every transaction function, the walk-through
of a case across departments, concurrency, key-level endorsement and refusals."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import uuid

import pytest
from netsupport import caught_up, ledger_as

from node.consortium.network import Network
from node.fabric import CommitError, EndorseError
from node.ledger import LedgerRefused
from schemas.glossary import AccessKind, Outcome, ServiceMethod, Stage, ViolationType
from schemas.hashes import Digest
from schemas.ledger import (
    AccessRequest,
    CaseFiling,
    CaseSource,
    DecisionSetAside,
    DocumentService,
    EvidenceRegistration,
    ExecutionResult,
    GrantRequest,
    StageDetails,
    StatementRight,
    SubjectKind,
    TargetKind,
    TrailBy,
    TrailQuery,
    TransferAnswer,
    TransferProposal,
)

pytestmark = pytest.mark.network

URBAN, POLICE, MARKET = "UrbanManagement", "PublicSecurity", "MarketSupervision"
CAPTURED = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def doc(text: str) -> Digest:
    return Digest.of(text.encode())


def registration(
    evidence_id: str,
    owner: str = URBAN,
    case_id: str | None = None,
    vtype: ViolationType = ViolationType.SHOPFRONT_OPERATION,
) -> EvidenceRegistration:
    return EvidenceRegistration(
        evidence_id=evidence_id,
        plaintext_hash=doc(f"p {evidence_id}"),
        ciphertext_hash=doc(f"c {evidence_id}"),
        size=183_204,
        media_type="image/jpeg",
        captured_at=CAPTURED,
        device_id="edge-07",
        camera_id="cam-jiangbei-12",
        violation_type=vtype,
        owner_org=f"{owner}MSP",
        locator=f"blob:{doc(f'c {evidence_id}')}",
        claims_hash=doc(f"claims {evidence_id}"),
        case_id=case_id,
    )


def filing(case_id: str, evidence_ids: list[str], subject: str | None = None) -> CaseFiling:
    return CaseFiling(
        case_id=case_id,
        violation_type=ViolationType.SHOPFRONT_OPERATION,
        subject_key=subject or hashlib.sha256(case_id.encode()).hexdigest(),
        subject_kind=SubjectKind.ORGANIZATION,
        source=CaseSource.CAMERA,
        evidence_ids=evidence_ids,
    )


def view(
    target_id: str, kind: AccessKind = AccessKind.VIEW, target: TargetKind = TargetKind.EVIDENCE
) -> AccessRequest:
    return AccessRequest(target=target, target_id=target_id, purpose="joint_enforcement", kind=kind)


async def refused_with(code: str, action: object) -> LedgerRefused:
    with pytest.raises(LedgerRefused) as info:
        await action  # type: ignore[misc]
    assert info.value.code == code, info.value
    return info.value


async def test_walkthrough_violation_to_closed_case_across_departments(people: Network) -> None:
    """UrbanManagement's camera flags a shop; the case goes through all eight stages and
    moves to MarketSupervision, which accepts it; PublicSecurity is refused until granted,
    and the refusal stays in the trail."""
    layout = people.layout
    u_device, u_officer = ledger_as(layout, URBAN, "device"), ledger_as(layout, URBAN, "officer")
    u_reviewer = ledger_as(layout, URBAN, "reviewer")
    m_officer, m_reviewer = (
        ledger_as(layout, MARKET, "officer"),
        ledger_as(layout, MARKET, "reviewer"),
    )
    p_partner, u_auditor = ledger_as(layout, POLICE, "partner"), ledger_as(layout, URBAN, "auditor")
    evidence_id, case_id = uid("EV"), uid("CASE")
    tx_ids: list[str] = []

    registered = await u_device.register_evidence(registration(evidence_id))
    first_block = registered.block_number
    filed = await u_officer.file_case(filing(case_id, [evidence_id]))
    assert (filed.value.stage, filed.value.holder_org) == (Stage.SOURCE, "UrbanManagementMSP")
    tx_ids += [registered.tx_id, filed.tx_id]
    for who, stage, details in [
        (u_officer, Stage.PRELIMINARY_CHECK, StageDetails()),
        (u_officer, Stage.FILING_APPROVAL, StageDetails(document_hash=doc("filing request"))),
        (u_reviewer, Stage.INVESTIGATION, StageDetails(document_hash=doc("filing approval"))),
    ]:
        moved = await who.change_stage(case_id, stage, details)
        assert moved.value.stage is stage
        tx_ids.append(moved.tx_id)

    # Unlicensed trading is MarketSupervision's competence: 案件移送.
    proposal = await u_officer.propose_transfer(
        TransferProposal(
            case_id=case_id, to_org="MarketSupervisionMSP", reason="unlicensed_business"
        )
    )
    await caught_up(m_officer, proposal.block_number)
    accepted = await m_officer.answer_transfer(TransferAnswer(case_id=case_id, accept=True))
    tx_ids += [proposal.tx_id, accepted.tx_id]
    case = await m_officer.case(case_id)
    assert (case.holder_org, case.pending_transfer) == ("MarketSupervisionMSP", None)

    # PublicSecurity asks before any grant: refused, and the refusal commits.
    await caught_up(p_partner, accepted.block_number)
    denied = await p_partner.request_access(view(evidence_id))
    assert (denied.value.outcome, denied.value.reason) == (Outcome.DENIED, "no_grant")
    # The new holder grants PublicSecurity the case; its evidence opens with it.
    grant = GrantRequest(
        target=TargetKind.CASE,
        target_id=case_id,
        grantee_org="PublicSecurityMSP",
        purpose="joint_enforcement",
        expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(days=7),
    )
    granted_by = await m_officer.grant_access(grant)
    await caught_up(p_partner, granted_by.block_number)
    allowed = await p_partner.request_access(view(evidence_id))
    assert (allowed.value.outcome, allowed.value.reason) == (Outcome.GRANTED, "grant")
    assert allowed.value.case_ids == [case_id]
    tx_ids += [denied.tx_id, granted_by.tx_id, allowed.tx_id]

    deadline = dt.datetime.now(dt.UTC) + dt.timedelta(days=3)
    for who, stage, details in [
        (
            m_officer,
            Stage.ADVANCE_NOTICE,
            StageDetails(
                document_hash=doc("notice"),
                statement_right=StatementRight.HEARING,
                statement_deadline=deadline,
            ),
        ),
        (
            m_reviewer,
            Stage.DECISION,
            StageDetails(document_hash=doc("decision"), party_waived=True),
        ),
        (m_officer, Stage.EXECUTION, StageDetails(document_hash=doc("payment receipt"))),
        (
            m_officer,
            Stage.CLOSURE,
            StageDetails(
                document_hash=doc("closure report"), execution_result=ExecutionResult.PAID
            ),
        ),
    ]:
        moved = await who.change_stage(case_id, stage, details)
        tx_ids.append(moved.tx_id)
    closed = moved.value
    assert closed.stage is Stage.CLOSURE
    assert closed.penalty is not None
    assert closed.penalty.amount_cents == 20000
    assert closed.penalty.step == 1

    history = await m_officer.case_history(case_id)
    assert [h.to_stage for h in history] == list(Stage)[1:8]
    assert [h.actor_org for h in history] == ["UrbanManagementMSP"] * 3 + [
        "MarketSupervisionMSP"
    ] * 4
    holders = await m_officer.case_holders(case_id)
    assert [h.org for h in holders] == ["UrbanManagementMSP", "MarketSupervisionMSP"]
    transfers = await m_officer.transfer_history(case_id)
    assert [(t.to_org, t.status) for t in transfers] == [("MarketSupervisionMSP", "accepted")]

    await caught_up(u_auditor, moved.block_number)
    trail = await u_auditor.access_trail(TrailQuery(by=TrailBy.EVIDENCE, target_id=evidence_id))
    # The case holder's sharing with PublicSecurity is in the trail between the two reads.
    assert [(r.accessor_org, r.kind, r.outcome) for r in trail.records] == [
        ("PublicSecurityMSP", AccessKind.VIEW, Outcome.DENIED),
        ("MarketSupervisionMSP", AccessKind.SHARE, Outcome.GRANTED),
        ("PublicSecurityMSP", AccessKind.VIEW, Outcome.GRANTED),
    ]
    assert trail.records[1].shared_with == "PublicSecurityMSP"
    by_case = await u_auditor.access_trail(TrailQuery(by=TrailBy.CASE, target_id=case_id))
    assert [r.record_id for r in by_case.records] == [
        denied.tx_id,
        granted_by.tx_id,
        allowed.tx_id,
    ]

    # Every step was announced as a chaincode event, in commit order.
    seen: dict[str, str] = {}
    events = u_auditor.contract.gateway.chaincode_events(
        layout.consortium.channel, layout.consortium.chaincode.name, start_block=first_block
    )

    async def collect() -> None:
        async for event in events:
            seen[event.tx_id] = event.name
            if set(tx_ids) <= set(seen):
                return

    await asyncio.wait_for(collect(), timeout=30)
    names = [seen[t] for t in tx_ids]
    assert names[:2] == ["EvidenceRegistered", "CaseFiled"]
    assert names.count("CaseStageChanged") == 7
    assert {"TransferProposed", "TransferAccepted", "AccessRecorded", "AccessGranted"} <= set(names)


async def test_200_concurrent_registrations_into_one_case_all_commit_valid(people: Network) -> None:
    layout = people.layout
    officer, device = ledger_as(layout, URBAN, "officer"), ledger_as(layout, URBAN, "device")
    case_id = uid("CASE")
    filed = await officer.file_case(filing(case_id, []))
    await caught_up(device, filed.block_number)
    ids = [uid("EV") for _ in range(200)]
    results = await asyncio.gather(
        *(device.register_evidence(registration(i, case_id=case_id)) for i in ids)
    )
    assert {r.value.evidence_id for r in results} == set(ids)  # each VALID, or it raised
    assert sorted(await officer.case_evidence(case_id, page_size=64)) == sorted(ids)


async def test_accepting_a_transfer_needs_the_receivers_peer(people: Network) -> None:
    layout = people.layout
    officer, receiver = ledger_as(layout, URBAN, "officer"), ledger_as(layout, MARKET, "officer")
    case_id = uid("CASE")
    await officer.file_case(filing(case_id, []))
    proposal = await officer.propose_transfer(
        TransferProposal(case_id=case_id, to_org="MarketSupervisionMSP", reason="competence")
    )
    await caught_up(receiver, proposal.block_number)
    answer = TransferAnswer(case_id=case_id, accept=True)
    with pytest.raises(CommitError) as info:
        await receiver.answer_transfer(
            answer, endorsing_orgs=["UrbanManagementMSP", "PublicSecurityMSP"]
        )
    assert info.value.code == "ENDORSEMENT_POLICY_FAILURE"
    assert (await receiver.case(case_id)).holder_org == "UrbanManagementMSP"
    # Through its own gateway, with the endorsers the gateway chooses, it goes through.
    accepted = await receiver.answer_transfer(answer)
    assert accepted.value.status == "accepted"
    # And now the former holder's peer alone cannot move the case either.
    await caught_up(officer, accepted.block_number)
    await refused_with("ACCESS_DENIED", officer.change_stage(case_id, Stage.PRELIMINARY_CHECK))


async def test_a_decision_set_aside_after_a_transfer_needs_the_holders_peer(
    people: Network,
) -> None:
    """UrbanManagement decides, then the case moves to MarketSupervision (for execution, say).
    A court revokes the decision: UrbanManagement, which took it, records that; the case
    key, now MarketSupervision's, needs that peer's endorsement, which the gateway gathers by
    itself; MarketSupervision, which did not decide, may not record it."""
    layout = people.layout
    officer, reviewer = ledger_as(layout, URBAN, "officer"), ledger_as(layout, URBAN, "reviewer")
    m_officer, m_reviewer = (
        ledger_as(layout, MARKET, "officer"),
        ledger_as(layout, MARKET, "reviewer"),
    )
    case_id = uid("CASE")
    await officer.file_case(filing(case_id, []))
    deadline = dt.datetime.now(dt.UTC) + dt.timedelta(days=3)
    for who, stage, details in [
        (officer, Stage.PRELIMINARY_CHECK, StageDetails()),
        (officer, Stage.FILING_APPROVAL, StageDetails(document_hash=doc("filing request"))),
        (reviewer, Stage.INVESTIGATION, StageDetails(document_hash=doc("filing approval"))),
        (
            officer,
            Stage.ADVANCE_NOTICE,
            StageDetails(
                document_hash=doc("notice"),
                statement_right=StatementRight.STATEMENT,
                statement_deadline=deadline,
            ),
        ),
        (reviewer, Stage.DECISION, StageDetails(document_hash=doc("decision"), party_waived=True)),
    ]:
        moved = await who.change_stage(case_id, stage, details)
    decision_tx = moved.tx_id
    # The decision reached the party by post (送达), before the case moved on.
    served = await officer.record_service(
        DocumentService(
            case_id=case_id,
            step_tx=decision_tx,
            method=ServiceMethod.POST,
            served_at=dt.datetime.now(dt.UTC),
            proof_hash=doc("postal delivery record"),
        )
    )
    assert (served.value.stage, served.value.document_hash) == (Stage.DECISION, doc("decision"))
    assert [s.recorded_tx for s in await officer.case_services(case_id)] == [served.tx_id]
    proposal = await officer.propose_transfer(
        TransferProposal(case_id=case_id, to_org="MarketSupervisionMSP", reason="competence")
    )
    await caught_up(m_officer, proposal.block_number)
    accepted = await m_officer.answer_transfer(TransferAnswer(case_id=case_id, accept=True))
    await caught_up(reviewer, accepted.block_number)
    await caught_up(m_reviewer, accepted.block_number)
    revoked = DecisionSetAside.model_validate_json(
        json.dumps(
            {
                "case_id": case_id,
                "decision_tx": decision_tx,
                "ground": "revoked",
                "authority": "court",
                "reason": "insufficient_evidence",
                "document_hash": str(doc("judgment")),
                "set_aside_on": dt.datetime.now(dt.UTC).date().isoformat(),
            }
        )
    )
    await refused_with("ACCESS_DENIED", m_reviewer.set_aside_decision(revoked))
    with pytest.raises(CommitError) as info:
        await reviewer.set_aside_decision(revoked, endorsing_orgs=["UrbanManagementMSP"])
    assert info.value.code == "ENDORSEMENT_POLICY_FAILURE"
    assert (await reviewer.case(case_id)).set_asides == 0
    recorded = await reviewer.set_aside_decision(revoked)
    assert (recorded.value.org, recorded.value.decision_tx) == ("UrbanManagementMSP", decision_tx)
    await caught_up(m_officer, recorded.block_number)
    case = await m_officer.case(case_id)
    assert (case.holder_org, case.set_asides) == ("MarketSupervisionMSP", 1)
    assert [r.recorded_tx for r in await m_officer.decision_set_asides(case_id)] == [recorded.tx_id]


async def test_refusals_reach_the_caller_with_their_code_and_write_nothing(people: Network) -> None:
    layout = people.layout
    device, officer = ledger_as(layout, URBAN, "device"), ledger_as(layout, URBAN, "officer")
    evidence_id = uid("EV")
    bad_json = officer.contract.submit("RegisterEvidence", "{not json")
    with pytest.raises(EndorseError) as info:
        await bad_json
    assert info.value.chaincode_code == "VALIDATION_FAILED"
    await refused_with(
        "ACCESS_DENIED",
        ledger_as(layout, MARKET, "officer").register_evidence(registration(evidence_id)),
    )
    await refused_with(
        "ACCESS_DENIED",
        ledger_as(layout, URBAN, "partner").register_evidence(registration(evidence_id)),
    )
    await refused_with("NOT_FOUND", officer.evidence(evidence_id))  # nothing was written
    first = await device.register_evidence(registration(evidence_id))
    again = await device.register_evidence(registration(evidence_id))
    assert again.value == first.value
    changed = registration(evidence_id).model_copy(update={"size": 1})
    await refused_with("EVIDENCE_CONFLICT", device.register_evidence(changed))
    case_id = uid("CASE")
    await officer.file_case(filing(case_id, [evidence_id]))
    await refused_with("INVALID_STAGE_TRANSITION", officer.change_stage(case_id, Stage.DECISION))
    await refused_with(
        "ACCESS_DENIED",
        officer.change_stage(case_id, Stage.CLOSED_WITHOUT_PENALTY, StageDetails(rectified=True)),
    )
    await refused_with("NOT_FOUND", officer.case(uid("CASE")))


async def test_org_keys_publish_rotate_and_keep_history(people: Network) -> None:
    import base64
    import os

    layout = people.layout
    admin = ledger_as(layout, POLICE)
    before = await admin.org_key_history("PublicSecurityMSP")
    rotated = await admin.publish_org_key(base64.b64encode(os.urandom(32)).decode())
    assert rotated.value.version == len(before) + 1
    reader = ledger_as(layout, MARKET, "officer")
    await caught_up(reader, rotated.block_number)
    assert (await reader.org_key("PublicSecurityMSP")).key_id == rotated.value.key_id
    history = await reader.org_key_history("PublicSecurityMSP")
    assert [h.version for h in history] == list(range(1, len(before) + 2))
    await refused_with(
        "ACCESS_DENIED",
        ledger_as(layout, POLICE, "officer").publish_org_key(
            base64.b64encode(os.urandom(32)).decode()
        ),
    )


async def test_grants_revocation_and_the_trail_by_accessor_org_and_time(people: Network) -> None:
    layout = people.layout
    owner, partner = ledger_as(layout, URBAN, "officer"), ledger_as(layout, POLICE, "partner")
    auditor = ledger_as(layout, POLICE, "auditor")
    evidence_id = uid("EV")
    await ledger_as(layout, URBAN, "device").register_evidence(registration(evidence_id))
    start = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    grant = GrantRequest(
        target=TargetKind.EVIDENCE,
        target_id=evidence_id,
        grantee_org="PublicSecurityMSP",
        purpose="joint_enforcement",
        expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(days=1),
        kinds=[AccessKind.VIEW],
    )
    granted = await owner.grant_access(grant)
    await refused_with("ACCESS_DENIED", partner.grant_access(grant))
    await caught_up(partner, granted.block_number)
    download = await partner.request_access(view(evidence_id, AccessKind.DOWNLOAD))
    assert download.value.reason == "kind_not_granted"
    seen = await partner.request_access(view(evidence_id))
    assert seen.value.outcome is Outcome.GRANTED
    assert [g.grantee_org for g in await owner.grants(TargetKind.EVIDENCE, evidence_id)] == [
        "PublicSecurityMSP"
    ]
    revoked = await owner.revoke_access(TargetKind.EVIDENCE, evidence_id, "PublicSecurityMSP")
    assert revoked.value.revoked_tx == revoked.tx_id
    await caught_up(partner, revoked.block_number)
    after = await partner.request_access(view(evidence_id))
    assert after.value.reason == "grant_revoked"
    assert (await partner.access_record(after.tx_id)).outcome is Outcome.DENIED

    await caught_up(auditor, after.block_number)
    subject = seen.value.accessor
    mine, bookmark = [], ""
    while True:
        page = await auditor.access_trail(
            TrailQuery(
                by=TrailBy.ACCESSOR,
                org="PublicSecurityMSP",
                accessor=subject,
                since=start,
                page_size=2,
                bookmark=bookmark,
            )
        )
        assert len(page.records) <= 2
        mine += page.records
        if not (bookmark := page.bookmark):
            break
    assert [r.record_id for r in mine if r.target_id == evidence_id] == [
        download.tx_id,
        seen.tx_id,
        after.tx_id,
    ]
    window = await auditor.access_trail(TrailQuery(by=TrailBy.TIME, since=start, page_size=200))
    assert {download.tx_id, seen.tx_id, after.tx_id} <= {r.record_id for r in window.records}
    by_org = await auditor.access_trail(TrailQuery(by=TrailBy.ORG, since=start, page_size=200))
    assert all(r.accessor_org == "PublicSecurityMSP" for r in by_org.records)
    await refused_with("ACCESS_DENIED", partner.access_trail(TrailQuery(by=TrailBy.ORG)))


async def test_penalty_schedule_exemption_attach_and_retention(people: Network) -> None:
    layout = people.layout
    officer, reviewer = ledger_as(layout, URBAN, "officer"), ledger_as(layout, URBAN, "reviewer")
    current = await officer.penalty_schedule()
    market_admin = ledger_as(layout, MARKET)
    nxt = current.model_copy(update={"version": current.version + 1})
    published = await market_admin.set_penalty_schedule(nxt)
    await refused_with("SCHEDULE_CONFLICT", market_admin.set_penalty_schedule(nxt))  # replayed
    await refused_with(
        "ACCESS_DENIED",
        ledger_as(layout, MARKET, "officer").set_penalty_schedule(
            nxt.model_copy(update={"version": nxt.version + 1})
        ),
    )
    await caught_up(officer, published.block_number)
    assert (await officer.penalty_schedule()).version == nxt.version

    subject = hashlib.sha256(uid("merchant").encode()).hexdigest()
    preview = await officer.assess_penalty(subject, "shopfront_operation", True)
    assert preview.exempt
    assert preview.amount_cents == 0
    evidence_id, case_id = uid("EV"), uid("CASE")
    await ledger_as(layout, URBAN, "device").register_evidence(registration(evidence_id))
    await officer.file_case(filing(case_id, [], subject=subject))
    await officer.attach_evidence(case_id, evidence_id)
    assert await officer.case_evidence(case_id) == [evidence_id]
    closed = await reviewer.change_stage(
        case_id,
        Stage.CLOSED_WITHOUT_PENALTY,
        StageDetails(document_hash=doc("no penalty"), rectified=True),
    )
    assert closed.value.penalty is not None
    assert closed.value.penalty.exempt
    history = await officer.subject_history(subject)
    assert [(v.case_id, v.exempted) for v in history] == [(case_id, True)]
    assert not (await officer.assess_penalty(subject, "shopfront_operation", True)).exempt

    admin = ledger_as(layout, URBAN)
    expired = await admin.expire_evidence(evidence_id, "retention_ended")
    assert expired.value.status == "retention_expired"
    access = await officer.request_access(view(evidence_id))
    assert (access.value.outcome, access.value.reason) == (Outcome.DENIED, "retention_expired")
