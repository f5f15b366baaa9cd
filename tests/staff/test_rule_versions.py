"""The rules page's impact preview (last N weeks) and its versions with their changes in words: in the version
list and in the message after activation and roll-back; in a browser with axe-core too."""

from __future__ import annotations

import re
from pathlib import Path

import asyncpg
import pytest
from aiohttp.test_utils import TestClient
from playwright.async_api import Browser, expect

from tests.browser_support import chromium_available
from tests.factories import SiteFacts
from tests.staff.helpers import flash, sign_in, submit
from tests.staff.test_browser import assert_accessible
from tests.staff.test_browser import sign_in as browser_sign_in

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"

FIRST = """rules:
  - id: money-first
    when: {concern: [no_money]}
    then: {priority: 90}
"""
SECOND = FIRST.replace("priority: 90", "priority: 95")


async def _post(client: TestClient, csrf: str, **data: str) -> tuple[int, str]:
    r = await client.post("/staff/rules", data={"csrf_token": csrf, **data}, allow_redirects=False)
    if r.status == 303:  # follow by hand, so the flash cookie is read by the next page
        return r.status, await (await client.get(r.headers["Location"])).text()
    return r.status, await r.text()


async def test_the_preview_counts_the_impact_over_the_weeks_asked_for(
        client: TestClient, pool: asyncpg.Pool, conn: asyncpg.Connection) -> None:
    money = [await submit(pool, concern="no_money") for _ in range(2)]  # routed to the entrance team
    csrf = await sign_in(client, "lead.entrance")
    draft = FIRST.replace("priority: 90", "priority: 99")
    before = await conn.fetchval("SELECT count(*) FROM policies")
    status, html = await _post(client, csrf, yaml=draft, action="preview", weeks="2")
    assert status == 200 and 'id="preview-impact"' in html
    assert "Auswirkung auf die Anfragen der letzten 2 Wochen" in html
    assert re.search(r'data-count="prioritised">2<', html) and re.search(r'data-count="routed">0<', html)
    assert all(f'id="impact-{m.id}"' in html for m in money)
    assert "Priorität 90 → 99" in html
    assert await conn.fetchval("SELECT count(*) FROM policies") == before  # nothing stored

    status, html = await _post(client, csrf, yaml=draft, action="preview", weeks="13")
    assert status == 422 and 'aria-invalid="true"' in html
    assert "Bitte eine Zahl von Wochen zwischen 1 und 12 eingeben." in html and 'id="preview-impact"' not in html


async def test_activation_and_roll_back_say_what_changed(client: TestClient, conn: asyncpg.Connection,
                                                         site: SiteFacts) -> None:
    csrf = await sign_in(client, "lead.entrance")
    status, html = await _post(client, csrf, yaml=FIRST, action="activate")
    assert status == 303 and flash(html) == "Version 1 ist jetzt aktiv."
    status, html = await _post(client, csrf, yaml=SECOND, action="activate")
    assert flash(html) == "Version 2 ist jetzt aktiv. Änderungen: Priorität für „Kein Geld mehr“ 90 → 95"

    html = await (await client.get("/staff/rules")).text()
    row = html.split('<tr id="version-2"')[1].split("</tr>")[0]
    assert "<li>Priorität für „Kein Geld mehr“ 90 → 95</li>" in row and "Lena Leitner" in row
    assert "Erste Version" in html.split('<tr id="version-1"')[1].split("</tr>")[0]

    first_id = await conn.fetchval("SELECT id FROM policies WHERE scope = 'team' AND team_id = $1 AND version = 1",
                                   site.teams["entrance"])
    r = await client.post(f"/staff/rules/{first_id}/activate", data={"csrf_token": csrf}, allow_redirects=False)
    assert r.status == 303
    html = await (await client.get(r.headers["Location"])).text()
    assert flash(html) == "Version 1 ist jetzt aktiv. Änderungen: Priorität für „Kein Geld mehr“ 95 → 90"

    english = await (await client.get("/staff/rules?lang=en")).text()
    assert "<li>Priority for “No money left” 90 → 95</li>" in english


@pytest.mark.skipif(not chromium_available(), reason="needs Debian's chromium")
async def test_the_impact_and_the_versions_in_a_browser(base_url: str, browser: Browser, pool: asyncpg.Pool) -> None:
    await submit(pool, concern="no_money")
    page = await browser.new_page(viewport={"width": 1280, "height": 900})
    await browser_sign_in(page, base_url, "lead.entrance")
    await page.goto(f"{base_url}/staff/rules?view=advanced")
    await page.locator("#yaml").fill(FIRST.replace("priority: 90", "priority: 99"))
    await page.locator("#preview-weeks").fill("3")
    await page.locator('button[name="action"][value="preview"]').click()
    await expect(page.locator("#preview-impact")).to_contain_text("der letzten 3 Wochen")
    await expect(page.locator('#impact-counts [data-count="total"]')).to_have_text("1")
    await expect(page.locator('#impact-counts [data-count="prioritised"]')).to_have_text("1")
    await expect(page.locator("#impact-rows")).to_contain_text("Priorität 90 → 99")
    await assert_accessible(page)
    await page.locator("#preview-impact").screenshot(path=str(ARTIFACTS / "preview-impact.png"))
    await page.locator("#yaml").fill(FIRST)
    await page.locator('button[name="action"][value="activate"]').click()
    await page.goto(f"{base_url}/staff/rules?view=advanced")
    await page.locator("#yaml").fill(SECOND)
    await page.locator('button[name="action"][value="activate"]').click()
    await expect(page.locator(".flash.ok")).to_contain_text("Priorität für „Kein Geld mehr“ 90 → 95")
    await expect(page.locator("#version-2 td.changes")).to_contain_text("90 → 95")
    await assert_accessible(page)
    await page.close()
