"""The case page's decisions set aside (撤回), fake ledger at the seam: the record shown to
those who may read it, the form only for a reviewer of the department that decided, and
through the API's call and its checks."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from consolekit import decided_case, sign_in
from disclosurekit import entry, tx
from gatewaykit import Kit, build
from ingestkit import NOW

from schemas.glossary import Stage
from schemas.hashes import Digest

CASE = "/console/cases/case-1"
JUDGMENT = b"%PDF-1.7 the court's judgment"


@pytest.fixture
def kit(tmp_path: Path) -> Kit:
    return decided_case(build(tmp_path, clock=lambda: NOW + dt.timedelta(days=1)))


def _form(csrf: str, **changes: str) -> dict[str, str]:
    return {
        "csrf": csrf,
        "decision_tx": tx("case-1/1"),
        "ground": "revoked",
        "authority": "court",
        "reason": "procedure_violated",
        "set_aside_on": NOW.date().isoformat(),
    } | changes


def _judgment() -> dict[str, tuple[str, bytes, str]]:
    return {"document": ("judgment.pdf", JUDGMENT, "application/pdf")}


def test_a_reviewer_records_a_court_s_revocation_and_the_page_shows_it(kit: Kit) -> None:
    reviewer, csrf = sign_in(kit, "reviewer1")
    page = reviewer.get(CASE).text
    assert "本案决定未被撤回。" in page
    assert 'id="record-set-aside"' in page
    assert '<option value="procedure_violated">违反法定程序</option>' in page
    resp = reviewer.post(f"{CASE}/set-asides", data=_form(csrf), files=_judgment())
    assert resp.status_code == 200, resp.text
    [record] = kit.chain.set_asides["case-1"]
    assert (record.decision_tx, record.ground, record.authority, record.reason) == (
        tx("case-1/1"),
        "revoked",
        "court",
        "procedure_violated",
    )
    assert record.document_hash == Digest.of(JUDGMENT)  # hashed here, the file not kept
    assert record.set_aside_on == NOW.date()
    assert resp.url.params["tx"] == record.recorded_tx
    row = re.search(r'id="set-asides">.*?</table>', resp.text, re.S)
    assert row is not None
    assert "<td>撤销</td><td>行政诉讼</td><td>违反法定程序</td>" in row.group(0)
    # The decision's step in the timeline says what became of it.
    assert re.search(r'id="set-aside-1">撤销 · 行政诉讼 · ' + NOW.date().isoformat(), resp.text)
    # Set aside once: the decision is no longer offered, and with it the form is gone.
    assert 'id="record-set-aside"' not in resp.text


@pytest.mark.parametrize("user", ["officer1", "auditor1"])
def test_only_a_reviewer_sees_the_form_and_may_post_it(kit: Kit, user: str) -> None:
    browser, csrf = sign_in(kit, user)
    page = browser.get(CASE).text
    assert "本案决定未被撤回。" in page  # the record is theirs to read
    assert 'id="record-set-aside"' not in page
    resp = browser.post(f"{CASE}/set-asides", data=_form(csrf), files=_judgment())
    assert resp.status_code == 403
    assert kit.chain.set_asides.get("case-1", []) == []


def test_another_department_s_decision_is_not_offered(kit: Kit) -> None:
    kit.chain.history["case-1"][-1] = entry(
        "case-1", 1, Stage.DECISION, NOW, org="MarketSupervisionMSP"
    )
    reviewer, _ = sign_in(kit, "reviewer1")
    assert 'id="record-set-aside"' not in reviewer.get(CASE).text


@pytest.mark.parametrize(
    ("changes", "files", "status"),
    [
        ({"reason": "thin_evidence"}, _judgment(), 422),  # none of the law's reasons
        ({"set_aside_on": "not a date"}, _judgment(), 422),
        ({"decision_tx": "f" * 64}, _judgment(), 404),  # no such decision on the case
        ({}, {"document": ("note.txt", b"plain words", "text/plain")}, 415),
        ({}, {"document": ("empty.pdf", b"", "application/pdf")}, 422),
    ],
)
def test_a_bad_form_is_refused_and_nothing_recorded(
    kit: Kit, changes: dict[str, str], files: dict[str, tuple[str, bytes, str]], status: int
) -> None:
    reviewer, csrf = sign_in(kit, "reviewer1")
    resp = reviewer.post(f"{CASE}/set-asides", data=_form(csrf, **changes), files=files)
    assert resp.status_code == status, resp.text
    assert kit.chain.set_asides.get("case-1", []) == []


def test_a_stale_form_is_refused(kit: Kit) -> None:
    reviewer, _ = sign_in(kit, "reviewer1")
    resp = reviewer.post(f"{CASE}/set-asides", data=_form("0" * 64), files=_judgment())
    assert resp.status_code == 403
    assert kit.chain.set_asides.get("case-1", []) == []
