"""A bulk move in a real browser (Debian chromium + Playwright): an admin enters a closure day that hits two
booked appointments, the review preselects a proposal for each, one confirmation moves both."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import asyncpg
import pytest
from playwright.async_api import Browser, expect

from scheduler import approvals, sites
from tests.browser_support import require_chromium
from tests.factories import SiteFacts, create_appointment, create_request
from tests.staff.test_browser import assert_accessible, screenshot, sign_in
from tests.test_moves import NOW


@pytest.fixture(autouse=True, scope="module")
def _chromium_installed() -> None:
    require_chromium()


async def _two_booked_on_one_day(conn: asyncpg.Connection, site: SiteFacts) -> tuple[date, list[int]]:
    """A working day (a week or more ahead) with a booked appointment for cw.meyer and one for cw.demir, each
    of its own client (with SMS consent) and request of the placement team."""
    site_ = await sites.site_by_id(conn, site.site_id)
    day = site_.calendar().local_date(NOW) + timedelta(days=7)
    for _ in range(30):
        day += timedelta(days=1)
        free = {username: await approvals.free_slots(conn, site=site_, staff_id=site.staff[username], day=day,
                                                     duration=timedelta(minutes=30), now=NOW)
                for username in ("cw.meyer", "cw.demir")}
        if all(free.values()):
            ids = []
            for username, slots in free.items():
                request_id = await create_request(conn, site, status="scheduled", staff=username, team="placement")
                ids.append(await create_appointment(conn, site, staff=username, start=slots[0].start,
                                                    request_id=request_id))
            return day, ids
    raise AssertionError("no working day with free time for both")


async def test_closure_day_review_and_confirm_moves_both_appointments(
        base_url: str, browser: Browser, conn: asyncpg.Connection, site: SiteFacts) -> None:
    day, appointment_ids = await _two_booked_on_one_day(conn, site)
    before = {r["id"]: r for r in await conn.fetch(
        "SELECT id, lower(during) AS start, sequence, client_id FROM appointments WHERE id = ANY($1)", appointment_ids)}
    page = await browser.new_page(viewport={"width": 1280, "height": 900})
    await sign_in(page, base_url, "admin")

    # The admin enters the closure day in the administration pages.
    await page.get_by_role("link", name="Verwaltung").click()
    await page.get_by_role("link", name="Schließtage").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Schließtage")
    await page.get_by_label("Datum").fill(day.isoformat())
    await page.get_by_label("Grund").fill("Betriebsversammlung")
    await page.get_by_role("button", name="Speichern", exact=True).click()

    # The review lists both hit appointments, each with a proposal preselected; nothing has moved yet.
    await expect(page.locator(".flash.ok")).to_contain_text("Gespeichert")
    await expect(page.get_by_role("heading", level=1)).to_contain_text("Termine verschieben")
    rows = page.locator("#bulk-moves tbody tr")
    await expect(rows).to_have_count(2)
    chosen: dict[int, tuple[int, datetime]] = {}
    for appointment_id in appointment_ids:
        value = await page.locator(f"#move-{appointment_id}").input_value()
        assert value, f"no proposal preselected for appointment {appointment_id}"
        staff_id, start, _mode = value.split("|")
        chosen[appointment_id] = (int(staff_id), datetime.fromisoformat(start))
    calendar = (await sites.site_by_id(conn, site.site_id)).calendar()
    assert all(calendar.local_date(start) != day for _, start in chosen.values())
    assert len(set(chosen.values())) == 2  # one review never proposes the same time twice
    assert await conn.fetchval("SELECT count(*) FROM appointments WHERE id = ANY($1) AND sequence > 0",
                               appointment_ids) == 0
    await assert_accessible(page)
    await screenshot(page, "bulk-move-review")

    # One confirmation moves the batch.
    await page.get_by_role("button", name="Diese Termine verschieben").click()
    await expect(page.locator(".flash.ok")).to_contain_text("2 Termine wurden verschoben")
    await expect(page.locator("#bulk-moves")).to_have_count(0)  # the closure day hits nothing any more
    await assert_accessible(page)

    for appointment_id in appointment_ids:
        moved = await conn.fetchrow("SELECT staff_id, lower(during) AS start, sequence, status FROM appointments "
                                    "WHERE id = $1", appointment_id)
        assert (moved["staff_id"], moved["start"]) == chosen[appointment_id]
        assert calendar.local_date(moved["start"]) != day and moved["status"] == "confirmed"
        assert moved["sequence"] == before[appointment_id]["sequence"] + 1
    sms = await conn.fetch("SELECT o.appointment_id, o.idempotency_key, o.recipient, c.phone FROM outbox o "
                           "JOIN appointments a ON a.id = o.appointment_id JOIN clients c ON c.id = a.client_id "
                           "WHERE o.appointment_id = ANY($1) AND o.kind = 'sms.appointment_moved'", appointment_ids)
    assert sorted(r["appointment_id"] for r in sms) == sorted(appointment_ids)  # one per client
    assert all(r["idempotency_key"] == f"appointment:{r['appointment_id']}:moved:1" and r["recipient"] == r["phone"]
               for r in sms)
    assert len({before[i]["client_id"] for i in appointment_ids}) == 2
    await page.close()
