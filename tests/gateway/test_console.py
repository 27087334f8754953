"""The web console over the gateway: sign-in with the API's tokens, the role rules, CSRF on
every form, the two languages, escaping, and each page for its role (fake ledger at the seam,
a real ingest service and index underneath)."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from consolekit import CSRF, browser, file_case, sign_in
from gatewaykit import SUBJECT_SECRET, Kit, build, submit
from ingestkit import CLIP, KEYFRAME

from node.crypto.subjects import SubjectKeyer
from node.package import ClaimsArchive
from schemas.glossary import AccessKind, Stage, ViolationStatus
from schemas.hashes import Digest
from schemas.ledger import SubjectKind


@pytest.fixture
def kit(tmp_path: Path) -> Kit:
    return build(tmp_path)


# --- signing in and out -----------------------------------------------------------------------


def test_sign_in_sets_an_httponly_strict_cookie_and_sign_out_clears_it(kit: Kit) -> None:
    client = browser(kit)
    assert client.get("/console/review", follow_redirects=False).headers["location"] == (
        "/console/login"
    )
    token = kit.deps.tokens.issue_token("reviewer1", dt.timedelta(hours=1))
    resp = client.post("/console/login", data={"token": token}, follow_redirects=False)
    assert resp.status_code == 303
    cookie = resp.headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert "samesite=strict" in cookie
    assert "path=/console" in cookie
    page = client.get("/console")
    assert page.status_code == 200
    assert page.url.path == "/console/review"
    assert "reviewer1" in page.text
    csrf = CSRF.search(page.text)
    assert csrf is not None
    out = client.post("/console/logout", data={"csrf": csrf.group(1)}, follow_redirects=False)
    assert out.status_code == 303
    assert out.headers["location"] == "/console/login"
    assert client.get("/console/review", follow_redirects=False).status_code == 303


def test_a_bad_or_expired_token_does_not_sign_in(kit: Kit) -> None:
    client = browser(kit)
    resp = client.post("/console/login", data={"token": "not-a-token"}, follow_redirects=False)
    assert resp.status_code == 401
    assert "令牌无效或已过期" in resp.text
    assert "set-cookie" not in resp.headers
    token = kit.deps.tokens.issue_token("reviewer1", dt.timedelta(minutes=5))
    kit.clock[0] += dt.timedelta(minutes=6)
    assert client.post("/console/login", data={"token": token}).status_code == 401
    # A forged cookie is no session either.
    client.cookies.set("evnet_console", "forged", path="/console")
    assert client.get("/console/review", follow_redirects=False).status_code == 303


def test_a_device_token_cannot_sign_in(kit: Kit) -> None:
    token = kit.deps.tokens.issue_token("edge-07", dt.timedelta(hours=1))
    assert browser(kit).post("/console/login", data={"token": token}).status_code == 401


# --- role rules and CSRF ----------------------------------------------------------------------


def test_pages_answer_403_for_roles_the_api_would_refuse(kit: Kit) -> None:
    reviewer, _ = sign_in(kit, "reviewer1")
    partner, _ = sign_in(kit, "partner1")
    resp = reviewer.get("/console/audit")
    assert resp.status_code == 403
    assert "ACCESS_DENIED" in resp.text
    assert resp.headers["content-type"].startswith("text/html")
    assert partner.get("/console/review").status_code == 403
    assert partner.get("/console/overview").status_code == 403


def test_a_form_without_the_csrf_token_is_refused(kit: Kit) -> None:
    flag = submit(kit)["flag_id"]
    reviewer, csrf = sign_in(kit, "reviewer1")
    resp = reviewer.post(f"/console/review/{flag}/confirm", data={})
    assert resp.status_code == 403
    assert "CSRF_REJECTED" in resp.text
    resp = reviewer.post(f"/console/review/{flag}/confirm", data={"csrf": "0" * 64})
    assert resp.status_code == 403
    # Another user's token is no good here either.
    _, other = sign_in(kit, "officer1")
    assert reviewer.post(f"/console/review/{flag}/confirm", data={"csrf": other}).status_code == 403
    assert kit.chain.flags[flag].status is ViolationStatus.DETECTED
    assert csrf != other


def test_an_officer_cannot_confirm_from_the_console(kit: Kit) -> None:
    flag = submit(kit)["flag_id"]
    officer, csrf = sign_in(kit, "officer1")
    assert officer.post(f"/console/review/{flag}/confirm", data={"csrf": csrf}).status_code == 403
    assert kit.chain.flags[flag].status is ViolationStatus.DETECTED


# --- language and escaping --------------------------------------------------------------------


def test_chinese_by_default_english_on_request_and_remembered(kit: Kit) -> None:
    client, _ = sign_in(kit, "reviewer1")
    assert "审核队列" in client.get("/console/review").text
    english = client.get("/console/review?lang=en")
    assert "Review queue" in english.text
    assert "审核队列" not in english.text
    assert 'lang="en"' in english.text
    assert "Review queue" in client.get("/console/review").text  # kept in a cookie
    assert "审核队列" in client.get("/console/review?lang=zh").text
    assert "审核队列" in client.get("/console/review").text


def test_user_input_is_escaped(kit: Kit) -> None:
    auditor, _ = sign_in(kit, "auditor1")
    script = "<script>alert(1)</script>"
    page = auditor.get("/console/audit", params={"accessor": script, "org": '"><b>x'})
    assert page.status_code == 200
    assert script not in page.text
    assert '"><b>x' not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    # An id the ledger refuses comes back as an error page, also escaped.
    missing = auditor.get("/console/cases/<img src=x onerror=alert(1)>")
    assert missing.status_code in (404, 422)
    assert "<img src=x" not in missing.text


# --- the pages --------------------------------------------------------------------------------


def test_the_review_queue_shows_each_flag_and_confirm_opens_its_case(kit: Kit) -> None:
    done = submit(kit)
    flag = done["flag_id"]
    reviewer, csrf = sign_in(kit, "reviewer1")
    page = reviewer.get("/console/review")
    assert page.status_code == 200
    for shown in (flag, "cam-jiangbei-12", "占道经营", "0.91", 'data-key="c"', "false_positive"):
        assert shown in page.text
    for item in done["items"]:
        assert f"/console/evidence/{item['evidence_id']}/content" in page.text
    assert "confirmed_on_footage" not in page.text  # not a reason to reject
    resp = reviewer.post(f"/console/review/{flag}/confirm", data={"csrf": csrf})
    assert resp.status_code == 200
    assert resp.url.path == "/console/review"
    assert kit.chain.flags[flag].status is ViolationStatus.CASE_FILED
    assert f"CASE-{flag}" in resp.text
    assert "队列为空" in resp.text


def test_confirm_names_the_party_and_repeat_violations_share_its_key(kit: Kit) -> None:
    first = submit(kit)["flag_id"]
    second = submit(kit, event_id="evt-20261122-0002")["flag_id"]
    reviewer, csrf = sign_in(kit, "reviewer1")
    page = reviewer.get("/console/review").text
    assert 'name="subject"' in page
    assert 'name="subject_kind"' in page
    for flag, typed in ((first, "粤B 12345"), (second, "粤b-12345")):
        resp = reviewer.post(
            f"/console/review/{flag}/confirm",
            data={"csrf": csrf, "subject": typed, "subject_kind": "organization"},
        )
        assert resp.status_code == 200, resp.text
    one, two = kit.chain.openings[f"CASE-{first}"], kit.chain.openings[f"CASE-{second}"]
    expected = SubjectKeyer(SUBJECT_SECRET).key_of(SubjectKind.ORGANIZATION, "粤B12345")
    assert one.subject_key == two.subject_key == expected
    assert one.subject_kind is SubjectKind.ORGANIZATION
    # Without a party the flag is its own subject: no two such cases share a key.
    third = submit(kit, event_id="evt-20261122-0003")["flag_id"]
    fourth = submit(kit, event_id="evt-20261122-0004")["flag_id"]
    for flag in (third, fourth):
        reviewer.post(f"/console/review/{flag}/confirm", data={"csrf": csrf})
    assert (
        kit.chain.openings[f"CASE-{third}"].subject_key
        != kit.chain.openings[f"CASE-{fourth}"].subject_key
    )


def test_each_flag_shows_its_zone_rule_and_detections_from_the_signed_claims(
    tmp_path: Path,
) -> None:
    kit = build(tmp_path, claims=ClaimsArchive(tmp_path / "claims"))
    submit(kit)
    reviewer, _ = sign_in(kit, "reviewer1")
    page = reviewer.get("/console/review").text
    assert '<span class="zone">区域: pavement_east</span>' in page
    assert '<span class="rule">规则: no_vending</span>' in page
    assert re.search(r'<span class="detections">识别: [a-z_]+ 0\.\d\d', page)
    # A node that kept no claims shows the flag without them, not an error.
    bare = build(tmp_path / "bare")
    submit(bare)
    plain, _ = sign_in(bare, "reviewer1")
    shown = plain.get("/console/review")
    assert shown.status_code == 200
    assert 'class="zone"' not in shown.text


def test_reject_takes_a_reason_code_and_remind_confirms_with_a_reminder(kit: Kit) -> None:
    one = submit(kit)["flag_id"]
    two = submit(kit, event_id="evt-20261122-0002")["flag_id"]
    reviewer, csrf = sign_in(kit, "reviewer1")
    bad = reviewer.post(f"/console/review/{one}/reject", data={"csrf": csrf, "reason": "meh"})
    assert bad.status_code == 422
    ok = reviewer.post(f"/console/review/{one}/reject", data={"csrf": csrf, "reason": "duplicate"})
    assert ok.status_code == 200
    assert kit.chain.flags[one].status is ViolationStatus.REJECTED
    assert kit.chain.flag_steps[one][-1].reason == "duplicate"
    assert reviewer.post(f"/console/review/{two}/remind", data={"csrf": csrf}).status_code == 200
    assert kit.chain.flags[two].status is ViolationStatus.REMINDED
    # A second decision on the same flag is the ledger's refusal, shown as a page.
    again = reviewer.post(f"/console/review/{one}/confirm", data={"csrf": csrf})
    assert again.status_code == 409
    assert "INVALID_VIOLATION_TRANSITION" in again.text


def test_a_shopfront_flag_owes_two_reminders_before_the_console_opens_its_case(
    kit: Kit,
) -> None:
    """The schedule's co-governance rule (小河共治): no case button until the reminder and
    the community's reminder were given; the ledger refuses a case posted anyway."""
    flag = submit(kit, event_id="evt-20261122-0009", violation_type="shopfront_operation")[
        "flag_id"
    ]
    reviewer, r_csrf = sign_in(kit, "reviewer1")
    page = reviewer.get("/console/review")
    assert "立案前尚需劝导 2 次" in page.text
    assert f"/console/review/{flag}/confirm" not in page.text
    assert f"/console/review/{flag}/remind" in page.text
    refused = reviewer.post(f"/console/review/{flag}/confirm", data={"csrf": r_csrf})
    assert refused.status_code == 409
    assert "REMINDERS_REQUIRED" in refused.text
    assert kit.chain.flags[flag].status is ViolationStatus.DETECTED  # not even confirmed
    assert reviewer.post(f"/console/review/{flag}/remind", data={"csrf": r_csrf}).is_success

    officer, csrf = sign_in(kit, "officer1")
    reminded = officer.get("/console/review", params={"status": "reminded"})
    assert f"/console/review/{flag}/escalate" in reminded.text
    assert f"/console/review/{flag}/file-case" not in reminded.text
    assert officer.post(f"/console/review/{flag}/escalate", data={"csrf": csrf}).is_success
    assert kit.chain.flag_steps[flag][-1].reason == "not_rectified"
    escalated = officer.get("/console/review", params={"status": "escalated"})
    assert "立案前尚需劝导 1 次" in escalated.text
    assert f"/console/review/{flag}/community-remind" in escalated.text
    assert f"/console/review/{flag}/file-case" not in escalated.text
    early = officer.post(f"/console/review/{flag}/file-case", data={"csrf": csrf})
    assert early.status_code == 409
    assert "REMINDERS_REQUIRED" in early.text
    # The community's reminder is an officer's step, not a reviewer's.
    denied = reviewer.post(f"/console/review/{flag}/community-remind", data={"csrf": r_csrf})
    assert denied.status_code == 403
    assert officer.post(f"/console/review/{flag}/community-remind", data={"csrf": csrf}).is_success

    ready = officer.get("/console/review", params={"status": "community_reminded"})
    assert "立案前尚需劝导" not in ready.text
    assert f"/console/review/{flag}/file-case" in ready.text
    filed = officer.post(
        f"/console/review/{flag}/file-case",
        data={"csrf": csrf, "subject": "shop 12, Jiangbei road", "subject_kind": "organization"},
    )
    assert filed.status_code == 200
    assert f"CASE-{flag}" in filed.text
    assert kit.chain.flags[flag].status is ViolationStatus.CASE_FILED
    assert [e.to_status for e in kit.chain.flag_steps[flag]][2:] == [
        ViolationStatus.REMINDED,
        ViolationStatus.ESCALATED,
        ViolationStatus.COMMUNITY_REMINDED,
        ViolationStatus.CASE_FILED,
    ]
    opening = kit.chain.openings[f"CASE-{flag}"]
    assert opening.subject_kind is SubjectKind.ORGANIZATION


