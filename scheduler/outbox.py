"""The outbox: every message is a row written in the transaction of the change that causes it."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Final

import asyncpg


class OutboxStatus(StrEnum):
    pending = "pending"
    sending = "sending"
    sent = "sent"
    delivered = "delivered"
    undelivered = "undelivered"
    failed = "failed"
    cancelled = "cancelled"


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


@dataclass(frozen=True, slots=True)
class Receipt:
    """A message queued by the statement inserting its row (`receipt_insert`); key: prefix + row id + suffix."""

    key_prefix: str
    key_suffix: str
    channel: str
    kind: str
    recipient: str
    language: str
    payload: Mapping[str, object]


def receipt_insert(row: str, first: int) -> str:
    """INSERT of a Receipt for the row `row` of an enclosing WITH; `receipt_parameters` from $first (NULL: none)."""
    p = [f"${first + i}" for i in range(7)]
    return f"""INSERT INTO outbox (site_id, idempotency_key, channel, kind, recipient, language, payload, request_id)
    SELECT {row}.site_id, {p[0]}::text || {row}.id || {p[1]}::text, {p[2]}::text, {p[3]}::text, {p[4]}::text,
           {p[5]}::text, {p[6]}::jsonb, {row}.id FROM {row} WHERE {p[0]}::text IS NOT NULL
    ON CONFLICT (idempotency_key) DO NOTHING"""


def receipt_parameters(r: Receipt | None) -> list[object]:
    """`receipt_insert`'s seven values, in order."""
    return [None] * 7 if r is None else [r.key_prefix, r.key_suffix, r.channel, r.kind, r.recipient, r.language,
                                         dict(r.payload)]


@dataclass(frozen=True, slots=True)
class Queued:
    """One message for enqueue_many: enqueue's arguments (due now)."""

    site_id: int
    key: str
    channel: str
    kind: str
    recipient: str
    language: str
    payload: Mapping[str, object]
    request_id: int | None = None
    appointment_id: int | None = None
    due_at: datetime | None = None  # None: now


async def enqueue_many(conn: asyncpg.Connection, messages: Sequence[Queued]) -> int:
    """Queue many messages in one statement (a job's batch); keys already queued are skipped. How many were new."""
    if not messages:
        return 0
    result: str = await conn.execute(
        """
        INSERT INTO outbox (site_id, idempotency_key, channel, kind, recipient, language, payload, request_id,
                            appointment_id, due_at)
        SELECT m.site_id, m.key, m.channel, m.kind, m.recipient, m.language, m.payload::jsonb, m.request_id,
               m.appointment_id, coalesce(m.due_at, now())
        FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                    $8::bigint[], $9::bigint[], $10::timestamptz[]) WITH ORDINALITY
             AS m(site_id, key, channel, kind, recipient, language, payload, request_id, appointment_id, due_at, n)
        ORDER BY m.n
        ON CONFLICT (idempotency_key) DO NOTHING
        """,
        [m.site_id for m in messages], [m.key for m in messages], [m.channel for m in messages],
        [m.kind for m in messages], [m.recipient for m in messages], [m.language for m in messages],
        [json.dumps(dict(m.payload)) for m in messages], [m.request_id for m in messages],
        [m.appointment_id for m in messages], [m.due_at for m in messages],
    )
    return int(result.split()[-1])


async def cancel_pending(conn: asyncpg.Connection, *, appointment_id: int, kinds: list[str],
                         keep: list[str] | None = None) -> int:
    """Drop messages of these kinds that have not gone out yet (e.g. reminders of a moved appointment),
    except those whose idempotency keys are in `keep` (the ones being planned right now)."""
    result: str = await conn.execute(
        """
        UPDATE outbox SET status = 'cancelled', updated_at = now()
        WHERE appointment_id = $1 AND kind = ANY($2) AND status = 'pending'
          AND NOT (idempotency_key = ANY($3::text[]))
        """,
        appointment_id, kinds, keep or [],
    )
    return int(result.split()[-1])


