"""The web console in a real headless browser (Debian's chromium driven by Playwright)
against a gateway served over HTTP by uvicorn on the real network: a reviewer signs in, sees
the flag, its keyframe loads through an access record, and confirming with the keyboard opens
a case on the ledger; an officer advances the case and builds its evidence package with one
click (the page shows the offline verifier's report; the download verifies here too); an
auditor finds the reviewer's view in the trail. A missing chromium or Playwright fails the
test with what to install."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import shutil
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from netsupport import Upload, ledger_as, signed_upload

from gateway.app import create_app
from gateway.wiring import department_gateway, index_follower
from node.consortium.identities import org_crypto
from node.consortium.network import Network
from node.department import NodePaths, open_parts
from node.dispatch import Area
from node.follower import follow
from node.package import verify_package
from node.settings import PROJECT_ROOT
from node.walkthrough import filing_form
from schemas.glossary import Outcome

pytestmark = pytest.mark.network

URBAN, POLICE = "UrbanManagement", "PublicSecurity"
# Screenshots of the main pages at laptop and tablet sizes (linked from the README).
SHOTS = Path(os.environ.get("EVNET_SCREENSHOTS", str(PROJECT_ROOT / "docs" / "screenshots")))
SIZES = {"laptop": (1280, 800), "tablet": (820, 1180)}
HOUR = dt.timedelta(hours=1)
# The officer's area (片区) covers this scenario's camera: its page hears of the flag's steps.
AREAS = (Area("console-yard", ("cam-console-*",), frozenset({"officer1"})),)
# A real JPEG (1x1 px) so the browser draws it; the rest of the bytes are a comment segment.
KEYFRAME = bytes.fromhex(
    "ffd8ffe000104a46494600010100000100010000ffdb004300080606070605080707070909080a0c140d0c0b"
    "0b0c1912130f141d1a1f1e1d1a1c1c20242e2720222c231c1c2837292c30313434341f27393d38323c2e3334"
    "32ffc0000b080001000101011100ffc4001f0000010501010101010100000000000000000102030405060708"
    "090a0bffc400b5100002010303020403050504040000017d01020300041105122131410613516107227114"
    "328191a1082342b1c11552d1f02433627282090a161718191a25262728292a3435363738393a434445464748"
    "494a535455565758595a636465666768696a737475767778797a838485868788898a92939495969798999a"
    "a2a3a4a5a6a7a8a9aab2b3b4b5b6b7b8b9bac2c3c4c5c6c7c8c9cad2d3d4d5d6d7d8d9dae1e2e3e4e5e6e7e8"
    "e9eaf1f2f3f4f5f6f7f8f9faffda0008010100003f00fbd3ffd9"
)


@dataclass
class Served:
    url: str
    tokens: dict[str, str]  # user -> bearer token


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@asynccontextmanager
async def _serving(
    layout: Any, dep: str, work: Path, users: tuple[str, ...]
) -> AsyncIterator[Served]:
    """``dep``'s gateway on a real port (the browser needs one), in this loop."""
    parts = open_parts(NodePaths.of(layout.state_dir, dep))
    deps = department_gateway(
        layout, dep, parts, registrar_user="device1", work_dir=work / dep, areas=AREAS
    )
    # As `evnet gateway serve` does: the index follows the ledger (from the next block here:
    # the session network's earlier tests are not this scenario's), and tells the officers'
    # open streams of each flag it writes.
    follower = index_follower(
        layout, dep, parts, work / dep / "follower.json", flag_changes=deps.flag_changes
    )
    following = asyncio.create_task(follow(follower, start_block=None, retry_seconds=1))
    tokens = {user: deps.tokens.issue_token(user, HOUR) for user in users}
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(deps), host="127.0.0.1", port=port, log_config=None)
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()  # the server's failure
        await asyncio.sleep(0.05)
    try:
        yield Served(f"http://127.0.0.1:{port}", tokens)
    finally:
        server.should_exit = True
        await task
        following.cancel()
        await asyncio.gather(following, return_exceptions=True)


