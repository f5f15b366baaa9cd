"""retention.py called directly: closed cases past the site's period lose personal data, counts stay, once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg

from scheduler import outbox, retention
from tests.factories import SiteFacts, create_appointment, create_client, create_request

NOW = datetime.now(UTC)


async def _retention_days(conn: asyncpg.Connection, site: SiteFacts) -> int:
    return await conn.fetchval("SELECT retention_days FROM sites WHERE id = $1", site.site_id)


async def _closed_request(conn: asyncpg.Connection, site: SiteFacts, *, closed_at: datetime,
                          client_id: int | None = None) -> int:
    request_id = await create_request(conn, site, client_id=client_id, status="declined")
    await conn.execute("UPDATE requests SET closed_at = $2, note = 'Miete', decline_reason = 'weil', "
                       "claimed_name = 'Erika' WHERE id = $1", request_id, closed_at)
    await conn.execute("INSERT INTO audit_events (site_id, actor, action, subject_type, subject_id, details) "
                       "VALUES ($1, 'test', 'request.declined', 'request', $2, '{\"reason\": \"weil\"}')",
                       site.site_id, request_id)
    await outbox.enqueue(conn, site_id=site.site_id, key=f"request:{request_id}:received", channel="sms",
                         kind="sms.request_received", recipient="+4915100000009", language="de",
                         payload={"reference": "X"}, request_id=request_id)
    return request_id


async def test_old_closed_requests_lose_personal_data_and_keep_their_status(conn: asyncpg.Connection,
                                                                            site: SiteFacts) -> None:
    days = await _retention_days(conn, site)
    old = await _closed_request(conn, site, closed_at=NOW - timedelta(days=days + 1))
    recent = await _closed_request(conn, site, closed_at=NOW - timedelta(days=days - 1))
    assert await retention.requests_batch(conn, NOW) == 1
    row = await conn.fetchrow("SELECT * FROM requests WHERE id = $1", old)
    assert (row["note"], row["decline_reason"], row["claimed_name"], row["link_token"]) == ("", None, None, None)
    assert (row["status"], row["anonymised_at"]) == ("declined", NOW)
    assert await conn.fetchval("SELECT details FROM audit_events WHERE subject_id = $1", old) == {}
    o = await conn.fetchrow("SELECT recipient, payload FROM outbox WHERE request_id = $1", old)
    assert (o["recipient"], o["payload"]) == ("", {})
    kept = await conn.fetchrow("SELECT note, link_token FROM requests WHERE id = $1", recent)
    assert kept["note"] == "Miete" and kept["link_token"] is not None
    assert await retention.requests_batch(conn, NOW) == 0  # done once


async def test_closed_callbacks_lose_phone_and_attempt_notes(conn: asyncpg.Connection, site: SiteFacts) -> None:
    days = await _retention_days(conn, site)
    client_id = await create_client(conn, site)
    callback_id = await conn.fetchval(
        "INSERT INTO callbacks (site_id, client_id, concern_id, channel, status, reference, link_token, phone, "
        "note, closed_at) VALUES ($1, $2, $3, 'phone', 'reached', 'CB00001', 'tok-cb-1', '+4915100000008', "
        "'bitte nachmittags', $4) RETURNING id",
        site.site_id, client_id, site.concerns["general"], NOW - timedelta(days=days + 3))
    await conn.execute("INSERT INTO callback_attempts (site_id, callback_id, staff_id, outcome, note) "
                       "VALUES ($1, $2, $3, 'reached', 'hat Termin')", site.site_id, callback_id,
                       site.staff["cw.meyer"])
    assert await retention.callbacks_batch(conn, NOW) == 1
    row = await conn.fetchrow("SELECT phone, note, link_token, status FROM callbacks WHERE id = $1", callback_id)
    assert tuple(row) == (None, "", None, "reached")
    assert await conn.fetchval("SELECT note FROM callback_attempts WHERE callback_id = $1", callback_id) == ""
    assert await retention.callbacks_batch(conn, NOW) == 0


async def test_a_client_is_erased_only_when_nothing_of_theirs_is_kept(conn: asyncpg.Connection,
                                                                      site: SiteFacts) -> None:
    days = await _retention_days(conn, site)
    long_ago = NOW - timedelta(days=days + 5)
    done = await create_client(conn, site, name="Erika Muster")
    waiting = await create_client(conn, site, name="Max Muster")
    await _closed_request(conn, site, closed_at=long_ago, client_id=done)
    await create_request(conn, site, client_id=waiting, status="received")
    await conn.execute("UPDATE clients SET updated_at = $2 WHERE id = ANY($1::bigint[])", [done, waiting], long_ago)
    await retention.requests_batch(conn, NOW)
    await retention.clients_batch(conn, NOW)
    erased = await conn.fetchrow("SELECT phone, name, erased_at FROM clients WHERE id = $1", done)
    assert tuple(erased) == (None, None, NOW)
    kept = await conn.fetchrow("SELECT phone, name, erased_at FROM clients WHERE id = $1", waiting)
    assert kept["phone"] is not None and kept["name"] == "Max Muster" and kept["erased_at"] is None


async def test_links_expire_after_the_case_ended(conn: asyncpg.Connection, site: SiteFacts) -> None:
    past = await create_appointment(conn, site, start=NOW - timedelta(days=20))
    future = await create_appointment(conn, site, start=NOW + timedelta(days=2))
    past_request, future_request = [await conn.fetchval("SELECT request_id FROM appointments WHERE id = $1", a)
                                     for a in (past, future)]
    assert await retention.expire_links(conn, NOW, 14) == 1
    assert await conn.fetchval("SELECT link_token FROM requests WHERE id = $1", past_request) is None
    assert await conn.fetchval("SELECT link_token FROM requests WHERE id = $1", future_request) is not None
    assert await retention.expire_links(conn, NOW, 14) == 0


async def test_purge_due_counts_each_kind_and_a_second_run_finds_nothing(pool: asyncpg.Pool,
                                                                         conn: asyncpg.Connection,
                                                                         site: SiteFacts) -> None:
    days = await _retention_days(conn, site)
    for _ in range(3):
        await _closed_request(conn, site, closed_at=NOW - timedelta(days=days + 1))
    first = await retention.purge_due(pool, now=NOW, link_days=14)
    assert first["requests"] == 3 and first["links"] == 3
    second = await retention.purge_due(pool, now=NOW, link_days=14)
    assert second == {"links": 0, "requests": 0, "callbacks": 0, "clients": 0, "inbound": 0, "letters": 0,
                      "addresses": 0, "batch_rows": 0, "email_addresses": 0, "group_session_seats": 0,
                      "webhook_deliveries": 0}
