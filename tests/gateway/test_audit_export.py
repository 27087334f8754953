"""Audit: the trail as CSV, flagged patterns (pure rules and the endpoint), the integrity
sweep endpoint; every refusal as problem+json."""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path
from typing import Any, ClassVar

import pypdf
import pytest
from gatewaykit import PARTNER_ORG, FakeLedger, Kit, build
from ingestkit import NOW, ORG, FileLedger
from test_gateway_devices import assert_problem, parts, submit

from gateway import audit_flags, audit_pdf
from gateway.routes import audit
from schemas.glossary import AccessKind, Outcome
from schemas.hashes import Digest
from schemas.ledger import AccessRecord, TargetKind, TrailPage, TrailQuery, ledger_time


@pytest.fixture
def kit(tmp_path: Path) -> Kit:
    return build(tmp_path)


@pytest.fixture
def photo(kit: Kit) -> str:
    return str(submit(kit, parts(kit)).json()["items"][0]["evidence_id"])


def _read(kit: Kit, evidence_id: str, user: str, purpose: str = "case_review") -> int:
    resp = kit.client.get(
        f"/evidence/{evidence_id}/content", params={"purpose": purpose}, headers=kit.token(user)
    )
    return resp.status_code


# --- CSV export ----------------------------------------------------------------------------


def test_trail_csv_lists_every_record(kit: Kit, photo: str) -> None:
    assert _read(kit, photo, "officer1") == 200
    assert _read(kit, photo, "partner1") == 403
    resp = kit.client.get(
        "/audit/trail.csv",
        params={"by": "evidence", "target_id": photo},
        headers=kit.token("auditor1"),
    )
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == "text/csv; charset=utf-8"
    assert "attachment" in resp.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(resp.text)))
    assert tuple(rows[0]) == audit.CSV_COLUMNS
    assert [(r["accessor"], r["outcome"]) for r in rows] == [
        ("CN=officer1", "granted"),
        ("CN=partner1", "denied"),
    ]
    assert [r["record_id"] for r in rows] == [a.record_id for a in kit.chain.accesses]


@pytest.mark.parametrize("user", ["officer1", "reviewer1", "partner1", "edge-07", "admin"])
def test_only_auditors_read_the_audit_endpoints(kit: Kit, user: str) -> None:
    for url in ("/audit/trail.csv", "/audit/trail.pdf", "/audit/flags"):
        resp = kit.client.get(url, params={"by": "org", "org": ORG}, headers=kit.token(user))
        assert_problem(resp, 403, "ACCESS_DENIED")
    assert_problem(
        kit.client.get("/audit/integrity", headers=kit.token(user)), 403, "ACCESS_DENIED"
    )


def test_audit_refusals(kit: Kit) -> None:
    auditor = kit.token("auditor1")
    urls = ("/audit/trail.csv", "/audit/trail.pdf", "/audit/flags", "/audit/trail")
    for url in (*urls, "/audit/integrity"):
        assert_problem(kit.client.get(url, params={"by": "org"}), 401, "UNAUTHENTICATED")
    for params in ({"by": "nope"}, {"by": "time", "since": "yesterday"}, {}):
        for url in urls:
            assert_problem(
                kit.client.get(url, params=params, headers=auditor), 422, "INVALID_REQUEST"
            )
    # The ledger's own request model is checked before anything is read.
    bad_org = {"by": "org", "org": "not an msp id!"}
    assert_problem(
        kit.client.get("/audit/trail.csv", params=bad_org, headers=auditor), 422, "INVALID_REQUEST"
    )


def _record(i: int, **changes: Any) -> AccessRecord:
    doc: dict[str, Any] = {
        "record_id": Digest.of(str(i).encode()).hex,
        "accessor_org": PARTNER_ORG,
        "accessor": "CN=partner1",
        "role": "partner",
        "target": TargetKind.EVIDENCE,
        "target_id": f"E-{i}",
        "case_ids": ["case-1"],
        "purpose": "joint_enforcement",
        "kind": AccessKind.DOWNLOAD,
        "at": ledger_time(NOW + dt.timedelta(seconds=i)),
        "outcome": Outcome.GRANTED,
        "reason": "grant",
    }
    return AccessRecord.model_validate({**doc, **changes})


class PagedLedger(FakeLedger):
    """The trail in pages of two, as the chaincode pages it."""

    records: ClassVar[list[AccessRecord]] = []

    async def access_trail(self, query: TrailQuery) -> TrailPage:
        start = int(query.bookmark or 0)
        rest = self.records[start : start + 2]
        more = start + 2 < len(self.records)
        return TrailPage(records=rest, bookmark=str(start + 2) if more else "")


