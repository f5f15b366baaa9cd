"""When an invitation goes out as a letter too: the three reasons, decided where they arise.

- The client has no mobile number (an invitation by customer number, name and address).
- An SMS about the invitation failed for good (the outbox worker calls `finish_message`).
- A mandatory invitation, and the client has not agreed to electronic notice (§ 36a SGB I; recorded by staff
  in `addresses.electronic_notice_consents`). SMS alone never counts as a mandatory invitation's delivery.

The letter itself waits in the print queue (`letters`) until the request is booked and an address is known.
"""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg

from scheduler import addresses, appointments, letters, outbox
from scheduler import requests as requests_
from scheduler.letters import LetterReason
from scheduler.outbox import Message, OutboxStatus


def reason_for(*, phone: str | None, invitation: str | None, electronic_consent: bool) -> LetterReason | None:
    """Why an invitation needs a letter from the start, or None (a failed SMS may still add one later)."""
    if invitation is None:
        return None
    if not phone:
        return LetterReason.no_mobile
    if invitation == "mandatory" and not electronic_consent:
        return LetterReason.no_electronic_consent
    return None


async def invitation_created(conn: asyncpg.Connection, *, site_id: int, client_id: int, phone: str | None,
                             request_id: int, invitation: str, address: addresses.Address | None,
                             electronic_consent: bool, staff_id: int | None, now: datetime) -> int | None:
    """Keep what staff gave (address, consent) and queue the letter the invitation needs, in the caller's
    transaction; the new letter's id, or None."""
    if address is not None:
        await addresses.save(conn, site_id=site_id, client_id=client_id, address=address, staff_id=staff_id)
    if electronic_consent:
        await addresses.set_electronic_consent(conn, site_id=site_id, client_id=client_id, given=True,
                                               staff_id=staff_id, now=now)
    consent = electronic_consent or await addresses.has_electronic_consent(conn, client_id)
    reason = reason_for(phone=phone, invitation=invitation, electronic_consent=consent)
    if reason is None:
        return None
    return await letters.queue(conn, site_id=site_id, request_id=request_id, client_id=client_id, reason=reason,
                               now=now, staff_id=staff_id)


async def finish_message(conn: asyncpg.Connection, message: Message, *, status: OutboxStatus, error: str | None,
                         code: str | None) -> bool:
    """`outbox.finish`, and for an SMS about an invitation that failed for good, a letter in the same
    transaction: the failure and the letter are recorded together or not at all."""
    async with conn.transaction():
        finished = await outbox.finish(conn, message, status=status, error=error, code=code)
        if finished and status is OutboxStatus.failed and message.channel == "sms":
            await _sms_failed(conn, message)
    return finished


async def _sms_failed(conn: asyncpg.Connection, message: Message) -> None:
    request_id = message.request_id
    if request_id is None and message.appointment_id is not None:
        request_id = (await appointments.get(conn, message.appointment_id)).request_id
    if request_id is None:
        return
    request = await requests_.get(conn, request_id)
    if request.invitation is not None and request.status in requests_.OPEN | {requests_.Status.scheduled}:
        await letters.queue(conn, site_id=request.site_id, request_id=request.id, client_id=request.client_id,
                            reason=LetterReason.sms_failed, now=datetime.now(UTC), outbox_id=message.id)
