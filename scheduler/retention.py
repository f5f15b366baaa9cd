"""Retention: after a site's period, closed cases lose their personal data; the counts stay.

Work is done in small batches, each in its own transaction and marked with anonymised_at, so a run that is
killed half-way loses nothing and the next run simply continues.
"""

from __future__ import annotations

import logging
from datetime import datetime

import asyncpg

log = logging.getLogger(__name__)

BATCH = 200


async def requests_batch(conn: asyncpg.Connection, now: datetime, client_id: int | None = None) -> int:
    """Anonymise one batch of requests past retention (or, given client_id, all that client's closed ones)."""
    rows = await conn.fetch(
        """
        WITH due AS (
            SELECT r.id FROM requests r JOIN sites s ON s.id = r.site_id
            WHERE r.anonymised_at IS NULL AND r.closed_at IS NOT NULL
              AND (r.client_id = $3 OR ($3::bigint IS NULL
                   AND r.closed_at < $1::timestamptz - make_interval(days => s.retention_days)))
            ORDER BY r.closed_at LIMIT $2 FOR UPDATE OF r SKIP LOCKED
        )
        UPDATE requests SET note = '', windows = '{}', decline_reason = NULL, notice_text = NULL,
               idempotency_key = NULL, anonymised_at = $1
        FROM due WHERE requests.id = due.id RETURNING requests.id
        """,
        now, BATCH, client_id,
    )
    ids = [r["id"] for r in rows]
    if ids:
        await conn.execute("DELETE FROM proposals WHERE request_id = ANY($1)", ids)
        await conn.execute("UPDATE audit_events SET details = '{}' WHERE subject_type = 'request' "
                           "AND subject_id = ANY($1)", ids)
        await conn.execute("UPDATE outbox SET recipient = '', body = NULL, payload = '{}', anonymised_at = $2 "
                           "WHERE request_id = ANY($1) AND anonymised_at IS NULL", ids, now)
    return len(ids)


async def callbacks_batch(conn: asyncpg.Connection, now: datetime, client_id: int | None = None) -> int:
    """Anonymise one batch of callbacks past retention (or all closed ones of a client)."""
    rows = await conn.fetch(
        """
        WITH due AS (
            SELECT b.id FROM callbacks b JOIN sites s ON s.id = b.site_id
            WHERE b.anonymised_at IS NULL AND b.closed_at IS NOT NULL
              AND (b.client_id = $3 OR ($3::bigint IS NULL
                   AND b.closed_at < $1::timestamptz - make_interval(days => s.retention_days)))
            ORDER BY b.closed_at LIMIT $2 FOR UPDATE OF b SKIP LOCKED
        )
        UPDATE callbacks SET phone = NULL, note = '', windows = '{}', idempotency_key = NULL, anonymised_at = $1
        FROM due WHERE callbacks.id = due.id RETURNING callbacks.id
        """,
        now, BATCH, client_id,
    )
    ids = [r["id"] for r in rows]
    if ids:
        await conn.execute("UPDATE callback_attempts SET note = '' WHERE callback_id = ANY($1)", ids)
        await conn.execute("UPDATE outbox SET recipient = '', body = NULL, payload = '{}', anonymised_at = $2 "
                           "WHERE callback_id = ANY($1) AND anonymised_at IS NULL", ids, now)
    return len(ids)


async def clients_batch(conn: asyncpg.Connection, now: datetime, client_id: int | None = None) -> int:
    """Clients with nothing open and nothing kept any more lose phone, name and numbers."""
    result: str = await conn.execute(
        """
        WITH due AS (
            SELECT c.id FROM clients c JOIN sites s ON s.id = c.site_id
            WHERE c.erased_at IS NULL
              AND (c.id = $3 OR ($3::bigint IS NULL
                   AND c.updated_at < $1::timestamptz - make_interval(days => s.retention_days)))
              AND NOT EXISTS (SELECT 1 FROM requests r WHERE r.client_id = c.id AND r.anonymised_at IS NULL)
              AND NOT EXISTS (SELECT 1 FROM callbacks b WHERE b.client_id = c.id AND b.anonymised_at IS NULL)
            LIMIT $2 FOR UPDATE OF c SKIP LOCKED
        )
        UPDATE clients SET phone = NULL, name = NULL, customer_number = NULL, birth_date = NULL, email = NULL,
               erased_at = $1
        FROM due WHERE clients.id = due.id
        """,
        now, BATCH, client_id,
    )
    return int(result.split()[-1])


async def _inbound_batch(conn: asyncpg.Connection, now: datetime) -> int:
    result: str = await conn.execute(
        """
        DELETE FROM inbound_messages WHERE id IN (
            SELECT m.id FROM inbound_messages m JOIN sites s ON s.id = m.site_id
            WHERE m.created_at < $1::timestamptz - make_interval(days => s.retention_days) LIMIT $2)
        """,
        now, BATCH,
    )
    return int(result.split()[-1])


async def purge_due(pool: asyncpg.Pool, *, now: datetime, max_batches: int = 1000) -> dict[str, int]:
    """Anonymise everything past retention, batch by batch; returns how many rows of each kind."""
    done = {"requests": 0, "callbacks": 0, "clients": 0, "inbound": 0}
    steps = (("requests", requests_batch), ("callbacks", callbacks_batch), ("inbound", _inbound_batch),
             ("clients", clients_batch))
    for name, step in steps:
        for _ in range(max_batches):
            async with pool.acquire() as conn, conn.transaction():
                count = await step(conn, now)
            done[name] += count
            if count < BATCH:
                break
    if any(done.values()):
        log.info("retention applied", extra=done)
    return done