def test_viewing_evidence_goes_through_an_access_record_the_auditor_then_finds(kit: Kit) -> None:
    item = submit(kit)["items"][0]["evidence_id"]
    reviewer, _ = sign_in(kit, "reviewer1")
    resp = reviewer.get(f"/console/evidence/{item}/content")
    assert resp.status_code == 200
    assert resp.content in (KEYFRAME, CLIP)
    tx = resp.headers["X-Access-Record"]
    [record] = kit.chain.accesses
    assert record.kind is AccessKind.VIEW
    assert record.accessor == "CN=reviewer1"
    auditor, _ = sign_in(kit, "auditor1")
    page = auditor.get("/console/audit", params={"by": "evidence", "target_id": item})
    assert page.status_code == 200
    assert tx in page.text
    assert "console_view" in page.text
    # An auditor reads trails, not content: the API's rule.
    assert auditor.get(f"/console/evidence/{item}/content").status_code == 403


def test_the_case_page_shows_the_timeline_and_only_the_allowed_actions(kit: Kit) -> None:
    file_case(kit)
    officer, csrf = sign_in(kit, "officer1")
    page = officer.get("/console/cases/case-1")
    assert page.status_code == 200
    for stage in (
        "案件来源",
        "初查核实",
        "立案审批",
        "调查取证",
        "事先告知",
        "决定",
        "执行",
        "结案",
    ):
        assert stage in page.text
    assert 'action="/console/cases/case-1/stage"' in page.text
    moved = officer.post(
        "/console/cases/case-1/stage", data={"csrf": csrf, "to": "preliminary_check"}
    )
    assert moved.status_code == 200
    assert kit.chain.cases["case-1"].stage is Stage.PRELIMINARY_CHECK
    assert "CN=officer1" in moved.text  # who acted, in the timeline
    auditor, auditor_csrf = sign_in(kit, "auditor1")
    seen = auditor.get("/console/cases/case-1")
    assert seen.status_code == 200
    assert "/stage" not in seen.text
    refused = auditor.post(
        "/console/cases/case-1/stage", data={"csrf": auditor_csrf, "to": "filing_approval"}
    )
    assert refused.status_code == 403
    assert kit.chain.cases["case-1"].stage is Stage.PRELIMINARY_CHECK
    assert officer.get("/console/cases?case_id=case-1").url.path == "/console/cases/case-1"


