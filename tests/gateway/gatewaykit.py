"""Builders for the gateway tests: a fake ledger client that keeps the chaincode's contract
for the calls the routes make (role checks, stage order, grants, access records)."""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from disclosurekit import period_cases
from fastapi.testclient import TestClient
from ingestkit import CLIP, KEYFRAME, NOW, ORG, FileLedger, claims, device, make_ca, service, signed

from chaincode.rules.penalties import assess
from chaincode.rules.violations import check_reminders, check_step, reminders_given
from chaincode.runtime import ContractError
from gateway.app import create_app
from gateway.auth import TokenStore
from gateway.deps import GatewayDeps
from node.crypto.signing import EcdsaSigner
from node.crypto.subjects import SubjectKeyer
from node.fabric.identity import Identity
from node.ledger import Committed, LedgerRefused
from node.ledger.bootstrap import load_schedule
from node.settings import PROJECT_ROOT
from schemas.glossary import (
    AccessKind,
    Outcome,
    Period,
    Role,
    ServiceMethod,
    Stage,
    ViolationStatus,
    ViolationType,
)
from schemas.hashes import Digest
from schemas.ledger import (
    AccessRecord,
    AccessRequest,
    BulletinRecord,
    BulletinRecording,
    CaseFiling,
    CaseRecord,
    DecisionSetAside,
    DocumentFiling,
    DocumentService,
    EvidenceRecord,
    EvidenceRegistration,
    GrantRecord,
    GrantRequest,
    ItemTrail,
    LedgerErrorCode,
    PackageAccessRequest,
    Penalty,
    PenaltySchedule,
    PendingTransfer,
    ServiceRecord,
    SetAsideRecord,
    StageDetails,
    StageEntry,
    SubjectViolation,
    TargetKind,
    TrailPage,
    TrailQuery,
    TransferAnswer,
    TransferProposal,
    TransferRecord,
    TransferStatus,
    ledger_time,
    package_record_id,
)
from schemas.violations import (
    CaseOpening,
    ViolationEntry,
    ViolationFlag,
    ViolationPage,
    ViolationQuery,
    ViolationRecord,
    ViolationReview,
    ViolationStep,
)

SCHEDULE = load_schedule(PROJECT_ROOT / "network-config" / "penalty-schedule.yaml")
# Generated per test run: subject keys are keyed by the consortium's secret.
SUBJECT_SECRET = secrets.token_bytes(32)

PARTNER_ORG = "PublicSecurityMSP"
USERS = {
    "officer1": Role.OFFICER,
    "reviewer1": Role.REVIEWER,
    "auditor1": Role.AUDITOR,
    "partner1": Role.PARTNER,
    "edge-07": Role.DEVICE,
    "edge-08": Role.DEVICE,
    "admin": Role.ADMIN,
}
ORDER = [
    Stage.SOURCE,
    Stage.PRELIMINARY_CHECK,
    Stage.FILING_APPROVAL,
    Stage.INVESTIGATION,
]


class Directory:
    def role_of(self, user: str) -> Role | None:
        return USERS.get(user)

    def user_of_certificate(self, cert: x509.Certificate) -> str | None:
        # The fake's users have no certificates; tests/gateway/test_mutual_tls.py serves the
        # real CertificateDirectory over real TLS.
        return None


@dataclass
class FakeChain:
    """Shared world state for every user's fake client."""

    evidence_file: Path
    cases: dict[str, CaseRecord] = field(default_factory=dict)
    history: dict[str, list[StageEntry]] = field(default_factory=dict)
    grants: dict[tuple[str, str], GrantRecord] = field(default_factory=dict)
    accesses: list[AccessRecord] = field(default_factory=list)
    foreign: dict[str, EvidenceRecord] = field(default_factory=dict)
    attached: dict[str, list[str]] = field(default_factory=dict)  # case id -> evidence ids
    registered_by: dict[str, str] = field(default_factory=dict)  # through FakeLedger only
    flags: dict[str, ViolationRecord] = field(default_factory=dict)
    openings: dict[str, CaseOpening] = field(default_factory=dict)  # cases opened by flags
    subject_violations: dict[str, list[SubjectViolation]] = field(default_factory=dict)
    flag_steps: dict[str, list[ViolationEntry]] = field(default_factory=dict)
    transfers: dict[str, list[TransferRecord]] = field(default_factory=dict)  # by case id
    bulletins: list[BulletinRecord] = field(default_factory=list)
    set_asides: dict[str, list[SetAsideRecord]] = field(default_factory=dict)  # by case id
    services: dict[str, list[ServiceRecord]] = field(default_factory=dict)  # by case id
    clock: list[dt.datetime] = field(default_factory=lambda: [NOW])  # the kit's clock
    counter: itertools.count[int] = field(default_factory=itertools.count)

    def tx(self) -> str:
        return hashlib.sha256(str(next(self.counter)).encode()).hexdigest()


