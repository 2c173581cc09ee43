"""The console in real headless Chromium (Debian's, driven by Playwright; no browser download): sign in
with the code the fake channel received, a red flag appears in /alerts without a reload within two
seconds, Acknowledge works and the chat side is told; the caseload leads to a person's page with its
chart, and a message sent from it reaches them. Screenshots go to the test's tmp dir only."""

from __future__ import annotations

import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, Page, async_playwright

from bot.app import App
from bot.channels.console import ConsoleChannel
from bot.checkins.sessions import start_checkin
from bot.people.enrolment import resolve
from bot.server import make_web_app
from storage.models import AlertStatus
from tests.bot.careteam import Driver, load_alert
from tests.bot.web.conftest import code_sent

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
INSTALLED = Path(CHROMIUM).exists()
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    if not INSTALLED:
        pytest.skip("chromium is not installed (make setup installs Debian's package)")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield launched
        await launched.close()


@pytest.fixture
async def base_url(app: App, drive: Driver) -> AsyncIterator[str]:
    server = TestServer(make_web_app(app))
    await server.start_server()
    yield str(server.make_url("")).rstrip("/")
    await server.close()


def _screenshots(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob("*.png"))


async def _sign_in(page: Page, base_url: str, app: App, console: ConsoleChannel, who: str) -> None:
    await page.goto(f"{base_url}/login")
    await page.fill("#who", who)
    await page.click("button[type=submit]")
    await page.wait_for_selector("#code")
    await page.fill("#code", await code_sent(app, console, who.lower()))
    await page.click("main button[type=submit]")
    await page.wait_for_url(f"{base_url}/alerts")


async def test_sign_in_see_a_red_flag_arrive_and_acknowledge_it(
    browser: Browser, base_url: str, app: App, console: ConsoleChannel, drive: Driver, tmp_path: Path
) -> None:
    context = await browser.new_context(viewport=PHONE)  # type: ignore[arg-type]
    page = await context.new_page()
    refused: list[str] = []
    page.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)
    await _sign_in(page, base_url, app, console, "Riley")
    assert await page.locator("[data-alert-id]").count() == 0
    await page.screenshot(path=tmp_path / "alerts-empty-phone.png", full_page=True)

    await drive.say("alex", "I want to kill myself tonight")  # through the pipeline, as from chat
    raised = time.monotonic()
    item = page.locator("[data-alert-id]")
    await item.first.wait_for(timeout=2000)  # no reload: the poller brings it
    shown_after = time.monotonic() - raised
    assert shown_after < 2.0
    assert "Alex" in await item.first.inner_text()
    alert_id = int(await item.first.get_attribute("data-alert-id") or 0)
    await page.screenshot(path=tmp_path / "alerts-critical-phone.png", full_page=True)
    await page.set_viewport_size(DESKTOP)  # type: ignore[arg-type]
    await page.screenshot(path=tmp_path / "alerts-critical-desktop.png", full_page=True)

    drive.inbox()
    await item.first.locator("a").click()
    await page.wait_for_url(f"{base_url}/alerts/{alert_id}")
    await page.click("#acknowledge")
    await page.wait_for_url(f"{base_url}/alerts/{alert_id}?result=changed")
    assert (await page.inner_text(".status")).strip() == "acknowledged"
    await page.screenshot(path=tmp_path / "alert-acknowledged-desktop.png", full_page=True)
    alert = await load_alert(app, alert_id)
    assert alert.status == AlertStatus.ACKNOWLEDGED
    await app.sender.drain()
    told = drive.inbox().get("sam", [])
    assert any("Riley" in t for t in told), told  # Sam, who was paged, hears who took it
    assert refused == []
    assert _screenshots(tmp_path) == [
        "alert-acknowledged-desktop.png",
        "alerts-critical-desktop.png",
        "alerts-critical-phone.png",
        "alerts-empty-phone.png",
    ]
    await context.close()


async def test_caseload_to_the_person_page_with_its_chart_and_a_message_sent(
    browser: Browser, base_url: str, app: App, console: ConsoleChannel, drive: Driver, tmp_path: Path
) -> None:
    async with app.db.transaction() as s:
        alex = await resolve(s, "Alex")
        await start_checkin(s, app.content, alex, "daily_checkin", app.clock.now(), app.buttons)
    for answer in ("2", "9", "no", "no", "rough night"):  # craving 9 raises an alert
        await drive.say("alex", answer)
    drive.inbox()
    context = await browser.new_context(viewport=PHONE)  # type: ignore[arg-type]
    page = await context.new_page()
    refused: list[str] = []
    page.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)
    await _sign_in(page, base_url, app, console, "Sam")
    await page.click("header nav >> text=Caseload")
    await page.wait_for_url(f"{base_url}/caseload")
    row = page.locator("[data-person-id]")
    assert await row.count() == 1
    assert await row.locator("svg.spark").count() == 2
    await page.screenshot(path=tmp_path / "caseload-phone.png", full_page=True)
    await row.locator("a.name").click()
    await page.wait_for_url(f"{base_url}/people/{alex.id}")
    chart = page.locator("svg.chart")
    assert await chart.get_attribute("aria-labelledby") == "chart-title chart-desc"
    box = await chart.bounding_box()
    assert box is not None and box["width"] > 300  # drawn, at the phone's width
    assert await page.locator("svg.chart .alert-mark").count() == 1
    await page.screenshot(path=tmp_path / "person-phone.png", full_page=True)
    await page.fill("#text", "call me when you can")
    await page.click("#send")
    await page.wait_for_url(f"{base_url}/people/{alex.id}?flash=reply_sent")
    await app.sender.drain()
    assert drive.inbox()["alex"] == ["Your peer Sam: call me when you can"]
    await page.set_viewport_size(DESKTOP)  # type: ignore[arg-type]
    await page.screenshot(path=tmp_path / "person-desktop.png", full_page=True)
    assert refused == []
    assert _screenshots(tmp_path) == ["caseload-phone.png", "person-desktop.png", "person-phone.png"]
    await context.close()
