"""Outgoing webhooks in a real browser (Debian chromium + Playwright): the admin adds an endpoint for a real
local receiver, copies the secret shown once, a request through intake reaches the receiver signed, and the
delivery log shows it; axe-core on both pages; screenshots."""

from __future__ import annotations

import asyncpg
import pytest
from playwright.async_api import Browser, expect

from scheduler.notify import webhook_send
from tests.browser_support import require_chromium
from tests.factories import SiteFacts
from tests.staff.helpers import submit
from tests.staff.test_browser import assert_accessible, screenshot, sign_in
from tests.webhook_support import start_receiver


@pytest.fixture(autouse=True, scope="module")
def _chromium_installed() -> None:
    require_chromium()


async def test_the_admin_sets_up_a_webhook_and_reads_its_log(
        base_url: str, browser: Browser, pool: asyncpg.Pool, conn: asyncpg.Connection, site: SiteFacts,
        aiohttp_server) -> None:  # type: ignore[no-untyped-def]
    receiver = await start_receiver(aiohttp_server)
    page = await (await browser.new_context(viewport={"width": 1280, "height": 900})).new_page()
    await sign_in(page, base_url, "admin")
    await page.goto(f"{base_url}/staff/admin/webhooks")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Webhooks")
    await page.get_by_label("Adresse").fill(receiver.url)
    await page.get_by_label("Beschreibung").fill("Fallakte")
    await page.get_by_label("Termin verschoben").uncheck()
    await page.get_by_role("button", name="Webhook hinzufügen").click()
    secret = (await page.locator("#new-secret-value").text_content() or "").strip()
    assert secret.startswith("whsec_")
    await assert_accessible(page)
    await screenshot(page, "admin-webhooks")

    submitted = await submit(pool)
    stats = await webhook_send.dispatch_due(pool, now=await conn.fetchval("SELECT now()"))
    assert stats.delivered == 1
    [payload] = receiver.verified(secret)
    assert payload["data"]["reference"] == submitted.reference

    await page.goto(f"{base_url}/staff/admin/webhooks")
    assert secret not in await page.content()  # shown once
    await page.get_by_role("link", name="Zustellprotokoll").click()
    await expect(page.locator("tr.delivery.delivered")).to_have_count(1)
    await expect(page.locator("tr.delivery.delivered")).to_contain_text("Anfrage erhalten")
    await assert_accessible(page)
    await screenshot(page, "admin-webhook-log")