@pytest.fixture
async def served(people: Network, tmp_path: Path) -> AsyncIterator[Served]:
    users = ("device1", "officer1", "reviewer1", "auditor1")
    async with _serving(people.layout, URBAN, tmp_path, users) as urban:
        yield urban


@pytest.fixture
async def partner_gateway(people: Network, tmp_path: Path) -> AsyncIterator[Served]:
    async with _serving(people.layout, POLICE, tmp_path, ("partner1",)) as police:
        yield police


def _upload(people: Network, camera_id: str = "cam-console-1") -> Upload:
    layout = people.layout
    device = org_crypto(layout.state_dir, layout.consortium, URBAN).user("device1")
    return signed_upload(
        device,
        layout.consortium.department(URBAN).msp_id,
        KEYFRAME,
        event_id=f"evt-ui-{uuid.uuid4().hex[:10]}",
        camera_id=camera_id,
        violation_type="shopfront_operation",
        place={"lat": 29.8886, "lon": 121.5561},
        detections=[{"class_name": "person", "confidence": 0.87, "bbox": [10, 20, 110, 220]}],
    )


def _chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        pytest.fail("Debian's chromium is missing: apt-get install chromium (scripts/install)")
    return path


async def _browser() -> Any:
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        pytest.fail("Playwright is missing: .venv/bin/pip install -e '.[dev]' (scripts/install)")
    runner = await async_playwright().start()
    browser = await runner.chromium.launch(executable_path=_chromium(), headless=True)
    return runner, browser


