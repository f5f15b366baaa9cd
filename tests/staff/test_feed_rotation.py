"""A caseworker whose calendar feed address leaked gives it a new one; the old one stops working at once."""

from __future__ import annotations

import asyncpg
from aiohttp.test_utils import TestClient

from scheduler.staff import auth


async def feed_tokens(conn: asyncpg.Connection) -> dict[str, str]:
    return {r["username"]: r["feed_token"] for r in await conn.fetch("SELECT username, feed_token FROM staff")}


async def test_owner_rotates_the_feed_token(client: TestClient, conn: asyncpg.Connection) -> None:
    before = await feed_tokens(conn)
    old = before["cw.meyer"]
    assert (await client.get(f"/staff/feed/{old}.ics")).status == 200
    r = await client.post("/api/staff/session", json={"username": "cw.meyer", "password": "demo-caseworker"})
    csrf = (await r.json())["csrf_token"]
    # Another site cannot make the browser rotate it (no CSRF token), and a stranger without a session cannot.
    r = await client.post("/staff/calendar/feed", allow_redirects=False)
    assert r.status == 403
    assert (await feed_tokens(conn))["cw.meyer"] == old
    r = await client.post("/staff/calendar/feed", data={auth.CSRF_FIELD: csrf}, allow_redirects=False)
    assert r.status == 303 and r.headers["Location"] == "/staff/calendar"
    after = await feed_tokens(conn)
    new = after["cw.meyer"]
    assert new != old and len(new) >= 43
    assert {k: v for k, v in after.items() if k != "cw.meyer"} == {k: v for k, v in before.items() if k != "cw.meyer"}
    assert (await client.get(f"/staff/feed/{old}.ics")).status == 404
    assert (await client.get(f"/staff/feed/{new}.ics")).status == 200
    page = await (await client.get("/staff/calendar")).text()
    assert new in page and old not in page
    assert await conn.fetchval("SELECT count(*) FROM audit_events WHERE action = 'staff.feed_rotated'") == 1


async def test_rotation_needs_a_session(client: TestClient, conn: asyncpg.Connection) -> None:
    before = await feed_tokens(conn)
    r = await client.post("/staff/calendar/feed", allow_redirects=False)
    assert r.status in (303, 401)
    assert await feed_tokens(conn) == before