def test_a_step_carries_its_document_hash_and_details(kit: Kit) -> None:
    file_case(kit)
    officer, csrf = sign_in(kit, "officer1")
    officer.post("/console/cases/case-1/stage", data={"csrf": csrf, "to": "preliminary_check"})
    form = {"csrf": csrf, "to": "filing_approval", "statement_right": "hearing",
            "statement_deadline": "2026-12-01", "party_waived": "1"}  # fmt: skip
    moved = officer.post(
        "/console/cases/case-1/stage",
        data=form,
        files={"document": ("filing-form.pdf", b"%PDF-1.7 filing form", "application/pdf")},
    )
    assert moved.status_code == 200, moved.text
    details = kit.chain.history["case-1"][-1].details
    assert details["document_hash"] == str(Digest.of(b"%PDF-1.7 filing form"))
    assert details["statement_right"] == "hearing"
    deadline = dt.datetime.fromisoformat(details["statement_deadline"])
    assert deadline == dt.datetime(2026, 12, 1, 15, 59, tzinfo=dt.UTC)  # 23:59 in Beijing
    assert details["party_waived"] is True
    bad = officer.post(
        "/console/cases/case-1/stage",
        data={"csrf": csrf, "to": "investigation", "statement_deadline": "not a date"},
    )
    assert bad.status_code == 422
    assert kit.chain.cases["case-1"].stage is Stage.FILING_APPROVAL


