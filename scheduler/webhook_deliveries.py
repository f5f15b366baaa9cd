"""The outbox of outgoing webhooks and their delivery log: one row per (event, endpoint).

Owner of `webhook_deliveries`. Rows are written by the triggers of migration 0040 in the transaction of the
change; notify/webhook_send.py claims due rows (SKIP LOCKED, with a lease), posts them and records the result
here. A failed attempt is retried with growing pauses, and after MAX_ATTEMPTS the row is failed; an admin can
send a failed one once more ("retry now"). Retention deletes finished rows after the site's period.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final

import asyncpg

# Pause after the n-th failed attempt; after the last one the row is failed (about 1.5 days in all).
BACKOFF: Final = (timedelta(seconds=30), timedelta(minutes=2), timedelta(minutes=10), timedelta(hours=1),
                  timedelta(hours=6), timedelta(hours=12), timedelta(hours=24))
MAX_ATTEMPTS: Final = len(BACKOFF) + 1
LEASE: Final = timedelta(minutes=2)  # a claimed row not recorded by then is claimed again
LOG_ROWS: Final = 100
ERROR_MAX: Final = 300


class DeliveryStatus(StrEnum):
    pending = "pending"
    sending = "sending"
    delivered = "delivered"
    failed = "failed"


@dataclass(frozen=True, slots=True)
class Claimed:
    """A delivery claimed for one attempt: `attempts` counts this one and fences the result."""

    id: str
    site_id: int
    endpoint_id: int
    event_type: str
    body: str
    attempts: int


@dataclass(frozen=True, slots=True)
class LogEntry:
    id: str
    event_type: str
    event_key: str
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime
    last_http_status: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None


def retry_after(attempts: int) -> timedelta | None:
    """The pause after the given number of failed attempts; None when the delivery has failed for good."""
    return BACKOFF[attempts - 1] if 0 < attempts < MAX_ATTEMPTS else None


async def claim_due(conn: asyncpg.Connection, *, now: datetime, limit: int) -> list[Claimed]:
    """Claim due rows (pending ones, and sending ones whose lease ran out) for one attempt each.

    Rows another process holds are skipped, so several dispatchers deliver each row once. A sending row
    whose lease ran out on its last attempt is failed instead.
    """
    await conn.execute(
        "UPDATE webhook_deliveries SET status = 'failed', last_error = 'no answer recorded (lease expired)' "
        "WHERE status = 'sending' AND next_attempt_at <= $1 AND attempts >= $2", now, MAX_ATTEMPTS)
    rows = await conn.fetch(
        """
        UPDATE webhook_deliveries d SET status = 'sending', attempts = d.attempts + 1, next_attempt_at = $3
        FROM (SELECT id FROM webhook_deliveries
              WHERE status IN ('pending', 'sending') AND next_attempt_at <= $1
              ORDER BY next_attempt_at LIMIT $2 FOR UPDATE SKIP LOCKED) due
        WHERE d.id = due.id
        RETURNING d.id, d.site_id, d.endpoint_id, d.event_type, d.payload::text AS body, d.attempts
        """, now, limit, now + LEASE)
    return [Claimed(**r) for r in rows]


async def record(conn: asyncpg.Connection, claimed: Claimed, *, now: datetime, http_status: int | None,
                 error: str | None, give_up: bool = False) -> DeliveryStatus | None:
    """Record one attempt: 2xx delivers, anything else waits for the next try or fails after the last
    (or at once with `give_up`).

    Guarded by the attempt number: a sender whose lease ran out and was overtaken records nothing (None).
    """
    delivered = http_status is not None and 200 <= http_status < 300
    pause = None if give_up else retry_after(claimed.attempts)
    status = DeliveryStatus.delivered if delivered else (
        DeliveryStatus.pending if pause is not None else DeliveryStatus.failed)
    found = await conn.fetchval(
        """
        UPDATE webhook_deliveries SET status = $3, last_http_status = $4, last_error = $5, next_attempt_at = $6,
               delivered_at = CASE WHEN $3::text = 'delivered' THEN $7::timestamptz END
        WHERE id = $1 AND status = 'sending' AND attempts = $2 RETURNING id
        """, claimed.id, claimed.attempts, status.value, http_status, None if delivered else (error or "")[:ERROR_MAX],
        now + pause if pause is not None else now, now)
    return status if found else None


async def give_up_pending(conn: asyncpg.Connection, endpoint_id: int, *, site_id: int) -> int:
    """Fail the waiting deliveries of an endpoint that was deactivated; how many."""
    result: str = await conn.execute(
        "UPDATE webhook_deliveries SET status = 'failed', last_error = 'endpoint deactivated' "
        "WHERE endpoint_id = $1 AND site_id = $2 AND status IN ('pending', 'sending')", endpoint_id, site_id)
    return int(result.split()[-1])


async def retry_now(conn: asyncpg.Connection, delivery_id: str, *, endpoint_id: int, site_id: int,
                    now: datetime) -> bool:
    """Send a failed delivery once more at the next run; False when it is not a failed one of this endpoint."""
    found = await conn.fetchval(
        "UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = $4 "
        "WHERE id = $1 AND endpoint_id = $2 AND site_id = $3 AND status = 'failed' RETURNING id",
        delivery_id, endpoint_id, site_id, now)
    return found is not None


async def log_for_endpoint(conn: asyncpg.Connection, endpoint_id: int, *, site_id: int,
                           limit: int = LOG_ROWS) -> list[LogEntry]:
    """The endpoint's latest deliveries, newest first."""
    rows = await conn.fetch(
        "SELECT id, event_type, event_key, status, attempts, next_attempt_at, last_http_status, last_error, "
        "created_at, delivered_at FROM webhook_deliveries WHERE endpoint_id = $1 AND site_id = $2 "
        "ORDER BY created_at DESC, id LIMIT $3", endpoint_id, site_id, limit)
    return [LogEntry(**{**dict(r), "status": DeliveryStatus(r["status"])}) for r in rows]


async def purge_batch(conn: asyncpg.Connection, now: datetime, limit: int = 200) -> int:
    """Retention: delete one batch of finished deliveries older than their site's period; how many."""
    result: str = await conn.execute(
        """
        DELETE FROM webhook_deliveries WHERE id IN (
            SELECT d.id FROM sites s CROSS JOIN LATERAL (
                SELECT w.id FROM webhook_deliveries w
                WHERE w.site_id = s.id AND w.status IN ('delivered', 'failed')
                  AND w.created_at < $1::timestamptz - make_interval(days => s.retention_days)
                ORDER BY w.created_at LIMIT $2) d
            LIMIT $2)
        """, now, limit)
    return int(result.split()[-1])
