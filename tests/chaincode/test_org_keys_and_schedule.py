"""Org encryption keys (publish, rotate, history) and the penalty schedule's governance."""

from __future__ import annotations

import base64

import pytest
from ledgerkit import (
    MARKET,
    POLICE,
    URBAN,
    creator,
    ok,
    org_public_key,
    query,
    refused,
    schedule,
    submit,
)

from chaincode.runtime.harness import Harness

ADMIN = creator(URBAN, "admin")


async def test_an_admin_publishes_and_rotates_its_own_key_and_history_stays(
    ledger: Harness,
) -> None:
    first_key, second_key = org_public_key(), org_public_key()
    first = ok(await submit(ledger, ADMIN, "PublishOrgKey", {"public_key": first_key}))
    assert (first["org"], first["version"], first["algorithm"]) == (URBAN, 1, "X25519")
    assert first["key_id"].startswith("sha256:")
    again = await submit(ledger, ADMIN, "PublishOrgKey", {"public_key": first_key})
    assert ok(again) == first
    assert again.event is None
    second = ok(await submit(ledger, ADMIN, "PublishOrgKey", {"public_key": second_key}))
    assert second["version"] == 2
    assert (await query(ledger, ADMIN, "GetOrgKey", URBAN))["public_key"] == second_key
    history = await query(ledger, creator(MARKET, "officer"), "OrgKeyHistory", URBAN)
    assert [h["public_key"] for h in history] == [first_key, second_key]


@pytest.mark.parametrize(
    ("who", "doc", "code"),
    [
        (creator(URBAN, "officer"), {"public_key": org_public_key()}, "ACCESS_DENIED"),
        (ADMIN, {"public_key": base64.b64encode(b"short").decode()}, "VALIDATION_FAILED"),
        (ADMIN, {"public_key": org_public_key(), "algorithm": "RSA"}, "VALIDATION_FAILED"),
        (ADMIN, {"public_key": org_public_key(), "org": MARKET}, "VALIDATION_FAILED"),
    ],
)
async def test_bad_key_publications(
    ledger: Harness, who: bytes, doc: dict[str, str], code: str
) -> None:
    refused(await submit(ledger, who, "PublishOrgKey", doc), code)
    assert not ledger.ledger.state


async def test_an_org_can_only_publish_its_own_key(ledger: Harness) -> None:
    ok(
        await submit(
            ledger, creator(MARKET, "admin"), "PublishOrgKey", {"public_key": org_public_key()}
        )
    )
    refused(await ledger.evaluate(ADMIN, "GetOrgKey", URBAN), "NOT_FOUND")
    assert (await query(ledger, ADMIN, "GetOrgKey", MARKET))["org"] == MARKET


async def test_the_schedule_is_governed_by_the_orgs_it_names(ledger: Harness) -> None:
    refused(await ledger.evaluate(ADMIN, "GetPenaltySchedule"), "NOT_FOUND")
    refused(
        await submit(ledger, creator(URBAN, "reviewer"), "SetPenaltySchedule", schedule()),
        "ACCESS_DENIED",
    )
    refused(
        await submit(ledger, creator(POLICE, "admin"), "SetPenaltySchedule", schedule()),
        "ACCESS_DENIED",
    )
    ok(await submit(ledger, ADMIN, "SetPenaltySchedule", schedule()))
    refused(
        await submit(ledger, ADMIN, "SetPenaltySchedule", schedule()), "SCHEDULE_CONFLICT"
    )  # replay
    refused(
        await submit(ledger, creator(POLICE, "admin"), "SetPenaltySchedule", schedule(2)),
        "ACCESS_DENIED",
    )
    ok(
        await submit(
            ledger,
            creator(MARKET, "admin"),
            "SetPenaltySchedule",
            schedule(2, steps_cents=[10000, 30000]),
        )
    )
    current = await query(ledger, ADMIN, "GetPenaltySchedule")
    assert current["version"] == 2
    assert current["entries"]["road_occupation"]["steps_cents"] == [10000, 30000]


@pytest.mark.parametrize(
    "doc",
    [
        schedule(steps_cents=[]),
        schedule(steps_cents=[-1]),
        schedule(legal_basis="line\nbreak"),
        schedule(governing=["not an msp id"]),
        {**schedule(), "entries": {"jaywalking": schedule()["entries"]["road_occupation"]}},
        {**schedule(), "version": 0},
    ],
)
async def test_malformed_schedules_are_refused(ledger: Harness, doc: dict[str, object]) -> None:
    refused(await submit(ledger, ADMIN, "SetPenaltySchedule", doc), "VALIDATION_FAILED")
