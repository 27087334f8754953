"""The case page's transfers and grants (fake ledger at the seam): the history and the
grants shown to those who may read them, the forms only for the officer who may act, each
form through the API's call and its checks, and the current stage's due date."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from consolekit import file_case, sign_in
from gatewaykit import PARTNER_ORG, Kit, build, submit
from ingestkit import NOW

from node.index.search import EvidenceQuery
from schemas.glossary import Procedure, Stage
from schemas.ledger import PendingTransfer, TransferRecord, TransferStatus, ledger_time

MARKET = "MarketSupervisionMSP"
URBAN = "UrbanManagementMSP"
CASE = "/console/cases/case-1"


@pytest.fixture
def kit(tmp_path: Path) -> Kit:
    return build(tmp_path, clock=lambda: NOW + dt.timedelta(days=1))


def held_by_market_pending_to_us(kit: Kit) -> None:
    """case-1 as Market holds it after proposing to hand it to this department."""
    case = kit.chain.cases["case-1"]
    kit.chain.cases["case-1"] = case.model_copy(
        update={
            "holder_org": MARKET,
            "pending_transfer": PendingTransfer(seq=1, to_org=URBAN),
            "transfers": 1,
        }
    )
    kit.chain.transfers["case-1"] = [
        TransferRecord(
            case_id="case-1",
            seq=1,
            from_org=MARKET,
            to_org=URBAN,
            reason="street_matter",
            proposed_by="CN=ms-officer",
            proposed_at=ledger_time(NOW),
            proposed_tx="ab" * 32,
        )
    ]


# --- transfers --------------------------------------------------------------------------------


def test_the_holder_proposes_a_transfer_and_the_page_shows_it_pending(kit: Kit) -> None:
    file_case(kit)
    officer, csrf = sign_in(kit, "officer1")
    page = officer.get(CASE).text
    assert "无移送记录" in page
    assert 'id="propose-transfer"' in page
    assert f'<option value="{URBAN}"' not in page  # not to itself
    resp = officer.post(
        f"{CASE}/transfers", data={"csrf": csrf, "to_org": MARKET, "reason": "licence_matter"}
    )
    assert resp.status_code == 200, resp.text
    [record] = kit.chain.transfers["case-1"]
    assert (record.to_org, record.reason, record.proposed_by) == (
        MARKET,
        "licence_matter",
        "CN=officer1",
    )
    assert resp.url.params["tx"] == record.proposed_tx
    row = re.search(r'id="transfers">.*?</table>', resp.text, re.S)
    assert row is not None
    assert f"<td>{URBAN}</td><td>{MARKET}</td><td>licence_matter</td><td>待接收</td>" in row.group(
        0
    )
    # One pending transfer at a time: the form is gone, and the ledger would refuse anyway.
    assert 'id="propose-transfer"' not in resp.text
    again = officer.post(
        f"{CASE}/transfers", data={"csrf": csrf, "to_org": PARTNER_ORG, "reason": "other"}
    )
    assert again.status_code == 409
    assert "TRANSFER_CONFLICT" in again.text


def test_the_receiver_accepts_and_becomes_the_holder(kit: Kit) -> None:
    file_case(kit)
    held_by_market_pending_to_us(kit)
    officer, csrf = sign_in(kit, "officer1")
    page = officer.get(CASE).text
    assert 'id="answer-transfer"' in page
    assert 'id="propose-transfer"' not in page  # not the holder
    assert 'id="grant-access"' not in page
    resp = officer.post(f"{CASE}/transfers/answer", data={"csrf": csrf, "accept": "true"})
    assert resp.status_code == 200, resp.text
    assert kit.chain.cases["case-1"].holder_org == URBAN
    [record] = kit.chain.transfers["case-1"]
    assert (record.status, record.answered_by) == (TransferStatus.ACCEPTED, "CN=officer1")
    assert "已接收" in resp.text
    assert 'id="answer-transfer"' not in resp.text
    assert 'id="propose-transfer"' in resp.text  # the holder now


def test_the_receiver_may_reject_with_a_reason(kit: Kit) -> None:
    file_case(kit)
    held_by_market_pending_to_us(kit)
    officer, csrf = sign_in(kit, "officer1")
    data = {"csrf": csrf, "accept": "false", "reason": "not_our_jurisdiction"}
    resp = officer.post(f"{CASE}/transfers/answer", data=data)
    assert resp.status_code == 200, resp.text
    assert kit.chain.cases["case-1"].holder_org == MARKET
    [record] = kit.chain.transfers["case-1"]
    assert (record.status, record.answer_reason) == (
        TransferStatus.REJECTED,
        "not_our_jurisdiction",
    )
    assert "已拒绝" in resp.text


@pytest.mark.parametrize(
    "data",
    [
        {"to_org": MARKET, "reason": "Not A Code"},
        {"to_org": "../etc", "reason": "licence_matter"},
        {"to_org": MARKET},
        {"to_org": MARKET, "reason": "x" * 65},
    ],
)
def test_a_bad_transfer_form_is_refused_and_records_nothing(kit: Kit, data: dict[str, str]) -> None:
    file_case(kit)
    officer, csrf = sign_in(kit, "officer1")
    resp = officer.post(f"{CASE}/transfers", data={"csrf": csrf, **data})
    assert resp.status_code == 422
    assert "INVALID_REQUEST" in resp.text
    assert resp.headers["content-type"].startswith("text/html")
    assert kit.chain.transfers == {}


# --- grants -----------------------------------------------------------------------------------


def test_a_grant_lets_the_partner_view_until_it_is_revoked(kit: Kit) -> None:
    item = submit(kit)["items"][0]["evidence_id"]
    file_case(kit)
    kit.chain.attached["case-1"] = [item]
    officer, csrf = sign_in(kit, "officer1")
    assert "无授权" in officer.get(CASE).text
    form = {
        "csrf": csrf,
        "grantee_org": PARTNER_ORG,
        "purpose": "joint_enforcement",
        "expires": "2026-12-31",
        "kinds": ["view", "download"],
    }
    resp = officer.post(f"{CASE}/grants", data=form)
    assert resp.status_code == 200, resp.text
    grant = kit.chain.grants[("case-1", PARTNER_ORG)]
    assert grant.purpose == "joint_enforcement"
    assert [k.value for k in grant.kinds] == ["view", "download"]
    # The end of the day in Beijing.
    assert grant.expires_at == ledger_time(dt.datetime(2026, 12, 31, 15, 59, tzinfo=dt.UTC))
    table = re.search(r'id="grants">.*?</table>', resp.text, re.S)
    assert table is not None
    assert f"<td>{PARTNER_ORG}</td><td>joint_enforcement</td><td>查看, 下载</td>" in table.group(0)
    partner, _ = sign_in(kit, "partner1")
    assert partner.get(f"/console/evidence/{item}/content").status_code == 200
    revoke = officer.post(f"{CASE}/grants/{PARTNER_ORG}/revoke", data={"csrf": csrf})
    assert revoke.status_code == 200, revoke.text
    assert kit.chain.grants[("case-1", PARTNER_ORG)].revoked_at is not None
    assert "已撤销" in revoke.text
    assert partner.get(f"/console/evidence/{item}/content").status_code == 403


@pytest.mark.parametrize(
    "change",
    [
        {"purpose": "Joint Enforcement"},
        {"expires": "next week"},
        {"expires": ""},
        {"kinds": ["read"]},
        {"kinds": []},
        {"grantee_org": "<script>"},
    ],
)
def test_a_bad_grant_form_is_refused_and_records_nothing(
    kit: Kit, change: dict[str, object]
) -> None:
    file_case(kit)
    officer, csrf = sign_in(kit, "officer1")
    form: dict[str, object] = {
        "csrf": csrf,
        "grantee_org": PARTNER_ORG,
        "purpose": "joint_enforcement",
        "expires": "2026-12-31",
        "kinds": ["view"],
        **change,
    }
    resp = officer.post(f"{CASE}/grants", data=form)
    assert resp.status_code == 422, resp.text
    assert "INVALID_REQUEST" in resp.text
    assert "<script>" not in resp.text
    assert kit.chain.grants == {}


# --- who sees what ----------------------------------------------------------------------------


@pytest.mark.parametrize("user", ["reviewer1", "auditor1"])
def test_readers_see_the_history_and_grants_but_no_forms(kit: Kit, user: str) -> None:
    file_case(kit)
    client, csrf = sign_in(kit, user)
    page = client.get(CASE).text
    assert "案件移送" in page
    assert "对其他部门的授权" in page
    for form in ("propose-transfer", "answer-transfer", "grant-access"):
        assert f'id="{form}"' not in page
    refused = client.post(
        f"{CASE}/transfers", data={"csrf": csrf, "to_org": MARKET, "reason": "licence_matter"}
    )
    assert refused.status_code == 403
    assert kit.chain.transfers == {}


def test_a_partner_sees_neither_transfers_nor_grants(kit: Kit) -> None:
    file_case(kit)
    partner, _ = sign_in(kit, "partner1")
    page = partner.get(CASE).text
    assert "案件移送" not in page
    assert "对其他部门的授权" not in page


def test_a_form_without_its_csrf_token_does_nothing(kit: Kit) -> None:
    file_case(kit)
    officer, _ = sign_in(kit, "officer1")
    resp = officer.post(f"{CASE}/transfers", data={"to_org": MARKET, "reason": "licence_matter"})
    assert resp.status_code == 403
    assert "CSRF_REJECTED" in resp.text
    assert kit.chain.transfers == {}


# --- the due date -----------------------------------------------------------------------------


def test_the_current_stage_shows_its_due_date_and_when_it_is_overdue(tmp_path: Path) -> None:
    now = [NOW + dt.timedelta(days=3)]
    kit = build(tmp_path, clock=lambda: now[0])
    file_case(kit)  # filed at NOW, in the source stage: 15 days
    officer, _ = sign_in(kit, "officer1")
    due = re.search(r'id="stage-due">([^<]+)</span>', officer.get(CASE).text)
    assert due is not None
    assert due.group(1) == "时限至 2026-12-07"  # 09:00 UTC + 15 days is 17:00 in Beijing
    now[0] = NOW + dt.timedelta(days=16)
    late = re.search(r'id="stage-due">([^<]+)</span>', officer.get(CASE).text)
    assert late is not None
    assert late.group(1) == "时限至 2026-12-07 · 已超期"
    kit.chain.cases["case-1"] = kit.chain.cases["case-1"].model_copy(
        update={"stage": Stage.CLOSURE}
    )
    assert 'id="stage-due"' not in officer.get(CASE).text  # a closed case has no limit


# --- the evidence -----------------------------------------------------------------------------


def test_the_case_lists_the_ledgers_items_with_what_the_index_knows(kit: Kit) -> None:
    items = [i["evidence_id"] for i in submit(kit)["items"]]
    file_case(kit)
    officer, _ = sign_in(kit, "officer1")
    assert "未关联证据" in officer.get(CASE).text
    resp = kit.client.post(
        "/cases/case-1/evidence", json={"evidence_ids": items}, headers=kit.token("officer1")
    )
    assert resp.status_code == 200, resp.text
    # The index has not followed the attachment (no follower here); the ledger has it.
    assert kit.deps.index.search(EvidenceQuery(case_id="case-1")).evidence_ids == []
    kit.chain.attached["case-1"].append("EV-another-department")
    page = officer.get(CASE).text
    gallery = page[
        page.index('id="case-evidence"') : page.index("</ul>", page.index("case-evidence"))
    ]
    for item in items:
        assert f'data-src="/console/evidence/{item}/content"' in gallery
    assert gallery.count("占道经营 · cam-jiangbei-12 · 2026-11-22") == 2
    assert 'data-src="/console/evidence/EV-another-department/content"' in gallery
    # Listing is not viewing: nothing was opened, so nothing was recorded.
    assert kit.chain.accesses == []


# --- the stage form ---------------------------------------------------------------------------


def options(page: str) -> list[str]:
    form = re.search(r'<select id="to" name="to">(.*?)</select>', page, re.S)
    return [] if form is None else re.findall(r'<option value="([a-z_]+)"', form.group(1))


def test_the_stage_form_offers_only_what_the_law_allows_this_role(kit: Kit) -> None:
    file_case(kit)
    officer, csrf = sign_in(kit, "officer1")
    reviewer, _ = sign_in(kit, "reviewer1")
    assert options(officer.get(CASE).text) == ["preliminary_check"]
    assert options(reviewer.get(CASE).text) == ["closed_without_penalty"]  # 首违免罚 is reviewed
    for to in ("preliminary_check", "filing_approval"):
        data = {"csrf": csrf, "to": to}
        files = {"document": ("form.pdf", b"%PDF-1.7 form", "application/pdf")}
        assert officer.post(f"{CASE}/stage", data=data, files=files).status_code == 200
    # Leaving filing approval is the reviewer's approval: the officer has no stage form.
    assert 'id="to"' not in officer.get(CASE).text
    assert options(reviewer.get(CASE).text) == ["investigation", "closed_without_penalty"]


def test_a_simple_procedure_case_shows_its_own_four_stages(kit: Kit) -> None:
    file_case(kit)
    kit.chain.cases["case-1"] = kit.chain.cases["case-1"].model_copy(
        update={"procedure": Procedure.SIMPLE}
    )
    officer, _ = sign_in(kit, "officer1")
    page = officer.get(CASE).text
    timeline = page[page.index('<ol class="timeline">') : page.index("</ol>")]
    assert re.findall(r"<strong>([^<]+)</strong>", timeline) == ["案件来源", "决定", "执行", "结案"]
    assert options(page) == ["decision", "closed_without_penalty"]
