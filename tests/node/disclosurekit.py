"""Builders for the disclosure tests: decisions as the chaincode records them, a ledger fake
at the collection's seam (case and case history), and signers issued at test time."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from typing import Any

from node.crypto.pki import KeyPair, create_ca, issue
from node.crypto.signing import EcdsaSigner
from node.fabric.identity import Identity
from node.index.reports import Period, parse_utc_offset, period_bounds
from node.ledger import LedgerRefused
from node.package.anchors import TrustAnchors
from schemas.glossary import (
    DECIDING_STAGES,
    Procedure,
    SetAsideAuthority,
    SetAsideGround,
    Stage,
    ViolationType,
)
from schemas.ledger import (
    CaseRecord,
    CaseSource,
    LedgerErrorCode,
    Penalty,
    SetAsideRecord,
    StageEntry,
    SubjectKind,
    ledger_time,
    parse_ledger_time,
)

ORG = "UrbanManagementMSP"
OTHER = "MarketSupervisionMSP"
CHANNEL = "evidence"
NOW = dt.datetime(2026, 11, 22, 9, 0, tzinfo=dt.UTC)
OFFSET = "+08:00"
SINCE, UNTIL = period_bounds(Period.MONTH, dt.date(2026, 11, 22), parse_utc_offset(OFFSET))
DOCUMENT = "sha256:" + "d" * 64


def tx(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


def penalty(amount_cents: int = 20_000, exempt: bool = False) -> Penalty:
    return Penalty(
        exempt=exempt,
        prior_violations=0 if exempt else 1,
        step=1,
        amount_cents=0 if exempt else amount_cents,
        legal_basis="《城市市容和环境卫生管理条例》第三十六条",
        discretion_benchmark="CG-2026-03 第2档",
        schedule_version=1,
    )


def case(case_id: str, **changes: Any) -> CaseRecord:
    doc: dict[str, Any] = {
        "case_id": case_id,
        "violation_type": ViolationType.SHOPFRONT_OPERATION,
        "subject_key": "a" * 64,
        "subject_kind": SubjectKind.ORGANIZATION,
        "source": CaseSource.CAMERA,
        "procedure": Procedure.GENERAL,
        "stage": Stage.EXECUTION,
        "holder_org": ORG,
        "filed_by_org": ORG,
        "filed_by": "CN=officer1",
        "filed_at": ledger_time(SINCE),
        "filed_tx": tx(case_id + "/filed"),
        "updated_at": ledger_time(NOW),
    }
    doc.update(changes)
    return CaseRecord(**doc)


def entry(
    case_id: str, seq: int, to: Stage, at: dt.datetime, *, org: str = ORG, **changes: Any
) -> StageEntry:
    deciding = to in (Stage.DECISION, Stage.CLOSED_WITHOUT_PENALTY)
    doc: dict[str, Any] = {
        "case_id": case_id,
        "seq": seq,
        "from_stage": Stage.ADVANCE_NOTICE,
        "to_stage": to,
        "actor_org": org,
        "actor": "CN=reviewer1",
        "role": "reviewer",
        "at": ledger_time(at),
        "tx": tx(f"{case_id}/{seq}"),
        "details": {"document_hash": DOCUMENT},
        "penalty": penalty(exempt=to is Stage.CLOSED_WITHOUT_PENALTY) if deciding else None,
    }
    doc.update(changes)
    return StageEntry(**doc)


def index_row(record: CaseRecord) -> dict[str, Any]:
    return {
        "case_id": record.case_id,
        "holder_org": record.holder_org,
        "stage": record.stage.value,
        "violation_type": record.violation_type.value,
        "subject_key": record.subject_key,
        "updated_at": parse_ledger_time(record.updated_at),
        "filed_at": parse_ledger_time(record.filed_at),
        "filed_by_org": record.filed_by_org,
    }


def set_aside(
    record: CaseRecord, decided: StageEntry, at: dt.datetime, **changes: Any
) -> SetAsideRecord:
    """The ledger's record of ``decided`` set aside at ``at`` (revoked on reconsideration)."""
    doc: dict[str, Any] = {
        "case_id": record.case_id,
        "decision_tx": decided.tx,
        "decided_at": decided.at,
        "org": decided.actor_org,
        "ground": SetAsideGround.REVOKED,
        "authority": SetAsideAuthority.RECONSIDERATION,
        "reason": "insufficient_evidence",
        "document_hash": "sha256:" + "e" * 64,
        # The document dated the day it is recorded, in the department's zone.
        "set_aside_on": at.astimezone(parse_utc_offset(OFFSET)).date(),
        "recorded_by": "CN=reviewer1",
        "recorded_role": "reviewer",
        "recorded_at": ledger_time(at),
        "recorded_tx": tx(f"{record.case_id}/set-aside/{decided.seq}"),
    }
    doc.update(changes)
    return SetAsideRecord(**doc)


