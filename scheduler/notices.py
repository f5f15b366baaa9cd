"""Which messages a change sends: outbox rows written inside the transaction of that change.

Message texts are rendered when the worker sends them (in the client's language, from the catalogue);
here we only decide *that* a message goes out, to whom, when, and under which idempotency key.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import asyncpg

from scheduler import outbox
from scheduler.appointments import Appointment
from scheduler.clients import Client

REMINDER_KINDS = ["sms.reminder"]


async def request_received(conn: asyncpg.Connection, *, client: Client, request_id: int, reference: str,
                           link_token: str, kind: str) -> None:
    """Tell the client we have their request, with its reference and link."""
    if not client.can_receive_sms:
        return
    assert client.phone
    await outbox.enqueue(
        conn, site_id=client.site_id, key=f"{kind}:{request_id}:received", channel="sms",
        kind="sms.request_received" if kind == "request" else "sms.callback_received",
        recipient=client.phone, language=client.language,
        payload={"reference": reference, "token": link_token},
        request_id=request_id if kind == "request" else None, callback_id=request_id if kind == "callback" else None,
    )


async def appointment_confirmed(conn: asyncpg.Connection, *, client: Client, appointment: Appointment,
                                link_token: str, reminder_offsets: tuple[timedelta, ...], now: datetime,
                                moved: bool = False) -> None:
    """Confirm a booked (or moved) appointment and plan its reminders (and mail the invite where allowed)."""
    await _invite_email(conn, client=client, appointment=appointment, link_token=link_token)
    if not client.can_receive_sms:
        return
    assert client.phone
    a = appointment
    await outbox.enqueue(
        conn, site_id=a.site_id, key=f"appointment:{a.id}:{'moved' if moved else 'confirmed'}:{a.sequence}",
        channel="sms", kind="sms.appointment_moved" if moved else "sms.appointment_confirmed",
        recipient=client.phone, language=client.language, payload={"appointment_id": a.id, "token": link_token},
        request_id=a.request_id, appointment_id=a.id,
    )
    planned = [(f"appointment:{a.id}:reminder:{int(offset.total_seconds())}:{a.sequence}", a.start - offset)
               for offset in reminder_offsets if a.start - offset > now]  # too late ones are skipped
    # Reminders of an earlier version go; these stay even when this runs twice for the same version.
    await outbox.cancel_pending(conn, appointment_id=a.id, kinds=REMINDER_KINDS, keep=[key for key, _ in planned])
    for key, due in planned:
        await outbox.enqueue(
            conn, site_id=a.site_id, key=key, channel="sms", kind="sms.reminder", recipient=client.phone,
            language=client.language, payload={"appointment_id": a.id, "token": link_token}, due_at=due,
            request_id=a.request_id, appointment_id=a.id,
        )


async def appointment_cancelled(conn: asyncpg.Connection, *, client: Client, appointment: Appointment,
                                link_token: str) -> None:
    """Tell the client an appointment is cancelled; drop its pending reminders."""
    await outbox.cancel_pending(conn, appointment_id=appointment.id, kinds=REMINDER_KINDS)
    await _invite_email(conn, client=client, appointment=appointment, link_token=link_token)
    if not client.can_receive_sms:
        return
    assert client.phone
    await outbox.enqueue(
        conn, site_id=appointment.site_id, key=f"appointment:{appointment.id}:cancelled:{appointment.sequence}",
        channel="sms", kind="sms.appointment_cancelled", recipient=client.phone, language=client.language,
        payload={"appointment_id": appointment.id, "token": link_token},
        request_id=appointment.request_id, appointment_id=appointment.id,
    )


async def callback_attempt_failed(conn: asyncpg.Connection, *, client: Client, callback_id: int, attempt: int,
                                  phone: str, link_token: str) -> None:
    """'We tried to reach you' after a call nobody answered."""
    if not (client.sms_consent and client.sms_opted_out_at is None):
        return
    await outbox.enqueue(
        conn, site_id=client.site_id, key=f"callback:{callback_id}:missed:{attempt}", channel="sms",
        kind="sms.callback_missed", recipient=phone, language=client.language,
        payload={"callback_id": callback_id, "token": link_token}, callback_id=callback_id,
    )


async def _invite_email(conn: asyncpg.Connection, *, client: Client, appointment: Appointment,
                        link_token: str) -> None:
    row = await conn.fetchrow("SELECT s.email_enabled, c.email FROM sites s, clients c WHERE s.id = $1 AND c.id = $2",
                              client.site_id, client.id)
    await invite_email(conn, site_email_enabled=row["email_enabled"], client_email=row["email"],
                       appointment=appointment, language=client.language, link_token=link_token)


async def invite_email(conn: asyncpg.Connection, *, site_email_enabled: bool, client_email: str | None,
                       appointment: Appointment, language: str, link_token: str) -> None:
    """Where the site allows e-mail and the client gave an address, mail the calendar invite.

    One row per SEQUENCE: a moved or cancelled appointment mails a new version (REQUEST or CANCEL).
    """
    if not (site_email_enabled and client_email):
        return
    a = appointment
    await outbox.enqueue(
        conn, site_id=a.site_id, key=f"appointment:{a.id}:invite:{a.sequence}", channel="email",
        kind="email.invite", recipient=client_email, language=language,
        payload={"appointment_id": a.id, "token": link_token}, request_id=a.request_id, appointment_id=a.id,
    )
