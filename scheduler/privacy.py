"""A client's rights: an admin can export everything we hold about a client, and erase it on request."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from scheduler import audit, retention
from scheduler.errors import NotFound


async def find_client(conn: asyncpg.Connection, *, site_id: int, phone: str) -> int | None:
    """The client with this phone number at a site."""
    client_id: int | None = await conn.fetchval(
        "SELECT id FROM clients WHERE site_id = $1 AND phone = $2", site_id, phone)
    return client_id


def _jsonable(rows: list[asyncpg.Record]) -> list[dict[str, Any]]:
    out = []
    for row in rows:
        item = {}
        for key, value in dict(row).items():
            item[key] = value.isoformat() if isinstance(value, datetime) else (
                str(value) if value is not None and not isinstance(value, int | float | str | bool | dict | list)
                else value)
        out.append(item)
    return out


async def export(conn: asyncpg.Connection, *, site_id: int, client_id: int, actor: str) -> dict[str, Any]:
    """Everything stored about one client (the export is itself audited)."""
    client = await conn.fetch(
        "SELECT id, phone, customer_number, name, birth_date, language, sms_consent, sms_opted_out_at, email, "
        "created_at, updated_at FROM clients WHERE id = $1 AND site_id = $2", client_id, site_id)
    if not client:
        raise NotFound()
    data = {
        "client": _jsonable(client)[0],
        "requests": _jsonable(await conn.fetch(
            "SELECT id, reference, channel, status, language, modes, windows, note, invitation, decline_reason, "
            "created_at, closed_at FROM requests WHERE client_id = $1 ORDER BY id", client_id)),
        "callbacks": _jsonable(await conn.fetch(
            "SELECT id, reference, channel, status, phone, language, windows, note, attempts, created_at, closed_at "
            "FROM callbacks WHERE client_id = $1 ORDER BY id", client_id)),
        "appointments": _jsonable(await conn.fetch(
            "SELECT id, request_id, lower(during) AS start, upper(during) AS end, mode, room, status, arrived_at "
            "FROM appointments WHERE client_id = $1 ORDER BY id", client_id)),
        "messages": _jsonable(await conn.fetch(
            "SELECT o.id, o.kind, o.recipient, o.body, o.status, o.created_at, o.sent_at FROM outbox o "
            "WHERE o.recipient = (SELECT phone FROM clients WHERE id = $1) ORDER BY o.id", client_id)),
    }
    await audit.record(conn, site_id=site_id, actor=actor, action="client.export", subject_type="client",
                       subject_id=client_id)
    return data


async def erase(conn: asyncpg.Connection, *, site_id: int, client_id: int, actor: str, now: datetime) -> None:
    """Erase a client's personal data now: open items are closed first, then everything is anonymised."""
    exists = await conn.fetchval("SELECT 1 FROM clients WHERE id = $1 AND site_id = $2", client_id, site_id)
    if not exists:
        raise NotFound()
    phone = await conn.fetchval("SELECT phone FROM clients WHERE id = $1", client_id)
    await conn.execute(
        "UPDATE appointments SET status = 'cancelled', cancel_reason = 'erased', sequence = sequence + 1, "
        "updated_at = now() WHERE client_id = $1 AND status = 'confirmed'", client_id)
    await conn.execute(
        "UPDATE requests SET status = 'withdrawn', closed_at = $2 WHERE client_id = $1 "
        "AND status IN ('received', 'proposed', 'scheduled')", client_id, now)
    await conn.execute(
        "UPDATE callbacks SET status = 'cancelled', closed_at = $2 WHERE client_id = $1 "
        "AND status IN ('open', 'in_progress')", client_id, now)
    await conn.execute("UPDATE outbox SET status = 'cancelled' WHERE recipient = $1 AND status = 'pending'", phone)
    await conn.execute("DELETE FROM inbound_messages WHERE from_phone = $1", phone)
    for step in (retention.requests_batch, retention.callbacks_batch):
        while True:
            if await step(conn, now, client_id) < retention.BATCH:
                break
    await retention.clients_batch(conn, now, client_id)
    await audit.record(conn, site_id=site_id, actor=actor, action="client.erase", subject_type="client",
                       subject_id=client_id)
