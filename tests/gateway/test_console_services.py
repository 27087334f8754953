"""The case page's service of documents (送达), fake ledger at the seam: the record with a
served decision's time to appeal, and the holder's form through the API's call."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from consolekit import decided_case, sign_in
from disclosurekit import tx
from gatewaykit import Kit, build
from ingestkit import NOW

from node.disclosure.timeliness import WorkCalendar
from schemas.hashes import Digest

CASE = "/console/cases/case-1"
RECEIPT = b"%PDF-1.7 the service receipt, signed by the party"


@pytest.fixture
def kit(tmp_path: Path) -> Kit:
    return decided_case(build(tmp_path, clock=lambda: NOW + dt.timedelta(days=1)))


def _form(csrf: str, **changes: str) -> dict[str, str]:
    return {
        "csrf": csrf,
        "step_tx": tx("case-1/1"),
        "method": "in_person",
        "served_at": "2026-11-23T10:30",  # Beijing time, as the browser sends it
    } | changes


def _receipt() -> dict[str, tuple[str, bytes, str]]:
    return {"proof": ("receipt.pdf", RECEIPT, "application/pdf")}


def test_an_officer_records_the_decision_served_and_the_page_shows_the_time_to_appeal(
    kit: Kit,
) -> None:
    officer, csrf = sign_in(kit, "officer1")
    page = officer.get(CASE).text
    assert "尚无送达记录。" in page
    assert '<option value="electronic">电子送达</option>' in page
    resp = officer.post(f"{CASE}/services", data=_form(csrf), files=_receipt())
    assert resp.status_code == 200, resp.text
    [record] = kit.chain.services["case-1"]
    assert record.proof_hash == Digest.of(RECEIPT)  # hashed here, the file not kept
    assert record.served_at == "2026-11-23T02:30:00.000000Z"
    assert resp.url.params["tx"] == record.recorded_tx
    row = re.search(r'id="services">.*?</table>', resp.text, re.S)
    assert row is not None
    # Sixty days to apply for reconsideration, six months to sue, from the day served.
    assert "直接送达" in row.group(0)
    assert "申请复议至 2027-01-22 · 起诉至 2027-05-23" in row.group(0)
    assert "逾期送达" not in row.group(0)  # the day after the decision: in time


def test_a_decision_served_after_seven_working_days_is_marked_late(kit: Kit) -> None:
    # Decided Sunday 22 November (17:00 Beijing); the seventh working day after is Tuesday
    # 1 December: served on the 2nd, it was late.
    officer, csrf = sign_in(kit, "officer1")
    on_time = officer.post(
        f"{CASE}/services", data=_form(csrf, served_at="2026-12-01T23:00"), files=_receipt()
    )
    assert "逾期送达" not in on_time.text
    late = {"proof": ("notice.pdf", b"%PDF-1.7 the public notice", "application/pdf")}
    resp = officer.post(
        f"{CASE}/services",
        data=_form(csrf, method="public_notice", served_at="2026-12-02T09:00"),
        files=late,
    )
    assert resp.status_code == 200, resp.text
    assert re.search(r"逾期送达，应于此日前送达： 2026-12-01", resp.text)


def test_the_departments_holidays_move_the_day_a_decision_was_due_to_be_served(
    tmp_path: Path,
) -> None:
    # The same decision, with Monday 30 November a holiday in the department's calendar:
    # the seventh working day is Wednesday 2 December, so the 2nd is in time, the 3rd late.
    holiday = WorkCalendar(frozenset({dt.date(2026, 11, 30)}))
    kit = decided_case(build(tmp_path, clock=lambda: NOW + dt.timedelta(days=11), calendar=holiday))
    officer, csrf = sign_in(kit, "officer1")
    in_time = officer.post(
        f"{CASE}/services", data=_form(csrf, served_at="2026-12-02T09:00"), files=_receipt()
    )
    assert in_time.status_code == 200, in_time.text
    assert "逾期送达" not in in_time.text
    late = {"proof": ("notice.pdf", b"%PDF-1.7 the public notice", "application/pdf")}
    resp = officer.post(
        f"{CASE}/services",
        data=_form(csrf, method="public_notice", served_at="2026-12-03T09:00"),
        files=late,
    )
    assert re.search(r"逾期送达，应于此日前送达： 2026-12-02", resp.text)


def test_electronic_service_without_consent_is_refused_and_with_it_recorded(kit: Kit) -> None:
    reviewer, csrf = sign_in(kit, "reviewer1")
    resp = reviewer.post(
        f"{CASE}/services", data=_form(csrf, method="electronic"), files=_receipt()
    )
    assert resp.status_code == 422
    assert kit.chain.services.get("case-1", []) == []
    consent = {"consent": ("consent.pdf", b"%PDF-1.7 I agree to e-service", "application/pdf")}
    resp = reviewer.post(
        f"{CASE}/services", data=_form(csrf, method="electronic"), files=_receipt() | consent
    )
    assert resp.status_code == 200, resp.text
    [record] = kit.chain.services["case-1"]
    assert record.consent_hash == Digest.of(b"%PDF-1.7 I agree to e-service")


@pytest.mark.parametrize("user", ["auditor1", "partner1"])
def test_no_form_for_those_who_may_not_record_service(kit: Kit, user: str) -> None:
    browser, csrf = sign_in(kit, user)
    assert 'id="record-service"' not in browser.get(CASE).text
    resp = browser.post(f"{CASE}/services", data=_form(csrf), files=_receipt())
    assert resp.status_code == 403
    assert kit.chain.services.get("case-1", []) == []


@pytest.mark.parametrize(
    ("changes", "files", "status"),
    [
        ({"method": "by_pigeon"}, _receipt(), 422),
        ({"served_at": "soon"}, _receipt(), 422),
        ({}, {}, 422),  # no proof
        ({}, {"proof": ("receipt.txt", b"words", "text/plain")}, 415),
    ],
)
def test_a_bad_form_is_refused_and_nothing_recorded(
    kit: Kit, changes: dict[str, str], files: dict[str, tuple[str, bytes, str]], status: int
) -> None:
    officer, csrf = sign_in(kit, "officer1")
    resp = officer.post(f"{CASE}/services", data=_form(csrf, **changes), files=files or None)
    assert resp.status_code == status, resp.text
    assert kit.chain.services.get("case-1", []) == []
