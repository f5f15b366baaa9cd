"""Calling from the today list, the front desk list and the display admin page, through the real app."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import asyncpg
from aiohttp.test_utils import TestClient

from scheduler import appointments, displays
from tests.factories import SiteFacts, create_appointment
from tests.staff.helpers import flash, sign_in


async def _arrived(conn: asyncpg.Connection, site: SiteFacts, *, staff: str = "cw.meyer",
                   room: str | None = "A.03") -> int:
    appointment_id = await create_appointment(conn, site, staff=staff, start=datetime.now(UTC) - timedelta(minutes=2))
    await conn.execute("UPDATE appointments SET room = $2 WHERE id = $1", appointment_id, room)
    async with conn.transaction():
        await appointments.check_in(conn, appointment_id, at=datetime.now(UTC), actor="kiosk:test")
    return appointment_id


async def _call(client: TestClient, csrf: str, appointment_id: int, **fields: str) -> tuple[int, str]:
    r = await client.post(f"/staff/appointments/{appointment_id}/call",
                          data={"csrf_token": csrf, "back": "/staff/today", **fields},
                          headers={"Accept": "text/html"})
    return r.status, await r.text()


async def test_the_today_list_calls_in_one_click_and_again(client: TestClient, conn: asyncpg.Connection,
                                                           site: SiteFacts) -> None:
    appointment_id = await _arrived(conn, site)
    waiting = await create_appointment(conn, site, start=datetime.now(UTC) + timedelta(minutes=30))
    csrf = await sign_in(client, "cw.meyer")
    html = await (await client.get("/staff/today")).text()
    assert f'action="/staff/appointments/{appointment_id}/call"' in html
    assert f'action="/staff/appointments/{waiting}/call"' not in html  # not arrived: no button
    status, html = await _call(client, csrf, appointment_id)
    assert status == 200 and flash(html).startswith("Aufgerufen: ") and "A.03" in flash(html)
    assert ">Erneut aufrufen<" in html and "aufgerufen " in html
    status, html = await _call(client, csrf, appointment_id)
    assert "erneut aufgerufen" in html
    assert await conn.fetchval("SELECT max(attempt) FROM lobby_calls WHERE appointment_id = $1",
                               appointment_id) == 2


async def test_a_call_is_refused_clearly(client: TestClient, conn: asyncpg.Connection, site: SiteFacts) -> None:
    other_team = await _arrived(conn, site, staff="cw.yilmaz")
    no_room = await _arrived(conn, site, room=None)
    not_arrived = await create_appointment(conn, site, staff="cw.demir", start=datetime.now(UTC))
    csrf = await sign_in(client, "cw.meyer")
    status, _html = await _call(client, csrf, other_team)
    assert status == 403
    status, html = await _call(client, csrf, no_room)
    assert status == 200 and "keinen Raum" in flash(html)
    status, html = await _call(client, csrf, no_room, room="X" * 41)
    assert "höchstens 40 Zeichen" in flash(html)
    status, html = await _call(client, csrf, not_arrived)  # a team colleague's client who has not arrived
    assert "angekommen" in flash(html)
    r = await client.post(f"/staff/appointments/{no_room}/call", data={"room": "B.1"}, allow_redirects=False)
    assert r.status == 403  # no CSRF token
    r = await client.post(f"/staff/appointments/{no_room}/call", data={"csrf_token": csrf, "room": "B.1"},
                          headers={"Accept": "application/json"}, allow_redirects=False)
    assert r.status == 303
    assert await conn.fetchval("SELECT count(*) FROM lobby_calls") == 1
    r = await client.post("/staff/appointments/99999999/call", data={"csrf_token": csrf},
                          headers={"Accept": "application/json"})
    assert r.status == 404


async def test_the_front_desk_shows_arrivals_to_any_staff_and_records_the_view(
        client: TestClient, conn: asyncpg.Connection, site: SiteFacts) -> None:
    appointment_id = await _arrived(conn, site, staff="cw.yilmaz")
    name = await conn.fetchval("SELECT cl.name FROM clients cl JOIN appointments a ON a.client_id = cl.id "
                               "WHERE a.id = $1", appointment_id)
    await sign_in(client, "cw.meyer")  # another team: reception is whoever is on duty
    html = await (await client.get("/staff/front-desk")).text()
    assert f'data-appointment="{appointment_id}"' in html and "Deniz Yılmaz" in html
    assert name is None or name in html
    assert "noch nicht aufgerufen" in html and 'href="/staff/front-desk" aria-current="page"' in html
    assert await conn.fetchval("SELECT count(*) FROM audit_events WHERE action = 'client.view_list' "
                               "AND details -> 'appointment_ids' @> to_jsonb($1::bigint)", appointment_id) == 1
    status = await (await client.get("/staff/front-desk/status")).json()
    reference = await conn.fetchval("SELECT r.reference FROM requests r JOIN appointments a ON a.request_id = r.id "
                                    "WHERE a.id = $1", appointment_id)
    assert set(status) == {"stamp", "poll_seconds"} and reference not in str(status)
    stamp = re.search(r'data-stamp="([0-9a-f]+)"', html)
    assert stamp and stamp.group(1) == status["stamp"]


async def test_the_front_desk_needs_a_session(client: TestClient) -> None:
    r = await client.get("/staff/front-desk", allow_redirects=False)
    assert r.status == 303 and "/staff/sign-in" in r.headers["Location"]
    assert (await client.get("/staff/front-desk/status")).status == 401
    assert (await client.get("/staff/front-desk/events")).status == 401


async def test_admins_issue_and_revoke_display_tokens(client: TestClient, conn: asyncpg.Connection,
                                                      site: SiteFacts) -> None:
    csrf = await sign_in(client, "admin")
    r = await client.post("/staff/admin/displays", data={"csrf_token": csrf, "name": "Wartebereich EG",
                                                         "location": "Foyer"})
    assert r.status == 201
    html = await r.text()
    url = re.search(r'id="new-display-url">([^<]+)<', html)
    assert url, html
    token = url.group(1).rsplit("/display/", 1)[1]
    device = await displays.authenticate(conn, token, now=datetime.now(UTC))
    assert device is not None and device.site_id == site.site_id
    assert token not in str(await conn.fetch("SELECT * FROM display_devices"))
    assert (await client.get(f"/display/{token}")).status == 200
    r = await client.post("/staff/admin/displays", data={"csrf_token": csrf, "name": "  "}, allow_redirects=False)
    assert r.status == 303
    r = await client.post(f"/staff/admin/displays/{device.id}/revoke", data={"csrf_token": csrf})
    assert r.status == 200 and "nicht mehr verwendet" in flash(await r.text())
    assert (await client.get(f"/display/{token}")).status == 404
    assert await conn.fetchval("SELECT count(*) FROM audit_events WHERE action IN ('display.issue', "
                               "'display.revoke')") == 2


async def test_only_admins_manage_displays(client: TestClient) -> None:
    csrf = await sign_in(client, "lead.entrance")
    assert (await client.get("/staff/admin/displays")).status == 403
    r = await client.post("/staff/admin/displays", data={"csrf_token": csrf, "name": "x"})
    assert r.status == 403


async def test_the_calendar_calls_in_one_click_too(client: TestClient, conn: asyncpg.Connection,
                                                   site: SiteFacts) -> None:
    appointment_id = await _arrived(conn, site)
    csrf = await sign_in(client, "cw.meyer")
    html = await (await client.get("/staff/calendar")).text()
    assert f'action="/staff/appointments/{appointment_id}/call"' in html
    r = await client.post(f"/staff/appointments/{appointment_id}/call",
                          data={"csrf_token": csrf, "back": "/staff/calendar"}, headers={"Accept": "text/html"})
    assert r.url.path == "/staff/calendar" and flash(await r.text()).startswith("Aufgerufen: ")
