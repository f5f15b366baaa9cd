"""Which messages a change sends: outbox rows written inside the transaction of that change.

Message texts are rendered when the worker sends them (in the client's language, from the catalogue);
here we only decide *that* a message goes out, to whom, when, and under which idempotency key.

Consent is per request and per number: an SMS about a request goes out only when that request asked for
SMS and its number has not sent STOP. Anyone can type someone else's number into a form, so a number
that has not confirmed SMS itself (by answering, START, or through staff) gets only the receipt, which
says how to answer 1 or STOP; nothing more until it answers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from scheduler import callbacks, email_addresses, outbox
from scheduler import requests as requests_
from scheduler.appointments import Appointment
from scheduler.clients import Client

REMINDER_KINDS = ["sms.reminder"]
# The only SMS a number that has not confirmed SMS itself may get.
# A group-session seat's confirmation carries its reference like a receipt (group_session_seats.book).
RECEIPT_KINDS = frozenset({"sms.request_received", "sms.callback_received", "sms.group_seat_booked"})


def may_sms(client: Client, *, consent: bool, receipt: bool = False) -> bool:
    """This request asked for SMS, the number did not say STOP, and (beyond the receipt) confirmed SMS."""
    return bool(client.phone) and consent and client.sms_opted_out_at is None and (receipt or client.sms_consent)


async def request_received(conn: asyncpg.Connection, *, client: Client, request_id: int, reference: str,
                           link_token: str, kind: str, consent: bool) -> None:
    """Tell the client we have their request, with its reference and link (and how to answer 1 or STOP)."""
    if not may_sms(client, consent=consent, receipt=True):
        return
    assert client.phone
    await outbox.enqueue(
        conn, site_id=client.site_id, key=f"{kind}:{request_id}:received", channel="sms",
        kind="sms.request_received" if kind == "request" else "sms.callback_received",
        recipient=client.phone, language=client.language,
        payload={"reference": reference, "token": link_token},
        request_id=request_id if kind == "request" else None, callback_id=request_id if kind == "callback" else None,
    )


def request_receipt(client: Client, *, reference: str, link_token: str, consent: bool) -> outbox.Receipt | None:
    """The receipt of a new appointment request, for `requests.insert` to queue with the request in one
    statement (the same message, key and rule as `request_received`); None when no SMS may go out."""
    if not may_sms(client, consent=consent, receipt=True):
        return None
    assert client.phone
    return outbox.Receipt(key_prefix="request:", key_suffix=":received", channel="sms", kind="sms.request_received",
                          recipient=client.phone, language=client.language,
                          payload={"reference": reference, "token": link_token})


async def appointment_confirmed(conn: asyncpg.Connection, *, client: Client, appointment: Appointment,
                                link_token: str, reminder_offsets: tuple[timedelta, ...], now: datetime,
                                moved: bool = False, consent: bool | None = None) -> None:
    """Confirm a booked (or moved) appointment and plan its reminders (and mail the invite where allowed).

    `consent`: the request's SMS consent when the caller has just read it under the request's lock (else read here).
    """
    await _invite_email(conn, client=client, appointment=appointment, link_token=link_token)
    if consent is None:
        consent = await requests_.sms_consent(conn, appointment.request_id)
    if not may_sms(client, consent=consent):
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
    if not may_sms(client, consent=await requests_.sms_consent(conn, appointment.request_id)):
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
    if not may_sms(client, consent=await callbacks.sms_consent(conn, callback_id)):
        return
    await outbox.enqueue(
        conn, site_id=client.site_id, key=f"callback:{callback_id}:missed:{attempt}", channel="sms",
        kind="sms.callback_missed", recipient=phone, language=client.language,
        payload={"callback_id": callback_id, "token": link_token}, callback_id=callback_id,
    )


async def request_ended(conn: asyncpg.Connection, *, client: Client, request_id: int, reference: str,
                        link_token: str | None, consent: bool, kind: str, category: str | None = None) -> None:
    """Tell the client their request ended without an appointment (kind "expired" or "declined", the latter
    with its reason category) and that they may ask again; once per request."""
    message = _request_ended(client=client, request_id=request_id, reference=reference, link_token=link_token,
                             consent=consent, kind=kind, category=category)
    if message is not None:
        await outbox.enqueue(
            conn, site_id=message.site_id, key=message.key, channel=message.channel, kind=message.kind,
            recipient=message.recipient, language=message.language, payload=message.payload, request_id=request_id,
        )


@dataclass(frozen=True, slots=True)
class Ended:
    """A request that ended without an appointment, with what its client's SMS needs."""

    client: Client
    request_id: int
    reference: str
    link_token: str | None
    consent: bool


