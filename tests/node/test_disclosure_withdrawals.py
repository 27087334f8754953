"""Withdrawing published decisions that were set aside (撤回, 行政处罚法 第四十八条): the
bulletin leaves a set-aside decision out and lists the period's withdrawals with the reason;
format 1 bulletins still read; the auditor's comparison and deadlines cover withdrawals."""

from __future__ import annotations

import base64
import copy
import datetime as dt
import json
from typing import Any

import pytest
from disclosurekit import (
    CHANNEL,
    NOW,
    OFFSET,
    ORG,
    OTHER,
    SINCE,
    UNTIL,
    CaseLedger,
    Pki,
    case,
    entry,
    index_row,
    set_aside,
)

from node.disclosure import (
    BulletinMalformed,
    PeriodDisclosures,
    SignedBulletin,
    collect_disclosures,
    issue_bulletin,
    render_page,
    verify_bulletin,
)
from node.disclosure.audit import compare
from node.disclosure.bulletin import FORMAT, FORMAT_V1, FORMAT_V2
from node.disclosure.timeliness import WorkCalendar, late_withdrawals
from node.index import IndexDatabase
from node.index.reports import Period
from schemas.canonical import canonical_json
from schemas.glossary import SetAsideGround, Stage

DAY = dt.timedelta(days=1)
pytestmark = pytest.mark.parametrize("index", ["sqlite"], indirect=True)


@pytest.fixture(scope="module")
def pki() -> Pki:
    return Pki.make()


def _ledger(index: IndexDatabase) -> CaseLedger:
    """C-KEPT and C-REVOKED decided this month, the second revoked on the 10th; C-LAST decided
    last month and confirmed invalid this month; C-THEIRS another department's, set aside."""
    ledger = CaseLedger()
    kept = entry("C-KEPT", 1, Stage.DECISION, SINCE + 3 * DAY)
    revoked = entry("C-REVOKED", 1, Stage.DECISION, SINCE + 4 * DAY)
    last = entry("C-LAST", 1, Stage.DECISION, SINCE - 5 * DAY)
    theirs = entry("C-THEIRS", 1, Stage.DECISION, SINCE + 2 * DAY, org=OTHER)
    ledger.add(case("C-KEPT"), kept)
    ledger.add(case("C-REVOKED"), revoked)
    ledger.add(case("C-LAST", updated_at="2026-10-26T16:00:00.000000Z"), last)
    ledger.add(case("C-THEIRS", holder_org=OTHER), theirs)
    ledger.set_aside(set_aside(ledger.cases["C-REVOKED"], revoked, SINCE + 9 * DAY))
    ledger.set_aside(
        set_aside(
            ledger.cases["C-LAST"],
            last,
            SINCE + 6 * DAY,
            ground=SetAsideGround.CONFIRMED_INVALID,
            authority="court",
            reason="grossly_illegal",
        )
    )
    ledger.set_aside(set_aside(ledger.cases["C-THEIRS"], theirs, SINCE + 7 * DAY, org=OTHER))
    for record in ledger.cases.values():
        index.upsert_case(index_row(record))
    return ledger


async def _found(index: IndexDatabase, ledger: CaseLedger | None = None) -> PeriodDisclosures:
    return await collect_disclosures(ledger or _ledger(index), ORG, SINCE, UNTIL)


def _issue(pki: Pki, found: PeriodDisclosures, now: dt.datetime = NOW) -> SignedBulletin:
    identity, signer = pki.person("reviewer")
    return issue_bulletin(
        found.standing,
        withdrawals=found.withdrawals,
        channel=CHANNEL,
        signer_identity=identity,
        signer=signer,
        period=Period.MONTH,
        since=SINCE,
        until=UNTIL,
        utc_offset=OFFSET,
        now=now,
    )


async def test_a_set_aside_decision_is_withdrawn_not_listed(index: IndexDatabase) -> None:
    found = await _found(index)
    assert [d.case_id for d in found.decisions] == ["C-KEPT", "C-REVOKED"]
    assert [d.case_id for d in found.standing] == ["C-KEPT"]
    assert set(found.set_aside) == {found.decisions[1].decision_tx}
    # Withdrawals are the period's settings aside, of decisions of any period, in order; not
    # another department's.
    assert [(w.case_id, w.ground) for w in found.withdrawals] == [
        ("C-LAST", SetAsideGround.CONFIRMED_INVALID),
        ("C-REVOKED", SetAsideGround.REVOKED),
    ]
    assert found.withdrawals[0].decided_at < found.withdrawals[0].set_aside_at


