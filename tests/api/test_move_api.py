"""Moving one booked appointment through the staff JSON API: POST /api/staff/appointments/{id}/move."""

from __future__ import annotations

from datetime import datetime, timedelta

import asyncpg
from aiohttp.test_utils import TestClient

from scheduler import appointments
from tests.api.helpers import staff_headers
from tests.factories import SiteFacts, create_appointment
from tests.test_moves import NOW, booked, free_later


def _url(appointment_id: int) -> str:
    return f"/api/staff/appointments/{appointment_id}/move"


async def _moved_sms(conn: asyncpg.Connection, appointment_id: int) -> list[str]:
    rows = await conn.fetch("SELECT idempotency_key FROM outbox WHERE appointment_id = $1 "
                            "AND kind = 'sms.appointment_moved' ORDER BY id", appointment_id)
    return [r["idempotency_key"] for r in rows]


async def test_move_answers_the_moved_appointment_with_a_higher_sequence(
        client: TestClient, app_pool: asyncpg.Pool, conn: asyncpg.Connection, site: SiteFacts) -> None:
    before = await booked(app_pool, conn, site)
    target = (await free_later(conn, site, username="cw.meyer", after=before.start))[1]
    r = await client.post(_url(before.id), json={"start": target.start.isoformat(), "staff_id": target.caseworker_id},
                          headers=await staff_headers(client))
    assert r.status == 200, await r.text()
    body = await r.json()
    assert (body["id"], body["staff_id"], body["sequence"]) == (before.id, target.caseworker_id, before.sequence + 1)
    assert datetime.fromisoformat(body["start"]) == target.start
    assert datetime.fromisoformat(body["end"]) - datetime.fromisoformat(body["start"]) == before.end - before.start
    assert body["mode"] == before.mode  # no mode given: the appointment keeps its own
    stored = await appointments.get(conn, before.id)
    assert (stored.start, stored.sequence, stored.ical_uid) == (target.start, before.sequence + 1, before.ical_uid)
    assert await _moved_sms(conn, before.id) == [f"appointment:{before.id}:moved:{before.sequence + 1}"]


async def test_a_taken_slot_answers_409_with_fresh_proposals(client: TestClient, app_pool: asyncpg.Pool,
                                                             conn: asyncpg.Connection, site: SiteFacts) -> None:
    before = await booked(app_pool, conn, site)
    target = (await free_later(conn, site, username="cw.meyer", after=before.start))[0]
    await create_appointment(conn, site, staff="cw.meyer", start=target.start)  # someone else got it first
    headers = {**await staff_headers(client), "Accept-Language": "de"}
    r = await client.post(_url(before.id), json={"start": target.start.isoformat(), "staff_id": target.caseworker_id},
                          headers=headers)
    assert r.status == 409, await r.text()
    body = await r.json()
    assert body["error"] == "slot-taken" and "vergeben" in body["message"]
    assert body["proposals"]
    for proposal in body["proposals"]:  # the same shape as the slots list
        assert {"staff_id", "start", "end", "room"} <= proposal.keys()
        assert datetime.fromisoformat(proposal["start"]) != target.start
        assert datetime.fromisoformat(proposal["start"]) > NOW
    stored = await appointments.get(conn, before.id)
    assert (stored.start, stored.sequence) == (before.start, before.sequence)
    assert await _moved_sms(conn, before.id) == []


async def test_another_teams_lead_is_refused(client: TestClient, app_pool: asyncpg.Pool, conn: asyncpg.Connection,
                                            site: SiteFacts) -> None:
    before = await booked(app_pool, conn, site)  # cw.meyer's, team placement
    target = (await free_later(conn, site, username="cw.meyer", after=before.start))[0]
    r = await client.post(_url(before.id), json={"start": target.start.isoformat(), "staff_id": target.caseworker_id},
                          headers=await staff_headers(client, "lead.u25", "demo-lead"))
    assert r.status == 403, await r.text()
    assert (await r.json())["error"] == "forbidden"
    stored = await appointments.get(conn, before.id)
    assert (stored.start, stored.sequence) == (before.start, before.sequence)


async def test_bad_input_is_422_with_field_messages_in_the_users_language(
        client: TestClient, app_pool: asyncpg.Pool, conn: asyncpg.Connection, site: SiteFacts) -> None:
    before = await booked(app_pool, conn, site)
    meyer = site.staff["cw.meyer"]
    headers = await staff_headers(client)
    cases = [
        ({"start": "tomorrow", "staff_id": meyer}, "start", "Bitte wählen Sie eine Uhrzeit aus der Liste."),
        ({"start": "2030-01-07T09:00:00", "staff_id": meyer}, "start", "Bitte wählen Sie eine Uhrzeit aus der Liste."),
        ({"start": (NOW + timedelta(days=3)).isoformat()}, "staff_id", "Dieser Wert ist ungültig."),
        ({"start": (NOW + timedelta(days=3)).isoformat(), "staff_id": "3"}, "staff_id", "Dieser Wert ist ungültig."),
        ({"start": (NOW - timedelta(days=1)).isoformat(), "staff_id": meyer}, "start",
         "Bitte wählen Sie eine Uhrzeit aus der Liste."),
        ({"start": (NOW + timedelta(days=3)).isoformat(), "staff_id": meyer, "mode": "carrier-pigeon"}, "mode", None),
    ]
    for body, field, message in cases:
        r = await client.post(_url(before.id), json=body, headers={**headers, "Accept-Language": "de"})
        assert r.status == 422, (body, await r.text())
        answer = await r.json()
        assert answer["error"] == "validation" and field in answer["fields"], answer
        if message:
            assert answer["fields"][field] == message
    r = await client.post(_url(before.id), json={"start": "tomorrow", "staff_id": meyer},
                          headers={**headers, "Accept-Language": "en"})
    assert (await r.json())["fields"] == {"start": "Please choose a time from the list."}
    r = await client.post(_url(before.id), data="not json", headers={**headers, "Content-Type": "application/json"})
    assert r.status == 400
    assert (await appointments.get(conn, before.id)).sequence == before.sequence
    assert await _moved_sms(conn, before.id) == []
