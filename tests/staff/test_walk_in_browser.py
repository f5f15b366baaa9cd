"""Emergency walk-ins in a real browser (Debian chromium + Playwright): a "no money today" callback request at the
kiosk gets a ticket, the ticket appears in the front desk's queue without a reload, and calling it shows the
number (never a name) on an open call display. axe-core on the kiosk's ticket screen and the front desk;
screenshots tests/artifacts/walk-in*.png."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
from playwright.async_api import Browser, Page, expect

from scheduler import displays, walk_ins
from tests.browser_support import require_chromium
from tests.factories import SiteFacts
from tests.staff.test_browser import assert_accessible, sign_in

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
KIOSK_TOKEN = "demo-kiosk-foyer-1"


@pytest.fixture(autouse=True, scope="module")
def _chromium_installed() -> None:
    require_chromium()


@pytest.fixture(autouse=True)
def _office_open(monkeypatch: pytest.MonkeyPatch) -> None:
    """The office is open for two more hours, whenever the test runs (the server runs in this process)."""
    async def open_until(conn: asyncpg.Connection, site: object, now: datetime) -> datetime:
        return now + timedelta(hours=2)
    monkeypatch.setattr(walk_ins, "open_until", open_until)


async def _shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True, animations="disabled")


async def _press(page: Page, keypad: str, text: str) -> None:
    for char in text:
        await page.locator(f"#{keypad} .key", has_text=re.compile(rf"^{re.escape(char)}$")).click()


async def _kiosk_walk_in(page: Page, base_url: str, phone: str) -> str:
    """The kiosk flow of a "no money" callback request; the ticket number it shows."""
    await page.goto(f"{base_url}/kiosk/?idle=600#token={KIOSK_TOKEN}")
    await page.locator("[data-lang=de]").click()
    await page.get_by_role("button", name="Ich brauche einen Termin oder einen Rückruf").click()
    await page.locator("[data-concern=no_money]").click()
    await page.locator("[data-kind=callback]").click()
    await page.locator("#when-next").click()
    await _press(page, "phone-keypad", phone)
    await page.locator("#phone-next").click()
    await page.locator("#send").click()
    await expect(page.locator("#screen-walk-in")).to_be_visible()
    return await page.locator("#walk-in-ticket").inner_text()


async def test_a_kiosk_walk_in_joins_the_front_desk_queue_and_is_called_on_the_display(
        base_url: str, browser: Browser, conn: asyncpg.Connection, site: SiteFacts) -> None:
    token = displays.new_token()
    await displays.register(conn, site_id=site.site_id, name="Wartebereich", location="EG", token=token,
                            issued_by=site.staff["admin"])
    desk = await (await browser.new_context(viewport={"width": 1400, "height": 1000})).new_page()
    await sign_in(desk, base_url, "cw.demir")
    await desk.goto(f"{base_url}/staff/front-desk")
    await expect(desk.locator("body")).to_have_attribute("data-connection", "stream", timeout=10_000)
    display = await (await browser.new_context(viewport={"width": 1920, "height": 1080})).new_page()
    await display.goto(f"{base_url}/display/{token}")
    await expect(display.locator("body")).to_have_attribute("data-connection", "stream", timeout=10_000)

    kiosk = await (await browser.new_context(viewport={"width": 1080, "height": 1920})).new_page()
    ticket = await _kiosk_walk_in(kiosk, base_url, "015123456799")
    assert ticket == "N-001"
    await expect(kiosk.locator("#screen-walk-in")).to_contain_text("Wir rufen Sie auf")
    assert len(await kiosk.locator("#walk-in-reference").inner_text()) == 9
    await assert_accessible(kiosk)
    await _shot(kiosk, "walk-in-kiosk-ticket")
    await kiosk.emulate_media(media="print")
    await expect(kiosk.locator("#walk-in-ticket")).to_be_visible()
    await expect(kiosk.locator("#walk-in-print")).to_be_hidden()
    await _shot(kiosk, "walk-in-kiosk-ticket-print")

    # The front desk shows the ticket without a reload (server-sent events, then the list is fetched again).
    row = desk.locator('tr[data-ticket="N-001"]')
    await expect(row).to_be_visible(timeout=10_000)
    await expect(row).to_contain_text("Kein Geld mehr")
    await assert_accessible(desk)
    await _shot(desk, "walk-in-front-desk")

    await row.get_by_label("Raum").fill("E.07")
    await row.get_by_role("button", name="Aufrufen").click()
    await expect(desk.locator(".flash.ok")).to_contain_text("Aufgerufen: Nummer N-001 in Raum E.07")
    await expect(display.locator(".now-ref")).to_contain_text("N-001", timeout=5_000)
    await expect(display.locator(".now-room")).to_contain_text("E.07")
    name_and_phone = await conn.fetchrow(
        "SELECT cl.name, cl.phone FROM walk_in_tickets t JOIN callbacks b ON b.id = t.callback_id "
        "JOIN clients cl ON cl.id = b.client_id")
    content = await display.content()
    assert name_and_phone["phone"] not in content and (not name_and_phone["name"] or name_and_phone["name"]
                                                       not in content)
    await _shot(display, "walk-in-call-display")

    await desk.locator('tr[data-ticket="N-001"]').get_by_role("button", name="Erledigt").click()
    await expect(desk.locator(".flash.ok")).to_contain_text("Nummer N-001 ist erledigt")
    await expect(desk.locator('tr[data-ticket="N-001"]')).to_have_count(0)
    assert await conn.fetchval("SELECT status FROM walk_in_tickets") == "served"