# -- dispatch: claim, record, sweep -------------------------------------------------------------
# Every function below is one statement: the dispatcher calls them outside any transaction, so no
# row lock is ever held while a provider is being called.

@dataclass(frozen=True, slots=True)
class Message:
    id: int
    site_id: int
    idempotency_key: str
    channel: str
    kind: str
    recipient: str
    language: str
    payload: dict[str, Any]
    status: OutboxStatus
    due_at: datetime
    attempts: int
    last_error: str | None
    error_code: str | None
    provider_id: str | None
    segments: int | None
    request_id: int | None
    callback_id: int | None
    appointment_id: int | None
    sent_at: datetime | None


COLUMNS: Final = ("id, site_id, idempotency_key, channel, kind, recipient, language, payload, status, due_at, "
                  "attempts, last_error, error_code, provider_id, segments, request_id, callback_id, "
                  "appointment_id, sent_at")


def _message(row: Mapping[str, Any]) -> Message:
    return Message(**{**row, "status": OutboxStatus(row["status"]), "payload": dict(row["payload"])})


async def claim_due(conn: asyncpg.Connection, *, now: datetime, lease_until: datetime, limit: int) -> list[Message]:
    """Claim up to `limit` due rows for this worker until lease_until; concurrent workers get other rows."""
    rows = await conn.fetch(
        f"""
        UPDATE outbox SET status = 'sending', attempts = attempts + 1, lease_until = $2, updated_at = now()
        WHERE id IN (SELECT id FROM outbox WHERE status = 'pending' AND due_at <= $1
                     ORDER BY due_at, id LIMIT $3 FOR UPDATE SKIP LOCKED)
        RETURNING {COLUMNS}
        """,
        now, lease_until, limit,
    )
    return sorted((_message(r) for r in rows), key=lambda m: (m.due_at, m.id))


# `attempts = $n` names one claim: a row re-claimed after its lease expired no longer matches, so a
# slow first worker cannot overwrite what the second one recorded.
@dataclass(frozen=True, slots=True)
class Accepted:
    """A claimed message the provider accepted, waiting to be recorded."""

    message: Message
    provider_id: str
    segments: int | None
    body: str | None


async def mark_sent_many(conn: asyncpg.Connection, accepted: Sequence[Accepted], *, now: datetime) -> set[int]:
    """Record that the provider accepted these messages, in one statement; returns the ids still claimed by us.

    Each row carries its own claim guard (status 'sending' and the attempt number of the claim), so a row
    that another worker re-claimed, or that already reached a final state, is left as it is.
    """
    if not accepted:
        return set()
    rows = await conn.fetch(
        """
        UPDATE outbox AS o SET status = 'sent', provider_id = a.provider_id, segments = a.segments, body = a.body,
               sent_at = $6, lease_until = NULL, last_error = NULL, error_code = NULL, updated_at = now()
        FROM unnest($1::bigint[], $2::int[], $3::text[], $4::int[], $5::text[])
             AS a(id, attempts, provider_id, segments, body)
        WHERE o.id = a.id AND o.status = 'sending' AND o.attempts = a.attempts
        RETURNING o.id
        """,
        [a.message.id for a in accepted], [a.message.attempts for a in accepted],
        [a.provider_id for a in accepted], [a.segments for a in accepted], [a.body for a in accepted], now,
    )
    return {r["id"] for r in rows}


async def retry_later(conn: asyncpg.Connection, message: Message, *, due_at: datetime, error: str,
                      code: str | None = None) -> bool:
    """Put the message back in the queue after a transient failure."""
    result: str = await conn.execute(
        """
        UPDATE outbox SET status = 'pending', due_at = $3, lease_until = NULL, last_error = $4, error_code = $5,
               updated_at = now()
        WHERE id = $1 AND status = 'sending' AND attempts = $2
        """,
        message.id, message.attempts, due_at, error, code,
    )
    return result.endswith(" 1")


