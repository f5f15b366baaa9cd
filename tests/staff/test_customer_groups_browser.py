"""Customer groups in a real browser (Debian chromium + Playwright): an admin adds a group on the admin page
(axe-core finds no violations, also with a field error shown), and a team lead picks it in the rule builder."""

from __future__ import annotations

import asyncpg
import pytest
from playwright.async_api import Browser, expect

from scheduler.policy import store
from tests.browser_support import require_chromium
from tests.factories import SiteFacts
from tests.staff.test_browser import assert_accessible, screenshot, sign_in


@pytest.fixture(autouse=True, scope="module")
def _chromium_installed() -> None:
    require_chromium()


async def test_an_admin_adds_a_group_and_a_team_lead_picks_it_in_the_builder(
        base_url: str, browser: Browser, conn: asyncpg.Connection, site: SiteFacts) -> None:
    page = await browser.new_page(viewport={"width": 1280, "height": 900})
    await sign_in(page, base_url, "admin")
    await page.goto(f"{base_url}/staff/admin/customer-groups")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Kundengruppen")
    await expect(page.locator('tr[data-group-code="reha"]')).to_be_visible()
    await assert_accessible(page)

    # A code of the wrong shape is shown at its field; then the corrected group is added.
    await page.get_by_label("Kürzel", exact=True).fill("Wohnungslos!")
    await page.get_by_label("Bezeichnung (Deutsch)", exact=True).fill("Wohnungslos")
    await page.get_by_label("Bezeichnung (Englisch)", exact=True).fill("Homeless")
    # The browser's own check of the pattern would stop the form; the server's answer is what is tested here.
    await page.locator("#new-code").evaluate("e => e.removeAttribute('pattern')")
    await page.get_by_role("button", name="Kundengruppe hinzufügen").click()
    await expect(page.locator("#new-code")).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#new-code-error")).to_contain_text("Bitte geben Sie ein Kürzel")
    await assert_accessible(page)
    await page.get_by_label("Kürzel", exact=True).fill("wohnungslos")
    await page.get_by_role("button", name="Kundengruppe hinzufügen").click()
    await expect(page.locator(".flash.ok")).to_contain_text("Kundengruppe gespeichert.")
    await expect(page.locator('tr[data-group-code="wohnungslos"]')).to_be_visible()
    await assert_accessible(page)
    await screenshot(page, "customer-groups-admin")
    await page.context.close()

    lead = await browser.new_page(viewport={"width": 1280, "height": 900})
    await sign_in(lead, base_url, "lead.u25")
    await lead.goto(f"{base_url}/staff/rules")
    await lead.get_by_role("button", name="Regel hinzufügen").click()
    rule = lead.locator("#r0")
    await rule.get_by_label("Name der Regel").fill("homeless-first")
    await rule.locator("#r0-when").get_by_label("Wohnungslos", exact=True).check()
    await rule.locator("#r0-then").get_by_label("Priorität").fill("85")
    await assert_accessible(lead)
    await lead.get_by_role("button", name="Speichern und aktivieren").click()
    await expect(lead.locator(".flash.ok")).to_contain_text("Version 1")
    await expect(lead.locator("#r0-when").get_by_label("Wohnungslos", exact=True)).to_be_checked()
    team = (await store.active(conn, site.site_id)).teams[site.teams["u25"]]
    assert [(r.id, r.when.groups, r.then.priority) for r in team.ruleset.rules] == [
        ("homeless-first", ("wohnungslos",), 85)]
    await screenshot(lead, "customer-groups-rule-builder")
