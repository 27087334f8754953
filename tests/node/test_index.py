"""The search index on SQLite and on a real PostgreSQL server: migrations, filters,
free text (Chinese included), keyset pagination and bad requests."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from indexkit import T0, row
from pydantic import ValidationError
from sqlalchemy import text

from node.index import (
    BoundingBox,
    EvidenceQuery,
    IndexConfigError,
    IndexDatabase,
    SearchError,
    open_index,
)
from node.index.database import sqlite_url


def ids(db: IndexDatabase, **filters: Any) -> list[str]:
    return db.search(EvidenceQuery(page_size=200, **filters)).evidence_ids


def test_filters_combine_newest_first(index: IndexDatabase) -> None:
    assert ids(index)[:3] == ["E-0029", "E-0028", "E-0027"]
    assert len(ids(index)) == 30
    road = ids(index, violation_type="road_occupation", camera_id="cam-0")
    assert road == ["E-0024", "E-0018", "E-0012", "E-0006", "E-0000"]
    assert ids(index, subject_key="a" * 64) == [f"E-{i:04d}" for i in (25, 20, 15, 10, 5, 0)]
    window = ids(index, since=T0 + dt.timedelta(minutes=10), until=T0 + dt.timedelta(minutes=13))
    assert window == ["E-0012", "E-0011", "E-0010"]
    box = BoundingBox(min_lat=29.8845, min_lon=121.5545, max_lat=29.8875, max_lon=121.5575)
    assert ids(index, place=box) == ["E-0007", "E-0006", "E-0005"]


def test_free_text_finds_chinese_and_latin_substrings(index: IndexDatabase) -> None:
    assert len(ids(index, text="人民路12")) == 10
    assert len(ids(index, text="人民")) == 10  # two characters: below the trigram size
    assert len(ids(index, text="fruit shop")) == 10
    assert len(ids(index, text="50% off")) == 10
    assert ids(index, text="%") == ids(index, text="50%")  # a literal percent sign
    assert ids(index, text='"; DROP TABLE evidence; --') == []
    assert ids(index, text="sign_board") == ids(index, text="庆丰街")


def test_pages_cover_everything_once(index: IndexDatabase) -> None:
    seen: list[str] = []
    cursor = None
    while True:
        page = index.search(EvidenceQuery(page_size=7, cursor=cursor))
        seen += page.evidence_ids
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == ids(index)
    # Rows with the same capture time still page deterministically (by id).
    index.upsert_evidence([row(100 + i, captured_at=T0) for i in range(5)])
    first = index.search(EvidenceQuery(page_size=3, until=T0 + dt.timedelta(seconds=1)))
    rest = index.search(
        EvidenceQuery(page_size=10, until=T0 + dt.timedelta(seconds=1), cursor=first.next_cursor)
    )
    assert first.evidence_ids + rest.evidence_ids == sorted(
        [*(f"E-{100 + i:04d}" for i in range(5)), "E-0000"], reverse=True
    )


def test_case_filter_and_upserts(index: IndexDatabase) -> None:
    index.upsert_case(
        {
            "case_id": "C-1",
            "holder_org": "UrbanManagementMSP",
            "stage": "source",
            "violation_type": "road_occupation",
            "subject_key": "a" * 64,
            "updated_at": T0,
        },
        ["E-0003", "E-0004"],
    )
    index.upsert_case(
        {
            "case_id": "C-1",
            "holder_org": "MarketSupervisionMSP",
            "stage": "investigation",
            "violation_type": "road_occupation",
            "subject_key": "a" * 64,
            "updated_at": T0,
        },
        ["E-0004", "E-0009"],
    )
    assert ids(index, case_id="C-1") == ["E-0009", "E-0004", "E-0003"]
    index.upsert_evidence([row(3, text="已整改 rectified", status="retention_expired")])
    stored = index.evidence("E-0003")
    assert stored is not None
    assert stored.status == "retention_expired"
    assert ids(index, text="已整改") == ["E-0003"]
    assert "E-0003" not in ids(index, text="人民路")  # the text index followed the update


def test_bad_requests_are_clear_errors(index: IndexDatabase) -> None:
    with pytest.raises(SearchError):
        index.search(EvidenceQuery(cursor="not-a-cursor"))
    with pytest.raises(ValidationError):
        EvidenceQuery(page_size=10_000)
    with pytest.raises(ValidationError):
        EvidenceQuery(text="x" * 201)
    with pytest.raises(ValidationError):
        BoundingBox(min_lat=30, min_lon=121, max_lat=29, max_lon=122)
    with pytest.raises(ValidationError):
        EvidenceQuery(since=dt.datetime(2026, 1, 1))  # naive time


def test_migrations_are_idempotent_and_sqlite_uses_wal(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "index.sqlite")
    open_index(url).upsert_evidence([row(1)])
    again = open_index(url)
    assert again.count() == 1
    with again.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == "0010"
        names = {r[0] for r in conn.execute(text("SELECT name FROM sqlite_master"))}
    # The case list's indexes come from the migration, not only from the models.
    assert {"ix_cases_time", "ix_cases_stage_time", "ix_cases_type_time"} <= names
    assert "ix_evidence_map" in names


@pytest.mark.parametrize("url", ["not a url", "mysql://root@127.0.0.1/evidence", "oracle://x@y/z"])
def test_unsupported_database_urls_are_refused(url: str) -> None:
    with pytest.raises(IndexConfigError):
        open_index(url)


def test_both_text_plans_give_the_same_pages(
    index: IndexDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    everything = ids(index, text="fruit shop")
    for window in (2000, 4):  # the recent-rows scan fills the page / falls back to the index
        monkeypatch.setattr("node.index.search.TEXT_WINDOW", window)
        seen, cursor = [], None
        while True:
            page = index.search(EvidenceQuery(text="fruit shop", page_size=3, cursor=cursor))
            seen += page.evidence_ids
            if (cursor := page.next_cursor) is None:
                break
        assert seen == everything


def test_times_with_an_offset_sort_and_filter_as_utc(index: IndexDatabase) -> None:
    beijing = dt.timezone(dt.timedelta(hours=8))
    # 16:00:30 in Beijing is 08:00:30 UTC: just after E-0000, not eight hours later.
    index.upsert_evidence([row(900, captured_at=T0.astimezone(beijing) + dt.timedelta(seconds=30))])
    assert ids(index)[-2:] == ["E-0900", "E-0000"]
    stored = index.evidence("E-0900")
    assert stored is not None
    assert stored.captured_at == T0 + dt.timedelta(seconds=30)
    assert ids(index, since=T0 + dt.timedelta(seconds=10), until=T0 + dt.timedelta(minutes=1)) == [
        "E-0900"
    ]


def test_a_large_batch_is_split_below_the_servers_parameter_limit(index: IndexDatabase) -> None:
    # 5,000 rows of 17 columns are 85,000 bound parameters: more than PostgreSQL takes in
    # one statement (65,535). The batch lands whole, in one transaction.
    index.upsert_evidence([row(i) for i in range(5_000)])
    assert index.count() == 5_000


def test_analyze_refreshes_statistics_and_changes_no_row(index: IndexDatabase) -> None:
    before = ids(index)
    index.analyze()
    assert ids(index) == before
    assert index.count() == 30
