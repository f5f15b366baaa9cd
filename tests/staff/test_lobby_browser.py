"""The lobby in a real browser (Debian chromium + Playwright): a call made in the today list shows up on an open
call display, the front desk list shows an arrival and its call live, a revoked display shows the neutral screen;
axe-core on the display and the front desk; screenshots of both."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from playwright.async_api import Browser, Page, expect

from scheduler import appointments, displays, lobby_calls, references
from scheduler.permissions import Role, StaffUser
from tests.browser_support import require_chromium
from tests.factories import SiteFacts, create_appointment
from tests.staff.test_browser import SCREENSHOTS, assert_accessible, screenshot, sign_in


@pytest.fixture(autouse=True, scope="module")
def _chromium_installed() -> None:
    require_chromium()


async def _arrived(conn: asyncpg.Connection, site: SiteFacts, *, staff: str, room: str) -> tuple[int, str]:
    appointment_id = await create_appointment(conn, site, staff=staff, start=datetime.now(UTC) - timedelta(minutes=3))
    await conn.execute("UPDATE appointments SET room = $2 WHERE id = $1", appointment_id, room)
    await conn.execute("UPDATE requests SET reference = $2 WHERE id = (SELECT request_id FROM appointments "
                       "WHERE id = $1)", appointment_id, references.new_reference())  # as clients get them
    async with conn.transaction():
        await appointments.check_in(conn, appointment_id, at=datetime.now(UTC), actor="kiosk:test")
    reference: str = await conn.fetchval(
        "SELECT r.reference FROM requests r JOIN appointments a ON a.request_id = r.id WHERE a.id = $1",
        appointment_id)
    return appointment_id, reference


async def _still(page: Page, name: str) -> None:
    """A screenshot with the "new call" blink stopped, so the code shows at full contrast."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True, animations="disabled")


async def _display_token(conn: asyncpg.Connection, site: SiteFacts) -> tuple[int, str]:
    token = displays.new_token()
    device_id = await displays.register(conn, site_id=site.site_id, name="Wartebereich", location="EG",
                                        token=token, issued_by=site.staff["admin"])
    return device_id, token


async def test_a_call_from_the_today_list_shows_up_on_the_open_display(
        base_url: str, browser: Browser, conn: asyncpg.Connection, site: SiteFacts) -> None:
    appointment_id, reference = await _arrived(conn, site, staff="cw.meyer", room="A.03")
    _device_id, token = await _display_token(conn, site)
    display = await (await browser.new_context(viewport={"width": 1920, "height": 1080})).new_page()
    await display.goto(f"{base_url}/display/{token}")
    await expect(display.locator("#now")).to_contain_text("Noch keine Aufrufe")
    await expect(display.locator("body")).to_have_attribute("data-connection", "stream", timeout=10_000)

    staff = await (await browser.new_context(viewport={"width": 1280, "height": 900})).new_page()
    await sign_in(staff, base_url, "cw.meyer")
    await staff.get_by_role("link", name="Heute", exact=True).first.click()
    await staff.locator(f'button[data-call="{appointment_id}"]').click()
    await expect(staff.locator(".flash.ok")).to_contain_text(f"Aufgerufen: {reference} in Raum A.03")

    # The display shows it without a reload, through the event stream.
    await expect(display.locator(".now-ref")).to_contain_text(reference, timeout=5_000)
    await expect(display.locator(".now-room")).to_contain_text("A.03")
    await assert_accessible(display)
    await _still(display, "call-display")

    # Called again: a new entry, marked as repeated; the first call moves to the earlier calls.
    await staff.locator(f'button[data-call="{appointment_id}"]').click()
    await expect(staff.locator(".flash.ok")).to_be_visible()
    await expect(display.locator("#now .again")).to_contain_text("erneut aufgerufen", timeout=5_000)
    await expect(display.locator("#earlier tr")).to_have_count(1)
    await expect(display.locator("#earlier")).to_contain_text(reference)
    name = await conn.fetchval("SELECT cl.name FROM clients cl JOIN appointments a ON a.client_id = cl.id "
                               "WHERE a.id = $1", appointment_id)
    assert not name or name not in await display.content()
    await _still(display, "call-display-repeated")