async def _shoot(page: Any, name: str) -> None:
    """The page at each size, as docs/screenshots/<name>-<size>.png."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    for size, (width, height) in SIZES.items():
        await page.set_viewport_size({"width": width, "height": height})
        await page.screenshot(path=str(SHOTS / f"{name}-{size}.png"), full_page=True)
    await page.set_viewport_size({"width": 1280, "height": 800})


async def _sign_in(browser: Any, served: Served, user: str) -> Any:
    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    page = await context.new_page()
    await page.goto(f"{served.url}/console/login")
    await page.fill("#token", served.tokens[user])
    await page.click("button[type=submit]")
    await page.wait_for_load_state()
    return page


async def test_review_confirm_advance_and_audit_in_a_browser(
    people: Network, served: Served, partner_gateway: Served, tmp_path: Path
) -> None:
    async with httpx.AsyncClient(base_url=served.url, timeout=60) as api:
        device = {"Authorization": f"Bearer {served.tokens['device1']}"}
        done = await api.post("/devices/submissions", files=_upload(people), headers=device)
        assert done.status_code == 201, done.text
        flag, [item] = done.json()["flag_id"], done.json()["items"]
        evidence_id = item["evidence_id"]

        runner, browser = await _browser()
        try:
            reviewer = await _sign_in(browser, served, "reviewer1")
            assert reviewer.url.endswith("/console/review")
            row = reviewer.locator(f'li.flag[data-flag="{flag}"]')
            await row.wait_for()
            assert "出店经营" in await row.inner_text()
            assert "cam-console-1" in await row.inner_text()
            await _shoot(reviewer, "review")
            # A camera raises another flag while the reviewer's page is open: the page is
            # told (the centre's queue follows the whole department), without a reload.
            other = await api.post(
                "/devices/submissions", files=_upload(people, "cam-yard-9"), headers=device
            )
            assert other.status_code == 201, other.text
            await reviewer.locator("#queue-news p.news").wait_for(timeout=60_000)
            await row.click()  # the current flag: its keyframe loads through an access record
            note = row.locator(".access[data-tx]")
            await note.wait_for(timeout=30_000)
            view_tx = (await note.get_attribute("data-tx")) or ""
            assert len(view_tx) == 64
            assert await row.locator("img").count() == 1
            # Shopfront operation owes two reminders before a case (小河共治): no confirm
            # button, the reviewer reminds; the officer takes the loop to its case.
            assert "立案前尚需劝导 2 次" in await row.inner_text()
            assert await row.locator('[data-key="c"]').count() == 0
            # The officer's review page, open while the reviewer acts, is told of the step:
            # the follower indexes it and the page's event stream brings it (no reload).
            officer = await _sign_in(browser, served, "officer1")
            await officer.goto(f"{served.url}/console/review")
            news = officer.locator("#my-areas p.news")
            assert flag in await officer.locator("#my-areas").inner_text()
            assert await news.count() == 0
            await reviewer.keyboard.press("m")
            await reviewer.locator(".notice").wait_for(timeout=60_000)
            await news.wait_for(timeout=60_000)
            assert "1 条预警变动" in await news.inner_text()
            for status, step in (
                ("reminded", "escalate"),
                ("escalated", "community-remind"),
                ("community_reminded", "file-case"),
            ):
                await officer.goto(f"{served.url}/console/review?status={status}")
                await officer.click(f'form[action="/console/review/{flag}/{step}"] button')
                await officer.locator(".notice").wait_for(timeout=60_000)
            case_id = f"CASE-{flag}"
            assert case_id in await officer.locator(".notice").inner_text()

            officer_api = {"Authorization": f"Bearer {served.tokens['officer1']}"}
            case = await api.get(f"/cases/{case_id}", headers=officer_api)
            assert case.status_code == 200, case.text
            assert case.json()["stage"] == "source"
            steps = await api.get(f"/violations/{flag}/history", headers=officer_api)
            assert [s["to_status"] for s in steps.json()][2:] == [
                "reminded",
                "escalated",
                "community_reminded",
                "case_filed",
            ]

            # The case list is the index, which the follower fills from the ledger's events:
            # the new case shows up there, and the officer opens it from the list.
            listed = officer.locator(f'#case-list a[href="/console/cases/{case_id}"]')
            for _ in range(60):
                await officer.goto(f"{served.url}/console/cases")
                if await listed.count():
                    break
                await asyncio.sleep(0.5)
            assert await listed.count() == 1, "the follower never indexed the new case"
            await _shoot(officer, "cases")
            await listed.click()
            await officer.select_option("#to", "preliminary_check")
            await officer.click("form.stage button[type=submit]")
            await officer.locator(".notice").wait_for(timeout=60_000)
            assert "初查核实" in await officer.locator(".stage-now").inner_text()
            assert "officer1" in await officer.locator(".timeline").inner_text()
            case = await api.get(f"/cases/{case_id}", headers=officer_api)
            assert case.json()["stage"] == "preliminary_check"

            # A photo the officer took on the spot joins the case from the console, in the
            # officer's name; the package below carries it with the officer-signed capture.
            on_spot = KEYFRAME + uuid.uuid4().bytes
            await officer.set_input_files(
                "#evidence-files",
                files=[{"name": "stall.jpg", "mimeType": "image/jpeg", "buffer": on_spot}],
            )
            await officer.fill("#evidence-note", "owner present")
            await officer.click("#add-evidence button[type=submit]")
            await officer.locator(".notice").wait_for(timeout=60_000)
            held = await ledger_as(people.layout, URBAN, "officer").case_evidence(case_id)
            assert len(held) == 2, held

            # The next step binds its document by hash, and the document itself goes into
            # the case file, filed in the officer's name; the package below carries it too.
            form = filing_form(case_id, "vendor seen by cam-console-1")
            await officer.select_option("#to", "filing_approval")
            await officer.set_input_files(
                "#document",
                files=[{"name": "form.pdf", "mimeType": "application/pdf", "buffer": form}],
            )
            await officer.click("form.stage button[type=submit]")
            await officer.locator(".notice").wait_for(timeout=60_000)
            assert "unfiled" not in officer.url
            case_file = officer.locator("#case-file")
            assert "立案审批" in await case_file.inner_text()
            assert await case_file.locator("a").count() == 1
            held = await ledger_as(people.layout, URBAN, "officer").case_evidence(case_id)
            assert len(held) == 3, held

            # One click builds the package (the export recorded first); the page shows the
            # offline verifier's report, and the file downloads and verifies here too.
            await officer.click("form.package button[type=submit]")
            verdict = officer.locator("p.ok")
            await verdict.wait_for(timeout=120_000)
            assert "校验通过" in await verdict.inner_text()
            # The case's two steps as the package proves them, the form filed with the second.
            steps = officer.locator("#proven-steps tbody tr")
            assert await steps.count() == 2
            assert "立案审批" in await steps.nth(1).inner_text()
            assert await steps.nth(1).locator("code").count() == 1
            # And the flag's loop that led to the case: both reminders before it, proven.
            loop = officer.locator("#proven-loop tbody tr")
            assert await loop.count() == 6
            assert "社区提醒" in await loop.nth(4).inner_text()
            href = await officer.locator("a[download]").get_attribute("href")
            assert href is not None
            got = await officer.request.get(f"{served.url}{href}")
            assert got.status == 200
            saved = tmp_path / "from-console.tar"
            saved.write_bytes(await got.body())
            assert verify_package(saved).ok

            await _shoot(officer, "package")
            await officer.goto(f"{served.url}/console/cases/{case_id}")
            await _shoot(officer, "case")
            await officer.goto(f"{served.url}/console/overview")
            await _shoot(officer, "overview")
            # The department's week in figures (周报), as a squad leader reads it.
            await officer.goto(f"{served.url}/console/reports?period=week")
            assert "误报率" in await officer.content()
            await _shoot(officer, "reports")

            # PublicSecurity's partner, with no grant, opens the item on its own gateway: the
            # denial is committed on the ledger first, and the page shows nothing of the item.
            partner_ledger = ledger_as(people.layout, POLICE, "partner")
            partner = await _sign_in(browser, partner_gateway, "partner1")
            denied = await partner.goto(
                f"{partner_gateway.url}/console/evidence/{evidence_id}/content"
            )
            assert denied is not None
            assert denied.status == 403
            assert "ACCESS_DENIED" in await partner.content()
            record = await partner_ledger.access_record(denied.headers["x-access-record"])
            assert record.outcome is Outcome.DENIED

            auditor = await _sign_in(browser, served, "auditor1")
            assert auditor.url.endswith("/console/audit")
            await auditor.select_option("select[name=by]", "evidence")
            await auditor.fill("input[name=target_id]", evidence_id)
            await auditor.click(".filters button[type=submit]")
            await auditor.locator("#access-trail").wait_for()
            trail = await auditor.locator("#access-trail").inner_text()
            assert view_tx in trail
            assert "reviewer1" in trail
            assert "console_view" in trail
            await _shoot(auditor, "audit")
            # The integrity sweep of this node, from the audit page's button: everything the
            # scenario stored, indexed and registered agrees. (Tests that ran before on this
            # shared network register UrbanManagement items from throwaway nodes of their
            # own; this node rightly reports those as LEDGER_WITHOUT_INDEX, and only those.)
            await auditor.click("#run-integrity")
            await auditor.locator("#integrity").wait_for()
            integrity = await auditor.locator("#integrity").inner_text()
            if "完整: 存储、索引与账本一致" not in integrity:
                findings = [line.split("\t") for line in integrity.splitlines() if "\t" in line]
                codes = {row[0] for row in findings if row[0] and row[0] != "问题"}
                assert codes == {"LEDGER_WITHOUT_INDEX"}, integrity
                assert evidence_id not in integrity
            # The auditor's role has no review buttons and no evidence content.
            refused = await auditor.goto(f"{served.url}/console/evidence/{evidence_id}/content")
            assert refused is not None
            assert refused.status == 403
        finally:
            await browser.close()
            await runner.stop()
