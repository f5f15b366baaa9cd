"""The rooms admin page: admins add, change and delete rooms with their attributes; others may not; another
office's room is not found; a bad name is a field message, never a half-written row."""

from __future__ import annotations

import asyncpg
from aiohttp.test_utils import TestClient

from tests.factories import SiteFacts
from tests.staff.helpers import flash, sign_in


async def test_an_admin_adds_changes_and_deletes_a_room(client: TestClient, conn: asyncpg.Connection,
                                                        site: SiteFacts) -> None:
    csrf = await sign_in(client, "admin")
    page = await (await client.get("/staff/admin/rooms?lang=en")).text()
    assert "No rooms yet." in page and 'id="unlisted-rooms"' in page and "A.03" in page  # named in the hours
    r = await client.post("/staff/admin/rooms", data={"csrf_token": csrf, "name": " A.03 ", "step_free": "yes"})
    assert r.status == 200 and flash(await r.text()) == "Room saved."
    row = await conn.fetchrow("SELECT id, name, step_free, hearing_loop FROM rooms WHERE site_id = $1", site.site_id)
    assert (row["name"], row["step_free"], row["hearing_loop"]) == ("A.03", True, False)
    r = await client.post(f"/staff/admin/rooms/{row['id']}", data={"csrf_token": csrf, "name": "A.03",
                                                                    "hearing_loop": "yes"})
    assert r.status == 200
    assert tuple(await conn.fetchrow("SELECT step_free, hearing_loop FROM rooms WHERE id = $1", row["id"])) == \
        (False, True)
    page = await (await client.get("/staff/admin/rooms?lang=en")).text()
    assert "named in working hours" in page
    r = await client.post(f"/staff/admin/rooms/{row['id']}/delete", data={"csrf_token": csrf})
    assert flash(await r.text()) == "Room deleted."
    assert await conn.fetchval("SELECT count(*) FROM rooms") == 0
    actions = [r["action"] for r in await conn.fetch("SELECT action FROM audit_events WHERE subject_type = 'room' "
                                                     "ORDER BY id")]
    assert actions == ["room.saved", "room.saved", "room.deleted"]


async def test_bad_and_taken_names_are_messages(client: TestClient, conn: asyncpg.Connection) -> None:
    csrf = await sign_in(client, "admin")
    for name in ("", "x" * 41, "Raum\x07"):
        r = await client.post("/staff/admin/rooms?lang=en", data={"csrf_token": csrf, "name": name})
        assert "room name of at most 40 characters" in flash(await r.text())
    await client.post("/staff/admin/rooms", data={"csrf_token": csrf, "name": "E.01"})
    r = await client.post("/staff/admin/rooms?lang=en", data={"csrf_token": csrf, "name": "E.01"})
    assert "already has a room with this name" in flash(await r.text())
    assert await conn.fetchval("SELECT count(*) FROM rooms") == 1


async def test_only_admins_and_only_their_own_office(client: TestClient, conn: asyncpg.Connection,
                                                     site: SiteFacts) -> None:
    other_site = await conn.fetchval("INSERT INTO sites (code, name, timezone) VALUES ('andere', 'Andere', "
                                     "'Europe/Berlin') RETURNING id")
    foreign = await conn.fetchval("INSERT INTO rooms (site_id, name) VALUES ($1, 'X.01') RETURNING id", other_site)
    csrf = await sign_in(client, "cw.meyer")
    assert (await client.get("/staff/admin/rooms")).status == 403
    r = await client.post("/staff/admin/rooms", data={"csrf_token": csrf, "name": "E.09"})
    assert r.status == 403
    await client.post("/staff/sign-out", data={"csrf_token": csrf})
    csrf = await sign_in(client, "admin")
    r = await client.post(f"/staff/admin/rooms/{foreign}", data={"csrf_token": csrf, "name": "Mine now"})
    assert r.status == 404
    r = await client.post(f"/staff/admin/rooms/{foreign}/delete", data={"csrf_token": csrf})
    assert r.status == 404
    assert await conn.fetchval("SELECT name FROM rooms WHERE id = $1", foreign) == "X.01"