def test_the_overview_counts_and_maps_the_index(kit: Kit) -> None:
    submit(kit)
    submit(kit, event_id="evt-2", camera_id="cam-2", place={"lat": 29.90, "lon": 121.57})
    officer, _ = sign_in(kit, "officer1")
    page = officer.get("/console/overview")
    assert page.status_code == 200
    assert "4 证据条数" in page.text
    assert re.search(r"占道经营</td><td>4<", page.text)
    assert "cam-2</td><td>2<" in page.text
    assert "2026-11-22</td><td>4<" in page.text
    assert page.text.count("<circle") == 4


@pytest.mark.parametrize(
    ("user", "path"),
    [
        ("reviewer1", "/console/review"),
        ("officer1", "/console/review?status=confirmed"),
        ("auditor1", "/console/audit"),
        ("auditor1", "/console/overview"),
        ("partner1", "/console/cases"),
    ],
)
def test_each_page_renders_for_its_role(kit: Kit, user: str, path: str) -> None:
    client, _ = sign_in(kit, user)
    resp = client.get(path)
    assert resp.status_code == 200
    assert "<script>" not in resp.text  # scripts only from the console's own file
    assert resp.headers["content-security-policy"].startswith("default-src 'self'")


def test_the_assets_are_served_locally_and_nothing_else_is(kit: Kit) -> None:
    assert kit.client.get("/console/static/console.css").status_code == 200
    js = kit.client.get("/console/static/console.js")
    assert js.status_code == 200
    assert "X-Access-Record" in js.text
    assert kit.client.get("/console/static/..%2Fpages.py").status_code == 404
    assert kit.client.get("/console/static/pages.py").status_code == 404


