"""POST /disclosures/{period}: a reviewer or an admin issues the department's signed bulletin
of decisions; every other role and every bad request is refused with a stable code."""

from __future__ import annotations

import copy
import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from disclosurekit import DOCUMENT, SINCE, case, entry, index_row, tx
from gatewaykit import FakeLedger, Kit, build
from ingestkit import make_ca

from node.disclosure import Outcome, SignedBulletin, verify_bulletin
from node.disclosure import collect as collect_module
from node.disclosure.bulletin import MAX_BYTES
from node.disclosure.timeliness import WorkCalendar
from node.ledger import LedgerRefused
from node.package.anchors import TrustAnchors
from schemas.glossary import Stage
from schemas.ledger import BulletinRecording, LedgerErrorCode, ledger_time

DAY = dt.timedelta(days=1)
HOUR = dt.timedelta(hours=1)


@pytest.fixture
def kit(tmp_path: Path) -> Kit:
    kit = build(tmp_path)
    kit.deps.clock = lambda: kit.clock[0]  # 2026-11-22: the month of the decisions below
    for record, entries in [
        (case("C-1"), [entry("C-1", 1, Stage.DECISION, SINCE + 2 * DAY)]),
        (
            case("C-2", stage=Stage.CLOSED_WITHOUT_PENALTY),
            [entry("C-2", 1, Stage.CLOSED_WITHOUT_PENALTY, SINCE + 3 * DAY)],
        ),
    ]:
        kit.chain.cases[record.case_id] = record
        kit.chain.history[record.case_id] = entries
        kit.deps.index.upsert_case(index_row(record))
    return kit


def _anchors(kit: Kit) -> bytes:
    root = make_ca(kit.root / "node").cert_pem
    return TrustAnchors.build(
        "evidence", ["OrdererMSP"], {kit.deps.org: [root], "OrdererMSP": [root]}
    ).canonical_bytes()


@pytest.mark.parametrize("user", ["reviewer1", "admin"])
def test_a_publisher_gets_the_signed_bulletin_of_the_month(kit: Kit, user: str) -> None:
    resp = kit.client.post(
        "/disclosures/month", params={"on": "2026-11-22"}, headers=kit.token(user)
    )
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == "application/json"
    assert 'filename="bulletin-month-2026-11-01.json"' in resp.headers["content-disposition"]
    signed = SignedBulletin.parse(resp.content)
    assert resp.content == signed.canonical_bytes()  # served exactly as signed
    bulletin = signed.bulletin
    assert (bulletin.org, bulletin.channel, bulletin.period) == (kit.deps.org, "evidence", "month")
    assert bulletin.since == ledger_time(SINCE)
    assert [(d.case_id, d.outcome) for d in bulletin.decisions] == [
        ("C-1", Outcome.PENALTY),
        ("C-2", Outcome.NO_PENALTY),
    ]
    assert bulletin.decisions[0].decision_tx == tx("C-1/1")
    assert str(bulletin.decisions[0].document_hash) == DOCUMENT
    report = verify_bulletin(resp.content, _anchors(kit))
    assert report.ok, report.render()


def test_a_day_without_decisions_is_an_empty_bulletin(kit: Kit) -> None:
    resp = kit.client.post(
        "/disclosures/day", params={"on": "2026-11-20"}, headers=kit.token("reviewer1")
    )
    assert resp.status_code == 200, resp.text
    assert SignedBulletin.parse(resp.content).bulletin.decisions == []


@pytest.mark.parametrize("user", ["officer1", "auditor1", "partner1", "edge-07"])
def test_other_roles_are_refused(kit: Kit, user: str) -> None:
    resp = kit.client.post("/disclosures/month", headers=kit.token(user))
    assert resp.status_code == 403
    assert resp.json()["code"] == "ACCESS_DENIED"


