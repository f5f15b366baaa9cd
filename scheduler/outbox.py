"""The outbox: every message is a row written in the transaction of the change that causes it."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum

import asyncpg


class OutboxStatus(StrEnum):
    pending = "pending"
    sending = "sending"
    sent = "sent"
    delivered = "delivered"
    undelivered = "undelivered"
    failed = "failed"
    cancelled = "cancelled"


FINAL = frozenset({OutboxStatus.delivered, OutboxStatus.undelivered, OutboxStatus.failed, OutboxStatus.cancelled})


async def enqueue(conn: asyncpg.Connection, *, site_id: int, key: str, channel: str, kind: str, recipient: str,
                  language: str, payload: Mapping[str, object], due_at: datetime | None = None,
                  request_id: int | None = None, callback_id: int | None = None,
                  appointment_id: int | None = None) -> int | None:
    """Queue one message; a second call with the same idempotency key is a no-op (returns None)."""
    outbox_id: int | None = await conn.fetchval(
        """
        INSERT INTO outbox (site_id, idempotency_key, channel, kind, recipient, language, payload, due_at,
                            request_id, callback_id, appointment_id)
        VALUES ($1, $2, $3, $4, $5, $6, $7, coalesce($8, now()), $9, $10, $11)
        ON CONFLICT (idempotency_key) DO NOTHING
        RETURNING id
        """,
        site_id, key, channel, kind, recipient, language, dict(payload), due_at, request_id, callback_id,
        appointment_id,
    )
    return outbox_id


async def cancel_pending(conn: asyncpg.Connection, *, appointment_id: int, kinds: list[str]) -> int:
    """Drop messages of these kinds that have not gone out yet (e.g. reminders of a moved appointment)."""
    result: str = await conn.execute(
        """
        UPDATE outbox SET status = 'cancelled', updated_at = now()
        WHERE appointment_id = $1 AND kind = ANY($2) AND status = 'pending'
        """,
        appointment_id, kinds,
    )
    return int(result.split()[-1])