def test_the_package_button_is_refused_where_it_must_be(kit: Kit) -> None:
    file_case(kit)
    officer, csrf = sign_in(kit, "officer1")
    assert 'action="/console/cases/case-1/package"' in officer.get("/console/cases/case-1").text
    # Without its CSRF token the form does nothing; this kit's gateway builds no packages.
    assert officer.post("/console/cases/case-1/package", data={}).status_code == 403
    unconfigured = officer.post("/console/cases/case-1/package", data={"csrf": csrf})
    assert unconfigured.status_code == 501
    assert "PACKAGES_NOT_CONFIGURED" in unconfigured.text
    # An auditor has no button and no route; nobody downloads another user's package.
    auditor, auditor_csrf = sign_in(kit, "auditor1")
    assert "/package" not in auditor.get("/console/cases/case-1").text
    refused = auditor.post("/console/cases/case-1/package", data={"csrf": auditor_csrf})
    assert refused.status_code == 403
    folder = kit.deps.spool_dir / "console-packages"
    folder.mkdir(parents=True)
    (folder / "reviewer1.abc.tar").write_bytes(b"not yours")
    assert officer.get("/console/packages/reviewer1.abc.tar").status_code == 404
    assert officer.get("/console/packages/..%2Fsecret.tar").status_code in (404, 422)


