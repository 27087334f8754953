"""An officer's feed of the flags of their areas, on SQLite and on PostgreSQL: cameras
matched by pattern (with SQL's own wildcards taken literally), the open flags first, then
every change after the cursor in order, settling included, pages that neither skip nor
repeat, and a cursor the feed did not give refused."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from indexkit import flag_row, put_flags

from node.dispatch import DEPARTMENT, Area, like_pattern
from node.index import IndexDatabase, SearchError
from node.index.flags import FlagCursor, assigned_flags, feed_head

URBAN, MARKET = "UrbanManagementMSP", "MarketSupervisionMSP"
T0 = dt.datetime(2026, 11, 22, 9, tzinfo=dt.UTC)
RENMIN = Area("renmin-rd", ("cam-renmin-*", "cam_x"), frozenset({"officer1"}))
MARKET_ST = Area("market-st", ("cam-market-?",), frozenset({"officer1", "officer2"}))


def flag(flag_id: str, camera: str, minute: int, status: str = "detected", **more: Any) -> Any:
    return flag_row(flag_id, T0 + dt.timedelta(minutes=minute), status, camera, **more)


put = put_flags


@pytest.fixture
def flags(index: IndexDatabase) -> IndexDatabase:
    put(
        index,
        flag("f1", "cam-renmin-1", 1),
        flag("f2", "cam-market-7", 2),
        flag("f3", "cam-renmin-2", 3, "rejected"),  # settled before the officer looked
        flag("f4", "cam-market-17", 4),  # ? is one character: not market-st's
        flag("f5", "camAx", 5),  # _ in a pattern is a literal underscore, not any character
        flag("f6", "cam_x", 6, "reminded"),
        flag("f7", "cam-renmin-9", 7, org=MARKET),  # another department's camera of that name
        flag("f8", "cam-renmin-1", 8),
        flag("f9", "cam-elsewhere", 9),
    )
    return index


def ids(page: Any) -> list[str]:
    return [f.flag_id for f in page.flags]


def test_the_open_flags_of_the_areas_oldest_change_first(flags: IndexDatabase) -> None:
    page = assigned_flags(flags, URBAN, [RENMIN, MARKET_ST])
    assert ids(page) == ["f1", "f2", "f6", "f8"]
    assert [f.area for f in page.flags] == ["renmin-rd", "market-st", "renmin-rd", "renmin-rd"]
    assert page.cursor == f"{(T0 + dt.timedelta(minutes=8)).isoformat()}|f8"
    assert ids(assigned_flags(flags, URBAN, [MARKET_ST])) == ["f2"]
    assert assigned_flags(flags, URBAN, []).flags == []


def test_each_change_after_the_cursor_once_settling_included(flags: IndexDatabase) -> None:
    first = assigned_flags(flags, URBAN, [RENMIN, MARKET_ST])
    assert first.cursor is not None
    cursor = FlagCursor.parse(first.cursor)
    assert assigned_flags(flags, URBAN, [RENMIN], after=cursor).flags == []
    # f1 is reminded, f8 rejected by the reviewer, a new flag f10: each once, in order.
    put(
        flags,
        flag("f1", "cam-renmin-1", 20, "reminded"),
        flag("f8", "cam-renmin-1", 21, "rejected"),
        flag("f10", "cam-renmin-4", 21),
    )
    changes = assigned_flags(flags, URBAN, [RENMIN], after=cursor)
    assert [(f.flag_id, f.status) for f in changes.flags] == [
        ("f1", "reminded"),
        ("f10", "detected"),  # the same minute as f8: by id
        ("f8", "rejected"),
    ]
    assert changes.cursor is not None
    again = assigned_flags(flags, URBAN, [RENMIN], after=FlagCursor.parse(changes.cursor))
    assert again.flags == []
    assert again.cursor == changes.cursor  # nothing new: the same cursor back


def test_pages_neither_skip_nor_repeat(index: IndexDatabase) -> None:
    put(index, *[flag(f"g{i:02d}", "cam-renmin-1", i // 3) for i in range(25)])
    seen: list[str] = []
    cursor = None
    while True:
        after = None if cursor is None else FlagCursor.parse(cursor)
        page = assigned_flags(index, URBAN, [RENMIN], after=after, page_size=4)
        if not page.flags:
            break
        seen += ids(page)
        cursor = page.cursor
    assert seen == [f"g{i:02d}" for i in range(25)]


@pytest.mark.parametrize("text", ["", "f1", "2026-11-22|", "yesterday|f1", "2026-11-22T09:00|f1"])
def test_a_cursor_the_feed_did_not_give_is_refused(text: str) -> None:
    with pytest.raises(SearchError, match="cursor"):
        FlagCursor.parse(text)


def test_like_patterns_keep_sql_wildcards_literal() -> None:
    assert like_pattern("cam-*-?") == "cam-%-_"
    assert like_pattern("cam_1%") == "cam\\_1\\%"


def test_the_feed_s_head_is_its_latest_change_settled_or_not(flags: IndexDatabase) -> None:
    def at(minute: int, flag_id: str) -> str:
        return f"{(T0 + dt.timedelta(minutes=minute)).isoformat()}|{flag_id}"

    assert feed_head(flags, URBAN, [RENMIN]) == at(8, "f8")
    put(flags, flag("f3", "cam-renmin-2", 30, "rejected"))  # a settled flag moved last
    head = feed_head(flags, URBAN, [RENMIN])
    assert head == at(30, "f3")
    # A feed followed from its head has nothing yet; the department's covers every camera.
    assert assigned_flags(flags, URBAN, [RENMIN], after=FlagCursor.parse(head)).flags == []
    assert feed_head(flags, URBAN, [DEPARTMENT]) == head
    assert feed_head(flags, MARKET, [DEPARTMENT]) == at(7, "f7")
    assert feed_head(flags, URBAN, []) is None
    assert feed_head(flags, URBAN, [Area("none", ("cam-nowhere",), frozenset())]) is None
