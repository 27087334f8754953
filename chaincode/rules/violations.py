"""The co-governance loop for AI-flagged violations: which status may follow which, who may
move it, and what each step must carry.

detected → confirmed | rejected (the reviewer's decision) → reminded → rectified | escalated
→ community_reminded → rectified | case_filed; a confirmed flag may also go straight to a
case. rejected, rectified and case_filed end the loop.

The penalty schedule may require reminders before a flag of a type becomes a case (小河共治:
the grid officer's reminder, then the community's; enforcement only after both), and then
evidence under such a flag reaches a case only through the flag.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from chaincode.runtime.errors import ContractError
from schemas.glossary import Role, ViolationStatus, ViolationType
from schemas.ledger import LedgerErrorCode

S = ViolationStatus
INVALID = LedgerErrorCode.INVALID_VIOLATION_TRANSITION
TERMINAL = frozenset({S.REJECTED, S.RECTIFIED, S.CASE_FILED})


@dataclass(frozen=True)
class Step:
    """What moving a flag into a status requires."""

    roles: frozenset[Role]
    reason: bool = False  # a reason code
    evidence: bool = False  # evidence of the rectification
    case: bool = False  # the case to open


_REVIEWER = frozenset({Role.REVIEWER})
_OFFICER = frozenset({Role.OFFICER})
_EITHER = frozenset({Role.OFFICER, Role.REVIEWER})

STEPS: dict[ViolationStatus, Step] = {
    S.CONFIRMED: Step(_REVIEWER, reason=True),
    S.REJECTED: Step(_REVIEWER, reason=True),
    S.REMINDED: Step(_EITHER),
    S.RECTIFIED: Step(_OFFICER, evidence=True),
    S.ESCALATED: Step(_EITHER, reason=True),
    S.COMMUNITY_REMINDED: Step(_OFFICER),
    S.CASE_FILED: Step(_EITHER, case=True),
}

NEXT: dict[ViolationStatus, frozenset[ViolationStatus]] = {
    S.DETECTED: frozenset({S.CONFIRMED, S.REJECTED}),
    S.CONFIRMED: frozenset({S.REMINDED, S.CASE_FILED}),
    S.REMINDED: frozenset({S.RECTIFIED, S.ESCALATED}),
    S.ESCALATED: frozenset({S.COMMUNITY_REMINDED, S.CASE_FILED}),
    S.COMMUNITY_REMINDED: frozenset({S.RECTIFIED, S.CASE_FILED}),
}


def check_step(
    current: ViolationStatus,
    to: ViolationStatus,
    role: str | None,
    *,
    has_reason: bool,
    has_evidence: bool,
    has_case: bool,
) -> None:
    """Raises ContractError: INVALID_VIOLATION_TRANSITION for a step the loop does not
    allow from ``current`` or one missing what it needs; ACCESS_DENIED for the wrong role."""
    if to not in NEXT.get(current, frozenset()):
        allowed = ", ".join(sorted(NEXT.get(current, frozenset()))) or "nothing (it has ended)"
        raise ContractError(INVALID, f"a {current} flag cannot become {to}; next: {allowed}")
    step = STEPS[to]
    if role not in step.roles:
        names = " or ".join(sorted(step.roles))
        raise ContractError(
            LedgerErrorCode.ACCESS_DENIED,
            f"moving a flag to {to} needs the {names} role; this identity has {role or 'none'}",
        )
    missing = [
        what
        for what, needed, present in (
            ("a reason code", step.reason, has_reason),
            ("evidence of the rectification", step.evidence, has_evidence),
            ("the case to open", step.case, has_case),
        )
        if needed and not present
    ]
    if missing:
        raise ContractError(INVALID, f"{to} needs {' and '.join(missing)}")


# --- the co-governance rule: reminders before enforcement (小河共治) ----------------------

REMINDERS = frozenset({S.REMINDED, S.COMMUNITY_REMINDED})


def reminders_given(history: Iterable[ViolationStatus]) -> int:
    """How many reminders a flag has had, from the statuses its history moved it to."""
    return sum(1 for status in history if status in REMINDERS)


_NEXT_REMINDER = {
    S.REMINDED: "escalate it, then give the community reminder",
    S.ESCALATED: "give the community reminder",
}


def check_reminders(
    flag_id: str,
    status: ViolationStatus,
    violation_type: ViolationType,
    *,
    given: int,
    required: int,
) -> None:
    """Before a flag becomes a case: the reminders the schedule requires for its type.

    Raises:
        ContractError: REMINDERS_REQUIRED, saying how many were given and the next step.
    """
    if given >= required:
        return
    next_step = _NEXT_REMINDER.get(status, "remind first")
    raise ContractError(
        LedgerErrorCode.REMINDERS_REQUIRED,
        f"the penalty schedule requires {required} reminder(s) before a {violation_type} "
        f"flag becomes a case; flag {flag_id} has had {given}: {next_step}",
    )


def check_flagged_evidence(
    evidence_id: str,
    flag_id: str,
    status: ViolationStatus,
    violation_type: ViolationType,
    *,
    required: int,
) -> None:
    """Evidence under a flag whose type requires reminders reaches a case only through that
    flag's loop; otherwise filing a case on it directly would skip the reminders.

    Raises:
        ContractError: EVIDENCE_UNDER_FLAG while the flag has not become a case.
    """
    if required == 0 or status is S.CASE_FILED:
        return
    raise ContractError(
        LedgerErrorCode.EVIDENCE_UNDER_FLAG,
        f"evidence {evidence_id} is under flag {flag_id} ({violation_type}, {status}); the "
        f"penalty schedule requires {required} reminder(s) before such a case, so it is "
        "opened from the flag, once its reminders are given",
    )
