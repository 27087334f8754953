"""An auditor's check of a published bulletin against the ledger (公示完整性): which decisions
the department took in the period but did not publish, which it published differently from
what the ledger recorded, and which it published that the ledger does not hold; the same for
the withdrawals of decisions set aside (撤回).

Who signed the bulletin is the offline verifier's question (:mod:`node.disclosure.verify`);
this compares what it says, as of when it was issued. A decision taken after the bulletin was
issued is not missing from it: it is counted apart, for the next bulletin. A decision set
aside before the issue belongs among the withdrawals, not the decisions; one set aside after
it is named (``to_withdraw``): the portal must withdraw it within three working days.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from node.disclosure.bulletin import FORMAT, Bulletin, DecisionNotice, Withdrawal
from node.disclosure.collect import PeriodDisclosures

E = TypeVar("E", DecisionNotice, Withdrawal)


@dataclass(frozen=True)
class Altered(Generic[E]):
    """A published entry whose fields differ from the ledger's (by name)."""

    published: E
    fields: tuple[str, ...]


@dataclass(frozen=True)
class Departures(Generic[E]):
    """How the published entries of one kind depart from the ledger's."""

    missing: list[E]  # on the ledger by the issue time, not published
    altered: list[Altered[E]]
    unknown: list[E]  # published, but the ledger holds no such entry of the period

    @property
    def none(self) -> bool:
        return not (self.missing or self.altered or self.unknown)


@dataclass(frozen=True)
class Comparison:
    decisions: Departures[DecisionNotice]
    withdrawals: Departures[Withdrawal]
    to_withdraw: list[DecisionNotice]  # published, then set aside after the issue
    after_issue: int  # decided in the period after the bulletin was issued
    on_ledger: int  # decided in the period by the issue time and standing then

    @property
    def complete(self) -> bool:
        return self.decisions.none and self.withdrawals.none


def compare(published: Bulletin, found: PeriodDisclosures) -> Comparison:
    """``published`` against what the ledger holds for its org and period."""
    issued = published.issued_at

    def standing_then(n: DecisionNotice) -> bool:
        withdrawn = found.set_aside.get(n.decision_tx)
        return withdrawn is None or withdrawn.set_aside_at > issued

    decided = [n for n in found.decisions if n.decided_at <= issued]
    due = [n for n in decided if standing_then(n)]
    listed = {n.decision_tx for n in published.decisions}
    return Comparison(
        decisions=_departures(published.decisions, due, lambda n: n.decision_tx),
        withdrawals=_departures(
            published.withdrawals,
            [_as_of(published, w) for w in found.withdrawals if w.set_aside_at <= issued],
            lambda w: w.decision_tx,
        ),
        # Standing when issued, set aside since: the published entry must come down.
        to_withdraw=[
            n for n in due if n.decision_tx in listed and n.decision_tx in found.set_aside
        ],
        after_issue=len(found.decisions) - len(decided),
        on_ledger=len(due),
    )


def _as_of(published: Bulletin, w: Withdrawal) -> Withdrawal:
    """``w`` as a bulletin of ``published``'s format states it: before format 3, without
    the document's date."""
    if published.format == FORMAT:
        return w
    return w.model_copy(update={"set_aside_on": None})


def _departures(published: Sequence[E], due: Sequence[E], key: Callable[[E], str]) -> Departures[E]:
    truth = {key(e): e for e in due}
    listed = {key(e): e for e in published}
    altered = []
    for k, entry in listed.items():
        held = truth.get(k)
        if held is not None and held != entry:
            mine, theirs = entry.model_dump(), held.model_dump()
            altered.append(Altered(entry, tuple(f for f in mine if mine[f] != theirs[f])))
    return Departures(
        missing=[e for k, e in truth.items() if k not in listed],
        altered=altered,
        unknown=[e for k, e in listed.items() if k not in truth],
    )