def test_csv_follows_pages_and_marks_truncation(kit: Kit, monkeypatch: pytest.MonkeyPatch) -> None:
    PagedLedger.records = [_record(i, purpose="=cmd|calc") for i in range(5)]
    monkeypatch.setattr(kit.deps, "ledger_for", lambda user: PagedLedger(kit.chain, user))
    auditor = kit.token("auditor1")
    full = kit.client.get("/audit/trail.csv", params={"by": "org", "org": ORG}, headers=auditor)
    rows = list(csv.DictReader(io.StringIO(full.text)))
    assert [r["target_id"] for r in rows] == [f"E-{i}" for i in range(5)]
    assert rows[0]["purpose"] == "'=cmd|calc"  # never a spreadsheet formula
    monkeypatch.setattr(audit, "MAX_EXPORT_RECORDS", 3)
    cut = kit.client.get("/audit/trail.csv", params={"by": "org", "org": ORG}, headers=auditor)
    rows = list(csv.DictReader(io.StringIO(cut.text)))
    assert [r["record_id"] for r in rows][-1] == "TRUNCATED"
    assert len(rows) == 4


# --- PDF report ----------------------------------------------------------------------------


def _pdf_text(data: bytes) -> str:
    reader = pypdf.PdfReader(io.BytesIO(data))
    return "\n".join(page.extract_text() for page in reader.pages)


def test_trail_pdf_reports_every_record_with_counts_flags_and_digest(
    kit: Kit, monkeypatch: pytest.MonkeyPatch
) -> None:
    denied = [
        _record(100 + i, outcome=Outcome.DENIED, reason="no_grant", target_id=f"D-{i}")
        for i in range(audit_flags.DENIALS_PER_WINDOW)
    ]
    PagedLedger.records = [_record(i) for i in range(5)] + denied
    monkeypatch.setattr(kit.deps, "ledger_for", lambda user: PagedLedger(kit.chain, user))
    resp = kit.client.get(
        "/audit/trail.pdf", params={"by": "org", "org": PARTNER_ORG}, headers=kit.token("auditor1")
    )
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == "application/pdf"
    assert "attachment" in resp.headers["content-disposition"]
    assert resp.content.startswith(b"%PDF-")
    text = _pdf_text(resp.content)
    assert "访问记录审计报告" in text  # the Chinese title survives (embedded font)
    assert f"Records: {5 + len(denied)}" in text
    assert f"denied {len(denied)}" in text
    for i in range(5):
        assert f"E-{i}" in text
    assert "REPEATED_DENIALS" in text  # the flagged pattern is in the report
    assert audit_pdf.records_digest(PagedLedger.records) in text.replace("\n", "")
    assert "TRUNCATED" not in text


def test_trail_pdf_says_when_it_was_cut(kit: Kit, monkeypatch: pytest.MonkeyPatch) -> None:
    PagedLedger.records = [_record(i) for i in range(5)]
    monkeypatch.setattr(kit.deps, "ledger_for", lambda user: PagedLedger(kit.chain, user))
    monkeypatch.setattr(audit, "MAX_PDF_RECORDS", 3)
    resp = kit.client.get(
        "/audit/trail.pdf", params={"by": "org", "org": PARTNER_ORG}, headers=kit.token("auditor1")
    )
    text = _pdf_text(resp.content)
    assert "TRUNCATED" in text
    assert "Records: 3" in text
    assert "E-3" not in text


def test_the_pdf_embeds_its_chinese_font() -> None:
    assert audit_pdf.EMBEDDED_FONT.is_file(), (
        f"{audit_pdf.EMBEDDED_FONT} missing: apt-get install fonts-wqy-zenhei (scripts/install)"
    )
    report = audit_pdf.TrailReport(ORG, "auditor1", NOW, {"by": "org"}, [_record(1)], [], False)
    pdf = audit_pdf.render(report)
    assert b"/FontFile2" in pdf  # a TrueType program inside the file, not a reader's guess


# --- flags: the rules ----------------------------------------------------------------------


def _at(hours: float, day: dt.datetime = NOW) -> str:
    return ledger_time(day + dt.timedelta(hours=hours))


def _codes(records: list[AccessRecord]) -> list[tuple[str, int]]:
    return [(f.code, f.count) for f in audit_flags.flags(records)]


# NOW is 09:00 UTC on a Sunday... pick a weekday working hour (UTC+8) as the base instead.
WEEKDAY = dt.datetime(2026, 11, 24, 2, 0, tzinfo=dt.UTC)  # Tuesday 10:00 in UTC+8