async def test_the_bulletin_lists_withdrawals_signs_and_renders_them(
    index: IndexDatabase, pki: Pki
) -> None:
    signed = _issue(pki, await _found(index))
    raw = signed.canonical_bytes()
    assert SignedBulletin.parse(raw).bulletin.format == FORMAT
    assert [w.case_id for w in signed.bulletin.withdrawals] == ["C-LAST", "C-REVOKED"]
    assert verify_bulletin(raw, pki.anchors()).ok
    # A withdrawal edited after signing no longer verifies.
    doc = json.loads(raw)
    doc["bulletin"]["withdrawals"][0]["reason"] = "other"
    report = verify_bulletin(canonical_json(doc), pki.anchors())
    assert report.codes == {"SIGNATURE_INVALID"}
    page = render_page(signed)
    assert "撤回公示" in page
    assert "确认无效" in page
    assert "行政诉讼" in page
    assert "重大且明显违法" in page  # the reason in words, its code beneath
    assert "grossly illegal" in page
    assert page.count("C-REVOKED") == 1  # withdrawn, not also listed as a decision
    # Each with the date of the document that set it aside (format 3), as the ledger keeps it.
    dated = [(w.case_id, w.set_aside_on) for w in signed.bulletin.withdrawals]
    assert dated == [
        ("C-LAST", (SINCE + 6 * DAY).date()),
        ("C-REVOKED", (SINCE + 9 * DAY).date()),
    ]
    assert f"<td>{(SINCE + 9 * DAY).date().isoformat()}</td>" in page


async def test_a_format_2_bulletin_still_reads_verifies_and_checks_complete(
    index: IndexDatabase, pki: Pki
) -> None:
    found = await _found(index)
    # As a format 2 issuer wrote it: withdrawals without the document's date, signed so.
    bulletin = _issue(pki, found).bulletin
    old = bulletin.model_copy(
        update={
            "format": FORMAT_V2,
            "withdrawals": [w.model_copy(update={"set_aside_on": None}) for w in found.withdrawals],
        }
    )
    doc = old.document()
    assert all("set_aside_on" not in w for w in doc["withdrawals"])  # type: ignore[attr-defined]
    identity, signer = pki.person("reviewer")
    v2 = {
        "bulletin": doc,
        "signature": base64.b64encode(signer.sign(canonical_json(doc))).decode(),
        "signer": identity.cert_pem.decode(),
        "intermediates": [],
    }
    raw = canonical_json(v2)
    parsed = SignedBulletin.parse(raw)
    assert parsed.canonical_bytes() == raw
    assert verify_bulletin(raw, pki.anchors()).ok
    # Compared with the ledger, whose records now carry the date: still complete.
    assert compare(parsed.bulletin, found).complete
    assert "<td>—</td>" in render_page(parsed)
    # A date in a format 2 withdrawal, or none in a format 3 one, is refused.
    dated = copy.deepcopy(v2)
    dated["bulletin"]["withdrawals"][0]["set_aside_on"] = "2026-11-07"  # type: ignore[index]
    with pytest.raises(BulletinMalformed, match="states its document's date"):
        SignedBulletin.parse(canonical_json(dated))
    undated = json.loads(_issue(pki, found).canonical_bytes())
    del undated["bulletin"]["withdrawals"][1]["set_aside_on"]
    with pytest.raises(BulletinMalformed, match="states its document's date"):
        SignedBulletin.parse(canonical_json(undated))


