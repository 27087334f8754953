"""The co-governance loop for AI-flagged violations: which status may follow which, who may
move it, and what each step must carry.

detected → confirmed | rejected (the reviewer's decision) → reminded → rectified | escalated
→ community_reminded → rectified | case_filed; a confirmed flag may also go straight to a
case. rejected, rectified and case_filed end the loop.
"""

from __future__ import annotations

from dataclasses import dataclass

from chaincode.runtime.errors import ContractError
from schemas.glossary import Role, ViolationStatus
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
