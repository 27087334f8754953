"""An auditor's check of a published bulletin against the ledger (公示完整性): which decisions
the department took in the period but did not publish, which it published differently from
what the ledger recorded, and which it published that the ledger does not hold.

Who signed the bulletin is the offline verifier's question (:mod:`node.disclosure.verify`);
this compares what it says. A decision taken after the bulletin was issued is not missing
from it: it is counted apart, for the next bulletin.
"""

from __future__ import annotations

from dataclasses import dataclass

from node.disclosure.bulletin import Bulletin, DecisionNotice


@dataclass(frozen=True)
class Altered:
    """A published decision whose fields differ from the ledger's (by name)."""

    published: DecisionNotice
    fields: tuple[str, ...]


@dataclass(frozen=True)
class Comparison:
    missing: list[DecisionNotice]  # on the ledger by the issue time, not published
    altered: list[Altered]
    unknown: list[DecisionNotice]  # published, but no such decision of the period's
    after_issue: int  # decided in the period after the bulletin was issued
    on_ledger: int  # decided in the period by the issue time

    @property
    def complete(self) -> bool:
        return not (self.missing or self.altered or self.unknown)


def compare(published: Bulletin, on_ledger: list[DecisionNotice]) -> Comparison:
    """``published`` against the decisions the ledger holds for its org and period."""
    due = {n.decision_tx: n for n in on_ledger if n.decided_at <= published.issued_at}
    listed = {n.decision_tx: n for n in published.decisions}
    altered = []
    for tx, notice in listed.items():
        truth = due.get(tx)
        if truth is not None and truth != notice:
            mine, theirs = notice.model_dump(), truth.model_dump()
            altered.append(Altered(notice, tuple(k for k in mine if mine[k] != theirs[k])))
    return Comparison(
        missing=[n for tx, n in due.items() if tx not in listed],
        altered=altered,
        unknown=[n for tx, n in listed.items() if tx not in due],
        after_issue=len(on_ledger) - len(due),
        on_ledger=len(due),
    )
