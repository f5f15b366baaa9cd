"""The staff's group-session pages through the real app: create (with field errors), the list's seats taken and
free, participants (audited; another team 403, another site 404), attendance, cancelling with SMS, and an
invitation list whose lines beyond the free seats are reported before sending."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import asyncpg
from aiohttp.test_utils import TestClient

from scheduler import group_session_seats
from tests.factories import SiteFacts
from tests.group_session_support import make_session, phone
from tests.staff.helpers import flash, sign_in


async def _fill(pool: asyncpg.Pool, site: SiteFacts, session_id: int, count: int) -> None:
    for n in range(count):
        await group_session_seats.book_on_web(pool, session_id=session_id, site_id=site.site_id, phone=phone(n),
                                              language="de", sms_consent=True, now=datetime.now(UTC))


async def test_a_caseworker_creates_a_session_and_sees_it_in_the_list(client: TestClient, app_pool: asyncpg.Pool,
                                                                      site: SiteFacts) -> None:
    csrf = await sign_in(client, "cw.yilmaz")
    day = (datetime.now(UTC) + timedelta(days=10)).date().isoformat()
    form = {"csrf_token": csrf, "team_id": str(site.teams["entrance"]), "topic": "Bürgergeld-Info", "room": "E.10",
            "day": day, "time": "10:00", "minutes": "90", "seats": "20", "hosts": str(site.staff["cw.yilmaz"])}
    r = await client.post("/staff/group-sessions?lang=de", data={**form, "seats": "500", "topic": ""},
                          allow_redirects=False)
    assert r.status == 422
    html = await r.text()
    assert "Eine Veranstaltung hat zwischen 1 und 200 Plätze." in html and 'value="E.10"' in html
    r = await client.post("/staff/group-sessions?lang=de", data={**form, "team_id": str(site.teams["u25"])},
                          allow_redirects=False)
    assert r.status == 403  # not their team
    r = await client.post("/staff/group-sessions?lang=de", data=form, allow_redirects=False)
    assert r.status == 303, await r.text()
    session_id = int(r.headers["Location"].rsplit("/", 1)[1])
    await _fill(app_pool, site, session_id, 20)
    html = await (await client.get("/staff/group-sessions?lang=de")).text()
    row = re.search(rf'<tr data-session="{session_id}".*?</tr>', html, re.S)
    assert row and "Bürgergeld-Info" in row.group(0) and "20/20" in row.group(0)
    assert re.search(r'data-cell="free">0<', row.group(0))
    assert 'href="/staff/group-sessions"' in html  # the navigation entry


async def test_participants_are_shown_to_the_team_and_audited(client: TestClient, app_pool: asyncpg.Pool,
                                                              site: SiteFacts) -> None:
    session = await make_session(app_pool, site, seats=5)
    await _fill(app_pool, site, session.id, 2)
    await sign_in(client, "cw.meyer")  # placement team, not a host
    assert (await client.get(f"/staff/group-sessions/{session.id}")).status == 403
    client.session.cookie_jar.clear()
    await sign_in(client, "cw.yilmaz")
    html = await (await client.get(f"/staff/group-sessions/{session.id}?lang=de")).text()
    assert phone(0) in html and phone(1) in html and "2/5" in html
    async with app_pool.acquire() as conn:
        details = await conn.fetchval("SELECT details FROM audit_events WHERE action = 'client.view_list' "
                                      "AND subject_type = 'group_session_seats' ORDER BY id DESC LIMIT 1")
        clients = await conn.fetchval("SELECT array_agg(id ORDER BY id) FROM clients WHERE phone = ANY($1)",
                                      [phone(0), phone(1)])
        other_site = await conn.fetchval("INSERT INTO sites (code, name) VALUES ('anderswo', 'Anderswo') RETURNING id")
        await conn.execute("UPDATE group_sessions SET site_id = $2 WHERE id = $1", session.id, other_site)
    assert details["client_ids"] == clients
    assert (await client.get(f"/staff/group-sessions/{session.id}")).status == 404


async def test_attendance_and_cancelling(client: TestClient, app_pool: asyncpg.Pool, site: SiteFacts) -> None:
    session = await make_session(app_pool, site, seats=5)
    await _fill(app_pool, site, session.id, 2)
    csrf = await sign_in(client, "lead.entrance")
    async with app_pool.acquire() as conn:
        seats = [r["id"] for r in await conn.fetch("SELECT id FROM group_session_seats WHERE session_id = $1 "
                                                   "ORDER BY id", session.id)]
    r = await client.post(f"/staff/group-sessions/seats/{seats[0]}/attendance?lang=de",
                          data={"csrf_token": csrf, "outcome": "held"})
    assert "erst eingetragen werden, wenn die Veranstaltung begonnen hat" in flash(await r.text())
    async with app_pool.acquire() as conn:  # the session began half an hour ago
        await conn.execute("UPDATE group_sessions SET starts_at = now() - interval '30 minutes' WHERE id = $1",
                           session.id)
    html = await (await client.get(f"/staff/group-sessions/{session.id}?lang=de")).text()
    assert f'action="/staff/group-sessions/seats/{seats[0]}/attendance"' in html
    r = await client.post(f"/staff/group-sessions/seats/{seats[0]}/attendance?lang=de",
                          data={"csrf_token": csrf, "outcome": "held"})
    assert flash(await r.text()) == "Die Teilnahme ist eingetragen."
    r = await client.post(f"/staff/group-sessions/seats/{seats[1]}/attendance?lang=de",
                          data={"csrf_token": csrf, "outcome": "no_show"})
    r = await client.post(f"/staff/group-sessions/seats/{seats[1]}/attendance",
                          data={"csrf_token": csrf, "outcome": "maybe"}, allow_redirects=False)
    assert r.status == 400
    async with app_pool.acquire() as conn:
        assert [r["outcome"] for r in await conn.fetch("SELECT outcome FROM group_session_seats WHERE session_id = $1 "
                                                       "ORDER BY id", session.id)] == ["held", "no_show"]
    # Without the CSRF token nothing happens.
    other = await make_session(app_pool, site, seats=5)
    await _fill(app_pool, site, other.id, 1)
    async with app_pool.acquire() as conn:
        await conn.execute("UPDATE clients SET sms_consent = true WHERE phone = $1", phone(0))
    r = await client.post(f"/staff/group-sessions/{other.id}/cancel", data={}, allow_redirects=False)
    assert r.status == 403
    r = await client.post(f"/staff/group-sessions/{other.id}/cancel?lang=de", data={"csrf_token": csrf})
    assert "abgesagt" in flash(await r.text())
    async with app_pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM outbox WHERE kind = 'sms.group_session_cancelled'") == 1


async def test_an_invitation_list_reports_lines_beyond_the_free_seats_before_sending(
        client: TestClient, app_pool: asyncpg.Pool, site: SiteFacts) -> None:
    session = await make_session(app_pool, site, seats=2)
    csrf = await sign_in(client, "lead.entrance")
    listed = "phone;name;language\n0151 71000001;Eins;de\n0151 71000002;Zwei;uk\n0151 71000003;Drei;ar\nkaputt;X;de"
    r = await client.post(f"/staff/group-sessions/{session.id}/invite?lang=de",
                          data={"csrf_token": csrf, "pasted": listed})
    html = await r.text()
    assert r.status == 200
    assert "1 Zeilen liegen über den freien Plätzen und bekommen keinen Platz." in html
    states = re.findall(r'data-state="(\w+)"', html)
    assert states == ["seat", "seat", "no_seat", "bad"]
    async with app_pool.acquire() as conn:
        assert await conn.fetchval("SELECT taken FROM group_sessions WHERE id = $1", session.id) == 0
    r = await client.post(f"/staff/group-sessions/{session.id}/invite?lang=de",
                          data={"csrf_token": csrf, "pasted": listed, "confirm": "yes"})
    html = await r.text()
    assert re.findall(r'data-state="(\w+)"', html) == ["seat", "seat", "no_seat", "bad"]
    assert "Platz gebucht, SMS geplant" in html
    async with app_pool.acquire() as conn:
        assert await conn.fetchval("SELECT taken FROM group_sessions WHERE id = $1", session.id) == 2
        assert await conn.fetchval("SELECT count(*) FROM outbox WHERE kind = 'sms.group_seat_booked'") == 2
    r = await client.post(f"/staff/group-sessions/{session.id}/invite?lang=de",
                          data={"csrf_token": csrf, "pasted": "nothing"})
    assert "leer" in flash(await r.text())
