"""The console's disclosure page (行政执法公示): the period's decisions as a bulletin would
publish them, the reviewer's signed download (bulletin and page, which verify), and the page
kept from those who do not publish or audit."""

from __future__ import annotations

import datetime as dt
import io
import re
import zipfile
from pathlib import Path

import pytest
from consolekit import sign_in
from disclosurekit import SINCE, case, entry, index_row
from fastapi.testclient import TestClient
from gatewaykit import Kit, build
from httpx import Response
from ingestkit import NOW, make_ca

from gateway.console import disclosures as console_disclosures
from node.disclosure import SignedBulletin, verify_bulletin
from node.disclosure.bulletin import MAX_BYTES as MAX_BULLETIN_BYTES
from node.package.anchors import TrustAnchors
from schemas.glossary import Stage
from schemas.ledger import SubjectKind

DAY = dt.timedelta(days=1)


@pytest.fixture
def kit(tmp_path: Path) -> Kit:
    kit = build(tmp_path, clock=lambda: NOW)
    fine = case("C-1", subject_kind=SubjectKind.PERSON)
    kit.chain.cases["C-1"] = fine
    kit.chain.history["C-1"] = [entry("C-1", 1, Stage.DECISION, SINCE + 2 * DAY)]
    kit.deps.index.upsert_case(index_row(fine))
    return kit


def test_a_reviewer_sees_the_month_s_decisions_and_downloads_them_signed(kit: Kit) -> None:
    reviewer, csrf = sign_in(kit, "reviewer1")
    shown = reviewer.get("/console/disclosures")
    assert shown.status_code == 200, shown.text
    assert "2026-11-01 – 2026-11-30 (北京时间)" in shown.text
    assert "1 件决定" in shown.text
    assert "罚款 ¥200.00" in shown.text
    assert "个人 (信息已隐去)" in shown.text
    assert "2026-11-03" in shown.text  # decided on 2 Nov, 16:00 UTC: the 3rd in Beijing
    assert 'href="/console/disclosures"' in shown.text  # in the navigation
    assert 'id="disclosure-publish"' in shown.text
    assert "账本上没有本期公示的发布记录" in shown.text  # nothing published yet
    resp = reviewer.post("/console/disclosures", data={"csrf": csrf, "period": "month"})
    assert resp.status_code == 200, resp.text
    [record] = kit.chain.bulletins  # recorded on the ledger as published, then served
    assert resp.headers["x-ledger-tx"] == record.recorded_tx
    assert 'filename="disclosure-month-2026-11-01.zip"' in resp.headers["content-disposition"]
    with zipfile.ZipFile(io.BytesIO(resp.content)) as z:
        raw = z.read("disclosure-month-2026-11-01/bulletin.json")
        html = z.read("disclosure-month-2026-11-01/index.html").decode()
    signed = SignedBulletin.parse(raw)
    assert [d.case_id for d in signed.bulletin.decisions] == ["C-1"]
    assert "C-1" in html
    root = make_ca(kit.root / "node").cert_pem
    anchors = TrustAnchors.build(
        "evidence", ["OrdererMSP"], {kit.deps.org: [root], "OrdererMSP": [root]}
    ).canonical_bytes()
    assert verify_bulletin(raw, anchors).ok
    assert record.bulletin_hash == signed.bulletin.digest()
    # The page now lists the publication, as the ledger recorded it.
    shown = reviewer.get("/console/disclosures")
    assert 'id="disclosure-publications"' in shown.text
    assert f"{record.bulletin_hash.hex[:16]}…" in shown.text
    assert "CN=reviewer1 (审核人员)" in shown.text


def test_an_auditor_sees_the_list_in_english_but_may_not_sign(kit: Kit) -> None:
    auditor, csrf = sign_in(kit, "auditor1")
    shown = auditor.get("/console/disclosures", params={"lang": "en", "period": "week"})
    assert shown.status_code == 200, shown.text
    assert "No decisions in this period" in shown.text  # the week of 22 November
    assert 'id="disclosure-publish"' not in shown.text
    refused = auditor.post("/console/disclosures", data={"csrf": csrf, "period": "month"})
    assert refused.status_code == 403


def test_others_are_kept_out_and_bad_requests_are_error_pages(kit: Kit) -> None:
    officer, _ = sign_in(kit, "officer1")
    assert officer.get("/console/disclosures").status_code == 403
    reviewer, csrf = sign_in(kit, "reviewer1")
    future = reviewer.get("/console/disclosures", params={"on": "2026-12-24"})
    assert future.status_code == 200
    assert "该期间尚未开始" in future.text
    assert 'id="disclosure-publish"' not in future.text
    early = reviewer.post(
        "/console/disclosures", data={"csrf": csrf, "period": "month", "on": "2026-12-24"}
    )
    assert early.status_code == 422
    assert "PERIOD_NOT_BEGUN" in early.text
    stale = reviewer.post("/console/disclosures", data={"csrf": "stale", "period": "month"})
    assert stale.status_code == 403
    assert "CSRF_REJECTED" in stale.text
    bad = reviewer.get("/console/disclosures", params={"on": "1999-01-01"})
    assert bad.status_code == 422
    assert "Traceback" not in bad.text


