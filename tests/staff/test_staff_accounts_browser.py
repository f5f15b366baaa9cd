"""Staff accounts in a real browser (Debian chromium + Playwright): an admin creates a team lead and issues a
password link; the lead opens it in a fresh browser, sets a password and signs in. axe-core on every page."""

from __future__ import annotations

import asyncpg
import pytest
from playwright.async_api import Browser, expect

from tests.browser_support import require_chromium
from tests.staff.test_browser import assert_accessible, screenshot, sign_in

LEAD_PASSWORD = "Kaffee-Fenster-Regen-7"


@pytest.fixture(autouse=True, scope="module")
def _chromium_installed() -> None:
    require_chromium()


async def test_an_admin_creates_a_team_lead_who_sets_a_password_and_signs_in(
        base_url: str, browser: Browser, conn: asyncpg.Connection) -> None:
    admin = await (await browser.new_context(viewport={"width": 1280, "height": 900})).new_page()
    await sign_in(admin, base_url, "admin")
    await admin.get_by_role("link", name="Verwaltung", exact=True).click()
    await admin.get_by_role("link", name="Neues Mitarbeiterkonto").click()
    await expect(admin.get_by_role("heading", level=1)).to_have_text("Neues Mitarbeiterkonto")
    await assert_accessible(admin)

    # A taken username comes back at its field, with what was typed.
    await admin.get_by_label("Benutzername").fill("cw.meyer")
    await admin.get_by_label("Name", exact=True).fill("Lena Leitung")
    await admin.get_by_label("E-Mail (freiwillig)").fill("l.leitung@jobcenter.example")
    await admin.get_by_label("Rolle").select_option(label="Teamleitung")
    await admin.get_by_label("Team").select_option(label="Eingangszone")
    await admin.get_by_role("checkbox", name="English").check()
    await admin.get_by_role("button", name="Mitarbeiterkonto anlegen").click()
    await expect(admin.locator("#f-username-error")).to_have_text(
        "Dieser Benutzername ist schon vergeben. Bitte wählen Sie einen anderen.")
    await expect(admin.get_by_label("Benutzername")).to_have_attribute("aria-invalid", "true")
    await expect(admin.get_by_label("Name", exact=True)).to_have_value("Lena Leitung")
    await assert_accessible(admin)
    await screenshot(admin, "staff-new-field-error")

    await admin.get_by_label("Benutzername").fill("lead.leitung")
    await admin.get_by_role("button", name="Mitarbeiterkonto anlegen").click()
    await expect(admin.locator(".flash.ok")).to_contain_text("Mitarbeiterkonto angelegt")
    await expect(admin.get_by_role("heading", level=1)).to_have_text("Lena Leitung")
    row = await conn.fetchrow("SELECT role, languages, password_hash FROM staff WHERE username = 'lead.leitung'")
    assert row["role"] == "team_lead" and row["languages"] == ["de", "en"] and row["password_hash"] is None

    await admin.get_by_role("button", name="Passwort-Link erstellen").click()
    await expect(admin.get_by_role("heading", level=1)).to_have_text("Passwort-Link für Lena Leitung")
    link = await admin.get_by_label("Einmal-Link").input_value()
    assert link.startswith("http://localhost:8080/staff/password/")
    await assert_accessible(admin)
    await screenshot(admin, "staff-password-link")

    # The lead, on their own computer (a fresh browser context, no cookies).
    lead = await (await browser.new_context(viewport={"width": 1024, "height": 800}, locale="de-DE")).new_page()
    await lead.goto(base_url + "/" + link.split("/", 3)[3])
    await expect(lead.get_by_role("heading", level=1)).to_have_text("Passwort festlegen")
    await lead.get_by_label("Neues Passwort", exact=True).fill("Passwort123456")
    await lead.get_by_label("Neues Passwort wiederholen").fill("Passwort123456")
    await lead.get_by_role("button", name="Passwort festlegen").click()
    await expect(lead.locator("#p-password-error")).to_contain_text("zu verbreitet")
    await assert_accessible(lead)
    await screenshot(lead, "staff-password-set-refused")
    await lead.get_by_label("Neues Passwort", exact=True).fill(LEAD_PASSWORD)
    await lead.get_by_label("Neues Passwort wiederholen").fill(LEAD_PASSWORD)
    await lead.get_by_role("button", name="Passwort festlegen").click()
    await expect(lead.locator(".flash.ok")).to_contain_text("Ihr Passwort ist gesetzt")
    await lead.get_by_label("Benutzername").fill("lead.leitung")
    await lead.get_by_label("Passwort").fill(LEAD_PASSWORD)
    await lead.get_by_role("button", name="Anmelden").click()
    await expect(lead.get_by_role("heading", level=1)).to_have_text("Posteingang")
    await lead.get_by_role("link", name="Mein Konto").click()
    await expect(lead.locator("#sessions tbody tr")).to_have_count(1)
    await expect(lead.locator("#sessions")).to_contain_text("diese Sitzung")
    await assert_accessible(lead)
    await screenshot(lead, "staff-own-account")

    # The link was used up.
    used = await (await browser.new_context(locale="de-DE")).new_page()
    await used.goto(base_url + "/" + link.split("/", 3)[3])
    await expect(used.get_by_role("heading", level=1)).to_have_text("Link nicht mehr gültig")
    await assert_accessible(used)