def _org_of(user: str) -> str:
    return PARTNER_ORG if USERS.get(user) is Role.PARTNER else ORG


class FakeLedger:
    def __init__(self, chain: FakeChain, user: str) -> None:
        self.chain, self.user, self.role = chain, user, USERS[user]
        self.org = _org_of(user)

    def _deny(self) -> LedgerRefused:
        return LedgerRefused(LedgerErrorCode.ACCESS_DENIED, "role not allowed", self.chain.tx())

    async def evidence(self, evidence_id: str) -> EvidenceRecord:
        if evidence_id in self.chain.foreign:
            return self.chain.foreign[evidence_id]
        entry = FileLedger(self.chain.evidence_file).records().get(evidence_id)
        if entry is None:
            raise LedgerRefused(LedgerErrorCode.NOT_FOUND, "no such evidence", "")
        return EvidenceRecord(
            **entry["content"],
            registered_by="CN=edge-07",
            registered_role="device",
            registered_at=ledger_time(NOW),
            registered_tx=entry["tx"],
        )

    def _decide(self, req: AccessRequest, record_id: str) -> AccessRecord:
        granted = self.org == ORG or any(
            org == self.org and g.revoked_at is None for (_, org), g in self.chain.grants.items()
        )
        return AccessRecord(
            record_id=record_id,
            accessor_org=self.org,
            accessor=f"CN={self.user}",
            role=self.role.value,
            target=req.target,
            target_id=req.target_id,
            case_ids=[c for c, ids in self.chain.attached.items() if req.target_id in ids],
            purpose=req.purpose,
            kind=req.kind,
            at=ledger_time(NOW),
            outcome=Outcome.GRANTED if granted else Outcome.DENIED,
            reason="own_org" if self.org == ORG else ("grant" if granted else "no_grant"),
        )

    async def request_access(self, req: AccessRequest) -> Committed[AccessRecord]:
        await self.evidence(req.target_id)
        tx = self.chain.tx()
        record = self._decide(req, tx)
        self.chain.accesses.append(record)
        return Committed(record, tx, len(self.chain.accesses))

    async def preview_access(self, req: AccessRequest) -> AccessRecord:
        await self.evidence(req.target_id)
        return self._decide(req, "preview")

    async def request_package_access(
        self, req: PackageAccessRequest, on_endorsed: Callable[[], object] | None = None
    ) -> Committed[list[AccessRecord]]:
        """As the chaincode: every item decided alone; one denial refuses all, records none."""
        tx = self.chain.tx()
        records = []
        for n, evidence_id in enumerate(req.evidence_ids):
            await self.evidence(evidence_id)
            ask = AccessRequest(
                target=TargetKind.EVIDENCE,
                target_id=evidence_id,
                purpose=req.purpose,
                kind=AccessKind.PACKAGE,
            )
            record = self._decide(ask, package_record_id(tx, n))
            if record.outcome is not Outcome.GRANTED:
                raise LedgerRefused(LedgerErrorCode.ACCESS_DENIED, f"{evidence_id} denied", tx)
            records.append(record)
        if on_endorsed is not None:
            on_endorsed()
        self.chain.accesses.extend(records)
        return Committed(records, tx, len(self.chain.accesses))

    # --- the violation loop, with the chaincode's own transition rules ----------------------

    def _flag(self, flag_id: str) -> ViolationRecord:
        if flag_id not in self.chain.flags:
            raise LedgerRefused(LedgerErrorCode.NOT_FOUND, f"no violation {flag_id}", "")
        return self.chain.flags[flag_id]

    async def flag_violation(self, flag: ViolationFlag) -> Committed[ViolationRecord]:
        if self.role not in (Role.DEVICE, Role.OFFICER):
            raise self._deny()
        tx = self.chain.tx()
        if flag.flag_id not in self.chain.flags:
            for evidence_id in flag.evidence_ids:
                await self.evidence(evidence_id)
            self.chain.flags[flag.flag_id] = ViolationRecord(
                **flag.model_dump(mode="json", exclude={"detected_at", "claims_hash"}),
                detected_at=ledger_time(flag.detected_at),
                claims_hash=str(flag.claims_hash),
                org=self.org,
                status=ViolationStatus.DETECTED,
                flagged_by=f"CN={self.user}",
                flagged_tx=tx,
                updated_at=ledger_time(NOW),
                steps=1,
            )
            self._step(flag.flag_id, None, ViolationStatus.DETECTED, tx)
        return Committed(self.chain.flags[flag.flag_id], tx, 1)

    def _step(
        self, flag_id: str, frm: ViolationStatus | None, to: ViolationStatus, tx: str, **more: Any
    ) -> None:
        steps = self.chain.flag_steps.setdefault(flag_id, [])
        steps.append(
            ViolationEntry(
                flag_id=flag_id,
                seq=len(steps),
                from_status=frm,
                to_status=to,
                by=f"CN={self.user}",
                by_org=self.org,
                role=self.role,
                at=ledger_time(NOW),
                tx_id=tx,
                **more,
            )
        )

    def _move(self, record: ViolationRecord, to: ViolationStatus, **more: Any) -> ViolationRecord:
        if record.org != self.org:
            raise self._deny()
        try:
            check_step(
                record.status,
                to,
                self.role.value,
                has_reason=bool(more.get("reason")),
                has_evidence=bool(more.get("evidence_ids")),
                has_case=more.get("case") is not None,
            )
            if to is ViolationStatus.CASE_FILED:
                # The chaincode's co-governance rule over the consortium's first schedule.
                entry = SCHEDULE.entries.get(record.violation_type)
                check_reminders(
                    record.flag_id,
                    record.status,
                    record.violation_type,
                    given=reminders_given(
                        e.to_status for e in self.chain.flag_steps[record.flag_id]
                    ),
                    required=0 if entry is None else entry.reminders_before_case,
                )
        except ContractError as err:
            raise LedgerRefused(LedgerErrorCode(err.code), err.message, "") from None
        case_id = more["case"].case_id if more.get("case") else None
        if case_id is not None:
            self.chain.openings[case_id] = more["case"]
        tx = self.chain.tx()
        self._step(
            record.flag_id,
            record.status,
            to,
            tx,
            reason=more.get("reason") or "",
            evidence_ids=more.get("evidence_ids") or [],
            case_id=case_id,
        )
        moved = record.model_copy(
            update={"status": to, "steps": record.steps + 1, "case_id": case_id or record.case_id}
        )
        self.chain.flags[record.flag_id] = moved
        return moved

    async def review_violation(self, review: ViolationReview) -> Committed[ViolationRecord]:
        # One transaction: a refused second step leaves the first unwritten, as on the ledger.
        flags, steps = (
            dict(self.chain.flags),
            {k: list(v) for k, v in self.chain.flag_steps.items()},
        )
        try:
            record = self._move(
                self._flag(review.flag_id), ViolationStatus(review.decision), reason=review.reason
            )
            if review.action == "reminder":
                record = self._move(record, ViolationStatus.REMINDED)
            elif review.action == "case":
                record = self._move(record, ViolationStatus.CASE_FILED, case=review.case)
        except LedgerRefused:
            self.chain.flags, self.chain.flag_steps = flags, steps
            raise
        return Committed(record, self.chain.tx(), 1)

    async def advance_violation(self, step: ViolationStep) -> Committed[ViolationRecord]:
        record = self._move(
            self._flag(step.flag_id),
            step.to_status,
            reason=step.reason,
            evidence_ids=step.evidence_ids,
            case=step.case,
        )
        return Committed(record, self.chain.tx(), 1)

    async def violation(self, flag_id: str) -> ViolationRecord:
        return self._flag(flag_id)

    async def violation_history(self, flag_id: str) -> list[ViolationEntry]:
        self._flag(flag_id)
        return list(self.chain.flag_steps[flag_id])

    async def violations(self, query: ViolationQuery) -> ViolationPage:
        hits = sorted(
            (
                f
                for f in self.chain.flags.values()
                if (f.org, f.status) == (query.org, query.status)
            ),
            key=lambda f: f.flag_id,
        )
        if query.bookmark and not (query.bookmark.isascii() and query.bookmark.isdigit()):
            # The chaincode refuses a bookmark outside the query's range the same way.
            raise LedgerRefused(LedgerErrorCode.VALIDATION_FAILED, "bookmark out of range", "")
        start = int(query.bookmark or 0)
        page = hits[start : start + query.page_size]
        more = start + query.page_size < len(hits)
        return ViolationPage(records=page, bookmark=str(start + query.page_size) if more else "")

    async def owned_evidence(self, org: str) -> list[str]:
        records = FileLedger(self.chain.evidence_file).records()
        return [i for i, e in records.items() if e["content"]["owner_org"] == org]

    async def case_evidence(self, case_id: str) -> list[str]:
        return list(self.chain.attached.get(case_id, []))

    async def register_evidence(self, reg: EvidenceRegistration) -> Any:
        """RegisterEvidence's contract: an officer or a device of the owner org."""
        if self.role not in (Role.OFFICER, Role.DEVICE) or self.org != reg.owner_org:
            raise self._deny()
        committed = await FileLedger(self.chain.evidence_file).register_evidence(reg)
        self.chain.registered_by.setdefault(reg.evidence_id, self.user)
        return committed

    async def file_document(self, filing: DocumentFiling) -> Any:
        """FileDocument's contract: an officer or reviewer of the holder and owner, the very
        document the step bound."""
        if self.role not in (Role.OFFICER, Role.REVIEWER) or self.org != filing.owner_org:
            raise self._deny()
        case = await self.case(filing.case_id)
        if self.org != case.holder_org:
            raise self._deny()
        steps = self.chain.history[filing.case_id]
        if not 1 <= filing.step <= len(steps):
            raise LedgerRefused(LedgerErrorCode.NOT_FOUND, f"no step {filing.step}", "")
        if steps[filing.step - 1].details.get("document_hash") != str(filing.plaintext_hash):
            raise LedgerRefused(LedgerErrorCode.DOCUMENT_MISMATCH, "not the step's document", "")
        content = filing.model_dump_json(exclude={"case_id", "step"})
        committed = await FileLedger(self.chain.evidence_file).register_evidence(
            EvidenceRegistration.model_validate_json(content)
        )
        self.chain.registered_by.setdefault(filing.evidence_id, self.user)
        attached = self.chain.attached.setdefault(filing.case_id, [])
        if filing.evidence_id not in attached:
            attached.append(filing.evidence_id)
        return committed

    async def attach_evidence(self, case_id: str, evidence_id: str) -> str:
        """AttachEvidence's contract: an officer of the holder org, an item it owns."""
        if self.role is not Role.OFFICER:
            raise self._deny()
        case = await self.case(case_id)
        item = await self.evidence(evidence_id)
        if self.org != case.holder_org or self.org != item.owner_org:
            raise self._deny()
        attached = self.chain.attached.setdefault(case_id, [])
        if evidence_id not in attached:
            attached.append(evidence_id)
        return self.chain.tx()

    async def evidence_items(self, evidence_ids: Sequence[str]) -> list[EvidenceRecord]:
        return [await self.evidence(i) for i in evidence_ids]

    async def item_trails(
        self, evidence_ids: Sequence[str], page_size: int = 200
    ) -> list[ItemTrail]:
        if self.role is not Role.AUDITOR:
            raise self._deny()
        return [
            ItemTrail(
                evidence_id=i,
                records=[r for r in self.chain.accesses if r.target_id == i],
                bookmark="",
            )
            for i in evidence_ids
        ]

    async def access_trail(self, query: TrailQuery) -> TrailPage:
        if self.role is not Role.AUDITOR:
            raise self._deny()
        records = [r for r in self.chain.accesses if query.target_id in (None, r.target_id)]
        return TrailPage(records=records, bookmark="")

    async def subject_history(self, subject_key: str) -> list[SubjectViolation]:
        return list(self.chain.subject_violations.get(subject_key, []))

    async def penalty_schedule(self) -> PenaltySchedule:
        return SCHEDULE

    async def assess_penalty(
        self, subject_key: str, violation_type: str, rectified: bool
    ) -> Penalty:
        # The chaincode's own rule over the consortium's first schedule.
        return assess(
            SCHEDULE,
            ViolationType(violation_type),
            self.chain.subject_violations.get(subject_key, []),
            rectified=rectified,
            now=ledger_time(NOW),
        )

    async def file_case(self, filing: CaseFiling) -> Committed[CaseRecord]:
        if self.role is not Role.OFFICER:
            raise self._deny()
        if filing.case_id in self.chain.cases:
            raise LedgerRefused(LedgerErrorCode.CASE_CONFLICT, "case exists", self.chain.tx())
        tx = self.chain.tx()
        case = CaseRecord(
            case_id=filing.case_id,
            violation_type=filing.violation_type,
            subject_key=filing.subject_key,
            subject_kind=filing.subject_kind,
            source=filing.source,
            procedure=filing.procedure,
            stage=Stage.SOURCE,
            holder_org=self.org,
            filed_by_org=self.org,
            filed_by=f"CN={self.user}",
            filed_at=ledger_time(NOW),
            filed_tx=tx,
            updated_at=ledger_time(NOW),
        )
        self.chain.cases[filing.case_id] = case
        self.chain.history[filing.case_id] = []
        self.chain.attached[filing.case_id] = list(filing.evidence_ids)
        return Committed(case, tx, 1)

    async def case(self, case_id: str) -> CaseRecord:
        if case_id not in self.chain.cases:
            raise LedgerRefused(LedgerErrorCode.NOT_FOUND, "no such case", "")
        return self.chain.cases[case_id]

    async def case_history(self, case_id: str) -> list[StageEntry]:
        await self.case(case_id)
        return self.chain.history[case_id]

    async def change_stage(
        self, case_id: str, to: Stage, details: StageDetails | None = None
    ) -> Committed[CaseRecord]:
        case = await self.case(case_id)
        if to not in ORDER or ORDER.index(to) != ORDER.index(case.stage) + 1:
            raise LedgerRefused(
                LedgerErrorCode.INVALID_STAGE_TRANSITION, f"{case.stage} → {to}", self.chain.tx()
            )
        tx = self.chain.tx()
        entry = StageEntry(
            case_id=case_id,
            seq=len(self.chain.history[case_id]) + 1,
            from_stage=case.stage,
            to_stage=to,
            actor_org=self.org,
            actor=f"CN={self.user}",
            role=self.role.value,
            at=ledger_time(NOW),
            tx=tx,
            details=(details or StageDetails()).model_dump(mode="json"),
        )
        self.chain.history[case_id].append(entry)
        case = case.model_copy(update={"stage": to})
        self.chain.cases[case_id] = case
        return Committed(case, tx, 2)

    async def propose_transfer(self, req: TransferProposal) -> Committed[TransferRecord]:
        """As the chaincode: the holder's officer or reviewer, one pending at a time."""
        case = await self.case(req.case_id)
        if self.role not in (Role.OFFICER, Role.REVIEWER) or self.org != case.holder_org:
            raise self._deny()
        if case.closed or case.pending_transfer is not None:
            raise LedgerRefused(LedgerErrorCode.TRANSFER_CONFLICT, "closed or pending", "")
        if req.to_org == case.holder_org:
            raise LedgerRefused(LedgerErrorCode.VALIDATION_FAILED, "to its holder", "")
        tx = self.chain.tx()
        history = self.chain.transfers.setdefault(req.case_id, [])
        record = TransferRecord(
            case_id=req.case_id,
            seq=len(history) + 1,
            from_org=case.holder_org,
            to_org=req.to_org,
            reason=req.reason,
            proposed_by=f"CN={self.user}",
            proposed_at=ledger_time(NOW),
            proposed_tx=tx,
        )
        history.append(record)
        pending = PendingTransfer(seq=record.seq, to_org=req.to_org)
        self.chain.cases[req.case_id] = case.model_copy(
            update={"pending_transfer": pending, "transfers": record.seq}
        )
        return Committed(record, tx, 3)

    async def answer_transfer(
        self, req: TransferAnswer, *, endorsing_orgs: Sequence[str] = ()
    ) -> Committed[TransferRecord]:
        case = await self.case(req.case_id)
        pending = case.pending_transfer
        if pending is None:
            raise LedgerRefused(LedgerErrorCode.TRANSFER_CONFLICT, "no pending transfer", "tx-x")
        if self.role not in (Role.OFFICER, Role.REVIEWER) or self.org != pending.to_org:
            raise self._deny()
        tx = self.chain.tx()
        history = self.chain.transfers[req.case_id]
        answered = history[pending.seq - 1].model_copy(
            update={
                "status": TransferStatus.ACCEPTED if req.accept else TransferStatus.REJECTED,
                "answered_by": f"CN={self.user}",
                "answered_at": ledger_time(NOW),
                "answered_tx": tx,
                "answer_reason": req.reason,
            }
        )
        history[pending.seq - 1] = answered
        holder = pending.to_org if req.accept else case.holder_org
        self.chain.cases[req.case_id] = case.model_copy(
            update={"holder_org": holder, "pending_transfer": None}
        )
        return Committed(answered, tx, 3)

    async def transfer_history(self, case_id: str) -> list[TransferRecord]:
        await self.case(case_id)
        return list(self.chain.transfers.get(case_id, []))

    async def grants(self, target: TargetKind, target_id: str) -> list[GrantRecord]:
        return [g for (tid, _), g in self.chain.grants.items() if tid == target_id]

    async def grant_access(self, req: GrantRequest) -> Committed[GrantRecord]:
        """GrantAccess's contract: an officer of the case's holder."""
        case = await self.case(req.target_id)
        if self.role is not Role.OFFICER or case.holder_org != self.org:
            raise self._deny()
        tx = self.chain.tx()
        grant = GrantRecord(
            target=req.target,
            target_id=req.target_id,
            grantee_org=req.grantee_org,
            purpose=req.purpose,
            kinds=list(req.kinds),
            expires_at=ledger_time(req.expires_at),
            granted_by_org=self.org,
            granted_by=f"CN={self.user}",
            granted_at=ledger_time(NOW),
            granted_tx=tx,
        )
        self.chain.grants[(req.target_id, req.grantee_org)] = grant
        return Committed(grant, tx, 4)

    async def record_share_denial(self, req: GrantRequest) -> Committed[AccessRecord]:
        """RecordShareDenial's contract: only a share GrantAccess would refuse."""
        case = await self.case(req.target_id)
        if self.role is Role.OFFICER and case.holder_org == self.org:
            raise LedgerRefused(LedgerErrorCode.VALIDATION_FAILED, "would be granted", "")
        tx = self.chain.tx()
        record = AccessRecord(
            record_id=tx,
            accessor_org=self.org,
            accessor=f"CN={self.user}",
            role=self.role.value,
            target=req.target,
            target_id=req.target_id,
            case_ids=[req.target_id],
            purpose=req.purpose,
            kind=AccessKind.SHARE,
            at=ledger_time(NOW),
            outcome=Outcome.DENIED,
            reason="role" if self.role is not Role.OFFICER else "not_holder",
            shared_with=req.grantee_org,
        )
        self.chain.accesses.append(record)
        return Committed(record, tx, len(self.chain.accesses))

    async def revoke_access(
        self, target: TargetKind, target_id: str, grantee_org: str
    ) -> Committed[GrantRecord]:
        grant = self.chain.grants.get((target_id, grantee_org))
        if grant is None:
            raise LedgerRefused(LedgerErrorCode.NOT_FOUND, "no grant", "")
        tx = self.chain.tx()
        revoked = grant.model_copy(update={"revoked_at": ledger_time(NOW), "revoked_tx": tx})
        self.chain.grants[(target_id, grantee_org)] = revoked
        return Committed(revoked, tx, 5)

    async def record_bulletin(self, recording: BulletinRecording) -> Committed[BulletinRecord]:
        # The chaincode's rules (tests/chaincode/test_publications.py), as far as these tests go.
        if self.role not in (Role.REVIEWER, Role.ADMIN):
            raise self._deny()
        if any(b.bulletin_hash == recording.bulletin_hash for b in self.chain.bulletins):
            raise LedgerRefused(LedgerErrorCode.PUBLICATION_CONFLICT, "recorded", self.chain.tx())
        tx = self.chain.tx()
        record = BulletinRecord(
            org=self.org,
            recorded_by=f"CN={self.user}",
            recorded_role=self.role,
            recorded_at=ledger_time(self.chain.clock[0]),
            recorded_tx=tx,
            **recording.model_dump(),
        )
        self.chain.bulletins.append(record)
        return Committed(record, tx, 6)

    async def set_aside_decision(self, req: DecisionSetAside) -> Committed[SetAsideRecord]:
        # The chaincode's rules (tests/chaincode/test_set_aside.py), as far as these tests go.
        if self.role not in (Role.REVIEWER, Role.ADMIN):
            raise self._deny()
        deciding = (Stage.DECISION, Stage.CLOSED_WITHOUT_PENALTY)
        decision = next(
            (
                e
                for e in self.chain.history.get(req.case_id, [])
                if e.tx == req.decision_tx and e.to_stage in deciding
            ),
            None,
        )
        if decision is None:
            raise LedgerRefused(LedgerErrorCode.NOT_FOUND, "no such decision", self.chain.tx())
        done = self.chain.set_asides.setdefault(req.case_id, [])
        if any(r.decision_tx == req.decision_tx for r in done):
            raise LedgerRefused(LedgerErrorCode.CASE_CONFLICT, "set aside", self.chain.tx())
        tx, at = self.chain.tx(), ledger_time(self.chain.clock[0])
        record = SetAsideRecord(
            decided_at=decision.at,
            org=self.org,
            recorded_by=f"CN={self.user}",
            recorded_role=self.role,
            recorded_at=at,
            recorded_tx=tx,
            **req.model_dump(),
        )
        done.append(record)
        case = self.chain.cases[req.case_id]
        self.chain.cases[req.case_id] = case.model_copy(
            update={"set_asides": case.set_asides + 1, "updated_at": at}
        )
        return Committed(record, tx, 7)

    async def decision_set_asides(self, case_id: str) -> list[SetAsideRecord]:
        return list(self.chain.set_asides.get(case_id, []))

    async def period_cases(self, org: str, since: dt.datetime, until: dt.datetime) -> list[str]:
        return period_cases(self.chain.history, self.chain.set_asides, org, since, until)

    async def record_service(self, req: DocumentService) -> Committed[ServiceRecord]:
        # The chaincode's rules (tests/chaincode/test_service.py), as far as these tests go.
        if self.role not in (Role.OFFICER, Role.REVIEWER):
            raise self._deny()
        case = self.chain.cases.get(req.case_id)
        if case is None:
            raise LedgerRefused(LedgerErrorCode.NOT_FOUND, "no such case", self.chain.tx())
        if case.holder_org != self.org:
            raise self._deny()
        step = next((e for e in self.chain.history[req.case_id] if e.tx == req.step_tx), None)
        if step is None:
            raise LedgerRefused(LedgerErrorCode.NOT_FOUND, "no such step", self.chain.tx())
        document = step.details.get("document_hash")
        if not isinstance(document, str):
            raise LedgerRefused(LedgerErrorCode.VALIDATION_FAILED, "no document", self.chain.tx())
        if req.method is ServiceMethod.ELECTRONIC and req.consent_hash is None:
            raise LedgerRefused(LedgerErrorCode.VALIDATION_FAILED, "no consent", self.chain.tx())
        done = self.chain.services.setdefault(req.case_id, [])
        if any(r.proof_hash == req.proof_hash for r in done):
            raise LedgerRefused(LedgerErrorCode.CASE_CONFLICT, "recorded", self.chain.tx())
        tx = self.chain.tx()
        record = ServiceRecord(
            case_id=req.case_id,
            step_tx=step.tx,
            step_seq=step.seq,
            stage=step.to_stage,
            document_hash=Digest.parse(document),
            method=req.method,
            served_at=ledger_time(req.served_at),
            proof_hash=req.proof_hash,
            consent_hash=req.consent_hash,
            org=self.org,
            recorded_by=f"CN={self.user}",
            recorded_role=self.role,
            recorded_at=ledger_time(self.chain.clock[0]),
            recorded_tx=tx,
        )
        done.append(record)
        self.chain.cases[req.case_id] = case.model_copy(
            update={"services": case.services + 1, "updated_at": record.recorded_at}
        )
        return Committed(record, tx, 8)

    async def case_services(self, case_id: str) -> list[ServiceRecord]:
        return sorted(self.chain.services.get(case_id, []), key=lambda r: r.step_seq)

    async def bulletin_records(self, org: str, period: Period, since: str) -> list[BulletinRecord]:
        return [
            b for b in self.chain.bulletins if (b.org, b.period, b.since) == (org, period, since)
        ]


