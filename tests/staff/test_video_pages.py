"""Video appointments on staff pages (issue 17): the admin sets the office's video service; the caseworker finds
each video appointment's room link in the calendar and the today list."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
from aiohttp.test_utils import TestClient

from scheduler import sites, video_rooms
from scheduler.appointments import get
from tests import factories
from tests.factories import SiteFacts
from tests.staff.helpers import flash, sign_in


async def test_the_admin_sets_checks_and_clears_the_video_service(client: TestClient, conn: asyncpg.Connection,
                                                                  site: SiteFacts) -> None:
    csrf = await sign_in(client, "admin")
    html = await (await client.get("/staff/admin/video")).text()
    assert 'value="https://meet.jit.si/jc-musterstadt-{room}"' in html  # the demo's Jitsi
    for bad in ("http://meet.example/{room}", "https://meet.example/room", "https://x.example/" + "a" * 300 + "{room}"):
        r = await client.post("/staff/admin/video", data={"csrf_token": csrf, "video_url_template": bad})
        assert r.status == 200 and "https" in flash(await r.text())
    assert await sites.video_url_template(conn, site.site_id) == "https://meet.jit.si/jc-musterstadt-{room}"
    r = await client.post("/staff/admin/video", data={"csrf_token": csrf,
                                                       "video_url_template": "https://bbb.example.org/b/{room}"})
    assert r.status == 200 and flash(await r.text()) == "Gespeichert."
    assert await sites.video_url_template(conn, site.site_id) == "https://bbb.example.org/b/{room}"
    await client.post("/staff/admin/video", data={"csrf_token": csrf, "video_url_template": "  "})
    assert await sites.video_url_template(conn, site.site_id) is None
    assert await conn.fetchval("SELECT count(*) FROM audit_events WHERE action = 'site.video_service'") == 2


async def test_only_admins_set_the_video_service(client: TestClient, conn: asyncpg.Connection,
                                                 site: SiteFacts) -> None:
    csrf = await sign_in(client, "lead.entrance")
    assert (await client.get("/staff/admin/video")).status == 403
    r = await client.post("/staff/admin/video", data={"csrf_token": csrf,
                                                       "video_url_template": "https://evil.example/{room}"})
    assert r.status == 403
    assert await sites.video_url_template(conn, site.site_id) == "https://meet.jit.si/jc-musterstadt-{room}"


async def test_the_caseworker_sees_the_room_link_in_calendar_and_today_list(client: TestClient,
                                                                            conn: asyncpg.Connection,
                                                                            site: SiteFacts) -> None:
    start = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(minutes=10)
    video_id = await factories.create_appointment(conn, site, start=start, mode="video")
    other_id = await factories.create_appointment(conn, site, start=start + timedelta(hours=1))
    await video_rooms.ensure(conn, [await get(conn, video_id), await get(conn, other_id)])
    room = await conn.fetchval("SELECT room FROM video_rooms WHERE appointment_id = $1", video_id)
    assert await conn.fetchval("SELECT count(*) FROM video_rooms") == 1
    link = f"https://meet.jit.si/jc-musterstadt-{room}"
    await sign_in(client, "cw.meyer")
    for path in ("/staff/calendar", "/staff/today?view=mine"):
        html = await (await client.get(path)).text()
        assert html.count(f'href="{link}"') == 1, path
    # Another caseworker's list does not carry it.
    await client.post("/staff/sign-out", allow_redirects=False)
    client.session.cookie_jar.clear()
    await sign_in(client, "cw.demir")
    assert room not in await (await client.get("/staff/calendar")).text()
