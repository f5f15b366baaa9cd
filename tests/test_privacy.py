"""Retention anonymises closed cases after the site's period (statistics stay); admins export and erase."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

import asyncpg
from aiohttp.test_utils import TestClient

from scheduler import jobs, privacy, retention
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
    done = await retention.purge_due(pool, now=datetime.now(UTC), link_days=30)
    assert done["requests"] == 1 and done["clients"] == 1
    assert await conn.fetchval("SELECT note FROM requests WHERE id = $1", old) == ""
    assert await conn.fetchval("SELECT note FROM requests WHERE id = $1", recent) == "private"
    assert await conn.fetchval("SELECT anonymised_at FROM requests WHERE id = $1", open_one) is None
    erased = await conn.fetchrow("SELECT c.phone, c.name FROM clients c JOIN requests r ON r.client_id = c.id "
                                 "WHERE r.id = $1", old)
    assert erased["phone"] is None and erased["name"] is None
    # Statistics survive: the request is still counted, by channel and status.
    assert await conn.fetchval("SELECT count(*) FROM requests WHERE status = 'done'") == 2
    assert (await retention.purge_due(pool, now=datetime.now(UTC), link_days=30))["requests"] == 0


async def test_retention_killed_half_way_continues(pool: asyncpg.Pool, conn: asyncpg.Connection,
                                                   site: SiteFacts, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    for _ in range(5):
        await _closed_request(conn, site, 400)
    monkeypatch.setattr(retention, "BATCH", 2)
    first = await retention.purge_due(pool, now=datetime.now(UTC), link_days=30, max_batches=1)  # stops after one batch
    assert first["requests"] == 2
    assert await conn.fetchval("SELECT count(*) FROM requests WHERE anonymised_at IS NULL") == 3
    rest = await retention.purge_due(pool, now=datetime.now(UTC), link_days=30)
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
    # A name sent through the public form is the request's claim (issue 13, item 2), not the client's record.
    assert export["requests"][0]["claimed_name"] == "Max Muster" and export["requests"][0]["note"] == "Bitte vormittags"
    r = await client.post(f"/api/staff/clients/{found['id']}/erase", headers=admin)
    assert r.status == 200
    row = await conn.fetchrow("SELECT phone, name, erased_at FROM clients WHERE id = $1", found["id"])
    assert row["phone"] is None and row["name"] is None and row["erased_at"] is not None
    assert await conn.fetchval("SELECT status FROM requests WHERE client_id = $1", found["id"]) == "withdrawn"
    assert await conn.fetchval("SELECT note FROM requests WHERE client_id = $1", found["id"]) == ""
    actions = {r["action"] for r in await conn.fetch("SELECT action FROM audit_events WHERE subject_type = 'client'")}
    assert {"client.search", "client.export", "client.erase"} <= actions
    assert (await client.get("/api/staff/clients?phone=015100001111", headers=admin)).status == 404


# Issue 13, item 9: export and erase stay within the site, include everything about the client, and old
# links stop working (erase, retention, and a configurable time after the case ended).

PHONE = "+4915100002222"


async def _outbox(conn: asyncpg.Connection, site_id: int, phone: str, *, request_id: int | None = None) -> int:
    row_id: int = await conn.fetchval(
        "INSERT INTO outbox (site_id, idempotency_key, channel, kind, recipient, body, request_id) "
        "VALUES ($1, $2, 'sms', 'sms.test', $3, 'Ihr Termin', $4) RETURNING id",
        site_id, secrets.token_hex(8), phone, request_id)
    return row_id


async def _inbound(conn: asyncpg.Connection, site_id: int, phone: str, body: str) -> None:
    await conn.execute("INSERT INTO inbound_messages (site_id, provider_id, from_phone, to_phone, body) "
                       "VALUES ($1, $2, $3, '+4951100000', $4)", site_id, secrets.token_hex(8), phone, body)


async def _callback(conn: asyncpg.Connection, site_id: int, client_id: int, concern_id: int, *,
                    status: str = "open") -> tuple[int, str]:
    token = secrets.token_urlsafe(24)
    callback_id: int = await conn.fetchval(
        "INSERT INTO callbacks (site_id, client_id, concern_id, channel, status, reference, link_token, phone) "
        "SELECT $1, $2, $3, 'web', $4, $5, $6, phone FROM clients WHERE id = $2 RETURNING id",
        site_id, client_id, concern_id, status, secrets.token_hex(5).upper(), token)
    return callback_id, token


async def _other_site(conn: asyncpg.Connection) -> tuple[int, int]:
    """A second office on the same installation, with one concern."""
    site_id = await conn.fetchval("INSERT INTO sites (code, name) VALUES ('elsewhere', 'Elsewhere') RETURNING id")
    concern_id = await conn.fetchval("INSERT INTO concerns (site_id, code, labels) VALUES ($1, 'general', "
                                     "'{\"de\": \"Allgemein\"}') RETURNING id", site_id)
    return site_id, concern_id


async def _token(conn: asyncpg.Connection, request_id: int) -> str:
    token: str = await conn.fetchval("SELECT link_token FROM requests WHERE id = $1", request_id)
    return token


async def test_export_and_erase_stay_within_the_site(conn: asyncpg.Connection, site: SiteFacts) -> None:
    other, other_concern = await _other_site(conn)
    there = await conn.fetchval("INSERT INTO clients (site_id, phone, name) VALUES ($1, $2, 'Other Office') "
                                "RETURNING id", other, PHONE)
    there_callback, there_token = await _callback(conn, other, there, other_concern)
    there_outbox = await _outbox(conn, other, PHONE)
    await _inbound(conn, other, PHONE, "JA (other office)")
    here = await factories.create_client(conn, site, phone=PHONE, name="Erika Muster")
    await factories.create_request(conn, site, client_id=here)
    await _outbox(conn, site.site_id, PHONE)
    await _inbound(conn, site.site_id, PHONE, "JA")
    data = await privacy.export(conn, site_id=site.site_id, client_id=here, actor="staff:1")
    assert [m["body"] for m in data["inbound_messages"]] == ["JA"]
    assert there_outbox not in {m["id"] for m in data["messages"]} and len(data["messages"]) == 1
    assert all(a["subject_id"] != there_callback for a in data["audit"] if a["subject_type"] == "callback")
    async with conn.transaction():
        await privacy.erase(conn, site_id=site.site_id, client_id=here, actor="staff:1", now=datetime.now(UTC))
    assert await conn.fetchval("SELECT status FROM outbox WHERE id = $1", there_outbox) == "pending"
    assert await conn.fetchval("SELECT count(*) FROM inbound_messages WHERE site_id = $1", other) == 1
    assert await conn.fetchval("SELECT count(*) FROM inbound_messages WHERE site_id = $1", site.site_id) == 0
    kept = await conn.fetchrow("SELECT b.status, b.link_token, c.phone FROM callbacks b JOIN clients c "
                               "ON c.id = b.client_id WHERE b.id = $1", there_callback)
    assert (kept["status"], kept["link_token"], kept["phone"]) == ("open", there_token, PHONE)


async def test_export_holds_inbound_sms_attempts_audit_rows_and_notice_texts(conn: asyncpg.Connection,
                                                                             site: SiteFacts) -> None:
    here = await factories.create_client(conn, site, phone=PHONE)
    request_id = await factories.create_request(conn, site, client_id=here, staff="cw.meyer")
    await conn.execute("UPDATE requests SET invitation = 'mandatory', notice_text = 'Rechtsfolgenbelehrung: …' "
                       "WHERE id = $1", request_id)
    callback_id, _ = await _callback(conn, site.site_id, here, site.concerns["general"])
    await conn.execute("INSERT INTO callback_attempts (site_id, callback_id, staff_id, outcome, note) "
                       "VALUES ($1, $2, $3, 'no_answer', 'Mailbox')", site.site_id, callback_id,
                       site.staff["cw.meyer"])
    await _inbound(conn, site.site_id, PHONE, "STOP")
    await conn.execute("INSERT INTO audit_events (site_id, actor, action, subject_type, subject_id) "
                       "VALUES ($1, 'staff:9', 'request.approved', 'request', $2)", site.site_id, request_id)
    await conn.execute("INSERT INTO audit_events (site_id, actor, action, subject_type, details) VALUES "
                       "($1, 'staff:9', 'client.view_list', 'callbacks', jsonb_build_object('client_ids', "
                       "jsonb_build_array($2::bigint)))", site.site_id, here)
    data = await privacy.export(conn, site_id=site.site_id, client_id=here, actor="staff:1")
    assert data["requests"][0]["notice_text"] == "Rechtsfolgenbelehrung: …"
    assert [(a["outcome"], a["note"]) for a in data["callback_attempts"]] == [("no_answer", "Mailbox")]
    assert [m["body"] for m in data["inbound_messages"]] == ["STOP"]
    assert {"request.approved", "client.view_list"} <= {a["action"] for a in data["audit"]}


async def test_old_links_answer_404_after_erase(client: TestClient, conn: asyncpg.Connection,
                                                site: SiteFacts) -> None:
    here = await factories.create_client(conn, site, phone=PHONE)
    token = await _token(conn, await factories.create_request(conn, site, client_id=here))
    _, callback_token = await _callback(conn, site.site_id, here, site.concerns["general"])
    assert (await client.get(f"/r/{token}")).status == 200
    async with conn.transaction():
        await privacy.erase(conn, site_id=site.site_id, client_id=here, actor="staff:1", now=datetime.now(UTC))
    for link in (token, callback_token):
        assert (await client.get(f"/r/{link}")).status == 404
        assert (await client.get(f"/api/public/{link}")).status == 404


async def test_old_links_answer_404_after_retention_and_after_the_case_ended(
        client: TestClient, conn: asyncpg.Connection, site: SiteFacts) -> None:
    past_retention = await _token(conn, await _closed_request(conn, site, 200))
    ended_long_ago = await _token(conn, await _closed_request(conn, site, 31))
    ended_lately = await _token(conn, await _closed_request(conn, site, 5))
    start = datetime.now(UTC) - timedelta(days=40)
    over = await factories.create_appointment(conn, site, start=start, status="completed")
    appointment_over = await _token(conn, await conn.fetchval("SELECT request_id FROM appointments WHERE id = $1",
                                                              over))
    _, callback_closed = await _callback(conn, site.site_id, await factories.create_client(conn, site),
                                         site.concerns["general"], status="reached")
    await conn.execute("UPDATE callbacks SET closed_at = now() - interval '31 days' WHERE link_token = $1",
                       callback_closed)
    await jobs.apply_retention(client.app, datetime.now(UTC))
    for link in (past_retention, ended_long_ago, appointment_over, callback_closed):
        assert (await client.get(f"/api/public/{link}")).status == 404, link
    assert (await client.get(f"/r/{ended_long_ago}")).status == 404
    assert (await client.get(f"/api/public/{ended_lately}")).status == 200
