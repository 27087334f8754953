"""The console's list and summary pages over the gateway (fake ledger at the seam, a real
index underneath): the case list with its filters and pages, the overview's stage ages and
self-rectification rate, the audit page's flags and integrity report, and the two word
catalogues agreeing key for key."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest
from consolekit import sign_in
from gatewaykit import Kit, build, submit
from ingestkit import NOW

from gateway.console import overview
from gateway.console.catalogue import en, zh
from gateway.console.overview import Dot
from schemas.glossary import Stage, ViolationStatus

CASE_ROW = re.compile(r'<a href="/console/cases/([^"]+)">')


@pytest.fixture
def kit(tmp_path: Path) -> Kit:
    return build(tmp_path)


def index_case(kit: Kit, i: int, **changes: Any) -> None:
    """A case as the index follower would have copied it from the ledger."""
    doc: dict[str, Any] = {
        "case_id": f"CASE-2026-{i:04d}",
        "holder_org": "UrbanManagementMSP",
        "stage": (Stage.INVESTIGATION, Stage.DECISION)[i % 2].value,
        "violation_type": "road_occupation",
        "subject_key": "a" * 64,
        "updated_at": NOW - dt.timedelta(days=i),
    }
    doc.update(changes)
    kit.deps.index.upsert_case(doc)


def listed(html: str) -> list[str]:
    return CASE_ROW.findall(html)


# --- the case list ----------------------------------------------------------------------------


def test_the_case_list_shows_the_newest_change_first_and_filters(kit: Kit) -> None:
    for i in range(5):
        index_case(kit, i)
    index_case(kit, 9, violation_type="shopfront_operation", holder_org="MarketSupervisionMSP")
    officer, _ = sign_in(kit, "officer1")
    page = officer.get("/console/cases")
    assert page.status_code == 200
    assert listed(page.text) == [f"CASE-2026-{i:04d}" for i in (0, 1, 2, 3, 4, 9)]
    assert "调查取证" in page.text  # terms in the page's language
    assert "占道经营" in page.text
    decision = officer.get("/console/cases", params={"stage": "decision"})
    assert listed(decision.text) == ["CASE-2026-0001", "CASE-2026-0003", "CASE-2026-0009"]
    assert '<option value="decision" selected' in decision.text  # the form keeps the filter
    shops = officer.get(
        "/console/cases",
        params={"violation_type": "shopfront_operation", "holder_org": "MarketSupervisionMSP"},
    )
    assert listed(shops.text) == ["CASE-2026-0009"]
    assert '<option value="MarketSupervisionMSP" selected' in shops.text
    text = officer.get("/console/cases", params={"text": "0003"})
    assert listed(text.text) == ["CASE-2026-0003"]
    none = officer.get("/console/cases", params={"text": "no-such"})
    assert listed(none.text) == []
    assert "没有符合条件的案件" in none.text


def test_the_case_list_pages_with_the_filters_kept(kit: Kit) -> None:
    for i in range(120):
        index_case(kit, i)
    officer, _ = sign_in(kit, "officer1")
    seen: list[str] = []
    url = "/console/cases?stage=investigation"
    for _ in range(5):
        page = officer.get(url)
        assert page.status_code == 200
        seen += listed(page.text)
        more = re.search(r'<a href="(\?[^"]+)">下一页</a>', page.text)
        if more is None:
            break
        url = "/console/cases" + more.group(1).replace("&amp;", "&")
        assert "stage=investigation" in url
    assert seen == [f"CASE-2026-{i:04d}" for i in range(0, 120, 2)]


def test_a_case_id_opens_that_case(kit: Kit) -> None:
    officer, _ = sign_in(kit, "officer1")
    resp = officer.get("/console/cases", params={"case_id": " case-7 "}, follow_redirects=False)
    assert resp.status_code == 303
    assert resp.headers["location"] == "/console/cases/case-7"


def test_a_partner_gets_the_open_by_id_form_and_no_list(kit: Kit) -> None:
    index_case(kit, 1)
    partner, _ = sign_in(kit, "partner1")
    page = partner.get("/console/cases")
    assert page.status_code == 200
    assert 'name="case_id"' in page.text
    assert "CASE-2026-0001" not in page.text
    assert 'id="case-list"' not in page.text


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"stage": "appeal"}, "INVALID_REQUEST"),
        ({"violation_type": "jaywalking"}, "INVALID_REQUEST"),
        ({"text": "x" * 65}, "INVALID_REQUEST"),
        ({"cursor": "not-a-cursor"}, "INVALID_SEARCH"),
    ],
)
def test_a_bad_filter_is_an_error_page(kit: Kit, params: dict[str, str], code: str) -> None:
    officer, _ = sign_in(kit, "officer1")
    resp = officer.get("/console/cases", params=params)
    assert resp.status_code == 422
    assert resp.headers["content-type"].startswith("text/html")
    assert code in resp.text
    assert "Traceback" not in resp.text


# --- the overview -----------------------------------------------------------------------------


def test_the_overview_shows_open_cases_per_stage_against_their_limits(kit: Kit) -> None:
    now = kit.deps.clock()
    for i, days in enumerate((2, 10, 20, 100)):
        index_case(kit, i, stage="investigation", updated_at=now - dt.timedelta(days=days))
    index_case(kit, 7, stage="decision", updated_at=now - dt.timedelta(days=20))
    index_case(kit, 8, stage="closure", updated_at=now - dt.timedelta(days=400))
    auditor, _ = sign_in(kit, "auditor1")
    page = auditor.get("/console/overview")
    assert page.status_code == 200
    table = page.text[page.text.index('id="stage-ages"') :]
    table = table[: table.index("</table>")]
    cells = re.findall(r"<tr[^>]*><td>([^<]+)</td><td>(\d+)</td><td>([\d.]+)</td>", table)
    # Investigation: four open, the younger middle one waited 10 days; one over the 90-day limit.
    assert ("调查取证", "4", "10.0") in cells
    assert re.search(r"调查取证</td><td>4</td><td>10.0</td><td>90</td><td>1<", table)
    assert re.search(r"决定</td><td>1</td><td>20.0</td><td>15</td><td>1<", table)
    assert "结案" not in table  # a closed case waits nowhere


def test_the_overview_shows_the_self_rectification_rate(kit: Kit) -> None:
    flags = [submit(kit, event_id=f"evt-20261122-{i:04d}") for i in range(4)]
    reviewer, csrf = sign_in(kit, "reviewer1")
    for done in flags:
        resp = reviewer.post(f"/console/review/{done['flag_id']}/remind", data={"csrf": csrf})
        assert resp.status_code == 200, resp.text
    officer = kit.token("officer1")
    proof = flags[0]["items"][0]["evidence_id"]
    for done in flags[:3]:
        resp = kit.client.post(
            f"/violations/{done['flag_id']}/rectified",
            json={"evidence_ids": [proof]},
            headers=officer,
        )
        assert resp.status_code == 200, resp.text
    resp = kit.client.post(
        f"/violations/{flags[3]['flag_id']}/escalate",
        json={"reason": "not_rectified"},
        headers=officer,
    )
    assert resp.status_code == 200, resp.text
    assert sorted(f.status.value for f in kit.chain.flags.values()) == [
        ViolationStatus.ESCALATED.value,
        *[ViolationStatus.RECTIFIED.value] * 3,
    ]
    page = reviewer.get("/console/overview")
    assert page.status_code == 200
    rate = re.search(r'id="rectification-rate"><strong>([^<]+)</strong>', page.text)
    assert rate is not None
    assert rate.group(1) == "75.0%"
    assert "已整改 3" in page.text
    assert "未整改 (升级) 1" in page.text


def test_with_no_reminders_ended_the_rate_is_a_dash_not_zero(kit: Kit) -> None:
    auditor, _ = sign_in(kit, "auditor1")
    page = auditor.get("/console/overview")
    assert re.search(r'id="rectification-rate"><strong>—</strong>', page.text)


def test_the_map_groups_its_dots_by_type_with_one_tooltip_each(kit: Kit) -> None:
    submit(kit)
    submit(kit, event_id="evt-2", violation_type="motor_parking", place={"lat": 29.9, "lon": 121.6})
    auditor, _ = sign_in(kit, "auditor1")
    page = auditor.get("/console/overview").text
    svg = page[page.index('id="map"') : page.index("</svg>")]
    groups = re.findall(
        r'<g class="v-([a-z_]+)"><title>([^<]+)</title>((?:<circle [^>]+/>)+)</g>', svg
    )
    assert [(kind, title) for kind, title, _ in groups] == [
        ("motor_parking", "机动车乱停放"),
        ("road_occupation", "占道经营"),
    ]
    assert [circles.count("<circle") for _, _, circles in groups] == [2, 2]
    assert svg.count("<circle") == 4


def test_the_map_puts_north_up_and_one_place_in_the_middle() -> None:
    w, h, m = overview.MAP_WIDTH, overview.MAP_HEIGHT, overview.MAP_MARGIN
    [alone] = overview.scatter([(29.9, 121.5, "road_occupation")])
    assert (alone.x, alone.y) == (w / 2, h / 2)
    south_west, north_east = overview.scatter(
        [(29.80, 121.50, "road_occupation"), (29.90, 121.60, "motor_parking")]
    )
    assert (south_west.x, south_west.y) == (m, h - m)  # bottom left
    assert north_east.y == m  # top: the box is taller than wide once shrunk by cos(lat)
    assert m < north_east.x < w - m


def test_map_markup_holds_only_numbers() -> None:
    dots = [Dot(1.5, 2.0, "road_occupation"), Dot(3.0, 4.25, "<script>")]
    layers = overview.layers(dots)
    assert layers == [
        ("<script>", '<circle cx="3.0" cy="4.25" r="3"/>'),
        ("road_occupation", '<circle cx="1.5" cy="2.0" r="3"/>'),
    ]


# --- the audit page ---------------------------------------------------------------------------


def test_the_audit_page_shows_the_flags_of_the_trail_it_shows(kit: Kit) -> None:
    item = submit(kit)["items"][0]["evidence_id"]
    partner = kit.token("partner1")
    for _ in range(3):
        resp = kit.client.get(
            f"/evidence/{item}/content", params={"purpose": "case_review"}, headers=partner
        )
        assert resp.status_code == 403
    auditor, _ = sign_in(kit, "auditor1")
    page = auditor.get("/console/audit", params={"by": "evidence", "target_id": item})
    assert page.status_code == 200
    flags = page.text[page.text.index('id="audit-flags"') :]
    flags = flags[: flags.index("</section>")]
    assert re.search(r"REPEATED_DENIALS</td><td>CN=partner1</td><td>[^<]*</td><td>3<", flags)
    # Without a query there is no trail, so no flags either.
    assert 'id="audit-flags"' not in auditor.get("/console/audit").text


def test_the_integrity_report_is_clean_then_names_a_damaged_blob(kit: Kit) -> None:
    submit(kit)
    auditor, _ = sign_in(kit, "auditor1")
    clean = auditor.get("/console/audit/integrity")
    assert clean.status_code == 200
    assert 'id="integrity"' in clean.text
    assert "完整: 存储、索引与账本一致" in clean.text
    blob = kit.blobs()[0]
    data = bytearray(blob.read_bytes())
    data[100] ^= 1
    blob.write_bytes(bytes(data))
    damaged = auditor.get("/console/audit/integrity")
    assert damaged.status_code == 200
    assert "BLOB_ALTERED" in damaged.text
    assert "完整: 存储、索引与账本一致" not in damaged.text


@pytest.mark.parametrize("user", ["officer1", "reviewer1", "partner1"])
def test_only_an_auditor_runs_the_integrity_report(kit: Kit, user: str) -> None:
    client, _ = sign_in(kit, user)
    resp = client.get("/console/audit/integrity")
    assert resp.status_code == 403
    assert "ACCESS_DENIED" in resp.text


# --- the word catalogues ----------------------------------------------------------------------


def test_both_catalogues_have_the_same_words_none_empty() -> None:
    assert set(zh.WORDS) == set(en.WORDS)
    for words in (zh.WORDS, en.WORDS):
        assert all(isinstance(v, str) and v.strip() for v in words.values())
    # The two languages differ where they should (a copy-paste would not).
    same = [k for k in zh.WORDS if zh.WORDS[k] == en.WORDS[k]]
    assert len(same) < len(zh.WORDS) // 10, same


def test_every_word_a_template_uses_is_in_the_catalogue() -> None:
    templates = Path(zh.__file__).parents[1] / "templates"
    used = {
        word
        for html in templates.glob("*.html")
        for word in re.findall(r"\bt\.([a-z_]+)\b", html.read_text(encoding="utf-8"))
    }
    assert used, "no template words found: the pattern is wrong"
    assert used - set(zh.WORDS) == set()
