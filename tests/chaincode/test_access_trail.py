"""Grants and the access trail: every attempt is recorded, denials included."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from ledgerkit import (
    MARKET,
    NOW,
    POLICE,
    URBAN,
    bootstrap,
    creator,
    evidence,
    filing,
    ok,
    query,
    refused,
    subject_of,
    submit,
)

from chaincode.runtime.harness import Harness

OFFICER = creator(URBAN, "officer")
PARTNER = creator(POLICE, "partner")
AUDITOR = creator(URBAN, "auditor")
LATER = (NOW + dt.timedelta(days=30)).isoformat()


def grant(target: str = "evidence", target_id: str = "E-1", **changes: object) -> dict[str, object]:
    doc: dict[str, object] = {
        "target": target,
        "target_id": target_id,
        "grantee_org": POLICE,
        "purpose": "joint_enforcement",
        "expires_at": LATER,
    }
    doc.update(changes)
    return doc


def ask(target_id: str = "E-1", kind: str = "view", target: str = "evidence") -> dict[str, str]:
    return {"target": target, "target_id": target_id, "purpose": "joint_enforcement", "kind": kind}


@pytest.fixture
async def item(ledger: Harness) -> Harness:
    await bootstrap(ledger)
    ok(await submit(ledger, creator(URBAN, "device"), "RegisterEvidence", evidence()))
    return ledger


async def test_a_denial_commits_as_a_record_and_a_grant_opens_access(item: Harness) -> None:
    denied = await submit(item, PARTNER, "RequestAccess", ask())
    record = ok(denied)
    assert (record["outcome"], record["reason"]) == ("denied", "no_grant")
    assert record["accessor"] == subject_of(POLICE, "partner")
    assert record["role"] == "partner"
    assert denied.event is not None
    assert denied.event[0] == "AccessRecorded"
    ok(await submit(item, OFFICER, "GrantAccess", grant()))
    granted = ok(await submit(item, PARTNER, "RequestAccess", ask()))
    assert (granted["outcome"], granted["reason"]) == ("granted", "grant")
    assert granted["grant_tx"]
    trail = await query(
        item, creator(URBAN, "auditor"), "AccessTrail", {"by": "evidence", "target_id": "E-1"}
    )
    assert [(r["kind"], r["outcome"]) for r in trail["records"]] == [
        ("view", "denied"),
        ("share", "granted"),  # the grant itself: the owner shared the item
        ("view", "granted"),
    ]
    assert trail["records"][0] == record
    shared = trail["records"][1]
    assert (shared["shared_with"], shared["accessor"]) == (POLICE, subject_of(URBAN, "officer"))
    assert shared["record_id"] == granted["grant_tx"]  # the grant's own transaction


async def test_sharing_a_case_is_in_the_case_s_and_the_granter_s_trail(item: Harness) -> None:
    ok(await submit(item, OFFICER, "FileCase", filing(evidence_ids=["E-1"])))
    ok(await submit(item, OFFICER, "GrantAccess", grant(target="case", target_id="C-1")))
    auditor = creator(URBAN, "auditor")
    by_case = await query(item, auditor, "AccessTrail", {"by": "case", "target_id": "C-1"})
    by_org = await query(item, auditor, "AccessTrail", {"by": "org", "org": URBAN})
    by_item = await query(item, auditor, "AccessTrail", {"by": "evidence", "target_id": "E-1"})
    for trail in (by_case, by_org, by_item):  # the case's item: disclosed with it
        [share] = [r for r in trail["records"] if r["kind"] == "share"]
        assert (share["target"], share["target_id"], share["shared_with"]) == (
            "case",
            "C-1",
            POLICE,
        )
        assert share["case_ids"] == ["C-1"]


@pytest.mark.parametrize(
    ("who", "target", "target_id", "reason"),
    [
        (creator(MARKET, "officer"), "evidence", "E-1", "not_owner"),
        (creator(URBAN, "device"), "evidence", "E-1", "role"),
        (creator(MARKET, "officer"), "case", "C-1", "not_holder"),
    ],
)
async def test_a_refused_share_is_recorded_in_the_trails(
    item: Harness, who: tuple[str, bytes], target: str, target_id: str, reason: str
) -> None:
    ok(await submit(item, OFFICER, "FileCase", filing(evidence_ids=["E-1"])))
    request = grant(target, target_id)
    refused(await submit(item, who, "GrantAccess", request), "ACCESS_DENIED")
    result = await submit(item, who, "RecordShareDenial", request)
    denial = ok(result)
    assert (denial["kind"], denial["outcome"], denial["reason"]) == ("share", "denied", reason)
    assert (denial["target_id"], denial["shared_with"], denial["case_ids"]) == (
        target_id,
        POLICE,
        ["C-1"],
    )
    assert result.event is not None
    assert result.event[0] == "AccessRecorded"
    # Where an auditor looks: the target's trail and the case's.
    for by, of in ((target, target_id), ("case", "C-1")):
        trail = await query(item, AUDITOR, "AccessTrail", json.dumps({"by": by, "target_id": of}))
        assert denial["record_id"] in [r["record_id"] for r in trail["records"]]
    # Nothing was shared.
    assert await query(item, OFFICER, "ListGrants", target, target_id) == []


async def test_no_one_records_a_denial_that_did_not_happen(item: Harness) -> None:
    message = refused(
        await submit(item, OFFICER, "RecordShareDenial", grant()), "VALIDATION_FAILED"
    )
    assert "would be granted" in message
    refused(await submit(item, OFFICER, "RecordShareDenial", grant(target_id="E-404")), "NOT_FOUND")


async def test_only_the_owner_org_grants_and_revokes(item: Harness) -> None:
    refused(await submit(item, creator(MARKET, "officer"), "GrantAccess", grant()), "ACCESS_DENIED")
    refused(await submit(item, creator(URBAN, "device"), "GrantAccess", grant()), "ACCESS_DENIED")
    refused(await submit(item, PARTNER, "GrantAccess", grant(grantee_org=POLICE)), "ACCESS_DENIED")
    refused(await submit(item, OFFICER, "GrantAccess", grant(target_id="E-404")), "NOT_FOUND")
    ok(await submit(item, OFFICER, "GrantAccess", grant()))
    refused(
        await submit(item, creator(MARKET, "officer"), "RevokeAccess", "evidence", "E-1", POLICE),
        "ACCESS_DENIED",
    )
    revoked = ok(await submit(item, OFFICER, "RevokeAccess", "evidence", "E-1", POLICE))
    assert revoked["revoked_tx"]
    after = ok(await submit(item, PARTNER, "RequestAccess", ask()))
    assert (after["outcome"], after["reason"]) == ("denied", "grant_revoked")
    grants = await query(item, OFFICER, "ListGrants", "evidence", "E-1")
    assert [g["grantee_org"] for g in grants] == [POLICE]
    assert grants[0]["revoked_at"]
    refused(await submit(item, OFFICER, "RevokeAccess", "evidence", "E-1", MARKET), "NOT_FOUND")
    refused(
        await submit(item, OFFICER, "RevokeAccess", "folder", "E-1", POLICE), "VALIDATION_FAILED"
    )


@pytest.mark.parametrize(
    "change",
    [
        {"expires_at": "2025-01-01T00:00:00Z"},  # in the past
        {"expires_at": "2026-02-01T00:00:00"},  # no time zone
        {"purpose": "Because the chief asked"},  # free text, not a code
        {"kinds": []},
        {"kinds": ["view", "print"]},
        {"grantee_org": URBAN},  # the owner itself
        {"note": "x"},
    ],
)
async def test_bad_grants_are_refused(item: Harness, change: dict[str, object]) -> None:
    refused(await submit(item, OFFICER, "GrantAccess", grant(**change)), "VALIDATION_FAILED")


async def test_a_grant_expires_with_the_transaction_clock(item: Harness) -> None:
    ok(
        await submit(
            item,
            OFFICER,
            "GrantAccess",
            grant(expires_at=(NOW + dt.timedelta(hours=1)).isoformat()),
        )
    )
    late = NOW + dt.timedelta(hours=2)
    record = ok(await submit(item, PARTNER, "RequestAccess", ask(), at=late))
    assert (record["outcome"], record["reason"]) == ("denied", "grant_expired")


async def test_a_case_grant_covers_the_cases_evidence(item: Harness) -> None:
    ok(await submit(item, OFFICER, "FileCase", filing(evidence_ids=["E-1"])))
    ok(await submit(item, OFFICER, "GrantAccess", grant("case", "C-1", kinds=["view", "package"])))
    record = ok(await submit(item, PARTNER, "RequestAccess", ask(kind="package")))
    assert (record["outcome"], record["case_ids"]) == ("granted", ["C-1"])
    by_case = await query(item, OFFICER, "AccessTrail", {"by": "case", "target_id": "C-1"})
    # The case's sharing first (the grant), then the package access it allowed.
    assert [(r["kind"], r["record_id"]) for r in by_case["records"]] == [
        ("share", record["grant_tx"]),
        ("package", record["record_id"]),
    ]


async def test_unknown_targets_are_recorded_as_probes(item: Harness) -> None:
    record = ok(await submit(item, PARTNER, "RequestAccess", ask("E-404")))
    assert (record["outcome"], record["reason"]) == ("denied", "not_found")


@pytest.mark.parametrize(
    "doc",
    [
        {"target": "evidence", "target_id": "E-1", "purpose": "x", "kind": "steal"},
        {"target": "evidence", "target_id": "E-1", "purpose": "x"},
        {"target": "drawer", "target_id": "E-1", "purpose": "x", "kind": "view"},
    ],
)
async def test_malformed_access_requests_write_nothing(item: Harness, doc: dict[str, str]) -> None:
    before = dict(item.ledger.state)
    refused(await submit(item, PARTNER, "RequestAccess", doc), "VALIDATION_FAILED")
    assert item.ledger.state == before


async def test_trail_by_accessor_org_and_time_paginates(item: Harness) -> None:
    ok(await submit(item, OFFICER, "GrantAccess", grant()))
    start = NOW + dt.timedelta(days=1)
    for i in range(7):
        ok(await submit(item, PARTNER, "RequestAccess", ask(), at=start + dt.timedelta(minutes=i)))
    ok(
        await submit(
            item, OFFICER, "RequestAccess", ask(), at=start + dt.timedelta(minutes=3, seconds=30)
        )
    )
    auditor = creator(MARKET, "auditor")

    async def everything(q: dict[str, object]) -> list[dict[str, object]]:
        records, bookmark = [], ""
        while True:
            page = await query(
                item, auditor, "AccessTrail", {**q, "page_size": 3, "bookmark": bookmark}
            )
            assert len(page["records"]) <= 3
            records += page["records"]
            if not (bookmark := page["bookmark"]):
                return records

    mine = await everything(
        {"by": "accessor", "org": POLICE, "accessor": subject_of(POLICE, "partner")}
    )
    assert len(mine) == 7
    assert all(r["accessor_org"] == POLICE for r in mine)
    assert [r["at"] for r in mine] == sorted(r["at"] for r in mine)
    assert len(await everything({"by": "org", "org": URBAN})) == 2  # the grant, the view
    window = {
        "by": "time",
        "since": (start + dt.timedelta(minutes=2)).isoformat(),
        "until": (start + dt.timedelta(minutes=5)).isoformat(),
    }
    assert len(await everything(window)) == 4  # minutes 2, 3, 3:30 and 4; until is exclusive
    assert len(await everything({"by": "evidence", "target_id": "E-1"})) == 9  # and the share


async def test_trail_readers_and_queries_are_checked(item: Harness) -> None:
    q = {"by": "evidence", "target_id": "E-1"}
    refused(await item.evaluate(PARTNER, "AccessTrail", json.dumps(q)), "ACCESS_DENIED")
    refused(
        await item.evaluate(creator(URBAN, "device"), "AccessTrail", json.dumps(q)), "ACCESS_DENIED"
    )
    auditor = creator(URBAN, "auditor")
    refused(
        await item.evaluate(auditor, "AccessTrail", json.dumps({"by": "case"})), "VALIDATION_FAILED"
    )
    refused(
        await item.evaluate(auditor, "AccessTrail", json.dumps({**q, "page_size": 1000})),
        "VALIDATION_FAILED",
    )
    foreign = {**q, "bookmark": "\x00evidence\x00E-1\x00"}
    refused(await item.evaluate(auditor, "AccessTrail", json.dumps(foreign)), "VALIDATION_FAILED")


# --- RequestPackageAccess: an export's records in one transaction ---------------------------


def export(*ids: str, purpose: str = "evidence_package") -> dict[str, object]:
    return {"evidence_ids": list(ids), "purpose": purpose}


@pytest.fixture
async def items(ledger: Harness) -> Harness:
    await bootstrap(ledger)
    for evidence_id in ("E-1", "E-2", "E-3"):
        ok(
            await submit(
                ledger, creator(URBAN, "device"), "RegisterEvidence", evidence(evidence_id)
            )
        )
    ok(await submit(ledger, OFFICER, "FileCase", filing(evidence_ids=["E-1", "E-2", "E-3"])))
    return ledger


async def test_a_package_batch_records_one_access_per_item_in_its_trail(items: Harness) -> None:
    result = await submit(items, OFFICER, "RequestPackageAccess", export("E-2", "E-1", "E-3"))
    records = ok(result)
    assert [r["record_id"] for r in records] == [f"{result.tx_id}.{n:02d}" for n in range(3)]
    assert [r["target_id"] for r in records] == ["E-2", "E-1", "E-3"]
    assert {(r["kind"], r["outcome"], r["reason"]) for r in records} == {
        ("package", "granted", "owner")
    }
    assert all(r["case_ids"] == ["C-1"] and r["target"] == "evidence" for r in records)
    assert result.event is not None
    assert result.event[0] == "PackageAccessRecorded"
    assert json.loads(result.event[1]) == {"record_ids": [r["record_id"] for r in records]}
    auditor = creator(URBAN, "auditor")
    for record in records:
        trail = await query(
            items, auditor, "AccessTrail", {"by": "evidence", "target_id": record["target_id"]}
        )
        assert trail["records"] == [record]
        assert await query(items, auditor, "GetAccessRecord", record["record_id"]) == record
    by_case = await query(items, auditor, "AccessTrail", {"by": "case", "target_id": "C-1"})
    assert len(by_case["records"]) == 3


async def test_a_package_batch_decides_each_item_as_a_single_request_would(
    items: Harness,
) -> None:
    ok(await submit(items, OFFICER, "GrantAccess", grant("evidence", "E-1", kinds=["package"])))
    ok(await submit(items, OFFICER, "GrantAccess", grant("evidence", "E-2", kinds=["package"])))
    records = ok(await submit(items, PARTNER, "RequestPackageAccess", export("E-1", "E-2")))
    assert [(r["reason"], r["accessor_org"]) for r in records] == [
        ("grant", POLICE),
        ("grant", POLICE),
    ]
    assert all(r["grant_tx"] for r in records)


async def test_an_export_asks_the_peer_no_more_often_for_more_items(
    items: Harness,
) -> None:
    """Each state call is a round trip to the peer: an export reads its items, their cases
    and their case in a few calls, however many items (a call per item was most of a real
    export's endorsement time, docs/BENCHMARKS.md)."""
    many = [f"E-{n}" for n in range(10, 40)]
    for evidence_id in many:
        ok(await submit(items, creator(URBAN, "device"), "RegisterEvidence", evidence(evidence_id)))
    ok(await submit(items, OFFICER, "FileCase", filing("C-2", evidence_ids=many)))
    few = await submit(items, OFFICER, "RequestPackageAccess", export("E-1", "E-2", "E-3"))
    more = await submit(items, OFFICER, "RequestPackageAccess", export(*many))
    assert (len(ok(more)), len(ok(few))) == (30, 3)
    assert more.state_calls == few.state_calls
    # Their trails: a range query per item (Fabric has no other), their records in one read.
    auditor = creator(URBAN, "auditor")
    trails = [
        await items.evaluate(auditor, "ItemTrails", json.dumps({"evidence_ids": ids}))
        for ids in (["E-1", "E-2", "E-3"], many)
    ]
    assert [sum(len(t["records"]) for t in ok(r)) for r in trails] == [3, 30]
    assert trails[1].state_calls - trails[0].state_calls == len(many) - 3


@pytest.mark.parametrize(
    ("who", "ids", "reason"),
    [
        (PARTNER, ("E-1", "E-2"), "no_grant"),  # E-2 has no grant; E-1 has one
        (OFFICER, ("E-1", "E-404"), "not_found"),
        (creator(URBAN, "auditor"), ("E-1",), "role_not_permitted"),
    ],
)
async def test_one_denied_item_refuses_the_whole_batch_and_records_nothing(
    items: Harness, who: bytes, ids: tuple[str, ...], reason: str
) -> None:
    ok(await submit(items, OFFICER, "GrantAccess", grant("evidence", "E-1", kinds=["package"])))
    before = dict(items.ledger.state)
    message = refused(
        await submit(items, who, "RequestPackageAccess", export(*ids)), "ACCESS_DENIED"
    )
    assert reason in message
    assert items.ledger.state == before


@pytest.mark.parametrize(
    "doc",
    [
        export(*(f"E-{n}" for n in range(101))),  # one more than MAX_PACKAGE_BATCH
        export(),
        export("E-1", "E-1"),
        export("E-1", purpose="Because"),
        export("../E-1"),
        {"evidence_ids": ["E-1"]},
        {**export("E-1"), "kind": "view"},
    ],
    ids=["oversized", "empty", "twice", "free-text-purpose", "bad-id", "no-purpose", "extra"],
)
async def test_malformed_package_batches_write_nothing(
    items: Harness, doc: dict[str, object]
) -> None:
    before = dict(items.ledger.state)
    refused(await submit(items, OFFICER, "RequestPackageAccess", doc), "VALIDATION_FAILED")
    assert items.ledger.state == before


# --- bulk reads an export makes: GetEvidenceItems and ItemTrails ------------------------------


async def test_an_export_reads_its_items_and_their_first_trail_pages_at_once(
    items: Harness,
) -> None:
    auditor = creator(URBAN, "auditor")
    records = await query(items, auditor, "GetEvidenceItems", {"evidence_ids": ["E-3", "E-1"]})
    assert [r["evidence_id"] for r in records] == ["E-3", "E-1"]
    for _ in range(3):
        ok(await submit(items, OFFICER, "RequestAccess", ask("E-1")))
    ok(await submit(items, OFFICER, "RequestAccess", ask("E-2")))
    q = {"evidence_ids": ["E-1", "E-2", "E-3"], "page_size": 2}
    trails = await query(items, auditor, "ItemTrails", q)
    assert [(t["evidence_id"], len(t["records"])) for t in trails] == [
        ("E-1", 2),
        ("E-2", 1),
        ("E-3", 0),
    ]
    assert trails[0]["bookmark"]
    assert not trails[1]["bookmark"]
    rest = await query(
        items,
        auditor,
        "AccessTrail",
        {"by": "evidence", "target_id": "E-1", "page_size": 2, "bookmark": trails[0]["bookmark"]},
    )
    whole = await query(items, auditor, "AccessTrail", {"by": "evidence", "target_id": "E-1"})
    assert trails[0]["records"] + rest["records"] == whole["records"]


@pytest.mark.parametrize(
    ("fn", "doc", "who", "code"),
    [
        ("GetEvidenceItems", {"evidence_ids": ["E-1", "E-404"]}, "auditor", "NOT_FOUND"),
        ("GetEvidenceItems", {"evidence_ids": []}, "auditor", "VALIDATION_FAILED"),
        (
            "GetEvidenceItems",
            {"evidence_ids": [f"E-{n}" for n in range(101)]},
            "auditor",
            "VALIDATION_FAILED",
        ),
        ("ItemTrails", {"evidence_ids": ["E-1"]}, "partner", "ACCESS_DENIED"),
        ("ItemTrails", {"evidence_ids": ["E-1"], "page_size": 201}, "auditor", "VALIDATION_FAILED"),
        ("ItemTrails", {"evidence_ids": ["../E-1"]}, "auditor", "VALIDATION_FAILED"),
    ],
)
async def test_bulk_reads_refuse_bad_queries(
    items: Harness, fn: str, doc: dict[str, object], who: str, code: str
) -> None:
    caller = PARTNER if who == "partner" else creator(URBAN, who)
    refused(await items.evaluate(caller, fn, json.dumps(doc)), code)


async def test_a_partner_reads_the_trails_of_what_it_may_package_and_no_other(
    items: Harness,
) -> None:
    """A package carries its items' trails, so a partner agency exporting what it was
    granted reads those trails; without a package grant it reads none."""
    ok(await submit(items, OFFICER, "RequestAccess", ask("E-1")))
    q = {"evidence_ids": ["E-1", "E-2"]}
    refused(await items.evaluate(PARTNER, "ItemTrails", json.dumps(q)), "ACCESS_DENIED")
    ok(await submit(items, OFFICER, "GrantAccess", grant("evidence", "E-1", kinds=["package"])))
    ok(await submit(items, OFFICER, "GrantAccess", grant("evidence", "E-2", kinds=["view"])))
    # E-2's grant is for viewing only: the whole query is refused, nothing of E-1 returned.
    refused(await items.evaluate(PARTNER, "ItemTrails", json.dumps(q)), "ACCESS_DENIED")
    trails = await query(items, PARTNER, "ItemTrails", {"evidence_ids": ["E-1"]})
    assert [[r["kind"] for r in t["records"]] for t in trails] == [["view", "share"]]
    page = await query(items, PARTNER, "AccessTrail", {"by": "evidence", "target_id": "E-1"})
    assert page["records"] == trails[0]["records"]
    for other in (
        {"by": "evidence", "target_id": "E-2"},
        {"by": "case", "target_id": "C-1"},
        {"by": "org", "org": URBAN},
    ):
        refused(await items.evaluate(PARTNER, "AccessTrail", json.dumps(other)), "ACCESS_DENIED")
    # Once revoked, the trail closes again.
    ok(await submit(items, OFFICER, "RevokeAccess", "evidence", "E-1", POLICE))
    refused(
        await items.evaluate(PARTNER, "ItemTrails", json.dumps({"evidence_ids": ["E-1"]})),
        "ACCESS_DENIED",
    )