async def test_the_display_shows_when_the_connection_is_lost_and_comes_back(
        base_url: str, browser: Browser, conn: asyncpg.Connection, site: SiteFacts) -> None:
    _device_id, token = await _display_token(conn, site)
    context = await browser.new_context()
    display = await context.new_page()
    await display.goto(f"{base_url}/display/{token}")
    await expect(display.locator("body")).to_have_attribute("data-connection", "stream", timeout=10_000)
    sound = display.locator("#sound")  # the chime is off until someone switches it on
    await expect(sound).to_have_attribute("aria-pressed", "false")
    await sound.click()
    await expect(sound).to_have_attribute("aria-pressed", "true")
    await expect(sound).to_contain_text("Ton ausschalten")
    await context.set_offline(True)
    await display.evaluate("window.dispatchEvent(new Event('offline'))")
    await expect(display.locator("#state")).to_be_visible()
    await expect(display.locator("#state")).to_contain_text("Verbindung unterbrochen")
    await screenshot(display, "call-display-offline")
    await context.set_offline(False)
    await display.evaluate("window.dispatchEvent(new Event('online'))")
    await expect(display.locator("#state")).to_be_hidden(timeout=15_000)


async def test_a_revoked_display_shows_the_neutral_screen(base_url: str, browser: Browser,
                                                          conn: asyncpg.Connection, site: SiteFacts) -> None:
    _appointment_id, reference = await _arrived(conn, site, staff="cw.meyer", room="A.03")
    device_id, token = await _display_token(conn, site)
    await displays.revoke(conn, device_id, site_id=site.site_id, now=datetime.now(UTC))
    page = await browser.new_page()
    await page.goto(f"{base_url}/display/{token}")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Aufrufanzeige")
    content = await page.content()
    assert reference not in content and "display.js" not in content
    await assert_accessible(page)
    await screenshot(page, "call-display-neutral")


async def test_the_front_desk_shows_an_arrival_and_its_call_live(
        base_url: str, browser: Browser, pool: asyncpg.Pool, conn: asyncpg.Connection, site: SiteFacts) -> None:
    appointment_id, reference = await _arrived(conn, site, staff="cw.yilmaz", room="E.02")
    page = await browser.new_page(viewport={"width": 1280, "height": 900})
    await sign_in(page, base_url, "lead.u25")  # any staff member of the office
    await page.get_by_role("link", name="Empfang", exact=True).first.click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Empfang")
    row = page.locator(f'tr[data-appointment="{appointment_id}"]')
    await expect(row).to_contain_text("Deniz Yılmaz")
    await expect(row).to_contain_text(reference)
    await expect(row.locator('[data-cell="called"]')).to_contain_text("noch nicht aufgerufen")
    await expect(page.locator("body")).to_have_attribute("data-connection", "stream", timeout=10_000)
    await assert_accessible(page)
    loaded_at = await page.evaluate("performance.timeOrigin")

    # A new arrival and the call appear without reloading the page.
    second, second_reference = await _arrived(conn, site, staff="cw.haddad", room="E.04")
    await expect(page.locator(f'tr[data-appointment="{second}"]')).to_contain_text(second_reference, timeout=5_000)
    yilmaz = StaffUser(id=site.staff["cw.yilmaz"], site_id=site.site_id, username="cw.yilmaz",
                       display_name="Deniz Yılmaz", role=Role.caseworker, team_id=site.teams["entrance"],
                       languages=("de",))
    await lobby_calls.call(pool, user=yilmaz, appointment_id=appointment_id, room=None, now=datetime.now(UTC))
    await expect(page.locator(f'tr[data-appointment="{appointment_id}"] [data-cell="called"]')).to_contain_text(
        "aufgerufen", timeout=5_000)
    await expect(page.locator(f'tr[data-appointment="{appointment_id}"] [data-cell="called"]')).not_to_contain_text(
        "noch nicht")
    assert await page.evaluate("performance.timeOrigin") == loaded_at
    await assert_accessible(page)
    await screenshot(page, "front-desk")