def test_an_unauthenticated_or_expired_caller_is_refused(kit: Kit) -> None:
    assert kit.client.post("/disclosures/month").status_code == 401
    headers = kit.token("reviewer1", ttl=dt.timedelta(minutes=1))
    kit.clock[0] += dt.timedelta(minutes=2)
    resp = kit.client.post("/disclosures/month", headers=headers)
    assert resp.status_code == 401
    assert resp.json()["code"] == "UNAUTHENTICATED"


@pytest.mark.parametrize(
    ("path", "params", "code"),
    [
        ("/disclosures/month", {"on": "2026-13-01"}, "INVALID_REQUEST"),
        ("/disclosures/year", {}, "INVALID_REQUEST"),
        ("/disclosures/month", {"utc_offset": "+25:00"}, "INVALID_REQUEST"),
        ("/disclosures/month", {"on": "1999-01-01"}, "INVALID_REQUEST"),
        ("/disclosures/month", {"on": "2026-12-01"}, "PERIOD_NOT_BEGUN"),
    ],
)
def test_a_bad_period_is_refused_with_what_is_wrong(
    kit: Kit, path: str, params: dict[str, str], code: str
) -> None:
    resp = kit.client.post(path, params=params, headers=kit.token("reviewer1"))
    assert resp.status_code == 422, resp.text
    assert resp.json()["code"] == code
    assert resp.headers["content-type"] == "application/problem+json"


