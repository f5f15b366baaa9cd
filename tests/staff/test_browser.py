"""The staff UI in a real browser (Debian chromium + Playwright) against a real server on a free port."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
from playwright.async_api import Browser, Page, expect

from scheduler.policy.rules import Kind
from tests.browser_support import require_chromium
from tests.staff.helpers import MEYER_CLIENT, PASSWORDS, submit

PROJECT = Path(__file__).resolve().parents[2]
AXE = PROJECT / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = PROJECT / "tests" / "artifacts" / "screenshots"



@pytest.fixture(autouse=True, scope="module")
def _chromium_installed() -> None:
    require_chromium()

TEAM_RULES = """rules:
  - id: documents-first
    when: {concern: documents}
    then: {priority: 95}
"""


async def assert_accessible(page: Page) -> None:
    """axe-core finds no violations on the page."""
    assert AXE.exists(), "axe-core is missing: run `npm ci`"
    await page.evaluate(AXE.read_text(encoding="utf-8") + "\n;0")  # evaluated, not a <script>: the CSP forbids inline script
    violations = await page.evaluate("async () => (await axe.run(document)).violations")
    summary = [(v["id"], [n["target"] for n in v["nodes"]][:3]) for v in violations]
    assert not violations, json.dumps(summary, indent=1)


async def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


async def sign_in(page: Page, base_url: str, username: str) -> None:
    await page.goto(f"{base_url}/staff/sign-in?lang=de")
    await page.get_by_label("Benutzername").fill(username)
    await page.get_by_label("Passwort").fill(PASSWORDS[username])
    await page.get_by_role("button", name="Anmelden").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Posteingang")


async def inbox_order(page: Page) -> list[str]:
    rows = page.locator("#queue table.queue tbody tr")  # requests and callbacks in one list
    return [str(await rows.nth(i).get_attribute("id")) for i in range(await rows.count())]


def next_tuesday() -> str:
    day = datetime.now(UTC).date() + timedelta(days=7)
    while day.weekday() != 1:
        day += timedelta(days=1)
    return day.isoformat()


async def test_caseworker_day(base_url: str, browser: Browser, pool: asyncpg.Pool, conn: asyncpg.Connection) -> None:
    first = await submit(pool, phone=MEYER_CLIENT, concern="general")
    second = await submit(pool, phone=MEYER_CLIENT, concern="job_offer")
    await submit(pool, phone=MEYER_CLIENT, concern="documents")
    callback = await submit(pool, kind=Kind.callback, phone=MEYER_CLIENT, channel="phone")
    page = await browser.new_page(viewport={"width": 1280, "height": 900})

    await sign_in(page, base_url, "cw.meyer")
    before = await inbox_order(page)
    assert len(before) == 4 and f"callback-{callback.id}" in before
    await page.locator(f'#{before[3]} button[data-move="up"]').click()
    await expect(page.locator(".flash.ok")).to_contain_text("Reihenfolge wurde geändert")
    assert await inbox_order(page) == [before[0], before[1], before[3], before[2]]
    await assert_accessible(page)
    await screenshot(page, "inbox")

    # Approve a proposed slot in one click.
    await page.goto(f"{base_url}/staff/requests/{first.id}")
    await expect(page.get_by_role("heading", level=1)).to_contain_text(first.reference)
    await assert_accessible(page)
    await screenshot(page, "request")
    await page.locator("button[data-approve]").first.click()
    await expect(page.locator(".flash.ok")).to_contain_text("Der Termin ist gebucht")
    assert await conn.fetchval("SELECT status FROM requests WHERE id = $1", first.id) == "scheduled"

    # Pick another free slot: date + caseworker, then book one of the listed times.
    await page.goto(f"{base_url}/staff/requests/{second.id}")
    await page.get_by_label("Datum").fill(next_tuesday())
    meyer = await conn.fetchval("SELECT id FROM staff WHERE username = 'cw.meyer'")
    await page.get_by_label("Fachkraft", exact=True).select_option(value=str(meyer))
    await page.get_by_role("button", name="Freie Zeiten zeigen").click()
    booking = page.locator("#free-slots button[data-book]").nth(2)
    start = await booking.get_attribute("data-book")
    await booking.click()
    await expect(page.locator(".flash.ok")).to_contain_text("Der Termin ist gebucht")
    booked = await conn.fetchval("SELECT lower(during) FROM appointments WHERE request_id = $1", second.id)
    assert start is not None and booked == datetime.fromisoformat(start)

    # Work a callback: claim, dial, record the outcome.
    await page.goto(f"{base_url}/staff/callbacks")
    card = page.locator(f"#callback-{callback.id}")
    await card.locator("button[data-claim]").click()
    await expect(card.locator("a.tel")).to_have_attribute("href", f"tel:{MEYER_CLIENT}")
    await card.get_by_label("erreicht").check()
    await card.get_by_label("Notiz").fill("Termin vereinbart")
    await card.get_by_role("button", name="Anruf festhalten").click()
    await expect(page.locator(".flash.ok")).to_contain_text("Anruf wurde festgehalten")
    assert await conn.fetchval("SELECT status FROM callbacks WHERE id = $1", callback.id) == "reached"
    await page.close()


async def test_team_lead_edits_rules_and_sees_the_dashboard(base_url: str, browser: Browser, pool: asyncpg.Pool,
                                                            conn: asyncpg.Connection) -> None:
    for concern, channel in (("documents", "web"), ("general", "kiosk"), ("documents", "phone")):
        await submit(pool, phone="+4915123456702", concern=concern, channel=channel)  # entrance team
    page = await browser.new_page(viewport={"width": 1280, "height": 900})
    await sign_in(page, base_url, "lead.entrance")

    await page.get_by_role("link", name="Regeln", exact=True).click()
    await page.get_by_role("link", name="Erweitert (YAML)").click()  # the rule builder's YAML view
    await page.get_by_label("Regelwerk (YAML)").fill(TEAM_RULES)
    await page.get_by_role("button", name="Wirkung vorab ansehen").click()
    preview = page.locator("#preview")
    await expect(preview.locator("tr.changed").first).to_be_visible()
    await expect(preview).to_contain_text("95")
    await assert_accessible(page)
    await screenshot(page, "rules-preview")
    await page.get_by_role("button", name="Speichern und aktivieren").click()
    await expect(page.locator(".flash.ok")).to_contain_text("Version 1 ist jetzt aktiv")
    assert await conn.fetchval("SELECT status FROM policies WHERE scope = 'team'") == "active"

    await page.get_by_role("link", name="Übersicht").click()
    await expect(page.locator("body[data-charts=drawn]")).to_have_count(1)
    assert await page.locator("canvas").count() == 8
    # Chart.js drew something: the channel chart's canvas has non-blank pixels.
    painted = await page.evaluate(
        "() => { const c = document.getElementById('chart-channels');"
        " const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
        " return d.some((v, i) => i % 4 === 3 && v > 0); }")
    assert painted
    await assert_accessible(page)
    await screenshot(page, "dashboard")
    await page.close()
