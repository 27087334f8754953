"""The stepped penalty schedule and the first-violation exemption (首违免罚).

A subject's prior violations of the same type within the schedule's lookback decide the
step; a first violation that was rectified is exempt where the schedule allows it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from chaincode.runtime.errors import ContractError
from schemas.glossary import ViolationType
from schemas.ledger import (
    LedgerErrorCode,
    Penalty,
    PenaltySchedule,
    SubjectKind,
    SubjectViolation,
    ledger_time,
    parse_ledger_time,
)

# 《行政处罚法》第五十一条: the simple procedure covers fines up to 200 yuan for a person and
# 3000 yuan for an organisation (or a warning).
SIMPLE_PROCEDURE_LIMIT_CENTS = {SubjectKind.PERSON: 200_00, SubjectKind.ORGANIZATION: 3000_00}


def check_schedule(schedule: PenaltySchedule, current: PenaltySchedule | None, org: str) -> None:
    """Refuse a schedule that does not follow the current one.

    Raises:
        ContractError: SCHEDULE_CONFLICT (version not next) or ACCESS_DENIED (org does
            not govern the current schedule) or VALIDATION_FAILED (decreasing steps).
    """
    expected = 1 if current is None else current.version + 1
    if schedule.version != expected:
        raise ContractError(
            LedgerErrorCode.SCHEDULE_CONFLICT,
            f"the next penalty schedule must be version {expected}, not {schedule.version}",
        )
    if current is not None and org not in current.governing_orgs:
        raise ContractError(
            LedgerErrorCode.ACCESS_DENIED,
            f"{org} does not govern the penalty schedule "
            f"(governed by {', '.join(current.governing_orgs)})",
        )
    for vtype, entry in schedule.entries.items():
        if any(b < a for a, b in zip(entry.steps_cents, entry.steps_cents[1:], strict=False)):
            raise ContractError(
                LedgerErrorCode.VALIDATION_FAILED,
                f"penalty steps for {vtype} must not decrease with repeat violations",
            )


def assess(
    schedule: PenaltySchedule,
    violation_type: ViolationType,
    history: Sequence[SubjectViolation],
    *,
    rectified: bool,
    now: str,
) -> Penalty:
    """The penalty for a subject's new violation, from its history.

    Raises:
        ContractError: VALIDATION_FAILED when the schedule has no entry for the type.
    """
    entry = schedule.entries.get(violation_type)
    if entry is None:
        raise ContractError(
            LedgerErrorCode.VALIDATION_FAILED,
            f"penalty schedule v{schedule.version} has no entry for {violation_type}",
        )
    since = ledger_time(parse_ledger_time(now) - dt.timedelta(days=entry.lookback_days))
    prior = [
        v
        for v in history
        if v.violation_type is violation_type and since <= v.at <= now and v.counts
    ]
    exempt = entry.first_violation_exempt and not prior and rectified
    step = min(len(prior), len(entry.steps_cents) - 1)
    return Penalty(
        exempt=exempt,
        prior_violations=len(prior),
        step=step + 1,
        amount_cents=0 if exempt else entry.steps_cents[step],
        legal_basis=entry.legal_basis,
        discretion_benchmark=entry.discretion_benchmark,
        schedule_version=schedule.version,
    )


def check_simple_procedure(kind: SubjectKind, penalty: Penalty) -> None:
    limit = SIMPLE_PROCEDURE_LIMIT_CENTS[kind]
    if penalty.amount_cents > limit:
        raise ContractError(
            LedgerErrorCode.INVALID_STAGE_TRANSITION,
            f"the simple procedure allows fines up to {limit // 100} yuan for a {kind}; "
            f"this penalty is {penalty.amount_cents / 100:.2f} yuan: use the general procedure",
        )