@dataclass
class CaseLedger:
    """The reads the collection makes, over cases, histories and set-asides set by the
    test; it counts the history reads so a test sees which cases were read."""

    cases: dict[str, CaseRecord] = field(default_factory=dict)
    history: dict[str, list[StageEntry]] = field(default_factory=dict)
    set_asides: dict[str, list[SetAsideRecord]] = field(default_factory=dict)
    read: list[str] = field(default_factory=list)

    def set_aside(self, record: SetAsideRecord) -> None:
        """Record a setting aside as the chaincode does: the case counts it and changes."""
        self.set_asides.setdefault(record.case_id, []).append(record)
        case = self.cases[record.case_id]
        self.cases[record.case_id] = case.model_copy(
            update={"set_asides": case.set_asides + 1, "updated_at": record.recorded_at}
        )

    async def decision_set_asides(self, case_id: str) -> list[SetAsideRecord]:
        await self.case(case_id)
        return list(self.set_asides.get(case_id, []))

    def add(self, record: CaseRecord, *entries: StageEntry) -> None:
        self.cases[record.case_id] = record
        self.history[record.case_id] = list(entries)

    async def case(self, case_id: str) -> CaseRecord:
        if case_id not in self.cases:
            raise LedgerRefused(LedgerErrorCode.NOT_FOUND, f"no case {case_id}", "")
        return self.cases[case_id]

    async def case_history(self, case_id: str) -> list[StageEntry]:
        self.read.append(case_id)
        await self.case(case_id)
        return self.history[case_id]

    async def period_cases(self, org: str, since: dt.datetime, until: dt.datetime) -> list[str]:
        """As the chaincode's index of decisions answers (tests/chaincode/test_publications)."""
        return period_cases(self.history, self.set_asides, org, since, until)


def period_cases(
    history: dict[str, list[StageEntry]],
    set_asides: dict[str, list[SetAsideRecord]],
    org: str,
    since: dt.datetime,
    until: dt.datetime,
) -> list[str]:
    """The cases in which ``org`` took a decision in [since, until), or had one set aside
    then, as PeriodCases reads them from the ledger's index."""
    first, end = ledger_time(since), ledger_time(until)
    decided = {
        e.case_id
        for entries in history.values()
        for e in entries
        if e.to_stage in DECIDING_STAGES and e.actor_org == org and first <= e.at < end
    }
    undone = {
        r.case_id
        for records in set_asides.values()
        for r in records
        if r.org == org and first <= r.recorded_at < end
    }
    return sorted(decided | undone)


@dataclass(frozen=True)
class Pki:
    """A department's CA and another's, with people issued by the first."""

    ca: KeyPair
    other_ca: KeyPair

    @classmethod
    def make(cls) -> Pki:
        start = NOW - dt.timedelta(days=30)
        return cls(
            create_ca("ca.urbanmanagement.evnet", "urbanmanagement.evnet", start),
            create_ca("ca.marketsupervision.evnet", "marketsupervision.evnet", start),
        )

    def person(
        self, role: str, *, ca: KeyPair | None = None, at: dt.datetime = NOW
    ) -> tuple[Identity, EcdsaSigner]:
        pair = issue(
            ca or self.ca,
            f"{role}1",
            "urbanmanagement.evnet",
            at - dt.timedelta(days=1),
            organizational_unit="client",
            attributes={"role": role},
        )
        return Identity(ORG, pair.cert_pem), EcdsaSigner.from_pem(pair.key_pem)

    def anchors(self, channel: str = CHANNEL) -> bytes:
        return TrustAnchors.build(
            channel,
            ["OrdererMSP"],
            {
                ORG: [self.ca.cert_pem],
                OTHER: [self.other_ca.cert_pem],
                "OrdererMSP": [self.other_ca.cert_pem],
            },
        ).canonical_bytes()