def test_a_long_month_shows_its_first_rows_and_says_the_download_has_all(
    kit: Kit, monkeypatch: pytest.MonkeyPatch
) -> None:
    second = case("C-2")
    kit.chain.cases["C-2"] = second
    kit.chain.history["C-2"] = [entry("C-2", 1, Stage.DECISION, SINCE + 3 * DAY)]
    kit.deps.index.upsert_case(index_row(second))
    monkeypatch.setattr(console_disclosures, "SHOWN", 1)
    reviewer, _ = sign_in(kit, "reviewer1")
    shown = reviewer.get("/console/disclosures", params={"lang": "en"})
    assert "The first 1 of 2 shown" in shown.text
    assert "C-1" in shown.text
    assert "C-2" not in shown.text


def _published(kit: Kit) -> bytes:
    """The bulletin.json a reviewer signed and published for the month, from its zip."""
    reviewer, csrf = sign_in(kit, "reviewer1")
    resp = reviewer.post("/console/disclosures", data={"csrf": csrf, "period": "month"})
    assert resp.status_code == 200, resp.text
    with zipfile.ZipFile(io.BytesIO(resp.content)) as z:
        return z.read("disclosure-month-2026-11-01/bulletin.json")


def _check(client: TestClient, csrf: str | None, body: bytes, lang: str = "zh") -> Response:
    """An upload of ``body`` as the bulletin to check, with ``csrf`` unless None."""
    return client.post(
        "/console/disclosures/check",
        data={} if csrf is None else {"csrf": csrf},
        files={"bulletin": ("bulletin.json", body, "application/json")},
        params={"lang": lang},
    )


def test_an_auditor_checks_a_published_bulletin_against_the_ledger(kit: Kit) -> None:
    raw = _published(kit)
    auditor, csrf = sign_in(kit, "auditor1")
    assert 'id="disclosure-check"' in auditor.get("/console/disclosures").text
    resp = _check(auditor, csrf, raw)
    assert resp.status_code == 200, resp.text
    assert re.search(r'id="bulletin-complete" class="ok">是<', resp.text)
    # Decided on 3 November, published on the 22nd: past its seven working days.
    assert re.search(r'id="bulletin-on-time" class="error">否<', resp.text)
    late = re.search(r'id="bulletin-late">.*?</table>', resp.text, re.S)
    assert late is not None
    assert "C-1" in late.group(0)
    # Seven working days after the 3rd (Beijing) end with the 12th.
    assert "<td>2026-11-13T00:00:00+08:00</td>" in late.group(0)
    assert "CN=reviewer1 (审核人员)" in resp.text
    assert 'id="bulletin-missing"' not in resp.text
    # The same bulletin with its decision taken out: the ledger still holds it.
    signed = SignedBulletin.parse(raw)
    emptied = signed.model_copy(
        update={"bulletin": signed.bulletin.model_copy(update={"decisions": []})}
    )
    resp = _check(auditor, csrf, emptied.canonical_bytes(), lang="en")
    assert resp.status_code == 200, resp.text
    assert re.search(r'id="bulletin-complete" class="error">no<', resp.text)
    missing = re.search(r'id="bulletin-missing">.*?</table>', resp.text, re.S)
    assert missing is not None
    assert "C-1" in missing.group(0)
    assert "no record of this bulletin" in resp.text  # not the one the ledger recorded


def test_the_bulletin_check_refuses_others_and_what_is_no_bulletin(kit: Kit) -> None:
    raw = _published(kit)
    reviewer, csrf = sign_in(kit, "reviewer1")
    assert "disclosure-check" not in reviewer.get("/console/disclosures").text
    assert _check(reviewer, csrf, raw).status_code == 403
    auditor, csrf = sign_in(kit, "auditor1")
    assert _check(auditor, None, raw).status_code == 403
    for junk in (b"{}", b"not json", raw.replace(b'"bulletin"', b'"bulletin2"')):
        bad = _check(auditor, csrf, junk)
        assert bad.status_code == 422
        assert "INVALID_REQUEST" in bad.text
        assert "not a published bulletin" in bad.text
    over = _check(auditor, csrf, b" " * (MAX_BULLETIN_BYTES + (64 << 10) + 1))
    assert over.status_code == 413
    assert "BODY_TOO_LARGE" in over.text
