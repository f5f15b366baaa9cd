"""The staff invitation form: a notice template, what to bring, and optionally a fixed time in local time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg
from aiohttp.test_utils import TestClient

from scheduler import appointments, approvals, seed, sites
from tests.factories import SiteFacts
from tests.staff.helpers import flash, sign_in


async def test_a_fixed_local_time_books_the_invitation(client: TestClient, conn: asyncpg.Connection,
                                                       site: SiteFacts) -> None:
    await seed.insert_notice_templates(conn, site.site_id, site.staff["admin"])
    template_id = await conn.fetchval("SELECT id FROM notice_templates WHERE kind = 'voluntary'")
    site_row = await sites.site_by_id(conn, site.site_id)
    now = datetime.now(UTC)
    day = site_row.calendar().local_date(now) + timedelta(days=8)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    free = await approvals.free_slots(conn, site=site_row, staff_id=site.staff["cw.meyer"], day=day,
                                      duration=timedelta(minutes=30), now=now)
    local = free[0].start.astimezone(ZoneInfo("Europe/Berlin"))
    csrf = await sign_in(client, "cw.meyer")
    form = {"phone": "0151 22334466", "concern": "general", "language": "uk", "template": str(template_id),
            "csrf_token": csrf, "fixed_mode": "in_person"}
    bad = await client.post("/staff/invite?lang=de", data={**form, "fixed_start": "nächsten Montag"})
    assert "Bitte geben Sie Datum und Uhrzeit ein" in flash(await bad.text())
    too_long = await client.post("/staff/invite?lang=en", data={**form, "bring": "x" * 501})
    assert flash(await too_long.text())
    assert await conn.fetchval("SELECT count(*) FROM invitation_notices") == 0
    r = await client.post("/staff/invite", data={**form, "fixed_start": local.strftime("%Y-%m-%dT%H:%M")},
                          allow_redirects=False)
    assert r.status == 303
    request_id = int(r.headers["Location"].rsplit("/", 1)[1])
    booked = await appointments.latest_for_request(conn, request_id)
    assert booked is not None and booked.start == free[0].start
