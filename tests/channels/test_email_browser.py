"""E-mail address in a real browser (issue 15): the kiosk's optional e-mail step (on-screen keypad, skippable) and
the web confirmation page, with axe-core scans. Chromium from Debian via Playwright, as in test_browser.py."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import asyncpg
import pytest

from scheduler.config import Config
from tests import dbharness
from tests.browser_support import require_chromium
from tests.channels.test_browser import (
    Server,
    assert_accessible,
    browser,  # noqa: F401  (a fixture)
    kiosk_page,  # noqa: F401  (a fixture)
    open_kiosk,
    page,  # noqa: F401  (a fixture)
    press_keys,
    shot,
)

pytest.importorskip("playwright.sync_api")


@pytest.fixture(autouse=True, scope="module")
def _chromium_installed() -> None:
    require_chromium()


@pytest.fixture(scope="module")
def email_server(base_config: Config) -> Iterator[Server]:
    running = Server(base_config)
    running.start()
    running.db(dbharness.reset)
    running.db(lambda conn: conn.execute("UPDATE sites SET email_enabled = true"))
    try:
        yield running
    finally:
        running.db(lambda conn: conn.execute("UPDATE sites SET email_enabled = false"))
        running.stop()


def _to_phone_step(tab: Any, server: Server) -> None:
    open_kiosk(tab, server)
    tab.locator("[data-lang=de]").click()
    tab.get_by_role("button", name="Ich brauche einen Termin oder einen Rückruf").click()
    tab.locator("[data-concern=documents]").click()
    tab.get_by_role("button", name="Termin", exact=False).first.click()
    tab.locator("#screen-when .primary").click()
    tab.locator("#screen-needs .primary").click()  # no special needs


def test_kiosk_email_step_is_optional_and_sends_the_address(email_server: Server, kiosk_page: Any) -> None:  # noqa: F811
    tab = kiosk_page
    _to_phone_step(tab, email_server)
    press_keys(tab, "phone-keypad", "015123456791")
    tab.locator("#phone-next").click()
    tab.locator("#screen-email").wait_for(state="visible")
    assert_accessible(tab, "kiosk e-mail step")
    press_keys(tab, "email-keypad", "ab")
    press_keys(tab, "email-keypad", "@")  # a wrong address comes back as the field's message on this step
    tab.locator("#email-next").click()
    tab.locator("#send").click()
    tab.locator("#screen-email").wait_for(state="visible")
    assert tab.locator("#email-error").inner_text() == "Bitte geben Sie eine E-Mail-Adresse wie name@beispiel.de ein."
    for _ in range(3):
        tab.locator("#email-keypad .key.wide-key").first.click()  # Delete
    press_keys(tab, "email-keypad", "kiosk.user@example.org")
    assert tab.locator("#email-display").inner_text() == "kiosk.user@example.org"
    shot(tab, "kiosk-email-de")
    tab.locator("#email-next").click()
    assert "kiosk.user@example.org" in tab.locator("#summary").inner_text()
    tab.locator("#send").click()
    tab.locator("#screen-receipt").wait_for(state="visible")
    reference = tab.locator("#receipt-reference").inner_text()

    async def given(conn: asyncpg.Connection) -> asyncpg.Record:
        return await conn.fetchrow("SELECT e.channel, e.email FROM email_confirmations e "
                                   "JOIN requests r ON r.id = e.request_id WHERE r.reference = $1", reference)
    row = email_server.db(given)
    assert (row["channel"], row["email"]) == ("kiosk", "kiosk.user@example.org")

    # Skipping leaves no address.
    tab.locator("#screen-receipt [data-reset]").click()
    _to_phone_step(tab, email_server)
    press_keys(tab, "phone-keypad", "015123456792")
    tab.locator("#phone-next").click()
    tab.locator("#email-skip").click()
    assert "@" not in tab.locator("#summary").inner_text()
    tab.locator("#send").click()
    tab.locator("#screen-receipt").wait_for(state="visible")
    skipped = tab.locator("#receipt-reference").inner_text()

    async def none_given(conn: asyncpg.Connection) -> int:
        return int(await conn.fetchval("SELECT count(*) FROM email_confirmations e JOIN requests r "
                                       "ON r.id = e.request_id WHERE r.reference = $1", skipped))
    assert email_server.db(none_given) == 0


def test_web_confirmation_page_asks_before_it_confirms(email_server: Server, page: Any) -> None:  # noqa: F811
    page.goto(f"{email_server.url}/request?lang=de")
    page.locator("#concern-documents").check()
    page.locator("#phone").fill("0151 23456793")
    page.locator("#email").fill("web.user@example.org")
    assert_accessible(page, "web form with e-mail")
    page.get_by_role("button", name="Senden").click()
    page.wait_for_url("**/thanks**")

    async def link(conn: asyncpg.Connection) -> str:
        row = await conn.fetchrow("SELECT payload FROM outbox WHERE kind = 'email.address_confirm' "
                                  "AND recipient = 'web.user@example.org'")
        payload = json.loads(row["payload"]) if isinstance(row["payload"], str) else row["payload"]
        return f"/r/{payload['token']}/email/{payload['code']}"
    path = email_server.db(link)
    page.goto(f"{email_server.url}{path}?lang=de")
    assert "web.user@example.org" in page.locator("main").inner_text()
    assert_accessible(page, "e-mail confirmation page")
    shot(page, "web-email-confirm-de")
    page.get_by_role("button", name="Ja, diese Adresse bestätigen").click()
    page.get_by_text("Ihre E-Mail-Adresse ist bestätigt").wait_for()
    assert_accessible(page, "e-mail confirmed page")
