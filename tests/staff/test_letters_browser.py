"""The letter print queue and the batch invitation form in a real browser (Debian chromium + Playwright), with
axe-core; screenshots go to tests/artifacts/screenshots/."""

from __future__ import annotations

import asyncpg
import pytest
from playwright.async_api import Browser, expect

from tests.browser_support import require_chromium
from tests.factories import SiteFacts
from tests.staff.test_browser import assert_accessible, screenshot, sign_in
from tests.test_letters import _book, _invite_without_phone


@pytest.fixture(autouse=True, scope="module")
def _chromium_installed() -> None:
    require_chromium()


async def test_the_print_queue_shows_what_waits_and_prints_a_pdf(
        base_url: str, browser: Browser, pool: asyncpg.Pool, conn: asyncpg.Connection, site: SiteFacts) -> None:
    waiting = await _invite_without_phone(pool, site, customer_number="123A400001")
    ready = await _invite_without_phone(pool, site, customer_number="123A400002")
    await _book(pool, site, ready)
    page = await browser.new_page(viewport={"width": 1280, "height": 900})
    await sign_in(page, base_url, "cw.meyer")
    await page.get_by_role("link", name="Briefe", exact=True).first.click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Briefe")
    reference = await conn.fetchval("SELECT reference FROM requests WHERE id = $1", waiting)
    await expect(page.get_by_role("row").filter(has_text=reference)).to_contain_text("Wartet auf einen gebuchten Termin")
    await assert_accessible(page)
    await screenshot(page, "letters-queue")
    async with page.expect_response(lambda r: r.url.endswith("/letters.pdf")) as answer:
        await page.get_by_role("button", name="1 fertige Briefe als ein PDF drucken").click()
    response = await answer.value
    assert response.status == 200 and response.headers["content-type"] == "application/pdf"
    await page.goto(f"{base_url}/staff/letters")
    await expect(page.get_by_role("button", name="Als versandt markieren")).to_be_visible()
    await screenshot(page, "letters-printed")


async def test_the_batch_invitation_form_is_accessible(base_url: str, browser: Browser) -> None:
    page = await browser.new_page(viewport={"width": 1280, "height": 900})
    await sign_in(page, base_url, "lead.placement")
    await page.get_by_role("link", name="Sammeleinladungen", exact=True).first.click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Sammeleinladungen")
    await assert_accessible(page)
    await screenshot(page, "batch-invite-form")
