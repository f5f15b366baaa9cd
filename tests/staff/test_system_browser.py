"""A new office set up entirely in the browser (issue 18, Debian chromium + Playwright): a system administrator
creates a site with its host name and Twilio number, adds its first team, follows the link to its first team
lead and gets a one-time password link. axe-core on the list, the site form with field errors and the site page."""

from __future__ import annotations

import asyncpg
import pytest
from playwright.async_api import Browser, expect

from scheduler import site_addresses
from tests.browser_support import require_chromium
from tests.staff.test_browser import assert_accessible, screenshot, sign_in


@pytest.fixture(autouse=True, scope="module")
def _chromium_installed() -> None:
    require_chromium()


async def test_a_system_admin_sets_up_a_new_office_and_its_first_team_lead(
        base_url: str, browser: Browser, conn: asyncpg.Connection) -> None:
    await conn.execute("UPDATE staff SET system_admin = true WHERE username = 'admin'")
    page = await (await browser.new_context(viewport={"width": 1280, "height": 900})).new_page()
    await sign_in(page, base_url, "admin")
    await page.get_by_role("link", name="Standorte").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Standorte")
    await expect(page.locator('tr[data-site-code="musterstadt"]')).to_be_visible()
    await assert_accessible(page)

    await page.get_by_role("link", name="Neuer Standort").click()
    await page.locator("#code").fill("neustadt")
    await page.locator("#name").fill("Jobcenter Neustadt")
    await page.get_by_label("Postanschrift").fill("Marktplatz 1, 31535 Neustadt")
    await page.get_by_label("Feiertage von").fill("DE-NI")
    await page.get_by_label("Türkçe").check()
    await page.get_by_label("Öffnungszeiten").fill("mon-fri: 08:00-12:30\nthu: 14:00-17:00")
    await page.get_by_label("SMS-Absendername").fill("JC-Neustadt")
    await page.get_by_label("Twilio-Nummern").fill("+49 5032 123450")
    await page.get_by_label("Hostnamen").fill("termine.jobcenter-neustadt.example")
    await page.get_by_role("button", name="Standort anlegen").click()
    await expect(page.locator("#sms_sender-error")).to_have_text(
        "Bitte geben Sie 1 bis 11 Buchstaben, Ziffern oder Leerzeichen ein, mindestens einen Buchstaben.")
    await expect(page.get_by_label("SMS-Absendername")).to_have_attribute("aria-invalid", "true")
    await assert_accessible(page)
    await screenshot(page, "system-site-errors")
    await page.get_by_label("SMS-Absendername").fill("JC Neustadt")
    await page.get_by_role("button", name="Standort anlegen").click()

    await expect(page.locator("p.flash.ok")).to_have_text("Der Standort ist angelegt. Legen Sie jetzt sein erstes "
                                                          "Team an.")
    site_id = await conn.fetchval("SELECT id FROM sites WHERE code = 'neustadt'")
    assert await site_addresses.site_id_by_host(conn, "termine.jobcenter-neustadt.example") == site_id
    assert await site_addresses.site_id_by_number(conn, "+495032123450") == site_id
    await page.locator("#team-code").fill("entrance")
    await page.locator("#team-name").fill("Eingangszone")
    await page.locator("#team-code").press("Enter")
    await expect(page.locator('tr[data-team-code="entrance"]')).to_be_visible()
    await assert_accessible(page)
    await screenshot(page, "system-site")

    await page.get_by_role("link", name="Erste Teamleitung anlegen").click()
    await expect(page.get_by_text("Jobcenter Neustadt")).to_be_visible()
    await page.get_by_label("Benutzername").fill("lead.neustadt")
    await page.locator("#f-display_name").fill("Lea Leitung")
    await page.get_by_label("Rolle").select_option(label="Teamleitung")
    await page.get_by_label("Team", exact=True).select_option(label="Eingangszone")
    await page.get_by_role("button", name="Mitarbeiterkonto anlegen").click()
    await page.get_by_role("button", name="Passwort-Link erstellen").click()
    link = await page.locator("#password-link").input_value()
    assert "/staff/" in link and len(link.rsplit("/", 1)[1]) >= 32
    lead = await conn.fetchrow("SELECT site_id, role, team_id FROM staff WHERE username = 'lead.neustadt'")
    assert (lead["site_id"], lead["role"]) == (site_id, "team_lead")
    assert lead["team_id"] == await conn.fetchval("SELECT id FROM teams WHERE site_id = $1", site_id)
