"""The rule builder in a real browser (Debian chromium + Playwright): a team lead builds a team rule through the
form only (no YAML typed), previews it, activates it, changes it and rolls back; axe-core checks the builder,
the advanced view and the version list."""

from __future__ import annotations

import asyncpg
import pytest
from playwright.async_api import Browser, expect

from scheduler.policy import store
from tests.browser_support import require_chromium
from tests.factories import SiteFacts
from tests.staff.helpers import submit
from tests.staff.test_browser import assert_accessible, screenshot, sign_in


@pytest.fixture(autouse=True, scope="module")
def _chromium_installed() -> None:
    require_chromium()


async def test_a_team_rule_built_in_the_form_is_previewed_activated_and_rolled_back(
        base_url: str, browser: Browser, pool: asyncpg.Pool, conn: asyncpg.Connection, site: SiteFacts) -> None:
    for concern in ("documents", "documents", "general"):
        await submit(pool, phone="+4915123456702", concern=concern)  # the entrance team's (cw.kowalenko)
    page = await browser.new_page(viewport={"width": 1280, "height": 900})
    await sign_in(page, base_url, "lead.entrance")
    await page.get_by_role("link", name="Regeln", exact=True).click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Regeln: Eingangszone")
    await expect(page.get_by_role("link", name="Formular")).to_have_attribute("aria-current", "page")
    await assert_accessible(page)

    # A new rule: documents first. A wrong duration is shown at its field, in German.
    await page.get_by_role("button", name="Regel hinzufügen").click()
    rule = page.locator("#r0")
    await rule.get_by_label("Name der Regel").fill("documents-first")
    await rule.locator("#r0-when").get_by_label("Unterlagen abgeben").check()
    await rule.locator("#r0-then").get_by_label("Priorität").fill("95")
    await rule.locator("#r0-then").get_by_label("Dauer (Minuten)").fill("viel")
    await page.get_by_role("button", name="Prüfen", exact=True).click()
    duration = page.locator("#r0-then-duration")
    await expect(duration).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#r0-then-duration-error")).to_contain_text(
        "Regel „documents-first“, Feld „then.duration“: erlaubt ist eine Dauer wie 20m, 2h oder 1h30m")
    await assert_accessible(page)
    await screenshot(page, "rule-builder-errors")
    await duration.fill("")

    # A rule from the library, edited, then moved to the top: first match wins.
    await page.get_by_role("button", name="Hinzufügen: Dolmetscher nötig → 15 Minuten länger").click()
    second = page.locator("#r1")
    await expect(second.get_by_label("Name der Regel")).to_have_value("interpreter")
    await expect(second.locator("#r1-when").get_by_label("Dolmetschen", exact=True)).to_be_checked()
    await second.locator("#r1-then").get_by_label("Dauer (Minuten)").fill("50")
    await second.get_by_role("button", name="Nach oben").click()
    await expect(page.locator("#r0").get_by_label("Name der Regel")).to_have_value("interpreter")
    await expect(page.locator("#r1").get_by_label("Name der Regel")).to_have_value("documents-first")
    await expect(page.locator("#r1-then").get_by_label("Priorität")).to_have_value("95")  # kept while moving

    await page.get_by_role("button", name="Wirkung vorab ansehen").click()
    preview = page.locator("#preview")
    await expect(preview.locator("tr.changed").first).to_be_visible()
    await expect(preview).to_contain_text("95")
    assert await conn.fetchval("SELECT count(*) FROM policies WHERE scope = 'team'") == 0  # nothing stored yet
    await assert_accessible(page)
    await screenshot(page, "rule-builder")

    await page.get_by_role("button", name="Speichern und aktivieren").click()
    await expect(page.locator(".flash.ok")).to_contain_text("Version 1")
    team = (await store.active(conn, site.site_id)).teams[site.teams["entrance"]]
    assert [r.id for r in team.ruleset.rules] == ["interpreter", "documents-first"]
    assert team.ruleset.rules[1].then.priority == 95 and team.ruleset.rules[0].then.duration.seconds == 50 * 60

    # Changed once more in the form (priority 80), then rolled back to version 1 from the version list.
    await expect(page.locator("#r1-then").get_by_label("Priorität")).to_have_value("95")
    await page.locator("#r1-then").get_by_label("Priorität").fill("80")
    await page.get_by_role("button", name="Speichern und aktivieren").click()
    await expect(page.locator(".flash.ok")).to_contain_text("Version 2")
    versions = page.locator("#rule-versions")
    await expect(versions.locator("#version-2")).to_contain_text("aktiv")
    await assert_accessible(page)
    await screenshot(page, "rule-builder-versions")
    await versions.locator('button[data-activate="1"]').click()
    await expect(page.locator(".flash.ok")).to_be_visible()
    active = (await store.active(conn, site.site_id)).teams[site.teams["entrance"]]
    assert active.version == 1 and active.ruleset.rules[1].then.priority == 95
    await expect(page.locator("#r1-then").get_by_label("Priorität")).to_have_value("95")

    # The same rules in the advanced view, as YAML.
    await page.get_by_role("link", name="Erweitert (YAML)").click()
    await expect(page.get_by_label("Regelwerk (YAML)", exact=False)).to_contain_text("documents-first")
    await assert_accessible(page)
    await screenshot(page, "rule-builder-advanced")
    await page.close()
