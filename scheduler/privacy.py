"""A client's rights: an admin can export everything we hold about a client, and erase it on request."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from scheduler import (
    addresses,
    audit,
    batch_invitations,
    email_addresses,
    group_session_seats,
    invitation_evidence,
    letters,
    retention,
)
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
    """Everything this site stores about one client (the export is itself audited).

    Link tokens are left out: the export file travels, and a token in it would still open the case.
    """
    client = await conn.fetch(
        "SELECT id, phone, customer_number, name, birth_date, language, sms_consent, sms_opted_out_at, email, "
        "email_verified_at, created_at, updated_at FROM clients WHERE id = $1 AND site_id = $2", client_id, site_id)
    if not client:
        raise NotFound()
    phone = client[0]["phone"]
    requests = await conn.fetch(
        "SELECT id, reference, channel, status, language, modes, windows, note, invitation, notice_text, "
        "decline_reason, claimed_name, claimed_customer_number, sms_consent, "
        "created_at, closed_at FROM requests WHERE client_id = $1 AND site_id = $2 ORDER BY id", client_id, site_id)
    callbacks = await conn.fetch(
        "SELECT id, reference, channel, status, phone, language, windows, note, attempts, claimed_name, "
        "claimed_customer_number, sms_consent, created_at, closed_at "
        "FROM callbacks WHERE client_id = $1 AND site_id = $2 ORDER BY id", client_id, site_id)
    appointments = await conn.fetch(
        "SELECT id, request_id, lower(during) AS start, upper(during) AS end, mode, room, status, arrived_at "
        "FROM appointments WHERE client_id = $1 AND site_id = $2 ORDER BY id", client_id, site_id)
    ids = _ids(requests), _ids(callbacks), _ids(appointments)
    data = {
        "client": _jsonable(client)[0],
        "requests": _jsonable(requests), "callbacks": _jsonable(callbacks), "appointments": _jsonable(appointments),
        "callback_attempts": _jsonable(await conn.fetch(
            "SELECT id, callback_id, outcome, note, created_at FROM callback_attempts "
            "WHERE site_id = $1 AND callback_id = ANY($2) ORDER BY id", site_id, ids[1])),
        # Sent texts, invitations and notices included; only this site's rows, though the number may be shared.
        "messages": _jsonable(await conn.fetch(
            "SELECT id, channel, kind, recipient, body, status, created_at, sent_at FROM outbox "
            f"WHERE site_id = $1 AND ({_OUTBOX_OF_CLIENT}) ORDER BY id", site_id, phone, *ids)),
        "inbound_messages": _jsonable(await conn.fetch(
            "SELECT id, body, action, created_at FROM inbound_messages WHERE site_id = $1 AND from_phone = $2 "
            "ORDER BY id", site_id, phone)),
        "invitation_evidence": _jsonable(await invitation_evidence.export_for_requests(conn, ids[0])),
        **await addresses.export_for(conn, site_id=site_id, client_id=client_id),
        "email_addresses_given": await email_addresses.export_for(conn, site_id=site_id, client_id=client_id),
        "letters": await letters.export_for(conn, site_id=site_id, client_id=client_id),
        "batch_invitation_lines": await batch_invitations.rows_of_client(
            conn, site_id=site_id, phone=phone, customer_number=client[0]["customer_number"]),
        "group_session_seats": await group_session_seats.export_for(conn, site_id=site_id, client_id=client_id),
        "audit": _jsonable(await audit.about_client(conn, site_id=site_id, client_id=client_id, request_ids=ids[0],
                                                    callback_ids=ids[1], appointment_ids=ids[2])),
    }
    await audit.record(conn, site_id=site_id, actor=actor, action="client.export", subject_type="client",
                       subject_id=client_id)
    return data


# Outbox rows of a client at one site: to their number, or about their requests, callbacks, appointments.
_OUTBOX_OF_CLIENT = ("recipient = $2 OR request_id = ANY($3) OR callback_id = ANY($4) "
                     "OR appointment_id = ANY($5)")


def _ids(rows: list[asyncpg.Record]) -> list[int]:
    return [r["id"] for r in rows]


async def erase(conn: asyncpg.Connection, *, site_id: int, client_id: int, actor: str, now: datetime) -> None:
    """Erase a client's personal data at this site now: open items are closed, then everything is anonymised.

    Another site's rows stay untouched even when the client's number is the same there.
    """
    phone = await conn.fetchval("SELECT phone FROM clients WHERE id = $1 AND site_id = $2", client_id, site_id)
    customer_number = await conn.fetchval("SELECT customer_number FROM clients WHERE id = $1", client_id)
    if phone is None and not await conn.fetchval("SELECT 1 FROM clients WHERE id = $1 AND site_id = $2",
                                                 client_id, site_id):
        raise NotFound()
    await conn.execute(
        "UPDATE appointments SET status = 'cancelled', cancel_reason = 'erased', sequence = sequence + 1, "
        "updated_at = now() WHERE client_id = $1 AND site_id = $2 AND status = 'confirmed'", client_id, site_id)
    # Every case of the client ends now and loses its link at once (closed cases keep their status).
    requests = await conn.fetch(
        "UPDATE requests SET status = CASE WHEN status IN ('received', 'proposed', 'scheduled') THEN 'withdrawn' "
        "ELSE status END, closed_at = coalesce(closed_at, $3), link_token = NULL "
        "WHERE client_id = $1 AND site_id = $2 RETURNING id", client_id, site_id, now)
    callbacks = await conn.fetch(
        "UPDATE callbacks SET status = CASE WHEN status IN ('open', 'in_progress') THEN 'cancelled' "
        "ELSE status END, closed_at = coalesce(closed_at, $3), link_token = NULL "
        "WHERE client_id = $1 AND site_id = $2 RETURNING id", client_id, site_id, now)
    appointments = await conn.fetch("SELECT id FROM appointments WHERE client_id = $1 AND site_id = $2",
                                    client_id, site_id)
    ids = _ids(requests), _ids(callbacks), _ids(appointments)
    await conn.execute(
        "UPDATE outbox SET status = CASE WHEN status = 'pending' THEN 'cancelled' ELSE status END, recipient = '', "
        "body = NULL, payload = '{}', anonymised_at = coalesce(anonymised_at, $6) "
        f"WHERE site_id = $1 AND ({_OUTBOX_OF_CLIENT})", site_id, phone, *ids, now)
    await conn.execute("DELETE FROM inbound_messages WHERE site_id = $1 AND from_phone = $2", site_id, phone)
    for step in (retention.requests_batch, retention.callbacks_batch):
        while True:
            if await step(conn, now, client_id) < retention.BATCH:
                break
    await retention.clients_batch(conn, now, client_id)
    await addresses.erase_for(conn, site_id=site_id, client_id=client_id)
    await email_addresses.erase_for(conn, site_id=site_id, client_id=client_id)
    await letters.erase_for(conn, site_id=site_id, client_id=client_id, now=now)
    await batch_invitations.erase_rows_of_client(conn, site_id=site_id, phone=phone, customer_number=customer_number)
    await group_session_seats.erase_for(conn, site_id=site_id, client_id=client_id, now=now)
    await audit.record(conn, site_id=site_id, actor=actor, action="client.erase", subject_type="client",
                       subject_id=client_id)
