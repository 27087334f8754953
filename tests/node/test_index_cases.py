"""The case list and the stage ages from the index, on SQLite and on PostgreSQL: filters,
keyset paging that neither skips nor repeats, a cursor the index did not issue, and each
open stage's median wait against its limit."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from indexkit import T0
from pydantic import ValidationError

from node.index import IndexDatabase, SearchError
from node.index.cases import CaseQuery, search_cases, stage_ages
from schemas.glossary import Stage, ViolationType

STAGES = [Stage.SOURCE, Stage.INVESTIGATION, Stage.DECISION, Stage.CLOSURE]


def case(i: int, **changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "case_id": f"CASE-2026-{i:04d}",
        "holder_org": ("UrbanManagementMSP", "MarketSupervisionMSP")[i % 2],
        "stage": STAGES[i % 4].value,
        "violation_type": ("road_occupation", "shopfront_operation", "illegal_dumping")[i % 3],
        "subject_key": "a" * 64,
        "updated_at": T0 + dt.timedelta(days=i),
    }
    doc.update(changes)
    return doc


@pytest.fixture
def cases(index: IndexDatabase) -> IndexDatabase:
    for i in range(24):
        index.upsert_case(case(i), [f"E-{i:04d}", f"E-{i + 1:04d}"])
    return index


def ids(index: IndexDatabase, **filters: Any) -> list[str]:
    return [c.case_id for c in search_cases(index, CaseQuery(page_size=100, **filters)).cases]


def test_the_newest_change_comes_first_with_its_item_count(cases: IndexDatabase) -> None:
    page = search_cases(cases, CaseQuery(page_size=3))
    assert [c.case_id for c in page.cases] == ["CASE-2026-0023", "CASE-2026-0022", "CASE-2026-0021"]
    first = page.cases[0]
    assert (first.stage, first.holder_org, first.items) == ("closure", "MarketSupervisionMSP", 2)
    assert first.violation_type == "illegal_dumping"
    assert first.updated_at == T0 + dt.timedelta(days=23)


def test_filters_combine(cases: IndexDatabase) -> None:
    assert len(ids(cases)) == 24
    assert ids(cases, stage=Stage.SOURCE) == [f"CASE-2026-{i:04d}" for i in (20, 16, 12, 8, 4, 0)]
    both = ids(cases, stage=Stage.SOURCE, violation_type=ViolationType.ROAD_OCCUPATION)
    assert both == ["CASE-2026-0012", "CASE-2026-0000"]
    assert ids(cases, holder_org="MarketSupervisionMSP", text="001") == [
        "CASE-2026-0019",
        "CASE-2026-0017",
        "CASE-2026-0015",
        "CASE-2026-0013",
        "CASE-2026-0011",
        "CASE-2026-0001",  # "001" is a part of its id too
    ]
    window = ids(cases, since=T0 + dt.timedelta(days=5), until=T0 + dt.timedelta(days=7))
    assert window == ["CASE-2026-0006", "CASE-2026-0005"]
    assert ids(cases, holder_org="HousingMSP") == []


def test_text_is_matched_literally(cases: IndexDatabase) -> None:
    cases.upsert_case(case(90, case_id="CASE_50%_off"))
    # "%" and "_" are LIKE's wildcards; here they only match themselves.
    assert ids(cases, text="_50%") == ["CASE_50%_off"]
    assert ids(cases, text="%") == ["CASE_50%_off"]
    assert ids(cases, text="2026_0") == []


def test_paging_neither_skips_nor_repeats_even_on_equal_times(cases: IndexDatabase) -> None:
    for i in range(30, 36):  # six cases changed in the same instant
        cases.upsert_case(case(i, updated_at=T0 + dt.timedelta(days=10)))
    seen: list[str] = []
    cursor = ""
    for _ in range(20):
        page = search_cases(cases, CaseQuery(page_size=4, cursor=cursor))
        seen += [c.case_id for c in page.cases]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == ids(cases)
    assert len(seen) == len(set(seen)) == 30


@pytest.mark.parametrize("cursor", ["not-base64!", "bm90IGpzb24=", "WzFd", "WyJ4IiwgImMiXQ=="])
def test_a_cursor_the_index_did_not_issue_is_refused(cases: IndexDatabase, cursor: str) -> None:
    with pytest.raises(SearchError, match="malformed case cursor"):
        search_cases(cases, CaseQuery(cursor=cursor))


@pytest.mark.parametrize(
    "bad",
    [{"page_size": 0}, {"page_size": 101}, {"text": "x" * 65}, {"stage": "appeal"}, {"x": 1}],
)
def test_bad_queries_are_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        CaseQuery(**bad)


def test_stage_ages_count_open_cases_and_those_over_their_limit(cases: IndexDatabase) -> None:
    now = T0 + dt.timedelta(days=30)
    ages = {a.stage: a for a in stage_ages(cases, now, {Stage.SOURCE: 15, Stage.DECISION: 15})}
    # Closed cases are not waiting anywhere; stages without open cases are left out.
    assert set(ages) == {"source", "investigation", "decision"}
    source = ages["source"]  # changed on days 0, 4, 8, 12, 16, 20: waited 30 .. 10 days
    assert (source.open_cases, source.limit_days) == (6, 15)
    assert source.over_limit == 4  # days 0, 4, 8, 12
    assert source.median_days == 18.0  # the middle of six by age: day 12
    investigation = ages["investigation"]
    assert (investigation.open_cases, investigation.limit_days, investigation.over_limit) == (
        6,
        None,
        0,
    )
    assert ages["decision"].over_limit == 4  # days 2, 6, 10, 14 of 2, 6, .., 22