def test_too_many_decisions_ask_for_a_shorter_period(
    kit: Kit, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(collect_module, "MAX_DECISIONS", 1)
    resp = kit.client.post("/disclosures/month", headers=kit.token("reviewer1"))
    assert resp.status_code == 422
    assert resp.json()["code"] == "TOO_MANY_DECISIONS"
    assert "shorter period" in resp.json()["detail"]


def test_a_decision_the_gateway_cannot_read_is_a_502_not_a_partial_bulletin(kit: Kit) -> None:
    kit.chain.history["C-1"] = [entry("C-1", 1, Stage.DECISION, SINCE + DAY, penalty=None)]
    resp = kit.client.post("/disclosures/month", headers=kit.token("reviewer1"))
    assert resp.status_code == 502
    assert resp.json()["code"] == "LEDGER_DATA_MALFORMED"
    assert "C-1" not in resp.text  # the detail is in the log, not the answer


def test_a_gateway_without_signing_keys_signs_no_bulletin(tmp_path: Path) -> None:
    kit = build(tmp_path, signer_for=None)
    resp = kit.client.post("/disclosures/month", headers=kit.token("reviewer1"))
    assert resp.status_code == 501
    assert resp.json()["code"] == "DISCLOSURES_NOT_CONFIGURED"


def _published(kit: Kit) -> dict[str, Any]:
    resp = kit.client.post("/disclosures/month", headers=kit.token("reviewer1"))
    assert resp.status_code == 200, resp.text
    doc: dict[str, Any] = resp.json()
    return doc


def _check(kit: Kit, doc: dict[str, Any], user: str = "auditor1") -> Any:
    return kit.client.post("/disclosures/check", json=doc, headers=kit.token(user))


def test_an_auditor_finds_a_bulletin_complete_and_each_departure_from_the_ledger(
    kit: Kit,
) -> None:
    doc = _published(kit)
    resp = _check(kit, doc)
    assert resp.status_code == 200, resp.text
    found = resp.json()
    assert (found["complete"], found["listed"], found["on_ledger"]) == (True, 2, 2)
    # Left out, changed, made up: each named (the signature is the offline verifier's).
    left_out = copy.deepcopy(doc)
    del left_out["bulletin"]["decisions"][1]
    changed = copy.deepcopy(doc)
    changed["bulletin"]["decisions"][0]["amount_cents"] = 100
    made_up = copy.deepcopy(doc)
    made_up["bulletin"]["decisions"][1]["decision_tx"] = "f" * 64
    answers = {
        name: _check(kit, d).json()
        for name, d in {"left_out": left_out, "changed": changed, "made_up": made_up}.items()
    }
    assert [m["case_id"] for m in answers["left_out"]["missing"]] == ["C-2"]
    assert [(a["case_id"], a["fields"]) for a in answers["changed"]["altered"]] == [
        ("C-1", ["amount_cents"])
    ]
    assert [u["decision_tx"] for u in answers["made_up"]["unknown"]] == ["f" * 64]
    assert [m["case_id"] for m in answers["made_up"]["missing"]] == ["C-2"]
    assert not any(a["complete"] for a in answers.values())


def test_a_decision_taken_after_the_bulletin_was_issued_is_not_missing_from_it(kit: Kit) -> None:
    doc = _published(kit)
    later = case("C-3")
    kit.chain.cases["C-3"] = later
    kit.chain.history["C-3"] = [entry("C-3", 1, Stage.DECISION, kit.clock[0] + DAY)]
    kit.deps.index.upsert_case(index_row(later))
    kit.clock[0] += 2 * DAY
    found = _check(kit, doc).json()
    assert (found["complete"], found["on_ledger"], found["after_issue"]) == (True, 2, 1)


def test_only_an_auditor_checks_and_only_a_bulletin_of_this_channel(kit: Kit) -> None:
    doc = _published(kit)
    for user in ("reviewer1", "officer1", "partner1", "admin"):
        assert _check(kit, doc, user).status_code == 403
    elsewhere = copy.deepcopy(doc)
    elsewhere["bulletin"]["channel"] = "another"
    resp = _check(kit, elsewhere)
    assert (resp.status_code, resp.json()["code"]) == (422, "CHANNEL_MISMATCH")
    malformed = copy.deepcopy(doc)
    malformed["bulletin"]["decisions"].reverse()
    resp = _check(kit, malformed)
    assert (resp.status_code, resp.json()["code"]) == (422, "INVALID_REQUEST")
    assert "order" in resp.text
    huge = b'{"bulletin": "' + b"x" * (MAX_BYTES + 1) + b'"}'
    resp = kit.client.post(
        "/disclosures/check",
        content=huge,
        headers={**kit.token("auditor1"), "Content-Type": "application/json"},
    )
    assert (resp.status_code, resp.json()["code"]) == (413, "BODY_TOO_LARGE")


# --- the publication on the ledger and its timeliness (公示时效) ------------------------------

# C-1 was decided on Tuesday 3 November (Beijing), C-2 on Wednesday the 4th: seven working
# days later they were due by the ends of Thursday the 12th and Friday the 13th.
FRIDAY_13_NOON = dt.datetime(2026, 11, 13, 4, 0, tzinfo=dt.UTC)


def test_a_bulletin_is_recorded_on_the_ledger_as_published_before_it_is_served(
    kit: Kit,
) -> None:
    resp = kit.client.post("/disclosures/month", headers=kit.token("reviewer1"))
    assert resp.status_code == 200, resp.text
    [record] = kit.chain.bulletins
    bulletin = SignedBulletin.parse(resp.content).bulletin
    assert resp.headers["x-ledger-tx"] == record.recorded_tx
    assert record.bulletin_hash == bulletin.digest()
    assert (record.period, record.since, record.until) == ("month", bulletin.since, bulletin.until)
    assert (record.decisions, record.recorded_by, record.recorded_role) == (
        2,
        "CN=reviewer1",
        "reviewer",
    )


def test_a_bulletin_the_ledger_refuses_to_record_is_not_served(
    kit: Kit, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def refuse(self: FakeLedger, recording: BulletinRecording) -> None:
        raise LedgerRefused(LedgerErrorCode.PUBLICATION_CONFLICT, "50 recorded", "ab" * 32)

    monkeypatch.setattr(FakeLedger, "record_bulletin", refuse)
    resp = kit.client.post("/disclosures/month", headers=kit.token("reviewer1"))
    assert resp.status_code == 409
    assert resp.headers["content-type"] == "application/problem+json"
    assert resp.json()["code"] == "PUBLICATION_CONFLICT"
    assert "decisions" not in resp.text


def test_the_check_names_the_record_and_each_decision_published_late(kit: Kit) -> None:
    kit.clock[0] = FRIDAY_13_NOON
    doc = _published(kit)
    [record] = kit.chain.bulletins
    found = _check(kit, doc).json()
    assert found["recorded"] == {
        "recorded_at": record.recorded_at,
        "recorded_tx": record.recorded_tx,
        "recorded_by": "CN=reviewer1",
        "recorded_role": "reviewer",
    }
    assert (found["period_records"], found["deadline_working_days"]) == (1, 7)
    assert [(x["case_id"], x["due_by"]) for x in found["late"]] == [
        ("C-1", "2026-11-13T00:00:00+08:00")
    ]
    assert (found["complete"], found["on_time"]) == (True, False)


@pytest.mark.parametrize(
    ("params", "late"),
    [
        # A public holiday on Thursday the 5th moves C-1's deadline to Friday's end.
        ({"holiday": "2026-11-05"}, []),
        # A Saturday worked brings C-2's forward to Thursday's end.
        ({"workday": "2026-11-07"}, ["C-1", "C-2"]),
        ({"deadline_working_days": 8}, []),
        ({"deadline_working_days": 5}, ["C-1", "C-2"]),
    ],
)
def test_the_deadline_follows_the_callers_calendar(
    kit: Kit, params: dict[str, Any], late: list[str]
) -> None:
    kit.clock[0] = FRIDAY_13_NOON
    doc = _published(kit)
    resp = kit.client.post(
        "/disclosures/check", params=params, json=doc, headers=kit.token("auditor1")
    )
    assert resp.status_code == 200, resp.text
    assert [x["case_id"] for x in resp.json()["late"]] == late
    assert resp.json()["on_time"] is not late


def test_without_a_calendar_in_the_request_the_departments_own_counts(kit: Kit) -> None:
    kit.clock[0] = FRIDAY_13_NOON
    doc = _published(kit)
    assert [x["case_id"] for x in _check(kit, doc).json()["late"]] == ["C-1"]
    # The department's configured holiday on Thursday the 5th: C-1 was in time.
    kit.deps.calendar = WorkCalendar(frozenset({dt.date(2026, 11, 5)}))
    assert _check(kit, doc).json()["late"] == []
    # A calendar the auditor gives stands instead of the department's.
    resp = kit.client.post(
        "/disclosures/check",
        params={"workday": "2026-11-07"},
        json=doc,
        headers=kit.token("auditor1"),
    )
    assert [x["case_id"] for x in resp.json()["late"]] == ["C-1", "C-2"]


def test_another_departments_bulletin_is_checked_against_the_ledger_alone(kit: Kit) -> None:
    # MarketSupervision decided C-9 this month; this node neither holds nor indexes it.
    market = "MarketSupervisionMSP"
    kit.chain.cases["C-9"] = case("C-9", holder_org=market)
    kit.chain.history["C-9"] = [entry("C-9", 1, Stage.DECISION, SINCE + 4 * DAY, org=market)]
    ours = _published(kit)
    theirs = copy.deepcopy(ours)
    theirs["bulletin"]["org"] = market
    found = _check(kit, theirs).json()
    # Their bulletin, as this one lists ours: C-9 left out, ours not theirs to list.
    assert [d["case_id"] for d in found["missing"]] == ["C-9"]
    assert sorted(d["case_id"] for d in found["unknown"]) == ["C-1", "C-2"]
    assert (found["org"], found["complete"], found["recorded"]) == (market, False, None)
    # And ours, checked the same way, is complete: C-9 is not ours.
    assert _check(kit, ours).json()["complete"]


def test_a_bulletin_never_recorded_is_not_on_time_and_a_reissue_is_counted(kit: Kit) -> None:
    first = _published(kit)
    kit.clock[0] += dt.timedelta(minutes=5)
    second = _published(kit)
    assert _check(kit, first).json()["period_records"] == 2
    kit.chain.bulletins.clear()  # as if the portal served a bulletin never recorded
    found = _check(kit, second).json()
    assert (found["recorded"], found["period_records"], found["late"]) == (None, 0, [])
    assert (found["complete"], found["on_time"]) == (True, False)


@pytest.mark.parametrize(
    "params",
    [
        {"deadline_working_days": 0},
        {"deadline_working_days": 61},
        {"deadline_working_days": "seven"},
        {"holiday": "2026-02-30"},
        {"holiday": "2026-11-05", "workday": "2026-11-05"},
        {"holiday": [str(dt.date(2026, 1, 1) + dt.timedelta(days=n)) for n in range(367)]},
    ],
)
def test_a_bad_calendar_is_refused_with_what_is_wrong(kit: Kit, params: dict[str, Any]) -> None:
    doc = _published(kit)
    resp = kit.client.post(
        "/disclosures/check", params=params, json=doc, headers=kit.token("auditor1")
    )
    assert resp.status_code == 422, resp.text
    assert resp.json()["code"] == "INVALID_REQUEST"
    assert resp.headers["content-type"] == "application/problem+json"


# --- decisions set aside and their withdrawal (撤回) ----------------------------------------


def _set_aside(kit: Kit, case_id: str, user: str = "reviewer1", **changes: Any) -> Any:
    body = {
        "decision_tx": tx(f"{case_id}/1"),
        "ground": "revoked",
        "authority": "reconsideration",
        "reason": "insufficient_evidence",
        "document_hash": "sha256:" + "e" * 64,
        "set_aside_on": (kit.clock[0] + 8 * HOUR).date().isoformat(),  # today in Beijing
        **changes,
    }
    return kit.client.post(f"/cases/{case_id}/set-asides", json=body, headers=kit.token(user))


def test_a_set_aside_decision_is_withdrawn_from_the_next_bulletin(kit: Kit) -> None:
    before = _published(kit)  # lists C-1 and C-2
    kit.clock[0] += dt.timedelta(hours=1)
    resp = _set_aside(kit, "C-1")
    assert resp.status_code == 201, resp.text
    record = resp.json()
    assert (record["ground"], record["authority"], record["recorded_role"]) == (
        "revoked",
        "reconsideration",
        "reviewer",
    )
    kit.deps.index.upsert_case(index_row(kit.chain.cases["C-1"]))  # as the follower would
    listed = kit.client.get("/cases/C-1/set-asides", headers=kit.token("auditor1"))
    assert [r["decision_tx"] for r in listed.json()] == [tx("C-1/1")]
    # The month's bulletin, issued again: C-1 withdrawn with its reason, no longer listed.
    again = _published(kit)
    bulletin = again["bulletin"]
    assert bulletin["format"] == "evidencenet-bulletin/3"
    assert [d["case_id"] for d in bulletin["decisions"]] == ["C-2"]
    assert [(w["case_id"], w["reason"], w["set_aside_on"]) for w in bulletin["withdrawals"]] == [
        ("C-1", "insufficient_evidence", record["set_aside_on"])
    ]
    found = _check(kit, again).json()
    assert (found["complete"], found["withdrawals_listed"], found["to_withdraw"]) == (
        True,
        1,
        [],
    )
    # The bulletin from before: complete when issued, but C-1 must now come down.
    stale = _check(kit, before).json()
    assert stale["complete"]
    assert [d["case_id"] for d in stale["to_withdraw"]] == ["C-1"]
    # The re-issue without its withdrawal would be incomplete.
    bare = copy.deepcopy(again)
    bare["bulletin"]["withdrawals"] = []
    found = _check(kit, bare).json()
    assert [w["case_id"] for w in found["missing_withdrawals"]] == ["C-1"]
    assert not found["complete"]


def test_a_withdrawal_published_late_is_named(kit: Kit) -> None:
    kit.clock[0] = FRIDAY_13_NOON
    assert _set_aside(kit, "C-1").status_code == 201
    kit.deps.index.upsert_case(index_row(kit.chain.cases["C-1"]))
    kit.clock[0] += 6 * DAY  # Thursday the 19th: its three working days were Mon-Wed
    resp = kit.client.post(
        "/disclosures/check",
        params={"deadline_working_days": 60},  # the decisions themselves in time
        json=_published(kit),
        headers=kit.token("auditor1"),
    )
    found = resp.json()
    assert found["late"] == []
    assert [(w["case_id"], w["due_by"]) for w in found["late_withdrawals"]] == [
        ("C-1", "2026-11-19T00:00:00+08:00")
    ]
    assert found["withdrawal_working_days"] == 3
    assert not found["on_time"]


def test_a_withdrawal_is_late_from_the_date_of_the_document_not_of_its_record(kit: Kit) -> None:
    # The court's judgment is dated Monday the 9th; the department records it on Friday the
    # 13th and publishes on Monday the 16th: in time from the record (Wednesday the 18th),
    # late from the judgment (its three working days ended with Thursday the 12th).
    kit.clock[0] = FRIDAY_13_NOON
    resp = _set_aside(kit, "C-1", authority="court", set_aside_on="2026-11-09")
    assert resp.status_code == 201, resp.text
    assert resp.json()["set_aside_on"] == "2026-11-09"
    kit.deps.index.upsert_case(index_row(kit.chain.cases["C-1"]))
    kit.clock[0] += 3 * DAY
    found = kit.client.post(
        "/disclosures/check",
        params={"deadline_working_days": 60},
        json=_published(kit),
        headers=kit.token("auditor1"),
    ).json()
    assert [(w["case_id"], w["due_by"]) for w in found["late_withdrawals"]] == [
        ("C-1", "2026-11-13T00:00:00+08:00")
    ]
    assert not found["on_time"]


def test_setting_aside_is_for_a_publisher_of_an_existing_decision_once(kit: Kit) -> None:
    for user in ("officer1", "auditor1", "partner1", "edge-07"):
        resp = _set_aside(kit, "C-1", user)
        assert (resp.status_code, resp.json()["code"]) == (403, "ACCESS_DENIED")
    resp = _set_aside(kit, "C-1", decision_tx="f" * 64)
    assert (resp.status_code, resp.json()["code"]) == (404, "NOT_FOUND")
    assert _set_aside(kit, "C-1", "admin").status_code == 201
    resp = _set_aside(kit, "C-1")
    assert (resp.status_code, resp.json()["code"]) == (409, "CASE_CONFLICT")
    assert len(kit.chain.set_asides["C-1"]) == 1
    for user in ("partner1", "edge-07"):
        listed = kit.client.get("/cases/C-1/set-asides", headers=kit.token(user))
        assert listed.status_code == 403


@pytest.mark.parametrize(
    "changes",
    [
        {"ground": "annulled"},
        {"authority": "mayor"},
        {"reason": "the evidence was thin"},
        {"reason": "thin_evidence"},  # a code, but none of the law's reasons
        {"set_aside_on": "2026-13-01"},
        {"set_aside_on": "yesterday"},
        {"set_aside_on": None},
        {"document_hash": "md5:00"},
        {"decision_tx": "not-a-tx"},
        {"note": "extra"},
    ],
)
def test_a_malformed_setting_aside_is_refused_and_nothing_recorded(
    kit: Kit, changes: dict[str, Any]
) -> None:
    resp = _set_aside(kit, "C-1", **changes)
    assert resp.status_code == 422, resp.text
    assert resp.json()["code"] == "INVALID_REQUEST"
    assert resp.headers["content-type"] == "application/problem+json"
    assert not kit.chain.set_asides
