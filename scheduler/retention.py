"""Retention: after a site's period, closed cases lose their personal data; the counts stay.

Work is done in small batches, each in its own transaction and marked with anonymised_at, so a run that is
killed half-way loses nothing and the next run simply continues.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta

import asyncpg

from scheduler import (
    addresses,
    batch_invitations,
    email_addresses,
    group_session_seats,
    invitation_evidence,
    letters,
    notice_templates,
    webhook_deliveries,
)

log = logging.getLogger(__name__)

BATCH = 200
BUDGET_SECONDS = 8.0  # one run stops taking new batches after this; the next run goes on

# One batch of requests past their site's retention: per site (the index requests_retention is by site and
# closed_at), oldest first, stopping when the batch is full; then locked, skipping rows another process holds.
_PAST_RETENTION = """
    SELECT r.id FROM requests r
    WHERE $3::bigint IS NULL AND r.anonymised_at IS NULL AND r.id IN (
        SELECT d.id FROM sites s CROSS JOIN LATERAL (
            SELECT q.id FROM requests q
            WHERE q.site_id = s.id AND q.anonymised_at IS NULL AND q.closed_at IS NOT NULL
              AND q.closed_at < $1::timestamptz - make_interval(days => s.retention_days)
            ORDER BY q.closed_at LIMIT $2) d
        LIMIT $2)
    FOR UPDATE OF r SKIP LOCKED
"""
# All closed requests of one client (erasure), whatever their age.
_CLIENT_CLOSED = """
    SELECT r.id FROM requests r
    WHERE r.client_id = $3 AND r.anonymised_at IS NULL AND r.closed_at IS NOT NULL AND $1::timestamptz IS NOT NULL
    ORDER BY r.closed_at LIMIT $2 FOR UPDATE OF r SKIP LOCKED
