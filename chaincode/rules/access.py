"""Who may read evidence: the owner, the case holder, or a department with a live grant."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from schemas.glossary import AccessKind, Outcome, Role
from schemas.ledger import CaseRecord, EvidenceRecord, EvidenceStatus, GrantRecord

# Least privilege per role: devices only submit, admins only manage identities and keys,
# auditors look at what they audit but do not take copies away.
ROLE_KINDS: dict[str, frozenset[AccessKind]] = {
    Role.OFFICER: frozenset(AccessKind),
    Role.REVIEWER: frozenset(AccessKind),
    Role.PARTNER: frozenset({AccessKind.VIEW, AccessKind.DOWNLOAD, AccessKind.PACKAGE}),
    Role.AUDITOR: frozenset({AccessKind.VIEW}),
    Role.DEVICE: frozenset(),
    Role.ADMIN: frozenset(),
}


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    reason: str  # a code: owner, holder, grant, role_not_permitted, no_grant, ...
    grant_tx: str | None = None

    @property
    def granted(self) -> bool:
        return self.outcome is Outcome.GRANTED


def _deny(reason: str) -> Decision:
    return Decision(Outcome.DENIED, reason)


def grant_state(grant: GrantRecord, kind: AccessKind, now: str) -> str:
    """``live`` or why the grant does not cover ``kind`` at ``now`` (ledger time text)."""
    if grant.revoked_at is not None:
        return "grant_revoked"
    if grant.expires_at <= now:
        return "grant_expired"
    if kind not in grant.kinds:
        return "kind_not_granted"
    return "live"


def decide(
    *,
    org: str,
    role: str | None,
    kind: AccessKind,
    now: str,
    evidence: EvidenceRecord | None,
    cases: Sequence[CaseRecord],
    grants: Sequence[GrantRecord],
) -> Decision:
    """Decide one access attempt.

    ``evidence`` is the item asked for (None when a whole case is asked for); ``cases`` are
    the case asked for or the cases the item is attached to; ``grants`` are the grants to
    ``org`` on the item and on those cases.
    """
    if role is None or kind not in ROLE_KINDS.get(role, frozenset()):
        return _deny("role_not_permitted")
    if evidence is not None and evidence.status is EvidenceStatus.RETENTION_EXPIRED:
        return _deny("retention_expired")
    if evidence is not None and evidence.owner_org == org:
        return Decision(Outcome.GRANTED, "owner")
    if any(case.holder_org == org for case in cases):
        return Decision(Outcome.GRANTED, "holder")
    if kind is AccessKind.SHARE:
        # Passing evidence on to a third department is the owner's or holder's call alone.
        return _deny("share_reserved_to_owner")
    if not grants:
        return _deny("no_grant")
    states = [(grant_state(g, kind, now), g) for g in grants]
    for state, grant in states:
        if state == "live":
            return Decision(Outcome.GRANTED, "grant", grant.granted_tx)
    # The most telling reason first: a grant that lacks this kind says more than a lapsed one.
    order = ["kind_not_granted", "grant_expired", "grant_revoked"]
    return _deny(min((state for state, _ in states), key=order.index))
