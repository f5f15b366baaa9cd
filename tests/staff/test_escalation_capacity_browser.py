"""The escalation list and the demand/capacity page in a real browser (Debian chromium + Playwright): the count in
the navigation, a bulk reassignment by ticking boxes, the chart drawn over the table; axe-core on both pages;
screenshots tests/artifacts/escalation.png and tests/artifacts/demand-capacity.png."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from playwright.async_api import Browser, Page, expect

from scheduler import approvals
from tests.browser_support import require_chromium
from tests.factories import SiteFacts, create_client, create_request
from tests.staff.test_browser import PROJECT, assert_accessible, sign_in

ARTIFACTS = PROJECT / "tests" / "artifacts"


@pytest.fixture(autouse=True, scope="module")
def _chromium_installed() -> None:
    require_chromium()


async def picture(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


async def test_lead_reassigns_escalated_requests(base_url: str, browser: Browser, pool: asyncpg.Pool,
                                                 conn: asyncpg.Connection, site: SiteFacts) -> None:
    references = []
    for i, concern in enumerate(("general", "general", "general")):
        request_id = await create_request(conn, site, team="placement", staff="cw.meyer" if i else None,
                                          concern=concern, created_at=datetime.now(UTC) - timedelta(days=4 - i))
        await conn.execute("UPDATE requests SET deadline_at = now() - make_interval(hours => $2) WHERE id = $1",
                           request_id, 30 - i * 10)
        references.append(await conn.fetchval("SELECT reference FROM requests WHERE id = $1", request_id))
    await approvals.flag_overdue(pool, now=datetime.now(UTC))

    page = await (await browser.new_context(viewport={"width": 1280, "height": 900})).new_page()
    await sign_in(page, base_url, "lead.placement")
    link = page.get_by_role("link", name="Eskalation")
    await expect(link).to_contain_text("3")
    await link.click()
    await expect(page.get_by_role("heading", level=1)).to_contain_text("Eskalation – Arbeitsvermittlung")
    for reference in references:
        await expect(page.locator("table")).to_contain_text(reference)
    await assert_accessible(page)
    await picture(page, "escalation")

    await page.get_by_label(f"{references[0]} auswählen").check()
    await page.get_by_label(f"{references[1]} auswählen").check()
    await page.get_by_label("An Sachbearbeitung").select_option(label="Elif Demir")
    await page.get_by_role("button", name="Neu zuweisen").click()
    await expect(page.locator(".flash.ok")).to_contain_text("neu zugewiesen")
    await expect(page.locator("table")).not_to_contain_text(references[0])
    await expect(page.get_by_role("link", name="Eskalation")).to_contain_text("1")


async def test_demand_against_capacity_with_chart_and_table(base_url: str, browser: Browser,
                                                            conn: asyncpg.Connection, site: SiteFacts) -> None:
    # 12 weeks of history for the placement team, more web than phone: 220 requests a week against about 160 free slots.
    client_id = await create_client(conn, site)
    await conn.execute(
        """
        INSERT INTO requests (site_id, client_id, concern_id, channel, status, reference, link_token, team_id,
                              created_at, closed_at)
        SELECT $1, $2, $3, CASE WHEN g % 3 = 0 THEN 'phone' ELSE 'web' END, 'done', 'H' || g, md5(g::text || 'h'),
               $4, now() - (g * interval '30 minutes') - interval '7 days', now()
        FROM generate_series(1, 2640) AS g
        """, site.site_id, client_id, site.concerns["general"], site.teams["placement"])

    page = await (await browser.new_context(viewport={"width": 1280, "height": 1000})).new_page()
    await sign_in(page, base_url, "lead.placement")
    await page.get_by_role("link", name="Bedarf und Kapazität").click()
    await expect(page.get_by_role("heading", level=1)).to_contain_text("Arbeitsvermittlung")
    await expect(page.locator("body")).to_have_attribute("data-charts", "drawn")
    await expect(page.locator("#capacity-table tbody tr")).to_have_count(6)
    await expect(page.locator("#capacity-table")).to_contain_text("Bedarf über Kapazität")
    await page.get_by_text("Wie diese Vorschau entsteht").click()
    await expect(page.get_by_text("saisonale Durchschnitt")).to_be_visible()
    await assert_accessible(page)
    await picture(page, "demand-capacity")