def test_the_step_s_document_goes_into_the_case_file(kit: Kit) -> None:
    file_case(kit)
    officer, csrf = sign_in(kit, "officer1")
    officer.post("/console/cases/case-1/stage", data={"csrf": csrf, "to": "preliminary_check"})
    # A file the case file cannot take stops before the step: nothing moves.
    refused = officer.post(
        "/console/cases/case-1/stage",
        data={"csrf": csrf, "to": "filing_approval"},
        files={"document": ("form.txt", b"typed notes", "text/plain")},
    )
    assert refused.status_code == 415, refused.text
    assert kit.chain.cases["case-1"].stage is Stage.PRELIMINARY_CHECK
    form = b"%PDF-1.7 the filing form, signed"
    moved = officer.post(
        "/console/cases/case-1/stage",
        data={"csrf": csrf, "to": "filing_approval"},
        files={"document": ("form.pdf", form, "application/pdf")},
    )
    assert moved.status_code == 200, moved.text
    assert "unfiled" not in str(moved.url)
    (filed,) = [i for i in kit.chain.attached["case-1"] if kit.chain.registered_by.get(i)]
    assert kit.chain.registered_by[filed] == "officer1"
    row = kit.deps.index.evidence(filed)
    assert row is not None
    assert row.plaintext_hash == str(Digest.of(form))
    assert f'href="/console/evidence/{filed}/content"' in moved.text
    assert 'id="case-file"' in moved.text
    assert kit.spooled() == []


def test_a_step_taken_without_its_file_can_file_it_from_the_case_page(kit: Kit) -> None:
    file_case(kit)
    approval = b"\x89PNG\r\n\x1a\n the reviewer's approval, scanned"
    for user, body in (
        ("officer1", {"to": "preliminary_check"}),
        ("officer1", {"to": "filing_approval", "document_hash": str(Digest.of(approval))}),
    ):
        resp = kit.client.post("/cases/case-1/stage", json=body, headers=kit.token(user))
        assert resp.status_code == 200, resp.text
    reviewer, csrf = sign_in(kit, "reviewer1")
    page = reviewer.get("/console/cases/case-1")
    action = 'action="/console/cases/case-1/documents/2"'
    assert action in page.text
    wrong = reviewer.post(
        "/console/cases/case-1/documents/2",
        data={"csrf": csrf},
        files={"document": ("scan.png", approval + b"!", "image/png")},
    )
    assert wrong.status_code == 409, wrong.text
    assert kit.chain.attached["case-1"] == []
    done = reviewer.post(
        "/console/cases/case-1/documents/2",
        data={"csrf": csrf},
        files={"document": ("scan.png", approval, "image/png")},
    )
    assert done.status_code == 200, done.text
    (filed,) = kit.chain.attached["case-1"]
    assert kit.chain.registered_by[filed] == "reviewer1"
    assert action not in done.text
    # Without the session's CSRF token, nothing is filed.
    forged = reviewer.post(
        "/console/cases/case-1/documents/2",
        data={"csrf": "forged"},
        files={"document": ("scan.png", approval, "image/png")},
    )
    assert forged.status_code == 403, forged.text