async def requests_ended(conn: asyncpg.Connection, ended: Sequence[Ended], *, kind: str) -> int:
    """request_ended for a job's batch: the same rule per request, the SMS rows in one statement. How many
    were queued."""
    messages = [m for e in ended if (m := _request_ended(client=e.client, request_id=e.request_id,
                                                         reference=e.reference, link_token=e.link_token,
                                                         consent=e.consent, kind=kind)) is not None]
    return await outbox.enqueue_many(conn, messages)


def _request_ended(*, client: Client, request_id: int, reference: str, link_token: str | None, consent: bool,
                   kind: str, category: str | None = None) -> outbox.Queued | None:
    if not may_sms(client, consent=consent):
        return None
    assert client.phone and kind in ("expired", "declined")
    payload: dict[str, object] = {"reference": reference, "token": link_token}
    if category is not None:
        payload["category"] = category
    return outbox.Queued(site_id=client.site_id, key=f"request:{request_id}:{kind}", channel="sms",
                         kind=f"sms.request_{kind}", recipient=client.phone, language=client.language,
                         payload=payload, request_id=request_id)


async def _invite_email(conn: asyncpg.Connection, *, client: Client, appointment: Appointment,
                        link_token: str) -> None:
    # The client's staff-verified address, else the one confirmed with this very request (email_addresses).
    enabled, address = await email_addresses.invite_address(conn, site_id=client.site_id, client_id=client.id,
                                                            request_id=appointment.request_id)
    await invite_email(conn, site_email_enabled=enabled, client_email=address,
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


def slot_offer_key(offer_id: int, request_id: int) -> str:
    """The idempotency key of the SMS that offers a freed time to one request."""
    return f"slot_offer:{offer_id}:offer:{request_id}"


async def slot_offered(conn: asyncpg.Connection, *, client: Client, request: requests_.Request, offer_id: int,
                       code: str) -> bool:
    """Offer a freed time by SMS (the first to accept gets it); only to a number that confirmed SMS itself.
    True when a message was queued."""
    if not may_sms(client, consent=request.sms_consent):
        return False
    assert client.phone
    await outbox.enqueue(
        conn, site_id=request.site_id, key=slot_offer_key(offer_id, request.id), channel="sms",
        kind="sms.slot_offer", recipient=client.phone, language=client.language,
        payload={"offer_id": offer_id, "code": code, "token": request.link_token}, request_id=request.id,
    )
    return True


async def slot_offer_gone(conn: asyncpg.Connection, *, client: Client, request: requests_.Request,
                          offer_id: int) -> None:
    """Tell a client who was offered a freed time that someone else took it; their request stays open.

    An offer still waiting in the outbox is dropped instead: who never saw it need not hear it is gone.
    """
    key = slot_offer_key(offer_id, request.id)
    if key in await outbox.cancel_pending_keys(conn, [key], reason="the offered time is gone"):
        return
    if not may_sms(client, consent=request.sms_consent):
        return
    assert client.phone
    await outbox.enqueue(
        conn, site_id=request.site_id, key=f"slot_offer:{offer_id}:gone:{request.id}", channel="sms",
        kind="sms.slot_offer_gone", recipient=client.phone, language=client.language,
        payload={"offer_id": offer_id, "token": request.link_token}, request_id=request.id,
    )


async def appointments_confirmed_many(conn: asyncpg.Connection, booked: Sequence[tuple[Client, Appointment, str]],
                                      *, reminder_offsets: tuple[timedelta, ...], now: datetime) -> int:
    """`appointment_confirmed` for many new appointments (client, appointment, link token) in one statement:
    the same messages and keys, for clients whose request consented (a batch invitation's do); no e-mail."""
    queued = []
    for client, a, token in booked:
        if not may_sms(client, consent=True):
            continue
        assert client.phone
        payload = {"appointment_id": a.id, "token": token}
        queued.append(outbox.Queued(a.site_id, f"appointment:{a.id}:confirmed:{a.sequence}", "sms",
                                    "sms.appointment_confirmed", client.phone, client.language, payload,
                                    request_id=a.request_id, appointment_id=a.id))
        queued.extend(outbox.Queued(a.site_id, f"appointment:{a.id}:reminder:{int(o.total_seconds())}:{a.sequence}",
                                    "sms", "sms.reminder", client.phone, client.language, payload,
                                    request_id=a.request_id, appointment_id=a.id, due_at=a.start - o)
                      for o in reminder_offsets if a.start - o > now)
    return await outbox.enqueue_many(conn, queued)
