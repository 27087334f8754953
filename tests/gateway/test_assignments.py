"""Dispatch over HTTP (GET /assignments): an officer's handheld polls the flags of the
officer's areas with the cursor it was given; other roles are refused, a foreign cursor is a
problem, an officer without an area is told so."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from consolekit import sign_in
from gatewaykit import Kit, build
from indexkit import flag_row, put_flags
from ingestkit import NOW
from test_gateway_devices import assert_problem

from node.dispatch import Area

AREAS = (Area("renmin-rd", ("cam-renmin-*",), frozenset({"officer1"})),)


def flag(
    flag_id: str, camera: str, minute: int, status: str = "detected", **changes: Any
) -> dict[str, Any]:
    return flag_row(flag_id, NOW + dt.timedelta(minutes=minute), status, camera, **changes)


@pytest.fixture
def kit(tmp_path: Path) -> Kit:
    kit = build(tmp_path, areas=AREAS)
    rows = [flag("evt-1", "cam-renmin-1", 1), flag("evt-2", "cam-market-1", 2)]
    put_flags(kit.deps.index, *rows)
    return kit


def poll(kit: Kit, user: str = "officer1", **params: Any) -> Any:
    return kit.client.get("/assignments", params=params, headers=kit.token(user))


def test_the_handheld_gets_its_areas_flags_then_each_change(kit: Kit) -> None:
    first = poll(kit)
    assert first.status_code == 200, first.text
    doc = first.json()
    assert doc["areas"] == ["renmin-rd"]
    assert [(i["flag_id"], i["area"], i["status"]) for i in doc["items"]] == [
        ("evt-1", "renmin-rd", "detected")
    ]
    assert poll(kit, after=doc["cursor"]).json()["items"] == []
    put_flags(kit.deps.index, flag("evt-1", "cam-renmin-1", 30, "reminded"))
    later = poll(kit, after=doc["cursor"]).json()
    assert [(i["flag_id"], i["status"]) for i in later["items"]] == [("evt-1", "reminded")]
    assert later["cursor"] != doc["cursor"]


@pytest.mark.parametrize(
    ("vtype", "status", "owed", "steps"),
    [
        # Shopfront operation owes two reminders before a case (小河共治).
        ("shopfront_operation", "detected", 2, []),  # the review is the reviewer's
        ("shopfront_operation", "confirmed", 2, ["remind"]),
        ("shopfront_operation", "reminded", 1, ["rectified", "escalate"]),
        ("shopfront_operation", "escalated", 1, ["community-remind"]),
        ("shopfront_operation", "community_reminded", 0, ["rectified", "file-case"]),
        # Road occupation owes none: a case may follow at once.
        ("road_occupation", "confirmed", 0, ["remind", "file-case"]),
        ("road_occupation", "escalated", 0, ["community-remind", "file-case"]),
        ("road_occupation", "case_filed", 0, []),
    ],
)
def test_each_flag_says_the_reminders_owed_and_the_officer_s_next_steps(
    kit: Kit, vtype: str, status: str, owed: int, steps: list[str]
) -> None:
    cursor = poll(kit).json()["cursor"]
    # The flag moved (a settled one too reaches the handheld once, as a change).
    put_flags(kit.deps.index, flag("evt-1", "cam-renmin-1", 30, status, violation_type=vtype))
    [item] = poll(kit, after=cursor).json()["items"]
    assert (item["flag_id"], item["status"]) == ("evt-1", status)
    assert (item["reminders_owed"], item["next_steps"]) == (owed, steps)


def test_an_officer_without_an_area_is_told_so(tmp_path: Path) -> None:
    kit = build(tmp_path)
    doc = poll(kit).json()
    assert (doc["areas"], doc["items"], doc["cursor"]) == ([], [], None)


@pytest.mark.parametrize("after", ["yesterday", "2026-11-22T09:00:00|", "x" * 300])
def test_a_cursor_the_feed_did_not_give_is_refused(kit: Kit, after: str) -> None:
    assert_problem(poll(kit, after=after), 422, "INVALID_CURSOR")


@pytest.mark.parametrize("size", [0, 201])
def test_page_size_is_bounded(kit: Kit, size: int) -> None:
    assert_problem(poll(kit, page_size=size), 422, "INVALID_REQUEST")


@pytest.mark.parametrize("user", ["reviewer1", "auditor1", "partner1", "edge-07", "admin"])
def test_only_officers_poll(kit: Kit, user: str) -> None:
    assert_problem(poll(kit, user), 403, "ACCESS_DENIED")


def test_the_console_review_page_lists_an_officer_s_areas(kit: Kit) -> None:
    officer, _ = sign_in(kit, "officer1")
    page = officer.get("/console/review")
    assert page.status_code == 200, page.text
    assert "我的片区: renmin-rd" in page.text
    assert 'href="/console/review?status=detected#flag-evt-1"' in page.text
    assert "evt-2" not in page.text.split('id="my-areas"')[1].split("</section>")[0]
    # A reviewer answers for no area: no such section.
    reviewer, _ = sign_in(kit, "reviewer1")
    assert 'id="my-areas"' not in reviewer.get("/console/review").text
