"""RecordBulletin: a department's reviewer or admin records each bulletin of decisions it
publishes; the ledger adds who and when, and refuses what is malformed, not its to record,
early, or recorded already."""

from __future__ import annotations

from typing import Any

import pytest
from ledgerkit import MARKET, URBAN, creator, digest, ok, query, refused, subject_of, submit

from chaincode.contracts.publications import MAX_BULLETINS_PER_PERIOD
from chaincode.runtime.harness import Harness

REVIEWER = creator(URBAN, "reviewer")
# NOW is 2026-01-05 09:00 UTC; the day, ISO week and month holding it, in Beijing time.
DAY = ("2026-01-04T16:00:00.000000Z", "2026-01-05T16:00:00.000000Z")
WEEK = ("2026-01-04T16:00:00.000000Z", "2026-01-11T16:00:00.000000Z")
MONTH = ("2025-12-31T16:00:00.000000Z", "2026-01-31T16:00:00.000000Z")


def recording(name: str = "b-1", period: str = "day", **changes: Any) -> dict[str, Any]:
    since, until = {"week": WEEK, "month": MONTH}.get(period, DAY)
    doc: dict[str, Any] = {
        "bulletin_hash": digest(name),
        "period": period,
        "since": since,
        "until": until,
        "decisions": 3,
    }
    doc.update(changes)
    return doc


@pytest.mark.parametrize(("role", "period"), [("reviewer", "day"), ("admin", "month")])
async def test_a_publisher_records_a_bulletin_and_anyone_reads_when(
    ledger: Harness, role: str, period: str
) -> None:
    doc = recording(period=period)
    result = await submit(ledger, creator(URBAN, role), "RecordBulletin", doc)
    record = ok(result)
    assert record["org"] == URBAN
    assert (record["bulletin_hash"], record["period"]) == (doc["bulletin_hash"], period)
    assert (record["since"], record["until"], record["decisions"]) == (
        doc["since"],
        doc["until"],
        3,
    )
    assert record["recorded_by"] == subject_of(URBAN, role)
    assert record["recorded_role"] == role
    assert record["recorded_tx"] == result.tx_id
    assert record["recorded_at"].startswith("2026-01-05T09:00:")
    assert result.event is not None
    assert result.event[0] == "BulletinRecorded"
    # Publication is public: another department's officer reads the record.
    listed = await query(
        ledger, creator(MARKET, "officer"), "BulletinRecords", URBAN, period, doc["since"]
    )
    assert listed == [record]
    assert await query(ledger, REVIEWER, "BulletinRecords", MARKET, period, doc["since"]) == []


async def test_a_corrected_bulletin_of_the_same_period_is_a_second_record(
    ledger: Harness,
) -> None:
    first = ok(await submit(ledger, REVIEWER, "RecordBulletin", recording("b-1")))
    second = ok(await submit(ledger, REVIEWER, "RecordBulletin", recording("b-2", decisions=4)))
    listed = await query(ledger, REVIEWER, "BulletinRecords", URBAN, "day", DAY[0])
    assert listed == [first, second]  # oldest first


async def test_the_same_bulletin_is_recorded_once(ledger: Harness) -> None:
    first = ok(await submit(ledger, REVIEWER, "RecordBulletin", recording()))
    message = refused(
        await submit(ledger, creator(URBAN, "admin"), "RecordBulletin", recording()),
        "PUBLICATION_CONFLICT",
    )
    assert first["recorded_tx"] in message
    assert len(await query(ledger, REVIEWER, "BulletinRecords", URBAN, "day", DAY[0])) == 1


async def test_a_period_holds_a_bounded_number_of_records(ledger: Harness) -> None:
    for n in range(MAX_BULLETINS_PER_PERIOD):
        ok(await submit(ledger, REVIEWER, "RecordBulletin", recording(f"b-{n}")))
    refused(
        await submit(ledger, REVIEWER, "RecordBulletin", recording("one-more")),
        "PUBLICATION_CONFLICT",
    )
    # Another period is not affected, even one from the same moment (a Monday's week).
    ok(await submit(ledger, REVIEWER, "RecordBulletin", recording("week", period="week")))


@pytest.mark.parametrize("role", ["officer", "auditor", "partner", "device"])
async def test_other_roles_may_not_record(ledger: Harness, role: str) -> None:
    refused(
        await submit(ledger, creator(URBAN, role), "RecordBulletin", recording()),
        "ACCESS_DENIED",
    )
    assert not ledger.ledger.state


@pytest.mark.parametrize(
    "changes",
    [
        {"bulletin_hash": "sha256:" + "A" * 64},
        {"bulletin_hash": "md5:00"},
        {"period": "year"},
        {"until": WEEK[1]},  # a week's span for a day
        {"since": DAY[1], "until": DAY[0]},
        {"since": "2026-01-05"},
        {"decisions": -1},
        {"decisions": 20_001},
        {"decisions": "3"},  # not coerced
        {"org": MARKET},  # the ledger says whose: the caller's
        {"recorded_at": "2020-01-01T00:00:00.000000Z"},
    ],
)
async def test_a_malformed_recording_is_refused(ledger: Harness, changes: dict[str, Any]) -> None:
    refused(
        await submit(ledger, REVIEWER, "RecordBulletin", recording(**changes)),
        "VALIDATION_FAILED",
    )
    assert not ledger.ledger.state


async def test_a_period_that_has_not_begun_is_refused(ledger: Harness) -> None:
    message = refused(
        await submit(
            ledger,
            REVIEWER,
            "RecordBulletin",
            recording(since="2026-01-05T16:00:00.000000Z", until="2026-01-06T16:00:00.000000Z"),
        ),
        "VALIDATION_FAILED",
    )
    assert "has not begun" in message
    assert not ledger.ledger.state


@pytest.mark.parametrize(("period", "since"), [("day", "yesterday"), ("year", DAY[0])])
async def test_reading_with_a_malformed_period_is_refused(
    ledger: Harness, period: str, since: str
) -> None:
    result = await ledger.evaluate(REVIEWER, "BulletinRecords", URBAN, period, since)
    assert result.code == "VALIDATION_FAILED"
