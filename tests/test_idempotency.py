"""Idempotency keys: server-made keys live apart from client keys; a replay needs the same number and body."""

from __future__ import annotations

import asyncpg
from aiohttp.test_utils import TestClient

from tests.api.helpers import appointment_body
from tests.staff.helpers import sign_in

MEYER_CLIENT = "+4915123456704"  # assigned to cw.meyer in the demo data


async def _staff(client: TestClient) -> dict[str, str]:
    # Cookie session plus its CSRF token: independent of how the JSON sign-in hands out tokens.
    return {"X-CSRF-Token": await sign_in(client, "cw.meyer")}


async def _callback(client: TestClient, conn: asyncpg.Connection) -> int:
    r = await client.post("/api/callbacks", json=appointment_body(phone=MEYER_CLIENT))
    assert r.status == 201, await r.text()
    callback_id: int = await conn.fetchval("SELECT id FROM callbacks WHERE reference = $1",
                                           (await r.json())["reference"])
    return callback_id


async def test_a_server_key_sent_by_a_client_returns_no_staff_link(client: TestClient,
                                                                   conn: asyncpg.Connection) -> None:
    callback_id = await _callback(client, conn)
    r = await client.post(f"/api/staff/callbacks/{callback_id}/convert", headers=await _staff(client))
    assert r.status == 201, await r.text()
    staff_request = await conn.fetchrow("SELECT reference, link_token FROM requests WHERE id = $1",
                                        (await r.json())["id"])

    attack = await client.post("/api/requests", json=appointment_body(idempotency_key=f"callback-{callback_id}-convert"))
    assert attack.status == 201, await attack.text()
    body = await attack.json()
    assert body["token"] != staff_request["link_token"] and body["reference"] != staff_request["reference"]
    assert staff_request["link_token"] not in await attack.text()


async def test_a_pre_registered_key_does_not_hijack_a_later_staff_action(client: TestClient,
                                                                         conn: asyncpg.Connection) -> None:
    callback_id = await _callback(client, conn)
    planted = await client.post("/api/requests",
                                json=appointment_body(idempotency_key=f"callback-{callback_id}-convert"))
    assert planted.status == 201
    planted_reference = (await planted.json())["reference"]

    r = await client.post(f"/api/staff/callbacks/{callback_id}/convert", headers=await _staff(client))
    assert r.status == 201, await r.text()
    created = await r.json()
    row = await conn.fetchrow("SELECT reference, channel, created_by FROM requests WHERE id = $1", created["id"])
    assert row["reference"] != planted_reference
    assert row["channel"] == "staff" and row["created_by"] is not None
    assert await conn.fetchval("SELECT converted_request_id FROM callbacks WHERE id = $1", callback_id) == created["id"]


async def test_a_replay_from_another_number_is_refused_without_a_token(client: TestClient,
                                                                       conn: asyncpg.Connection) -> None:
    first = await client.post("/api/requests", json=appointment_body(idempotency_key="victim-key-0001"))
    assert first.status == 201
    token = (await first.json())["token"]

    attack = await client.post("/api/requests", json=appointment_body(idempotency_key="victim-key-0001"),
                               headers={"Accept-Language": "de"})
    assert attack.status == 409, await attack.text()
    body = await attack.json()
    assert "idempotency_key" in body["fields"] and body["fields"]["idempotency_key"]
    assert token not in await attack.text()
    assert await conn.fetchval("SELECT count(*) FROM requests") == 1


async def test_a_replay_with_another_body_is_refused(client: TestClient) -> None:
    payload = appointment_body(idempotency_key="victim-key-0002")
    assert (await client.post("/api/requests", json=payload)).status == 201
    changed = await client.post("/api/requests", json={**payload, "note": "anders"})
    assert changed.status == 409
    assert "idempotency_key" in (await changed.json())["fields"]


async def test_a_callback_key_replay_needs_the_same_number(client: TestClient) -> None:
    first = await client.post("/api/callbacks", json=appointment_body(idempotency_key="callback-key-0003"))
    assert first.status == 201
    again = await client.post("/api/callbacks", json=appointment_body(idempotency_key="callback-key-0003"))
    assert again.status == 409
    assert (await first.json())["token"] not in await again.text()


async def test_the_same_caller_retrying_gets_the_first_answer(client: TestClient) -> None:
    payload = appointment_body(idempotency_key="honest-retry-0004")
    first = await (await client.post("/api/requests", json=payload)).json()
    second = await client.post("/api/requests", json=payload)
    assert second.status == 201
    assert (await second.json())["token"] == first["token"]
