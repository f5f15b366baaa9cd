"""A caseworker's own rules in a real browser (Debian chromium + Playwright), through the form only (no YAML):
a widening attempt shows its field error, then build, preview, activate and roll back; axe-core finds no
violations; a screenshot of the page with its preview."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg
import pytest
from playwright.async_api import Browser, expect

from scheduler import intake
from scheduler.policy import store
from scheduler.policy.rules import Kind
from tests.browser_support import require_chromium
from tests.factories import SiteFacts
from tests.staff.helpers import MEYER_CLIENT
from tests.staff.test_browser import assert_accessible, screenshot, sign_in


@pytest.fixture(autouse=True, scope="module")
def _chromium_installed() -> None:
    require_chromium()


async def _active_version(conn: asyncpg.Connection, site: SiteFacts) -> int | None:
    versions = await store.history(conn, site_id=site.site_id, scope=store.Scope.caseworker,
                                   staff_id=site.staff["cw.meyer"])
    return next((v.version for v in versions if v.status is store.PolicyStatus.active), None)


async def test_a_caseworker_builds_previews_activates_and_rolls_back_own_rules(
        base_url: str, browser: Browser, pool: asyncpg.Pool, conn: asyncpg.Connection, site: SiteFacts) -> None:
    submitted = await intake.submit(pool, intake.Intake(
        site="musterstadt", kind=Kind.appointment, channel="web", concern="job_offer", phone=MEYER_CLIENT,
        language="de", sms_consent=True, modes=("in_person", "phone", "video")), now=datetime.now(UTC))
    page = await (await browser.new_context(viewport={"width": 1280, "height": 900})).new_page()
    await sign_in(page, base_url, "cw.meyer")
    await page.get_by_role("link", name="Meine Regeln", exact=True).click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Meine Regeln")
    await assert_accessible(page)

    # Widening the team's cap is refused at the field, with its sentence; nothing is stored.
    await page.get_by_label("Meine Tagesobergrenze für Termine").fill("12")
    await page.get_by_role("button", name="Speichern und aktivieren").click()
    cap = page.get_by_label("Meine Tagesobergrenze für Termine")
    await expect(cap).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#e-appointments_cap")).to_contain_text("Ihr Team erlaubt höchstens 8 am Tag")
    await assert_accessible(page)
    assert await _active_version(conn, site) is None

    # A lower cap, a buffer, phone for job offers, Monday paperwork mornings: preview on my open requests.
    await cap.fill("6")
    await page.get_by_label("Puffer zwischen Terminen (Minuten)").fill("15")
    await page.locator("#mode-job_offer-phone").check()
    await page.locator("#bw-0").select_option("0")
    await page.locator("#bf-0").fill("08:00")
    await page.locator("#bt-0").fill("10:00")
    await page.locator("#bl-0").fill("Schreibarbeit")
    await page.get_by_role("button", name="Vorschau auf meine offenen Anfragen").click()
    preview = page.locator("#preview")
    await expect(preview).to_contain_text(submitted.reference)
    await expect(preview.locator("tr.changed ins").first).to_contain_text("Am Telefon")
    await expect(page.get_by_label("Meine Tagesobergrenze für Termine")).to_have_value("6")  # the form keeps it
    await assert_accessible(page)
    await screenshot(page, "caseworker-rules")
    assert await _active_version(conn, site) is None  # a preview stores nothing

    await page.get_by_role("button", name="Speichern und aktivieren").click()
    await expect(page.locator(".flash.ok")).to_contain_text("Version 1 Ihrer Regeln ist jetzt aktiv")
    await expect(page.locator("#bf-0")).to_have_value("08:00")
    assert await _active_version(conn, site) == 1

    await page.get_by_label("Meine Tagesobergrenze für Termine").fill("4")
    await page.get_by_role("button", name="Speichern und aktivieren").click()
    await expect(page.locator(".flash.ok")).to_contain_text("Version 2 Ihrer Regeln ist jetzt aktiv")
    await page.get_by_role("button", name="Zurück zu Version 1").click()
    await expect(page.locator(".flash.ok")).to_contain_text("Die gewählte Version Ihrer Regeln ist jetzt aktiv")
    await expect(page.get_by_label("Meine Tagesobergrenze für Termine")).to_have_value("6")
    assert await _active_version(conn, site) == 1
    await assert_accessible(page)
