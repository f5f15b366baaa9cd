"""Retention anonymises closed cases after the site's period (statistics stay); admins export and erase."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg
from aiohttp.test_utils import TestClient

from scheduler import retention
from tests import factories
from tests.api.helpers import appointment_body, staff_headers
from tests.factories import SiteFacts


async def _closed_request(conn: asyncpg.Connection, site: SiteFacts, days_ago: int) -> int:
    client_id = await factories.create_client(conn, site, name="Erika Muster")
    request_id = await factories.create_request(conn, site, client_id=client_id, status="done")
    await conn.execute("UPDATE requests SET note = 'private', closed_at = now() - make_interval(days => $2) "
                       "WHERE id = $1", request_id, days_ago)
    await conn.execute("UPDATE clients SET updated_at = now() - make_interval(days => $2) WHERE id = $1",
                       client_id, days_ago)
    return request_id


async def test_retention_anonymises_only_what_is_due(pool: asyncpg.Pool, conn: asyncpg.Connection,
                                                     site: SiteFacts) -> None:
    old = await _closed_request(conn, site, 200)
    recent = await _closed_request(conn, site, 10)
    open_one = await factories.create_request(conn, site)
    done = await retention.purge_due(pool, now=datetime.now(UTC))
    assert done["requests"] == 1 and done["clients"] == 1
    assert await conn.fetchval("SELECT note FROM requests WHERE id = $1", old) == ""
    assert await conn.fetchval("SELECT note FROM requests WHERE id = $1", recent) == "private"
    assert await conn.fetchval("SELECT anonymised_at FROM requests WHERE id = $1", open_one) is None
    erased = await conn.fetchrow("SELECT c.phone, c.name FROM clients c JOIN requests r ON r.client_id = c.id "
                                 "WHERE r.id = $1", old)
    assert erased["phone"] is None and erased["name"] is None
    # Statistics survive: the request is still counted, by channel and status.
    assert await conn.fetchval("SELECT count(*) FROM requests WHERE status = 'done'") == 2
    assert (await retention.purge_due(pool, now=datetime.now(UTC)))["requests"] == 0


async def test_retention_killed_half_way_continues(pool: asyncpg.Pool, conn: asyncpg.Connection,
                                                   site: SiteFacts, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    for _ in range(5):
        await _closed_request(conn, site, 400)
    monkeypatch.setattr(retention, "BATCH", 2)
    first = await retention.purge_due(pool, now=datetime.now(UTC), max_batches=1)  # stops after one batch
    assert first["requests"] == 2
    assert await conn.fetchval("SELECT count(*) FROM requests WHERE anonymised_at IS NULL") == 3
    rest = await retention.purge_due(pool, now=datetime.now(UTC))
    assert rest["requests"] == 3
    assert await conn.fetchval("SELECT count(*) FROM requests WHERE anonymised_at IS NULL") == 0


async def test_admin_exports_and_erases_a_client(client: TestClient, conn: asyncpg.Connection) -> None:
    await client.post("/api/requests", json=appointment_body(phone="+4915100001111", name="Max Muster",
                                                             note="Bitte vormittags"))
    caseworker = await staff_headers(client)
    assert (await client.get("/api/staff/clients?phone=015100001111", headers=caseworker)).status == 403
    admin = await staff_headers(client, "admin", "demo-admin")
    found = await (await client.get("/api/staff/clients?phone=015100001111", headers=admin)).json()
    export = await (await client.get(f"/api/staff/clients/{found['id']}/export", headers=admin)).json()
    assert export["client"]["name"] == "Max Muster" and export["requests"][0]["note"] == "Bitte vormittags"
    r = await client.post(f"/api/staff/clients/{found['id']}/erase", headers=admin)
    assert r.status == 200
    row = await conn.fetchrow("SELECT phone, name, erased_at FROM clients WHERE id = $1", found["id"])
    assert row["phone"] is None and row["name"] is None and row["erased_at"] is not None
    assert await conn.fetchval("SELECT status FROM requests WHERE client_id = $1", found["id"]) == "withdrawn"
    assert await conn.fetchval("SELECT note FROM requests WHERE client_id = $1", found["id"]) == ""
    actions = {r["action"] for r in await conn.fetch("SELECT action FROM audit_events WHERE subject_type = 'client'")}
    assert {"client.search", "client.export", "client.erase"} <= actions
    assert (await client.get("/api/staff/clients?phone=015100001111", headers=admin)).status == 404
