"""One method per chaincode function, with the models of :mod:`schemas.ledger`.

Submitting methods return :class:`Committed` (the record, the transaction id and block),
retrying only what certainly did not take effect (:func:`node.fabric.submit_with_retry`); a
refusal by the chaincode raises :class:`LedgerRefused` with its stable code, so callers
(the gateway maps codes to HTTP statuses) never parse messages. Transport and validation
failures stay the Gateway client's own errors (:mod:`node.fabric.errors`).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, TypeAdapter

from node.fabric import Contract, GatewayError, SubmitResult, submit_with_retry
from schemas.derivations import DerivationRecord
from schemas.glossary import Period, Stage
from schemas.ledger import (
    MAX_PAGE_SIZE,
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
    HolderPeriod,
    ItemsQuery,
    ItemTrail,
    LedgerErrorCode,
    OrgKeyPublication,
    OrgKeyRecord,
    PackageAccessRequest,
    Penalty,
    PenaltySchedule,
    PeriodQuery,
    ServiceRecord,
    SetAsideRecord,
    StageChange,
    StageDetails,
    StageEntry,
    SubjectViolation,
    TargetKind,
    TrailPage,
    TrailQuery,
    TransferAnswer,
    TransferProposal,
    TransferRecord,
    ledger_time,
)
from schemas.violations import (
    ViolationEntry,
    ViolationFlag,
    ViolationPage,
    ViolationQuery,
    ViolationRecord,
    ViolationReview,
    ViolationStep,
)

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)
_RECORDS = TypeAdapter(list[AccessRecord])


class LedgerRefused(Exception):
    """The chaincode refused: ``code`` is one of :class:`LedgerErrorCode`."""

    def __init__(self, code: LedgerErrorCode, message: str, tx_id: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.tx_id = tx_id


@dataclass(frozen=True)
class Committed(Generic[T]):
    value: T
    tx_id: str
    block_number: int


def _refusal(err: GatewayError) -> LedgerRefused | None:
    code = err.chaincode_code
    if code is None:
        return None
    try:
        known = LedgerErrorCode(code)
    except ValueError:
        return None
    return LedgerRefused(known, err.chaincode_message or str(err), err.tx_id)


def _arg(value: BaseModel | str) -> str:
    return value if isinstance(value, str) else value.model_dump_json()


class LedgerClient:
    """The evidence chaincode through one identity's gateway connection."""

    def __init__(self, contract: Contract) -> None:
        self.contract = contract

    async def _submit(
        self, kind: type[M], fn: str, *args: BaseModel | str, endorsing_orgs: Sequence[str] = ()
    ) -> Committed[M]:
        result = await self._submit_raw(fn, *args, endorsing_orgs=endorsing_orgs)
        return Committed(kind.model_validate_json(result.result), result.tx_id, result.block_number)

    async def _submit_raw(
        self,
        fn: str,
        *args: BaseModel | str,
        endorsing_orgs: Sequence[str] = (),
        on_endorsed: Callable[[], object] | None = None,
    ) -> SubmitResult:
        try:
            return await submit_with_retry(
                self.contract,
                fn,
                *(_arg(a) for a in args),
                endorsing_orgs=endorsing_orgs,
                on_endorsed=on_endorsed,
            )
        except GatewayError as err:
            raise (_refusal(err) or err) from err

    async def _evaluate(self, fn: str, *args: BaseModel | str) -> bytes:
        try:
            return await self.contract.evaluate(fn, *(_arg(a) for a in args))
        except GatewayError as err:
            raise (_refusal(err) or err) from err

    async def _one(self, kind: type[M], fn: str, *args: BaseModel | str) -> M:
        return kind.model_validate_json(await self._evaluate(fn, *args))

    async def _many(self, kind: type[M], fn: str, *args: BaseModel | str) -> list[M]:
        return TypeAdapter(list[kind]).validate_json(await self._evaluate(fn, *args))  # type: ignore[valid-type]

    # --- org keys and penalty schedule -----------------------------------------------------

    async def publish_org_key(self, public_key_b64: str) -> Committed[OrgKeyRecord]:
        req = OrgKeyPublication(public_key=public_key_b64)
        return await self._submit(OrgKeyRecord, "PublishOrgKey", req)

    async def org_key(self, org: str) -> OrgKeyRecord:
        return await self._one(OrgKeyRecord, "GetOrgKey", org)

    async def org_key_history(self, org: str) -> list[OrgKeyRecord]:
        return await self._many(OrgKeyRecord, "OrgKeyHistory", org)

    async def set_penalty_schedule(self, schedule: PenaltySchedule) -> Committed[PenaltySchedule]:
        result = await self._submit(
            PenaltySchedule, "SetPenaltySchedule", schedule.model_dump_json()
        )
        return result

    async def penalty_schedule(self) -> PenaltySchedule:
        return PenaltySchedule.model_validate_json(await self._evaluate("GetPenaltySchedule"))

    async def subject_history(self, subject_key: str) -> list[SubjectViolation]:
        return await self._many(SubjectViolation, "SubjectHistory", subject_key)

    async def assess_penalty(
        self, subject_key: str, violation_type: str, rectified: bool
    ) -> Penalty:
        flag = "true" if rectified else "false"
        return await self._one(Penalty, "AssessPenalty", subject_key, violation_type, flag)

    # --- evidence ------------------------------------------------------------------------

    async def register_evidence(self, reg: EvidenceRegistration) -> Committed[EvidenceRecord]:
        return await self._submit(EvidenceRecord, "RegisterEvidence", reg)

    async def file_document(self, filing: DocumentFiling) -> Committed[EvidenceRecord]:
        """A step's document into the case file (registered and attached in one)."""
        return await self._submit(EvidenceRecord, "FileDocument", filing)

    async def attach_evidence(self, case_id: str, evidence_id: str) -> str:
        """Attach; returns the transaction id."""
        try:
            result = await submit_with_retry(self.contract, "AttachEvidence", case_id, evidence_id)
        except GatewayError as err:
            raise (_refusal(err) or err) from err
        return result.tx_id

    async def expire_evidence(self, evidence_id: str, reason: str) -> Committed[EvidenceRecord]:
        return await self._submit(EvidenceRecord, "ExpireEvidence", evidence_id, reason)

    async def evidence(self, evidence_id: str) -> EvidenceRecord:
        return await self._one(EvidenceRecord, "GetEvidence", evidence_id)

    async def evidence_items(self, evidence_ids: Sequence[str]) -> list[EvidenceRecord]:
        """The records of up to MAX_PACKAGE_BATCH items in one query, in order.

        Raises:
            LedgerRefused: NOT_FOUND (an unknown item), VALIDATION_FAILED.
        """
        query = ItemsQuery(evidence_ids=list(evidence_ids))
        return await self._many(EvidenceRecord, "GetEvidenceItems", query)

    async def derived_from(self, derived_id: str) -> DerivationRecord:
        """The ledger's link of a derived copy (a redaction) to its original.

        Raises:
            LedgerRefused: NOT_FOUND (no recorded copy).
        """
        return await self._one(DerivationRecord, "GetDerivedFrom", derived_id)

    async def case_evidence(self, case_id: str, page_size: int = MAX_PAGE_SIZE) -> list[str]:
        """Every evidence id of the case, following the pages."""
        return await self._ids("CaseEvidence", case_id, page_size)

    async def owned_evidence(self, org: str, page_size: int = 200) -> list[str]:
        """Every evidence id ``org`` registered, following the pages."""
        return await self._ids("OwnedEvidence", org, page_size)

    async def _ids(self, fn: str, owner: str, page_size: int) -> list[str]:
        ids: list[str] = []
        bookmark = ""
        while True:
            raw = await self._evaluate(fn, owner, str(page_size), bookmark)
            page: dict[str, Any] = json.loads(raw)
            ids.extend(page["evidence_ids"])
            bookmark = page["bookmark"]
            if not bookmark:
                return ids

    # --- grants and access ---------------------------------------------------------------

    async def grant_access(self, req: GrantRequest) -> Committed[GrantRecord]:
        return await self._submit(GrantRecord, "GrantAccess", req)

    async def record_share_denial(self, req: GrantRequest) -> Committed[AccessRecord]:
        """Record the share GrantAccess just refused (ACCESS_DENIED) in the trails."""
        return await self._submit(AccessRecord, "RecordShareDenial", req)

    async def revoke_access(
        self, target: TargetKind, target_id: str, grantee_org: str
    ) -> Committed[GrantRecord]:
        return await self._submit(GrantRecord, "RevokeAccess", target, target_id, grantee_org)

    async def grants(self, target: TargetKind, target_id: str) -> list[GrantRecord]:
        return await self._many(GrantRecord, "ListGrants", target, target_id)

    async def request_access(self, req: AccessRequest) -> Committed[AccessRecord]:
        """Record an access attempt; check ``value.outcome`` (a denial commits too)."""
        return await self._submit(AccessRecord, "RequestAccess", req)

    async def request_package_access(
        self, req: PackageAccessRequest, on_endorsed: Callable[[], object] | None = None
    ) -> Committed[list[AccessRecord]]:
        """Record an export's ``package`` access of every listed item in one transaction:
        all granted, one record per item (in request order), or nothing recorded.
        ``on_endorsed`` is called when the chaincode granted them all (not yet committed).

        Raises:
            LedgerRefused: ACCESS_DENIED (an item is denied: ask it alone with
                :meth:`request_access` to record the denial), VALIDATION_FAILED.
        """
        result = await self._submit_raw("RequestPackageAccess", req, on_endorsed=on_endorsed)
        records = _RECORDS.validate_json(result.result)
        return Committed(records, result.tx_id, result.block_number)

    async def preview_access(self, req: AccessRequest) -> AccessRecord:
        """The record :meth:`request_access` would write now, evaluated: nothing is recorded."""
        return await self._one(AccessRecord, "RequestAccess", req)

    async def access_record(self, record_id: str) -> AccessRecord:
        return await self._one(AccessRecord, "GetAccessRecord", record_id)

    async def access_trail(self, query: TrailQuery) -> TrailPage:
        return await self._one(TrailPage, "AccessTrail", query)

    async def item_trails(
        self, evidence_ids: Sequence[str], page_size: int = MAX_PAGE_SIZE
    ) -> list[ItemTrail]:
        """The first trail page of up to MAX_PACKAGE_BATCH items in one query; an item's
        bookmark continues with :meth:`access_trail`.

        Raises:
            LedgerRefused: ACCESS_DENIED (not a trail reader), VALIDATION_FAILED.
        """
        query = ItemsQuery(evidence_ids=list(evidence_ids), page_size=page_size)
        return await self._many(ItemTrail, "ItemTrails", query)

    # --- cases and transfers -------------------------------------------------------------

    async def file_case(self, filing: CaseFiling) -> Committed[CaseRecord]:
        return await self._submit(CaseRecord, "FileCase", filing)

    async def change_stage(
        self, case_id: str, to: Stage, details: StageDetails | None = None
    ) -> Committed[CaseRecord]:
        req = StageChange(case_id=case_id, to_stage=to, details=details or StageDetails())
        return await self._submit(CaseRecord, "ChangeStage", req)

    async def case(self, case_id: str) -> CaseRecord:
        return await self._one(CaseRecord, "GetCase", case_id)

    async def case_history(self, case_id: str) -> list[StageEntry]:
        return await self._many(StageEntry, "CaseHistory", case_id)

    async def propose_transfer(self, req: TransferProposal) -> Committed[TransferRecord]:
        return await self._submit(TransferRecord, "ProposeTransfer", req)

    async def answer_transfer(
        self, req: TransferAnswer, *, endorsing_orgs: Sequence[str] = ()
    ) -> Committed[TransferRecord]:
        return await self._submit(
            TransferRecord, "AnswerTransfer", req, endorsing_orgs=endorsing_orgs
        )

    async def transfer_history(self, case_id: str) -> list[TransferRecord]:
        return await self._many(TransferRecord, "TransferHistory", case_id)

    async def case_holders(self, case_id: str) -> list[HolderPeriod]:
        return await self._many(HolderPeriod, "CaseHolders", case_id)

    # --- the violation review loop ---------------------------------------------------------

    async def flag_violation(self, flag: ViolationFlag) -> Committed[ViolationRecord]:
        return await self._submit(ViolationRecord, "FlagViolation", flag)

    async def review_violation(self, review: ViolationReview) -> Committed[ViolationRecord]:
        return await self._submit(ViolationRecord, "ReviewViolation", review)

    async def advance_violation(self, step: ViolationStep) -> Committed[ViolationRecord]:
        return await self._submit(ViolationRecord, "AdvanceViolation", step)

    async def violation(self, flag_id: str) -> ViolationRecord:
        return await self._one(ViolationRecord, "GetViolation", flag_id)

    async def violation_history(self, flag_id: str) -> list[ViolationEntry]:
        return await self._many(ViolationEntry, "ViolationHistory", flag_id)

    async def violations(self, query: ViolationQuery) -> ViolationPage:
        return await self._one(ViolationPage, "ListViolations", query)

    # --- publication of decisions (行政执法公示) ---------------------------------------------

    async def record_bulletin(self, recording: BulletinRecording) -> Committed[BulletinRecord]:
        """Record that the caller's department published a bulletin (reviewer or admin)."""
        return await self._submit(BulletinRecord, "RecordBulletin", recording)

    async def bulletin_records(self, org: str, period: Period, since: str) -> list[BulletinRecord]:
        """What ``org`` recorded as published for its ``period`` from ``since``, oldest first."""
        return await self._many(BulletinRecord, "BulletinRecords", org, period.value, since)

    async def period_cases(self, org: str, since: dt.datetime, until: dt.datetime) -> list[str]:
        """The cases in which ``org`` took a decision in [since, until), or had one recorded
        as set aside then: what a bulletin of that period accounts for (the ledger's own
        index; any member may read it)."""
        query = PeriodQuery(org=org, since=ledger_time(since), until=ledger_time(until))
        return TypeAdapter(list[str]).validate_json(await self._evaluate("PeriodCases", query))

    async def set_aside_decision(
        self, req: DecisionSetAside, *, endorsing_orgs: Sequence[str] = ()
    ) -> Committed[SetAsideRecord]:
        """Record that a decision was set aside (a reviewer or admin of the deciding
        department; after a transfer the gateway also asks the holder's peer, whose
        endorsement the case key needs)."""
        return await self._submit(
            SetAsideRecord, "SetAsideDecision", req, endorsing_orgs=endorsing_orgs
        )

    async def decision_set_asides(self, case_id: str) -> list[SetAsideRecord]:
        return await self._many(SetAsideRecord, "DecisionSetAsides", case_id)

    async def record_service(self, req: DocumentService) -> Committed[ServiceRecord]:
        """Record that a step's document was served on the party (an officer or reviewer
        of the holding department)."""
        return await self._submit(ServiceRecord, "RecordService", req)

    async def case_services(self, case_id: str) -> list[ServiceRecord]:
        return await self._many(ServiceRecord, "CaseServices", case_id)
