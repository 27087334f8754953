"""The rules as plain functions: stage machine, penalty schedule, access decisions."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from ledgerkit import MARKET, POLICE, SUBJECT, URBAN, schedule

from chaincode.rules.access import decide
from chaincode.rules.penalties import assess, check_schedule, check_simple_procedure
from chaincode.rules.stages import GENERAL, SIMPLE, check_transition
from chaincode.runtime import ContractError
from schemas.glossary import AccessKind, Outcome, Procedure, Stage, ViolationType
from schemas.ledger import (
    CaseRecord,
    EvidenceRecord,
    EvidenceStatus,
    GrantRecord,
    PenaltySchedule,
    PendingTransfer,
    StageDetails,
    SubjectKind,
    SubjectViolation,
)

T0 = "2026-03-01T10:00:00.000000Z"
DOC = "sha256:" + "d" * 64


def case(stage: Stage = Stage.SOURCE, **changes: Any) -> CaseRecord:
    doc: dict[str, Any] = dict(
        case_id="C-1",
        violation_type="road_occupation",
        subject_key=SUBJECT,
        subject_kind="person",
        source="camera",
        procedure="general",
        stage=stage,
        holder_org=URBAN,
        filed_by_org=URBAN,
        filed_by="CN=o",
        filed_at=T0,
        filed_tx="t0",
        updated_at=T0,
    )
    doc.update(changes)
    return CaseRecord(**doc)


def details(**fields: Any) -> StageDetails:
    return StageDetails.model_validate_json(json.dumps(fields))


def refused_code(fn: Any, *args: Any, **kw: Any) -> tuple[str, str]:
    with pytest.raises(ContractError) as info:
        fn(*args, **kw)
    return info.value.code, info.value.message


# --- stages ------------------------------------------------------------------------------


def test_the_general_procedure_walks_all_eight_stages_in_order() -> None:
    path = [Stage.SOURCE]
    while GENERAL.get(path[-1]):
        path.append(next(s for s in GENERAL[path[-1]] if s is not Stage.CLOSED_WITHOUT_PENALTY))
    assert path == list(Stage)[:8]


def test_simple_procedure_goes_from_source_straight_to_decision() -> None:
    assert set(SIMPLE[Stage.SOURCE]) == {Stage.DECISION, Stage.CLOSED_WITHOUT_PENALTY}
    c = case(procedure=Procedure.SIMPLE)
    check_transition(c, Stage.DECISION, "officer", details(document_hash=DOC), T0)
    code, _ = refused_code(
        check_transition, case(), Stage.DECISION, "officer", details(document_hash=DOC), T0
    )
    assert code == "INVALID_STAGE_TRANSITION"


@pytest.mark.parametrize(
    ("stage", "to"),
    [
        (Stage.SOURCE, Stage.INVESTIGATION),  # skipping a stage
        (Stage.INVESTIGATION, Stage.FILING_APPROVAL),  # going back
        (Stage.DECISION, Stage.CLOSED_WITHOUT_PENALTY),  # too late for an exemption
        (Stage.CLOSURE, Stage.EXECUTION),  # after closure
    ],
)
def test_disallowed_transitions_are_refused(stage: Stage, to: Stage) -> None:
    code, message = refused_code(
        check_transition,
        case(stage),
        to,
        "reviewer",
        details(document_hash=DOC, rectified=True),
        T0,
    )
    assert code == "INVALID_STAGE_TRANSITION"
    assert str(to) in message or "closed" in message


def test_filing_approval_and_decision_need_a_reviewer() -> None:
    for stage, to in [
        (Stage.FILING_APPROVAL, Stage.INVESTIGATION),
        (Stage.ADVANCE_NOTICE, Stage.DECISION),
    ]:
        code, message = refused_code(
            check_transition,
            case(stage),
            to,
            "officer",
            details(document_hash=DOC, party_waived=True),
            T0,
        )
        assert code == "ACCESS_DENIED"
        assert "reviewer" in message
        check_transition(
            case(stage), to, "reviewer", details(document_hash=DOC, party_waived=True), T0
        )


def test_steps_require_their_legal_document_and_fields() -> None:
    code, message = refused_code(
        check_transition, case(Stage.INVESTIGATION), Stage.ADVANCE_NOTICE, "officer", details(), T0
    )
    assert code == "INVALID_STAGE_TRANSITION"
    assert message.endswith("document_hash, statement_right, statement_deadline")
    _, message = refused_code(
        check_transition,
        case(Stage.EXECUTION),
        Stage.CLOSURE,
        "officer",
        details(document_hash=DOC),
        T0,
    )
    assert "execution_result" in message


def test_statement_deadline_must_follow_the_notice_within_60_days() -> None:
    c = case(Stage.INVESTIGATION)
    for deadline, ok in [
        ("2026-03-01T09:00:00Z", False),
        ("2026-03-04T10:00:00Z", True),
        ("2026-06-01T10:00:00Z", False),
    ]:
        d = details(document_hash=DOC, statement_right="hearing", statement_deadline=deadline)
        if ok:
            check_transition(c, Stage.ADVANCE_NOTICE, "officer", d, T0)
        else:
            assert (
                refused_code(check_transition, c, Stage.ADVANCE_NOTICE, "officer", d, T0)[0]
                == "INVALID_STAGE_TRANSITION"
            )


def test_decision_waits_for_the_statement_period_unless_waived() -> None:
    c = case(Stage.ADVANCE_NOTICE, statement_deadline="2026-03-04T10:00:00.000000Z")
    code, message = refused_code(
        check_transition, c, Stage.DECISION, "reviewer", details(document_hash=DOC), T0
    )
    assert code == "INVALID_STAGE_TRANSITION"
    assert "party_waived" in message
    check_transition(
        c, Stage.DECISION, "reviewer", details(document_hash=DOC, party_waived=True), T0
    )
    check_transition(
        c, Stage.DECISION, "reviewer", details(document_hash=DOC), "2026-03-04T10:00:00.000000Z"
    )


def test_a_pending_transfer_freezes_the_stage() -> None:
    c = case(pending_transfer=PendingTransfer(seq=1, to_org=MARKET))
    _, message = refused_code(
        check_transition, c, Stage.PRELIMINARY_CHECK, "officer", details(), T0
    )
    assert "pending transfer to MarketSupervisionMSP" in message


# --- penalties ---------------------------------------------------------------------------

SCHEDULE = PenaltySchedule.model_validate_json(json.dumps(schedule()))


def violation(at: str, vtype: str = "road_occupation") -> SubjectViolation:
    return SubjectViolation(
        subject_key=SUBJECT,
        violation_type=vtype,
        case_id="C-0",
        org=URBAN,
        at=at,
        tx="t",
        exempted=False,
        amount_cents=20000,
    )


def test_first_rectified_violation_is_exempt_and_repeats_step_up() -> None:
    road = ViolationType.ROAD_OCCUPATION
    first = assess(SCHEDULE, road, [], rectified=True, now=T0)
    assert (first.exempt, first.amount_cents, first.step) == (True, 0, 1)
    assert assess(SCHEDULE, road, [], rectified=False, now=T0).amount_cents == 20000
    history = [violation("2026-01-01T00:00:00.000000Z")]
    second = assess(SCHEDULE, road, history, rectified=True, now=T0)
    assert (second.exempt, second.amount_cents, second.prior_violations) == (False, 50000, 1)
    many = [violation(f"2026-02-0{d}T00:00:00.000000Z") for d in range(1, 6)]
    assert assess(SCHEDULE, road, many, rectified=False, now=T0).amount_cents == 100000


def test_only_same_type_violations_within_the_lookback_count() -> None:
    history = [
        violation("2024-12-31T00:00:00.000000Z"),
        violation("2026-02-01T00:00:00.000000Z", "shopfront_operation"),
    ]
    penalty = assess(SCHEDULE, ViolationType.ROAD_OCCUPATION, history, rectified=True, now=T0)
    assert penalty.exempt
    assert penalty.prior_violations == 0


def test_a_type_missing_from_the_schedule_is_a_clear_error() -> None:
    code, message = refused_code(
        assess, SCHEDULE, ViolationType.GARBAGE_PILE, [], rectified=False, now=T0
    )
    assert code == "VALIDATION_FAILED"
    assert "garbage_pile" in message


def test_schedule_versions_follow_each_other_and_only_governors_change_them() -> None:
    check_schedule(SCHEDULE, None, URBAN)
    nxt = PenaltySchedule.model_validate_json(json.dumps(schedule(version=2)))
    check_schedule(nxt, SCHEDULE, MARKET)
    assert refused_code(check_schedule, nxt, SCHEDULE, POLICE)[0] == "ACCESS_DENIED"
    assert refused_code(check_schedule, SCHEDULE, SCHEDULE, URBAN)[0] == "SCHEDULE_CONFLICT"
    falling = PenaltySchedule.model_validate_json(
        json.dumps(schedule(version=2, steps_cents=[500, 100]))
    )
    assert refused_code(check_schedule, falling, SCHEDULE, URBAN)[0] == "VALIDATION_FAILED"


def test_simple_procedure_limits_follow_the_law() -> None:
    p = assess(
        SCHEDULE,
        ViolationType.ROAD_OCCUPATION,
        [violation("2026-02-01T00:00:00.000000Z")],
        rectified=False,
        now=T0,
    )
    assert p.amount_cents == 50000
    check_simple_procedure(SubjectKind.ORGANIZATION, p)
    code, message = refused_code(check_simple_procedure, SubjectKind.PERSON, p)
    assert code == "INVALID_STAGE_TRANSITION"
    assert "200 yuan" in message


# --- access ------------------------------------------------------------------------------


def item(**changes: Any) -> EvidenceRecord:
    doc: dict[str, Any] = dict(
        evidence_id="E-1",
        plaintext_hash="p",
        ciphertext_hash="c",
        size=1,
        media_type="image/jpeg",
        captured_at=T0,
        device_id="d",
        camera_id="c",
        violation_type="road_occupation",
        owner_org=URBAN,
        locator="l",
        claims_hash="h",
        registered_by="s",
        registered_role="device",
        registered_at=T0,
        registered_tx="t",
    )
    doc.update(changes)
    return EvidenceRecord(**doc)


def grant(**changes: Any) -> GrantRecord:
    doc: dict[str, Any] = dict(
        target="evidence",
        target_id="E-1",
        grantee_org=POLICE,
        purpose="joint_enforcement",
        kinds=["view", "download"],
        expires_at="2026-04-01T00:00:00.000000Z",
        granted_by_org=URBAN,
        granted_by="s",
        granted_at=T0,
        granted_tx="g1",
    )
    doc.update(changes)
    return GrantRecord(**doc)


def access(org: str, role: str, kind: str = "view", **kw: Any) -> tuple[Outcome, str]:
    kw.setdefault("evidence", item())
    kw.setdefault("cases", [])
    kw.setdefault("grants", [])
    d = decide(org=org, role=role, kind=AccessKind(kind), now=T0, **kw)
    return d.outcome, d.reason


def test_owner_and_holder_read_without_a_grant() -> None:
    assert access(URBAN, "officer") == (Outcome.GRANTED, "owner")
    assert access(MARKET, "officer", cases=[case(holder_org=MARKET)]) == (Outcome.GRANTED, "holder")


def test_other_departments_need_a_live_grant_for_the_kind() -> None:
    assert access(POLICE, "partner") == (Outcome.DENIED, "no_grant")
    assert access(POLICE, "partner", grants=[grant()]) == (Outcome.GRANTED, "grant")
    assert access(POLICE, "partner", "package", grants=[grant()]) == (
        Outcome.DENIED,
        "kind_not_granted",
    )
    expired = grant(expires_at=T0)
    assert access(POLICE, "partner", grants=[expired]) == (Outcome.DENIED, "grant_expired")
    revoked = grant(revoked_at=T0, revoked_by="s", revoked_tx="r")
    assert access(POLICE, "partner", grants=[revoked]) == (Outcome.DENIED, "grant_revoked")
    via_case = grant(target="case", target_id="C-1")
    assert access(POLICE, "officer", cases=[case()], grants=[via_case])[0] is Outcome.GRANTED


def test_roles_limit_what_anyone_may_do() -> None:
    assert access(URBAN, "device") == (Outcome.DENIED, "role_not_permitted")
    assert access(URBAN, "admin") == (Outcome.DENIED, "role_not_permitted")
    assert access(URBAN, "auditor", "download") == (Outcome.DENIED, "role_not_permitted")
    assert access(URBAN, "auditor", "view") == (Outcome.GRANTED, "owner")
    grants = [grant(kinds=["view", "download", "package", "share"])]
    assert access(POLICE, "officer", "share", grants=grants) == (
        Outcome.DENIED,
        "share_reserved_to_owner",
    )


def test_expired_retention_closes_the_item_to_everyone() -> None:
    gone = item(status=EvidenceStatus.RETENTION_EXPIRED)
    assert access(URBAN, "officer", evidence=gone) == (Outcome.DENIED, "retention_expired")


def test_ledger_times_sort_as_text() -> None:
    from schemas.ledger import ledger_time

    a = ledger_time(dt.datetime(2026, 1, 5, 9, 0, 0, 5, tzinfo=dt.UTC))
    b = ledger_time(dt.datetime(2026, 1, 5, 17, 0, tzinfo=dt.timezone(dt.timedelta(hours=8))))
    assert a == "2026-01-05T09:00:00.000005Z"
    assert b == "2026-01-05T09:00:00.000000Z"
    assert b < a
