"""Needs through the JSON API: a client's request keeps them, bad values are field errors, staff invitations and
the staff view of a request carry them; the caseworker's calendar feed says what to prepare."""

from __future__ import annotations

import asyncpg
from aiohttp.test_utils import TestClient

from scheduler import seed
from tests.api.helpers import appointment_body, staff_headers
from tests.factories import SiteFacts


async def test_a_request_keeps_its_needs(client: TestClient, conn: asyncpg.Connection) -> None:
    r = await client.post("/api/requests", json=appointment_body(needs=["sign_language", "more_time"]))
    assert r.status == 201, await r.text()
    row = await conn.fetchrow("SELECT needs, interpreter_language FROM requests WHERE reference = $1",
                              (await r.json())["reference"])
    assert (row["needs"], row["interpreter_language"]) == (["sign_language", "more_time"], None)


async def test_bad_needs_are_field_errors_and_store_nothing(client: TestClient, conn: asyncpg.Connection) -> None:
    for body, field in ((appointment_body(needs="interpreter"), "needs"),
                        (appointment_body(needs=["interpreter"] * 11), "needs"),
                        (appointment_body(needs=["interpreter"], interpreter_language=["ar"]), "interpreter_language"),
                        (appointment_body(needs=[None]), "needs")):
        r = await client.post("/api/requests?lang=en", json=body)
        assert r.status == 422, await r.text()
        assert field in (await r.json())["fields"]
    assert await conn.fetchval("SELECT count(*) FROM requests") == 0


async def test_callbacks_ignore_needs(client: TestClient, conn: asyncpg.Connection) -> None:
    r = await client.post("/api/callbacks", json=appointment_body(phone="0511 1234567", needs=["bogus"]))
    assert r.status == 201, await r.text()


async def test_an_invitation_carries_needs_and_the_staff_view_shows_them(
        client: TestClient, conn: asyncpg.Connection, site: SiteFacts) -> None:
    await seed.insert_notice_templates(conn, site.site_id, site.staff["admin"])
    headers = await staff_headers(client)
    template_id = await conn.fetchval("SELECT id FROM notice_templates WHERE kind = 'voluntary' ORDER BY id LIMIT 1")
    assert template_id is not None
    r = await client.post("/api/staff/invitations", headers=headers, json={
        "phone": "0151 22334455", "concern": "general", "language": "de", "template_id": template_id,
        "needs": ["interpreter", "hearing_loop"], "interpreter_language": "uk"})
    assert r.status == 201, await r.text()
    body = await r.json()
    assert body["needs"] == ["interpreter", "hearing_loop"] and body["interpreter_language"] == "uk"
    shown = await (await client.get(f"/api/staff/requests/{body['id']}", headers=headers)).json()
    assert shown["needs"] == ["interpreter", "hearing_loop"]
    # Booked, the caseworker's calendar feed does not carry the needs: the feed leaves the office's systems
    # (a phone's calendar, a cloud service), and needs such as sign language or step-free access are health data.
    r = await client.post(f"/api/staff/requests/{body['id']}/approve", headers=headers,
                          json={"proposal_id": shown["proposals"][0]["id"]})
    assert r.status == 201, await r.text()
    feed_token = await conn.fetchval("SELECT feed_token FROM staff WHERE username = 'cw.meyer'")
    feed = await (await client.get(f"/staff/feed/{feed_token}.ics")).text()
    unfolded = feed.replace("\r\n ", "")
    assert "BEGIN:VEVENT" in unfolded
    assert "Bedarf" not in unfolded and "Dolmetschen" not in unfolded and "Induktionsschleife" not in unfolded