@dataclass
class Kit:
    root: Path
    deps: GatewayDeps
    chain: FakeChain
    client: TestClient
    clock: list[dt.datetime]

    def token(self, user: str, ttl: dt.timedelta = dt.timedelta(hours=1)) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.deps.tokens.issue_token(user, ttl)}"}

    def spooled(self) -> list[Path]:
        return sorted(self.deps.spool_dir.glob("*"))

    def blobs(self) -> list[Path]:
        return sorted(p for p in (self.root / "node" / "blobs").rglob("*") if p.is_file())


class Signers:
    """Each user's identity and key, issued at test time by the node's CA with the user's
    role: what the gateway signs an officer's capture with."""

    def __init__(self, ca_root: Path) -> None:
        self.ca_root = ca_root
        self._made: dict[str, tuple[Identity, EcdsaSigner]] = {}

    def __call__(self, user: str) -> tuple[Identity, EcdsaSigner]:
        if user not in self._made:
            pair = device(make_ca(self.ca_root), role=USERS[user].value, name=user)
            self._made[user] = (Identity(ORG, pair.cert_pem), EcdsaSigner.from_pem(pair.key_pem))
        return self._made[user]


def build(root: Path, max_upload_bytes: int = 1 << 24, **changes: Any) -> Kit:
    ingest = service(root / "node")
    changes.setdefault("signer_for", Signers(root / "node"))
    changes.setdefault("channel", "evidence")  # named in what the gateway signs (bulletins)
    clock = [NOW]
    chain = FakeChain(root / "node" / "ledger.json", clock=clock)
    deps = GatewayDeps(
        org=ORG,
        tokens=TokenStore(root / "tokens.json", clock=lambda: clock[0]),
        identities=Directory(),
        ledger_for=lambda user: FakeLedger(chain, user),
        ingest=ingest,
        index=ingest.index,
        store=ingest.store,
        vault=ingest.vault,
        keyring=ingest.keyring,
        spool_dir=root / "spool",
        subjects=SubjectKeyer(SUBJECT_SECRET),
        max_upload_bytes=max_upload_bytes,
        **changes,
    )
    client = TestClient(create_app(deps), raise_server_exceptions=False)
    return Kit(root, deps, chain, client, clock)


def submit(kit: Kit, **changes: Any) -> dict[str, Any]:
    """A device's signed submission (keyframe and clip) through the gateway; its answer."""
    body, sig, cert = signed(claims(**changes), device(make_ca(kit.root / "node")))
    files = [
        ("claims", (None, body)),
        ("signature", (None, sig)),
        ("certificate", (None, cert)),
        ("files", ("keyframe.jpg", KEYFRAME, "image/jpeg")),
        ("files", ("clip.mp4", CLIP, "video/mp4")),
    ]
    resp = kit.client.post("/devices/submissions", files=files, headers=kit.token("edge-07"))
    assert resp.status_code == 201, resp.text
    doc: dict[str, Any] = resp.json()
    return doc