async def defer(conn: asyncpg.Connection, message: Message, *, due_at: datetime, error: str | None = None,
                code: str | None = None) -> bool:
    """Move a claimed message to a later time without counting the claim as an attempt (quiet hours, SMS
    budget); `error` and `code` tell staff why it waits."""
    result: str = await conn.execute(
        """
        UPDATE outbox SET status = 'pending', due_at = $3, attempts = attempts - 1, lease_until = NULL,
               last_error = coalesce($4, last_error), error_code = coalesce($5, error_code), updated_at = now()
        WHERE id = $1 AND status = 'sending' AND attempts = $2
        """,
        message.id, message.attempts, due_at, error, code,
    )
    return result.endswith(" 1")


async def finish(conn: asyncpg.Connection, message: Message, *, status: OutboxStatus, error: str | None,
                 code: str | None) -> bool:
    """End a claimed message as failed or cancelled, with the reason staff will see."""
    assert status in (OutboxStatus.failed, OutboxStatus.cancelled)
    result: str = await conn.execute(
        """
        UPDATE outbox SET status = $3, last_error = $4, error_code = $5, lease_until = NULL, updated_at = now()
        WHERE id = $1 AND status = 'sending' AND attempts = $2
        """,
        message.id, message.attempts, status.value, error, code,
    )
    return result.endswith(" 1")


async def release(conn: asyncpg.Connection, messages: Sequence[Message]) -> int:
    """Give claimed messages that were never handed to a provider back to the queue, as if never claimed.

    Guarded by each row's claim (status 'sending' and its attempt number), like every other result.
    """
    if not messages:
        return 0
    result: str = await conn.execute(
        """
        UPDATE outbox AS o SET status = 'pending', attempts = o.attempts - 1, lease_until = NULL, updated_at = now()
        FROM unnest($1::bigint[], $2::integer[]) AS c(id, attempts)
        WHERE o.id = c.id AND o.status = 'sending' AND o.attempts = c.attempts
        """,
        [m.id for m in messages], [m.attempts for m in messages],
    )
    return int(result.split()[-1])


async def requeue_stuck(conn: asyncpg.Connection, *, now: datetime, max_attempts: int) -> int:
    """Return rows whose lease expired (worker died between claim and result) to the queue.

    A row that has already used every attempt ends in failed instead, so a message that kills its
    worker cannot loop forever. The message may have reached the provider: one duplicate SMS is the
    accepted price for never losing one.
    """
    result: str = await conn.execute(
        """
        UPDATE outbox SET status = CASE WHEN attempts >= $2 THEN 'failed' ELSE 'pending' END,
               due_at = $1, lease_until = NULL,
               last_error = coalesce(last_error, 'worker stopped before recording the result'),
               error_code = CASE WHEN attempts >= $2 THEN 'lease-expired' ELSE error_code END,
               updated_at = now()
        WHERE status = 'sending' AND lease_until < $1
        """,
        now, max_attempts,
    )
    return int(result.split()[-1])


# Twilio delivery states, and which of our states each may replace: late or replayed callbacks
# match no row, so a final state never moves back.
DELIVERY_MAY_FOLLOW: Final[dict[OutboxStatus, tuple[OutboxStatus, ...]]] = {
    OutboxStatus.sent: (OutboxStatus.sending,),
    OutboxStatus.delivered: (OutboxStatus.sending, OutboxStatus.sent),
    OutboxStatus.undelivered: (OutboxStatus.sending, OutboxStatus.sent),
    OutboxStatus.failed: (OutboxStatus.sending, OutboxStatus.sent),
}


async def record_delivery(conn: asyncpg.Connection, *, provider_id: str, status: OutboxStatus,
                          error_code: str | None, error: str | None) -> bool:
    """Apply a provider status callback if the row's current status allows it (idempotent).

    A receipt for an id no message carries yet (it arrived before the send was recorded) is kept in
    early_receipts; `apply_early_receipts` applies it once the message has its id.
    """
    allowed = DELIVERY_MAY_FOLLOW[status]
    applied: bool = await conn.fetchval(
        """
        WITH applied AS (
            UPDATE outbox SET status = $2, error_code = coalesce($4, error_code),
                   last_error = coalesce($5, last_error), updated_at = now()
            WHERE provider_id = $1 AND status = ANY($3::text[])
            RETURNING id
        ), kept AS (
            INSERT INTO early_receipts (provider_id, status, error_code, error)
            SELECT $1, $2, $4, $5 WHERE NOT EXISTS (SELECT 1 FROM outbox WHERE provider_id = $1)
            ON CONFLICT DO NOTHING
        )
        SELECT EXISTS (SELECT 1 FROM applied)
        """,
        provider_id, status.value, [s.value for s in allowed], error_code, error,
    )
    return applied


