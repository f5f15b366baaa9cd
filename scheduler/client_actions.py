"""What a client can do with their own request (from the SMS link page or by SMS reply).

Every action is one transaction: guarded state change, audit row and the outbox rows it causes.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from scheduler import (
    appointments,
    audit,
    callbacks,
    clients,
    concerns,
    freed_slots,
    invitation_evidence,
    notices,
    planning,
    slot_offers,
    video_rooms,
)
from scheduler import proposals as proposals_
from scheduler import requests as requests_
from scheduler.appointments import Appointment
from scheduler.errors import InvalidTransition, NotFound


async def confirm(pool: asyncpg.Pool, *, request_id: int, actor: str) -> Appointment:
    """The client says they will come; recorded for the caseworker, nothing else changes."""
    async with pool.acquire() as conn, conn.transaction():
        request = await requests_.get(conn, request_id)
        appointment = await appointments.latest_for_request(conn, request_id)
        if request.status is not requests_.Status.scheduled or appointment is None or \
                appointment.status is not appointments.AppointmentStatus.confirmed:
            raise InvalidTransition()
        await audit.record(conn, site_id=request.site_id, actor=actor, action="appointment.client_confirmed",
                           subject_type="appointment", subject_id=appointment.id)
        await invitation_evidence.record(conn, request_id=request_id, kind=invitation_evidence.EvidenceKind.confirmed,
                                         at=datetime.now(UTC), channel=_evidence_channel(actor))
        return appointment


def _evidence_channel(actor: str) -> str | None:
    """The channel a client acted through ("client:web" -> "web"), for an invitation's evidence."""
    channel = actor.partition(":")[2]
    return channel if channel in invitation_evidence.EvidenceChannel.__members__ else None


async def cancel(pool: asyncpg.Pool, *, request_id: int, actor: str, now: datetime,
                 sms_offer_max: int = freed_slots.SMS_OFFER_MAX) -> requests_.Request:
    """The client cancels: the appointment (if any) is cancelled and the request withdrawn."""
    async with pool.acquire() as conn, conn.transaction():
        request = await requests_.get(conn, request_id, for_update=True)
        client = await clients.get(conn, request.client_id)
        appointment = await appointments.latest_for_request(conn, request_id)
        request = await requests_.transition(conn, request_id, to=requests_.Status.withdrawn, actor=actor,
                                             site_id=request.site_id)
        if actor.startswith("client:"):  # staff withdrawing for the client is no answer of the client's
            await invitation_evidence.record(conn, request_id=request_id,
                                             kind=invitation_evidence.EvidenceKind.declined, at=now,
                                             channel=_evidence_channel(actor))
        await proposals_.clear(conn, request_id)
        if appointment is not None and appointment.status is appointments.AppointmentStatus.confirmed:
            cancelled = await appointments.cancel(conn, appointment.id, actor=actor, reason="client")
            await notices.appointment_cancelled(conn, client=client, appointment=cancelled,
                                                link_token=request.link_token)
            await freed_slots.offer(conn, cancelled, now=now, sms_offer_max=sms_offer_max)
        return request


async def another_time(pool: asyncpg.Pool, *, request_id: int, actor: str, now: datetime,
                       reminder_offsets: tuple[timedelta, ...]) -> requests_.Request:
    """"Another time, please". A booked appointment stays booked (the client keeps their time until a new one
    is picked): the request is flagged for its caseworker, whose pick then moves the appointment (same calendar
    entry, see `moves`). A request not booked yet goes back to the queue, marked, with fresh proposals."""
    async with pool.acquire() as conn, conn.transaction():
        request = await requests_.get(conn, request_id, for_update=True)
        if request.status not in (requests_.Status.scheduled, requests_.Status.proposed, requests_.Status.received):
            raise InvalidTransition()
        appointment = await appointments.latest_for_request(conn, request_id)
        staff_id = request.staff_id
        if request.status is requests_.Status.scheduled:
            if appointment is None or appointment.status is not appointments.AppointmentStatus.confirmed:
                raise InvalidTransition()
            if not request.wants_other_time:  # asked twice: one flag, one audit row
                await requests_.set_wants_other_time(conn, request_id, value=True, actor=actor,
                                                     site_id=request.site_id)
            return await requests_.get(conn, request_id)
        request = await requests_.transition(conn, request_id, to=requests_.Status.received, actor=actor,
                                             site_id=request.site_id, wants_other_time=True, staff_id=staff_id)
        await planning.plan_and_propose(conn, request_id, route=(request.team_id, staff_id), now=now,
                                        reminder_offsets=reminder_offsets, actor=actor)
        return await requests_.get(conn, request_id)


async def cancel_callback(pool: asyncpg.Pool, *, callback_id: int, actor: str) -> callbacks.Callback:
    """The client no longer needs the callback."""
    async with pool.acquire() as conn, conn.transaction():
        return await callbacks.close(conn, callback_id, to=callbacks.CallbackStatus.cancelled, actor=actor)


async def status_view(conn: asyncpg.Connection, token: str, lang: str, *,
                      now: datetime | None = None) -> dict[str, Any]:
    """What the holder of a link may see: status, time and place (and a freed time offered to them by SMS);
    never name, phone or customer number."""
    request = await requests_.find_by_token(conn, token)
    if request is not None:
        concern = await concerns.labels_of(conn, request.concern_id)
        appointment = await appointments.latest_for_request(conn, request.id)
        view: dict[str, Any] = {
            "kind": "appointment", "reference": request.reference, "status": request.status.value,
            "concern": concerns.label(concern or {}, lang), "language": request.language,
            "appointment": None,
            "actions": _request_actions(request, appointment),
        }
        if appointment is not None:
            view["appointment"] = {
                "start": appointment.start.isoformat(), "end": appointment.end.isoformat(),
                "mode": appointment.mode, "room": appointment.room, "status": appointment.status.value,
                "caseworker": appointment.staff_name,
                "video": _video(await video_rooms.client_view(conn, appointment, now or datetime.now(UTC))),
            }
        offer = None if request.status not in requests_.OPEN else \
            await slot_offers.open_for_request(conn, request.id, now=now or datetime.now(UTC))
        view["offer"] = None if offer is None else {
            "id": offer.id, "start": offer.start.isoformat(), "end": offer.end.isoformat(), "mode": offer.mode,
            "room": offer.room, "expires_at": offer.expires_at.isoformat(),
        }
        if offer is not None:
            view["actions"].insert(0, "take_offer")
        return view
    callback = await callbacks.find_by_token(conn, token)
    if callback is None:
        raise NotFound()
    concern = await concerns.labels_of(conn, callback.concern_id)
    return {
        "kind": "callback", "reference": callback.reference, "status": callback.status.value,
        "concern": concerns.label(concern or {}, lang), "language": callback.language,
        "next_attempt_at": callback.next_attempt_at.isoformat() if callback.next_attempt_at else None,
        "actions": ["cancel"] if callback.status in callbacks.OPEN else [],
    }


def _video(found: video_rooms.ClientView | None) -> dict[str, Any] | None:
    return None if found is None else {"state": found.state, "url": found.url, "opens_at": found.opens_at.isoformat()}


def _request_actions(request: requests_.Request, appointment: appointments.Appointment | None) -> list[str]:
    if request.status is requests_.Status.scheduled and appointment is not None:
        return ["confirm", "another_time", "cancel", "invite"]
    if request.status in requests_.OPEN:
        return ["cancel"]
    return []
