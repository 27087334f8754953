"""A party's earlier violations and the penalty a decision would impose now: what an officer
checks on the street or before a decision (责任人以往的案件信息、处置结果), over the ledger's
subject history, keyed by the consortium's subject key.

A lookup is a POST: the party's identifier is personal data, and a query string ends up in
access logs and browser histories; only its keyed hash reaches the ledger.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from gateway.auth import Principal
from gateway.deps import Deps, ledger_of, require
from gateway.problems import Problem
from gateway.routes.cases import subject_key_of
from schemas.glossary import Role, ViolationType
from schemas.ledger import Penalty, SubjectKind, SubjectViolation

router = APIRouter(prefix="/subjects", tags=["subjects"])


class SubjectLookup(BaseModel):
    model_config = ConfigDict(extra="forbid")
    subject: str | None = Field(
        default=None, min_length=1, max_length=200, description="plate, licence or id number"
    )
    subject_key: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    subject_kind: SubjectKind = SubjectKind.PERSON
    violation_type: ViolationType | None = Field(
        default=None, description="with it: the penalty a decision would impose now"
    )
    rectified: bool = False


class SubjectHistoryView(BaseModel):
    model_config = ConfigDict(frozen=True)
    subject_key: str
    violations: list[SubjectViolation]
    penalty: Penalty | None = None


@router.post("/history", response_model=SubjectHistoryView)
async def history(
    body: SubjectLookup,
    deps: Deps,
    who: Annotated[Principal, require(Role.OFFICER, Role.REVIEWER, Role.AUDITOR)],
) -> SubjectHistoryView:
    """The party's violations on the ledger (every department's), newest last; with a
    ``violation_type``, the penalty the on-chain schedule would impose for it now."""
    if (body.subject is None) == (body.subject_key is None):
        raise Problem(422, "INVALID_REQUEST", "subject: give either subject or subject_key")
    key = body.subject_key or subject_key_of(deps.subjects, body.subject_kind, body.subject or "")
    ledger = ledger_of(deps, who)
    violations = await ledger.subject_history(key)
    penalty = None
    if body.violation_type is not None:
        penalty = await ledger.assess_penalty(key, body.violation_type.value, body.rectified)
    return SubjectHistoryView(subject_key=key, violations=violations, penalty=penalty)