def test_repeated_denials_within_an_hour_are_flagged() -> None:
    denied = {"outcome": Outcome.DENIED, "reason": "no_grant"}
    close = [_record(i, at=_at(i * 0.25, WEEKDAY), **denied) for i in range(3)]
    assert _codes(close) == [("REPEATED_DENIALS", 3)]
    spread = [_record(i, at=_at(i * 0.75, WEEKDAY), **denied) for i in range(3)]
    assert _codes(spread) == []
    two = close[:2]
    assert _codes(two) == []


def test_bulk_downloads_count_distinct_items_within_an_hour() -> None:
    many = [_record(i, at=_at(i / 60, WEEKDAY)) for i in range(20)]
    assert _codes(many) == [("BULK_DOWNLOAD", 20)]
    assert _codes(many[:19]) == []
    same_item = [_record(i, at=_at(i / 60, WEEKDAY), target_id="E-1") for i in range(30)]
    assert _codes(same_item) == []
    views = [_record(i, at=_at(i / 60, WEEKDAY), kind=AccessKind.VIEW) for i in range(30)]
    assert _codes(views) == []
    slow = [_record(i, at=_at(i * 0.1, WEEKDAY)) for i in range(20)]  # 1.9 h apart in all
    assert _codes(slow) == []


def test_off_hours_and_weekends_are_flagged() -> None:
    night = _record(1, at=ledger_time(dt.datetime(2026, 11, 24, 14, 30, tzinfo=dt.UTC)))
    early = _record(2, at=ledger_time(dt.datetime(2026, 11, 23, 22, 59, tzinfo=dt.UTC)))
    day = _record(3, at=ledger_time(WEEKDAY))
    saturday = _record(4, at=ledger_time(dt.datetime(2026, 11, 28, 2, 0, tzinfo=dt.UTC)))
    assert _codes([day]) == []
    assert _codes([night, early, day, saturday]) == [("OFF_HOURS", 3)]
    denied_at_night = _record(5, at=night.at, outcome=Outcome.DENIED, reason="no_grant")
    assert _codes([denied_at_night]) == []  # a denial read nothing


def test_access_outside_a_case_is_flagged_except_for_reviewers_and_packages() -> None:
    loose = _record(1, at=ledger_time(WEEKDAY), case_ids=[])
    assert _codes([loose]) == [("ACCESS_OUTSIDE_CASE", 1)]
    reviewer = _record(2, at=ledger_time(WEEKDAY), case_ids=[], role="reviewer")
    package = _record(3, at=ledger_time(WEEKDAY), case_ids=[], kind=AccessKind.PACKAGE)
    assert _codes([reviewer, package]) == []


# --- flags: the endpoint -------------------------------------------------------------------


def test_flags_endpoint_reports_repeated_denials(kit: Kit, photo: str) -> None:
    for _ in range(3):
        assert _read(kit, photo, "partner1") == 403
    resp = kit.client.get(
        "/audit/flags",
        params={"by": "evidence", "target_id": photo},
        headers=kit.token("auditor1"),
    )
    assert resp.status_code == 200, resp.text
    doc = resp.json()
    assert doc["records_examined"] == 3
    assert doc["truncated"] is False
    [flag] = [f for f in doc["flags"] if f["code"] == "REPEATED_DENIALS"]
    assert flag["accessor"] == "CN=partner1"
    assert flag["count"] == 3
    # Records at one instant have no order of their own: compare as sets.
    assert sorted(flag["record_ids"]) == sorted(a.record_id for a in kit.chain.accesses)
    assert set(doc["thresholds"]) == {
        "REPEATED_DENIALS",
        "BULK_DOWNLOAD",
        "OFF_HOURS",
        "ACCESS_OUTSIDE_CASE",
    }


# --- integrity -----------------------------------------------------------------------------


def test_integrity_report_is_clean_then_names_a_damaged_blob(kit: Kit, photo: str) -> None:
    auditor = kit.token("auditor1")
    clean = kit.client.get("/audit/integrity", headers=auditor)
    assert clean.status_code == 200, clean.text
    assert clean.json()["ok"] is True, clean.text
    assert clean.json()["problems"] == []
    blob = kit.blobs()[0]
    data = bytearray(blob.read_bytes())
    data[100] ^= 1
    blob.write_bytes(bytes(data))
    damaged = kit.client.get("/audit/integrity", headers=auditor)
    assert damaged.status_code == 200, damaged.text
    assert damaged.json()["ok"] is False
    kinds = {(p["kind"], p["subject"]) for p in damaged.json()["problems"]}
    assert {kind for kind, _ in kinds} == {"BLOB_ALTERED"}
    assert {subject for _, subject in kinds} <= set(_registered(kit))


def _registered(kit: Kit) -> list[str]:
    return list(FileLedger(kit.chain.evidence_file).records())