async def apply_early_receipts(conn: asyncpg.Connection, *, now: datetime) -> int:
    """Apply the receipts that came before their message's id was stored; drop those unmatched for 2 days."""
    async with conn.transaction():
        rows = await conn.fetch(
            """
            DELETE FROM early_receipts e USING outbox o WHERE o.provider_id = e.provider_id
            RETURNING e.provider_id, e.status, e.error_code, e.error
            """
        )
        await conn.execute("DELETE FROM early_receipts WHERE received_at < $1", now - timedelta(days=2))
        # "sent" before the final status, as the provider meant them; a final status never moves back.
        for r in sorted(rows, key=lambda r: (r["provider_id"], r["status"] != OutboxStatus.sent.value)):
            await record_delivery(conn, provider_id=r["provider_id"], status=OutboxStatus(r["status"]),
                                  error_code=r["error_code"], error=r["error"])
    return len(rows)


async def cancel_pending_for_recipient(conn: asyncpg.Connection, *, channel: str, recipient: str,
                                       reason: str) -> int:
    """Drop every message to this address that has not gone out yet (after STOP)."""
    result: str = await conn.execute(
        """
        UPDATE outbox SET status = 'cancelled', last_error = $3, error_code = 'opted-out', updated_at = now()
        WHERE channel = $1 AND recipient = $2 AND status = 'pending'
        """,
        channel, recipient, reason,
    )
    return int(result.split()[-1])


async def cancel_pending_keys(conn: asyncpg.Connection, keys: list[str], *, reason: str) -> set[str]:
    """Drop the messages with these idempotency keys that have not gone out yet; the keys dropped."""
    rows = await conn.fetch(
        """
        UPDATE outbox SET status = 'cancelled', last_error = $2, error_code = 'superseded', updated_at = now()
        WHERE idempotency_key = ANY($1::text[]) AND status = 'pending'
        RETURNING idempotency_key
        """,
        keys, reason,
    )
    return {r["idempotency_key"] for r in rows}


async def latest_sms_site(conn: asyncpg.Connection, recipient: str) -> int | None:
    """The site that last wrote an SMS to this number (replies belong to that conversation)."""
    site_id: int | None = await conn.fetchval(
        "SELECT site_id FROM outbox WHERE channel = 'sms' AND recipient = $1 ORDER BY created_at DESC, id DESC LIMIT 1",
        recipient)
    return site_id


async def get(conn: asyncpg.Connection, outbox_id: int) -> Message | None:
    """One outbox row, or None."""
    row = await conn.fetchrow(f"SELECT {COLUMNS} FROM outbox WHERE id = $1", outbox_id)
    return _message(row) if row else None


async def list_for_client(conn: asyncpg.Connection, client_id: int, *, limit: int = 50) -> list[asyncpg.Record]:
    """Messages about a client's requests, callbacks and appointments, newest first (the staff view shows
    failed ones with their reason)."""
    return list(await conn.fetch(
        """
        SELECT o.id, o.channel, o.kind, o.recipient, o.status, o.error_code, o.last_error, o.attempts, o.due_at,
               o.sent_at, o.created_at
        FROM outbox o
        WHERE o.request_id IN (SELECT id FROM requests WHERE client_id = $1)
           OR o.callback_id IN (SELECT id FROM callbacks WHERE client_id = $1)
           OR o.appointment_id IN (SELECT id FROM appointments WHERE client_id = $1)
        ORDER BY o.created_at DESC, o.id DESC LIMIT $2
        """, client_id, limit))
