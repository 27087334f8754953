"""Public disclosure of administrative decisions (行政执法公示): a department's decisions of
a period, read from the ledger, issued as a bulletin its reviewer signs, rendered as a static
page for its portal, and verified offline by anyone against the consortium's trust anchors."""

from node.disclosure.bulletin import (
    FORMAT,
    Bulletin,
    BulletinMalformed,
    DecisionNotice,
    Outcome,
    SignedBulletin,
    Withdrawal,
)
from node.disclosure.collect import (
    DecisionUnreadable,
    PeriodDisclosures,
    TooManyDecisions,
    collect_disclosures,
    issue_bulletin,
)
from node.disclosure.page import render_page
from node.disclosure.verify import PUBLISHERS, BulletinReport, verify_bulletin

__all__ = [
    "FORMAT",
    "PUBLISHERS",
    "Bulletin",
    "BulletinMalformed",
    "BulletinReport",
    "DecisionNotice",
    "DecisionUnreadable",
    "Outcome",
    "PeriodDisclosures",
    "SignedBulletin",
    "TooManyDecisions",
    "Withdrawal",
    "collect_disclosures",
    "issue_bulletin",
    "render_page",
    "verify_bulletin",
]