async def test_a_format_1_bulletin_still_reads_and_verifies(index: IndexDatabase, pki: Pki) -> None:
    found = await _found(index)
    # As a format 1 issuer wrote it: no withdrawals field at all, signed over those bytes.
    bulletin = _issue(pki, found).bulletin
    old = bulletin.model_copy(update={"format": FORMAT_V1, "withdrawals": []})
    doc = old.document()
    identity, signer = pki.person("reviewer")
    assert "withdrawals" not in doc
    v1: dict[str, Any] = {
        "bulletin": doc,
        "signature": base64.b64encode(signer.sign(canonical_json(doc))).decode(),
        "signer": identity.cert_pem.decode(),
        "intermediates": [],
    }
    raw = canonical_json(v1)
    parsed = SignedBulletin.parse(raw)
    assert parsed.canonical_bytes() == raw
    assert verify_bulletin(raw, pki.anchors()).ok
    # Format 1 has no withdrawals.
    with_withdrawals = copy.deepcopy(v1)
    with_withdrawals["bulletin"] = {
        **doc,
        "withdrawals": [w.model_dump(mode="json") for w in found.withdrawals],
    }
    with pytest.raises(BulletinMalformed, match="has no withdrawals"):
        SignedBulletin.parse(canonical_json(with_withdrawals))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda b: b["withdrawals"].reverse(), "not in the order"),
        (lambda b: b["withdrawals"].append(b["withdrawals"][0]), "listed twice"),
        (
            lambda b: b["withdrawals"][0].update(set_aside_at="2026-12-02T00:00:00.000000Z"),
            "outside the period",
        ),
        (
            lambda b: b["withdrawals"][1].update(decision_tx=b["decisions"][0]["decision_tx"]),
            "both as a decision and as withdrawn",
        ),
        (lambda b: b["withdrawals"][0].update(ground="annulled"), "ground"),
        (lambda b: b["withdrawals"][0].update(reason="free text"), "reason"),
    ],
)
async def test_a_malformed_withdrawal_is_refused(
    index: IndexDatabase, pki: Pki, change: Any, message: str
) -> None:
    doc = json.loads(_issue(pki, await _found(index)).canonical_bytes())
    change(doc["bulletin"])
    with pytest.raises(BulletinMalformed, match=message):
        SignedBulletin.parse(canonical_json(doc))


async def test_the_audit_compares_withdrawals_and_names_what_to_withdraw(
    index: IndexDatabase, pki: Pki
) -> None:
    ledger = _ledger(index)
    found = await _found(index, ledger)
    bulletin = _issue(pki, found).bulletin
    assert compare(bulletin, found).complete
    # Issued without the withdrawals: each is missing; with one made up: unknown.
    bare = bulletin.model_copy(update={"withdrawals": []})
    comparison = compare(bare, found)
    assert [w.case_id for w in comparison.withdrawals.missing] == ["C-LAST", "C-REVOKED"]
    assert not comparison.complete
    edited = bulletin.model_copy(
        update={
            "withdrawals": [
                bulletin.withdrawals[0].model_copy(
                    update={"reason": "other", "set_aside_on": (SINCE + 7 * DAY).date()}
                ),
                bulletin.withdrawals[1].model_copy(update={"decision_tx": "f" * 64}),
            ]
        }
    )
    comparison = compare(edited, found)
    assert [(a.published.case_id, a.fields) for a in comparison.withdrawals.altered] == [
        ("C-LAST", ("reason", "set_aside_on"))
    ]
    assert [w.decision_tx for w in comparison.withdrawals.unknown] == ["f" * 64]
    # A bulletin issued before C-KEPT was set aside: complete then, but it must come down.
    kept = ledger.history["C-KEPT"][0]
    ledger.set_aside(set_aside(ledger.cases["C-KEPT"], kept, NOW + DAY))
    later = compare(bulletin, await _found(index, ledger))
    assert later.complete
    assert [n.case_id for n in later.to_withdraw] == ["C-KEPT"]


async def test_a_withdrawal_is_due_three_working_days_after_the_setting_aside(
    index: IndexDatabase, pki: Pki
) -> None:
    found = await _found(index)
    bulletin = _issue(pki, found).bulletin
    revoked = next(w.decision_tx for w in bulletin.withdrawals if w.case_id == "C-REVOKED")

    # C-LAST was set aside on Saturday 7 November (00:00 Beijing), C-REVOKED on Tuesday the
    # 10th, each by a document of that day: due by the ends of Wednesday the 11th and Friday
    # the 13th.
    def late(at: str, dated: dict[str, dt.date]) -> list[str]:
        return [x.entry.case_id for x in late_withdrawals(bulletin, at, 3, WorkCalendar(), dated)]

    assert found.documents_dated[revoked] == dt.date(2026, 11, 10)
    assert late("2026-11-11T15:59:59.000000Z", found.documents_dated) == []
    assert late("2026-11-11T16:00:00.000000Z", found.documents_dated) == ["C-LAST"]
    assert late("2026-11-13T16:00:00.000000Z", found.documents_dated) == ["C-LAST", "C-REVOKED"]
    # Had C-REVOKED's judgment been dated Thursday the 5th and recorded only on the 10th, its
    # withdrawal was due by the end of the 10th: the department's delay in recording does
    # not move the deadline.
    judged = {**found.documents_dated, revoked: dt.date(2026, 11, 5)}
    assert late("2026-11-10T16:00:00.000000Z", judged) == ["C-REVOKED"]
    assert late("2026-11-10T15:59:59.000000Z", judged) == []
    # A withdrawal the ledger does not date counts from the day it was recorded.
    assert late("2026-11-11T16:00:00.000000Z", {}) == ["C-LAST"]
