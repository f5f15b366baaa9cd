"""Clients create requests and callbacks through the JSON API; bad input is refused field by field."""

from __future__ import annotations

import asyncio
import itertools

import asyncpg
from aiohttp.test_utils import TestClient

from scheduler import references
from tests.api.helpers import appointment_body
from tests.factories import SiteFacts


async def test_appointment_request_is_routed_explained_and_proposed(client: TestClient, conn: asyncpg.Connection) -> None:
    r = await client.post("/api/requests", json=appointment_body(concern="no_money"))
    assert r.status == 201, await r.text()
    body = await r.json()
    assert references.normalise_reference(body["reference"]) == body["reference"]
    assert len(body["token"]) >= 40 and body["status_url"].endswith(body["token"])
    row = await conn.fetchrow("SELECT * FROM requests WHERE reference = $1", body["reference"])
    assert row["status"] == body["status"] == "proposed"
    assert row["priority"] == 90
    team = await conn.fetchval("SELECT code FROM teams WHERE id = $1", row["team_id"])
    assert team == "entrance"
    lines = {e["field"]: e["rule_id"] for e in row["decision"]["explanation"]}
    assert lines["priority"] == "no-money" and lines["route"] == "no-money" and lines["auto_confirm"] == "defaults"
    proposals = await conn.fetch("SELECT * FROM proposals WHERE request_id = $1", row["id"])
    assert 1 <= len(proposals) <= 3
    assert await conn.fetchval("SELECT count(*) FROM outbox WHERE request_id = $1 AND kind = 'sms.request_received'",
                               row["id"]) == 1
    assert await conn.fetchval("SELECT count(*) FROM audit_events WHERE subject_id = $1 AND subject_type = 'request'",
                               row["id"]) >= 2


async def test_assigned_caseworker_gets_the_request(client: TestClient, conn: asyncpg.Connection, site: SiteFacts) -> None:
    r = await client.post("/api/requests", json=appointment_body(phone="+4915123456704"))  # Sabine, cw.meyer
    body = await r.json()
    staff_id = await conn.fetchval("SELECT staff_id FROM requests WHERE reference = $1", body["reference"])
    assert staff_id == site.staff["cw.meyer"]


async def test_callback_request(client: TestClient, conn: asyncpg.Connection) -> None:
    r = await client.post("/api/callbacks", json=appointment_body(phone="0511 1234567", windows={"parts": ["morning"]}))
    assert r.status == 201, await r.text()
    body = await r.json()
    row = await conn.fetchrow("SELECT * FROM callbacks WHERE reference = $1", body["reference"])
    assert row["status"] == "open" and row["phone"] == "+495111234567" and row["max_attempts"] == 3
    assert row["decision"]["kind"] == "callback"


async def test_same_idempotency_key_creates_one_request(client: TestClient, conn: asyncpg.Connection) -> None:
    payload = appointment_body()
    first = await client.post("/api/requests", json=payload, headers={"Idempotency-Key": "retry-key-0001"})
    second = await client.post("/api/requests", json=payload, headers={"Idempotency-Key": "retry-key-0001"})
    assert (await first.json())["reference"] == (await second.json())["reference"]
    assert await conn.fetchval("SELECT count(*) FROM requests") == 1


async def test_field_errors_in_the_clients_language_and_nothing_written(client: TestClient,
                                                                         conn: asyncpg.Connection) -> None:
    before = await conn.fetchval("SELECT count(*) FROM clients")
    r = await client.post("/api/requests", headers={"Accept-Language": "en"}, json=appointment_body(
        phone="0511 1234567", concern="", modes=["carrier pigeon"], note="hi\x00there",
        windows={"weekdays": [6], "date_from": "2026-13-01"}, status="scheduled"))
    assert r.status == 422
    fields = (await r.json())["fields"]
    assert set(fields) == {"phone", "concern", "modes", "note", "windows.weekdays", "windows.date_from"}
    assert "mobile" in fields["phone"]
    assert await conn.fetchval("SELECT count(*) FROM clients") == before
    assert await conn.fetchval("SELECT count(*) FROM requests") == 0


async def test_mass_assignment_is_ignored(client: TestClient, conn: asyncpg.Connection) -> None:
    r = await client.post("/api/requests", json=appointment_body(status="scheduled", priority=100, staff_id=1))
    body = await r.json()
    row = await conn.fetchrow("SELECT status, priority FROM requests WHERE reference = $1", body["reference"])
    assert row["status"] in ("proposed", "received") and row["priority"] == 10


async def test_malformed_and_wrong_content_type(client: TestClient) -> None:
    assert (await client.post("/api/requests", data=b"{nope", headers={"Content-Type": "application/json"})).status == 400
    assert (await client.post("/api/requests", data=b"concern=general")).status == 415
    assert (await client.post("/api/requests", json=[1, 2])).status == 400
    assert (await client.post("/api/requests", json={"concern": "unknown_thing", "phone": "015112345678"})).status == 422


async def test_public_status_and_client_cancel(client: TestClient, conn: asyncpg.Connection) -> None:
    body = await (await client.post("/api/requests", json=appointment_body())).json()
    r = await client.get(f"/api/public/{body['token']}?lang=en")
    view = await r.json()
    assert view["reference"] == body["reference"] and view["concern"] == "Something else"
    assert "phone" not in view and "name" not in view
    r = await client.post(f"/api/public/{body['token']}/cancel")
    assert (await r.json())["status"] == "withdrawn"
    assert (await client.post(f"/api/public/{body['token']}/cancel")).status == 409
    assert (await client.get("/api/public/" + "x" * 43)).status == 404


async def test_a_reference_already_taken_is_drawn_again(client: TestClient, conn: asyncpg.Connection,
                                                        monkeypatch) -> None:  # type: ignore[no-untyped-def]
    first = await (await client.post("/api/requests", json=appointment_body())).json()
    drawn = iter([first["reference"], "K7Q4-M2XD"])
    monkeypatch.setattr(references, "new_reference", lambda: next(drawn))
    second = await client.post("/api/requests", json=appointment_body())
    assert second.status == 201 and (await second.json())["reference"] == "K7Q4-M2XD"
    assert await conn.fetchval("SELECT count(*) FROM requests") == 2


async def test_clients_who_ask_at_the_same_moment_are_offered_different_times(client: TestClient,
                                                                             conn: asyncpg.Connection) -> None:
    # A burst, as at the lobby kiosks at opening time: the intakes run side by side, none sees the others'
    # proposals in the database before it commits, and still no time is offered twice.
    answers = await asyncio.gather(*(client.post("/api/requests", json=appointment_body()) for _ in range(8)))
    assert [a.status for a in answers] == [201] * 8
    proposals = await conn.fetch("SELECT request_id, staff_id, during FROM proposals ORDER BY staff_id, during")
    assert len({p["request_id"] for p in proposals}) == 8
    overlapping = [(a["request_id"], b["request_id"]) for a, b in itertools.combinations(proposals, 2)
                   if a["staff_id"] == b["staff_id"] and a["during"].lower < b["during"].upper
                   and b["during"].lower < a["during"].upper]
    assert overlapping == []
