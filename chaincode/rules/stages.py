"""The case stage machine: which stage may follow which, who may move it, what it carries.

General procedure (一般程序): source → preliminary_check → filing_approval → investigation →
advance_notice → decision → execution → closure. The simple procedure (简易程序) decides on
the spot: source → decision → execution → closure. Before a decision, a case may be closed
without penalty (首违免罚) when the subject qualifies (checked with the penalty schedule).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from chaincode.runtime.errors import ContractError
from schemas.glossary import Procedure, Role, Stage
from schemas.ledger import (
    CaseRecord,
    LedgerErrorCode,
    StageDetails,
    ledger_time,
    parse_ledger_time,
)

INVALID = LedgerErrorCode.INVALID_STAGE_TRANSITION
MAX_STATEMENT_PERIOD = dt.timedelta(days=60)
TERMINAL = frozenset({Stage.CLOSURE, Stage.CLOSED_WITHOUT_PENALTY})


@dataclass(frozen=True)
class Step:
    """What one transition requires."""

    roles: frozenset[Role]
    document: bool = True  # the step's legal document must be bound by its hash
    fields: tuple[str, ...] = ()  # StageDetails fields that must be set


_OFFICER = frozenset({Role.OFFICER})
_REVIEWER = frozenset({Role.REVIEWER})
_WITHOUT_PENALTY = Step(_REVIEWER, fields=("rectified",))

GENERAL: dict[Stage, dict[Stage, Step]] = {
    Stage.SOURCE: {
        Stage.PRELIMINARY_CHECK: Step(_OFFICER, document=False),
        Stage.CLOSED_WITHOUT_PENALTY: _WITHOUT_PENALTY,
    },
    Stage.PRELIMINARY_CHECK: {
        Stage.FILING_APPROVAL: Step(_OFFICER),
        Stage.CLOSED_WITHOUT_PENALTY: _WITHOUT_PENALTY,
    },
    # Leaving filing_approval is the approval itself: a reviewer's act (立案审批).
    Stage.FILING_APPROVAL: {
        Stage.INVESTIGATION: Step(_REVIEWER),
        Stage.CLOSED_WITHOUT_PENALTY: _WITHOUT_PENALTY,
    },
    Stage.INVESTIGATION: {
        Stage.ADVANCE_NOTICE: Step(_OFFICER, fields=("statement_right", "statement_deadline")),
        Stage.CLOSED_WITHOUT_PENALTY: _WITHOUT_PENALTY,
    },
    # The decision passes legal review (法制审核): a reviewer's act.
    Stage.ADVANCE_NOTICE: {
        Stage.DECISION: Step(_REVIEWER),
        Stage.CLOSED_WITHOUT_PENALTY: _WITHOUT_PENALTY,
    },
    Stage.DECISION: {Stage.EXECUTION: Step(_OFFICER)},
    Stage.EXECUTION: {
        Stage.CLOSURE: Step(frozenset({Role.OFFICER, Role.REVIEWER}), fields=("execution_result",))
    },
}

SIMPLE: dict[Stage, dict[Stage, Step]] = {
    Stage.SOURCE: {
        Stage.DECISION: Step(_OFFICER),
        Stage.CLOSED_WITHOUT_PENALTY: Step(
            frozenset({Role.OFFICER, Role.REVIEWER}), fields=("rectified",)
        ),
    },
    Stage.DECISION: GENERAL[Stage.DECISION],
    Stage.EXECUTION: GENERAL[Stage.EXECUTION],
}


def machine(procedure: Procedure) -> dict[Stage, dict[Stage, Step]]:
    return SIMPLE if procedure is Procedure.SIMPLE else GENERAL


def check_transition(
    case: CaseRecord, to: Stage, role: str | None, details: StageDetails, now: str
) -> Step:
    """Refuse a transition the law does not allow; return the step it takes.

    ``now`` is the transaction time as ledger text.

    Raises:
        ContractError: INVALID_STAGE_TRANSITION (wrong order, pending transfer, missing
            details, decision before the statement period ends) or ACCESS_DENIED (role).
    """
    if case.stage in TERMINAL:
        raise ContractError(INVALID, f"case {case.case_id} is closed ({case.stage})")
    if case.pending_transfer is not None:
        raise ContractError(
            INVALID,
            f"case {case.case_id} has a pending transfer to {case.pending_transfer.to_org}; "
            "it must be accepted or rejected first",
        )
    allowed = machine(case.procedure).get(case.stage, {})
    step = allowed.get(to)
    if step is None:
        options = ", ".join(sorted(allowed)) or "nothing"
        raise ContractError(
            INVALID,
            f"a {case.procedure} case at {case.stage} may move to {options}, not {to}",
        )
    if role not in step.roles:
        names = " or ".join(sorted(step.roles))
        raise ContractError(
            LedgerErrorCode.ACCESS_DENIED, f"moving a case to {to} needs the {names} role"
        )
    missing = [name for name in step.fields if not getattr(details, name)]
    if step.document and details.document_hash is None:
        missing.insert(0, "document_hash")
    if missing:
        raise ContractError(INVALID, f"moving to {to} requires: {', '.join(missing)}")
    if to is Stage.ADVANCE_NOTICE:
        _check_statement_deadline(details, now)
    if to is Stage.DECISION and case.procedure is Procedure.GENERAL:
        deadline = case.statement_deadline
        if deadline is not None and now < deadline and not details.party_waived:
            raise ContractError(
                INVALID,
                f"the party may make a statement until {deadline}; decide after that "
                "or record that the party waived the right (party_waived)",
            )
    return step


def _check_statement_deadline(details: StageDetails, now: str) -> None:
    deadline = details.statement_deadline
    assert deadline is not None  # required field, checked above
    if ledger_time(deadline) <= now:
        raise ContractError(INVALID, "the statement deadline must be after the notice")
    if deadline - parse_ledger_time(now) > MAX_STATEMENT_PERIOD:
        raise ContractError(INVALID, "the statement deadline must be within 60 days")
