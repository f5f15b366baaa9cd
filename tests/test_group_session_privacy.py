"""A client's seats in group sessions under the data-protection rules: they are in the export, erasure gives
back the seats still to come and ends every seat's link, and retention ends old seats' links."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg

from scheduler import group_session_seats, privacy, retention
from tests.factories import SiteFacts
from tests.group_session_support import make_session, phone


async def _book(pool: asyncpg.Pool, site: SiteFacts, session_id: int, n: int) -> group_session_seats.Booked:
    return await group_session_seats.book_on_web(pool, session_id=session_id, site_id=site.site_id, phone=phone(n),
                                                 language="de", sms_consent=True, now=datetime.now(UTC))


async def test_export_lists_seats_and_erasure_frees_the_seats_to_come(pool: asyncpg.Pool, conn: asyncpg.Connection,
                                                                      site: SiteFacts) -> None:
    session = await make_session(pool, site, seats=3)
    booked = await _book(pool, site, session.id, 1)
    await _book(pool, site, session.id, 2)
    client_id = await privacy.find_client(conn, site_id=site.site_id, phone=phone(1))
    assert client_id is not None

    exported = await privacy.export(conn, site_id=site.site_id, client_id=client_id, actor="staff:1")
    [seat] = exported["group_session_seats"]
    assert seat["reference"] == booked.seat.reference and seat["status"] == "booked"
    assert "link_token" not in seat

    async with conn.transaction():
        await privacy.erase(conn, site_id=site.site_id, client_id=client_id, actor="staff:1", now=datetime.now(UTC))
    row = await conn.fetchrow("SELECT status, link_token FROM group_session_seats WHERE id = $1", booked.seat.id)
    assert row["status"] == "cancelled" and row["link_token"] is None
    # The seat is counted free again; the other client's seat stays.
    assert await conn.fetchval("SELECT taken FROM group_sessions WHERE id = $1", session.id) == 1
    assert await group_session_seats.by_token(conn, booked.seat.link_token) is None


async def test_retention_ends_the_links_of_seats_in_long_past_sessions(pool: asyncpg.Pool, conn: asyncpg.Connection,
                                                                       site: SiteFacts) -> None:
    session = await make_session(pool, site, seats=5)
    booked = await _book(pool, site, session.id, 3)
    days = await conn.fetchval("SELECT retention_days FROM sites WHERE id = $1", site.site_id)

    soon = datetime.now(UTC) + timedelta(days=30)
    assert (await retention.purge_due(pool, now=soon, link_days=10_000))["group_session_seats"] == 0
    later = datetime.now(UTC) + timedelta(days=days + 9)
    assert (await retention.purge_due(pool, now=later, link_days=10_000))["group_session_seats"] == 1
    assert await conn.fetchval("SELECT link_token FROM group_session_seats WHERE id = $1", booked.seat.id) is None
    # The count of the session stays: retention takes personal data, not numbers.
    assert await conn.fetchval("SELECT taken FROM group_sessions WHERE id = $1", session.id) == 1
