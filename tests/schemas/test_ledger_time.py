"""Ledger times: fixed-width UTC text that sorts as the moments do, for every year."""

from __future__ import annotations

import datetime as dt

import pytest

from schemas.ledger import ledger_time, parse_ledger_time

BEIJING = dt.timezone(dt.timedelta(hours=8))


@pytest.mark.parametrize(
    ("moment", "text"),
    [
        (dt.datetime(2026, 12, 8, 1, 2, 3, 45, tzinfo=BEIJING), "2026-12-07T17:02:03.000045Z"),
        # The API fuzzer's grant expiry: strftime's %Y wrote "999", which no ledger field
        # takes (a 500 where the request deserved its answer).
        (dt.datetime(999, 1, 1, tzinfo=dt.UTC), "0999-01-01T00:00:00.000000Z"),
        (dt.datetime(1, 1, 1, tzinfo=dt.UTC), "0001-01-01T00:00:00.000000Z"),
        (
            dt.datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=dt.UTC),
            "9999-12-31T23:59:59.999999Z",
        ),
    ],
)
def test_every_year_is_four_digits_and_reads_back(moment: dt.datetime, text: str) -> None:
    assert ledger_time(moment) == text
    assert parse_ledger_time(text) == moment


def test_times_sort_as_text_as_they_do_as_moments() -> None:
    moments = [dt.datetime(y, 6, 1, tzinfo=dt.UTC) for y in (2026, 999, 1, 1000, 12)]
    assert sorted(moments) == sorted(moments, key=ledger_time)


def test_a_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        ledger_time(dt.datetime(2026, 1, 1))