"""


async def requests_batch(conn: asyncpg.Connection, now: datetime, client_id: int | None = None) -> int:
    """Anonymise one batch of requests past retention (or, given client_id, all that client's closed ones).

    Every final state counts (done, no_show, declined, withdrawn, expired): each sets closed_at, which a
    trigger (migration 0019) guarantees whichever code path closes the case. Past retention, each site's due
    rows are read oldest first from its range of the retention index and the batch stops as soon as it is
    full, so a batch reads about as many rows as it anonymises.
    """
    due = _CLIENT_CLOSED if client_id is not None else _PAST_RETENTION
    rows = await conn.fetch(
        f"""
        WITH due AS ({due})
        UPDATE requests SET note = '', windows = '{{}}', decline_reason = NULL, notice_text = NULL,
               idempotency_key = NULL, idempotency_hash = NULL, claimed_name = NULL,
               claimed_customer_number = NULL, link_token = NULL, anonymised_at = $1
        FROM due WHERE requests.id = due.id RETURNING requests.id
        """,
        now, BATCH, client_id,
    )
    ids = [r["id"] for r in rows]
    if ids:
        await conn.execute("DELETE FROM proposals WHERE request_id = ANY($1)", ids)
        # An invitation's evidence keeps its kinds and times (the office's proof); its details and what the
        # caseworker wrote for {bring} go (append-only except for this path, see invitation_evidence.anonymise).
        await invitation_evidence.anonymise(conn, ids)
        await notice_templates.anonymise(conn, ids)
        await email_addresses.anonymise(conn, ids)  # an address given with the request (web form, kiosk)
        await conn.execute("UPDATE audit_events SET details = '{}' WHERE subject_type = 'request' "
                           "AND subject_id = ANY($1)", ids)
        # The appointment's free text and the date a no-show gave a reason (e.g. illness) are the client's too.
        appointment_ids = [r["id"] for r in await conn.fetch(
            "UPDATE appointments SET cancel_reason = NULL, outcome_reason_date = NULL WHERE request_id = ANY($1) "
            "RETURNING id", ids)]
        await conn.execute("UPDATE audit_events SET details = '{}' WHERE subject_type = 'appointment' "
                           "AND subject_id = ANY($1)", appointment_ids)
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
        UPDATE callbacks SET phone = NULL, note = '', windows = '{}', idempotency_key = NULL, idempotency_hash = NULL,
               claimed_name = NULL, claimed_customer_number = NULL, link_token = NULL, anonymised_at = $1
        FROM due WHERE callbacks.id = due.id RETURNING callbacks.id
        """,
        now, BATCH, client_id,
    )
    ids = [r["id"] for r in rows]
    if ids:
        await conn.execute("UPDATE callback_attempts SET note = '' WHERE callback_id = ANY($1)", ids)
        await conn.execute("UPDATE audit_events SET details = '{}' WHERE subject_type = 'callback' "
                           "AND subject_id = ANY($1)", ids)
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
               email_verified_at = NULL, erased_at = $1
        FROM due WHERE clients.id = due.id
        """,
        now, BATCH, client_id,
    )
    return int(result.split()[-1])


async def expire_links(conn: asyncpg.Connection, now: datetime, days: int) -> int:
    """Clear the link tokens of one batch of cases that ended more than `days` ago, so their links answer 404.

    A case ends when it is closed, or, for a request still marked scheduled, when its appointment is over. Each
    kind is read from where it starts (closed cases with a live link by closed_at; appointments without an
    outcome by their end, migration 0022: an outcome closes the request or cancels the appointment), so a batch
    reads the due rows only and LIMIT stops it early. Returns how many links were cleared.
    """
    cutoff = now - timedelta(days=days)
    requests_done: str = await conn.execute(
        """
        WITH closed AS (
            SELECT r.id FROM requests r WHERE r.link_token IS NOT NULL AND r.closed_at < $1
            ORDER BY r.closed_at LIMIT $2 FOR UPDATE OF r SKIP LOCKED
        ), over AS (
            SELECT r.id FROM appointments a JOIN requests r ON r.id = a.request_id
            WHERE a.outcome IS NULL AND a.status <> 'cancelled' AND upper(a.during) < $1
              AND r.link_token IS NOT NULL AND r.closed_at IS NULL AND r.status = 'scheduled'
              AND NOT EXISTS (SELECT 1 FROM appointments b WHERE b.request_id = r.id AND b.status <> 'cancelled'
                              AND upper(b.during) >= $1)
            ORDER BY upper(a.during) LIMIT $2 FOR UPDATE OF r SKIP LOCKED
        )
        UPDATE requests SET link_token = NULL
        WHERE id IN (SELECT id FROM closed UNION SELECT id FROM over) AND link_token IS NOT NULL
        """,
        cutoff, BATCH,
    )
    callbacks_done: str = await conn.execute(
        """
        UPDATE callbacks SET link_token = NULL WHERE id IN (
            SELECT id FROM callbacks WHERE link_token IS NOT NULL AND closed_at < $1 ORDER BY closed_at LIMIT $2
            FOR UPDATE SKIP LOCKED)
        """,
        cutoff, BATCH,
    )
    # Below BATCH only when every kind ran out (purge_due's loop stops then).
    return int(requests_done.split()[-1]) + int(callbacks_done.split()[-1])


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


async def purge_due(pool: asyncpg.Pool, *, now: datetime, link_days: int, max_batches: int = 1000,
                    budget_seconds: float = BUDGET_SECONDS) -> dict[str, int]:
    """Expire old links and anonymise everything past retention, batch by batch; how many rows of each kind.

    Each batch is one short transaction; after `budget_seconds` no new batch starts and the next run goes on.
    """
    done = {"links": 0, "requests": 0, "callbacks": 0, "clients": 0, "inbound": 0, "letters": 0, "addresses": 0,
            "batch_rows": 0, "email_addresses": 0, "group_session_seats": 0, "webhook_deliveries": 0}

    async def links(conn: asyncpg.Connection, now: datetime) -> int:
        return await expire_links(conn, now, link_days)

    steps = (("links", links), ("requests", requests_batch), ("callbacks", callbacks_batch),
             ("inbound", _inbound_batch), ("clients", clients_batch),
             ("letters", letters.purge_batch), ("addresses", addresses.purge_batch),
             ("batch_rows", batch_invitations.purge_batch), ("email_addresses", email_addresses.purge_batch),
             ("group_session_seats", group_session_seats.purge_batch),
             ("webhook_deliveries", webhook_deliveries.purge_batch))
    started = time.monotonic()
    for name, step in steps:
        for _ in range(max_batches):
            if time.monotonic() - started > budget_seconds:
                break
            async with pool.acquire() as conn, conn.transaction():
                count = await step(conn, now)
            done[name] += count
            if count < BATCH:
                break
    if any(done.values()):
        log.info("retention applied", extra=done)
    return done
