"""The today list in a real browser (Debian chromium + Playwright): an arrival appears without reload, and
"held" is recorded in one click."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from playwright.async_api import Browser, expect

from scheduler import appointments
from tests.browser_support import require_chromium
from tests.factories import SiteFacts, create_appointment
from tests.staff.test_browser import assert_accessible, screenshot, sign_in


@pytest.fixture(autouse=True, scope="module")
def _chromium_installed() -> None:
    require_chromium()


async def test_today_list_shows_an_arrival_live_and_records_held_in_one_click(
        base_url: str, browser: Browser, pool: asyncpg.Pool, conn: asyncpg.Connection, site: SiteFacts) -> None:
    appointment_id = await create_appointment(conn, site, start=datetime.now(UTC) - timedelta(minutes=2))
    page = await browser.new_page(viewport={"width": 1280, "height": 900})
    await sign_in(page, base_url, "cw.meyer")
    await page.get_by_role("link", name="Heute", exact=True).first.click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Heute")
    row = page.locator(f'tr[data-appointment="{appointment_id}"]')
    arrived = row.locator('[data-cell="arrived"]')
    await expect(arrived).to_have_text("–")
    await assert_accessible(page)
    loaded_at = await page.evaluate("performance.timeOrigin")

    # The client checks in at the kiosk; the list shows it without a reload (polling every 10 s).
    async with pool.acquire() as kiosk, kiosk.transaction():
        await appointments.check_in(kiosk, appointment_id, at=datetime.now(UTC), actor="kiosk:test")
    await expect(arrived).to_contain_text("angekommen", timeout=25_000)
    assert await page.evaluate("performance.timeOrigin") == loaded_at  # the same page, not reloaded
    await screenshot(page, "today")

    # One click: held.
    await row.locator('button[data-outcome="held"]').click()
    await expect(page.locator(".flash.ok")).to_contain_text("Der Termin hat stattgefunden")
    await expect(page.locator(f'tr[data-appointment="{appointment_id}"] [data-cell="outcome"]')).to_contain_text(
        "stattgefunden")
    assert await conn.fetchval("SELECT outcome FROM appointments WHERE id = $1", appointment_id) == "held"
    assert await conn.fetchval("SELECT r.status FROM requests r JOIN appointments a ON a.request_id = r.id "
                               "WHERE a.id = $1", appointment_id) == "done"


async def test_the_inbox_shows_a_client_who_checks_in_without_a_reload(
        base_url: str, browser: Browser, pool: asyncpg.Pool, conn: asyncpg.Connection, site: SiteFacts) -> None:
    appointment_id = await create_appointment(conn, site, start=datetime.now(UTC) + timedelta(minutes=5))
    page = await browser.new_page(viewport={"width": 1280, "height": 900})
    await sign_in(page, base_url, "cw.meyer")
    await page.goto(f"{base_url}/staff/inbox")
    waiting = page.locator(f"#arrived-{appointment_id}")
    await expect(waiting).to_have_count(0)
    loaded_at = await page.evaluate("performance.timeOrigin")

    async with pool.acquire() as kiosk, kiosk.transaction():
        await appointments.check_in(kiosk, appointment_id, at=datetime.now(UTC), actor="kiosk:test")
    await expect(waiting).to_contain_text("angekommen", timeout=25_000)
    await expect(page.get_by_role("heading", name="Im Wartebereich")).to_be_visible()
    assert await page.evaluate("performance.timeOrigin") == loaded_at  # the same page, not reloaded
    await assert_accessible(page)
    await screenshot(page, "inbox-arrivals")


async def test_todays_calendar_shows_a_check_in_without_a_reload(
        base_url: str, browser: Browser, pool: asyncpg.Pool, conn: asyncpg.Connection, site: SiteFacts) -> None:
    appointment_id = await create_appointment(conn, site, start=datetime.now(UTC) + timedelta(minutes=5))
    page = await browser.new_page(viewport={"width": 1280, "height": 900})
    await sign_in(page, base_url, "cw.meyer")
    await page.goto(f"{base_url}/staff/calendar")
    loaded_at = await page.evaluate("performance.timeOrigin")
    async with pool.acquire() as kiosk, kiosk.transaction():
        await appointments.check_in(kiosk, appointment_id, at=datetime.now(UTC), actor="kiosk:test")
    await expect(page.locator("#calendar-days li.arrived")).to_contain_text("angekommen", timeout=25_000)
    assert await page.evaluate("performance.timeOrigin") == loaded_at  # the same page, not reloaded
