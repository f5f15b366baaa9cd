"""What a client can do with their own request (from the SMS link page or by SMS reply).

Every action is one transaction: guarded state change, audit row and the outbox rows it causes.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import asyncpg

from scheduler import appointments, audit, availability, callbacks, clients, freed_slots, intake, notices
from scheduler import requests as requests_
from scheduler.appointments import Appointment
from scheduler.errors import InvalidTransition


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
        return appointment


async def cancel(pool: asyncpg.Pool, *, request_id: int, actor: str, now: datetime) -> requests_.Request:
    """The client cancels: the appointment (if any) is cancelled and the request withdrawn."""
    async with pool.acquire() as conn, conn.transaction():
        request = await requests_.get(conn, request_id, for_update=True)
        client = await clients.get(conn, request.client_id)
        appointment = await appointments.latest_for_request(conn, request_id)
        request = await requests_.transition(conn, request_id, to=requests_.Status.withdrawn, actor=actor,
                                             site_id=request.site_id)
        await requests_.clear_proposals(conn, request_id)
        if appointment is not None and appointment.status is appointments.AppointmentStatus.confirmed:
            cancelled = await appointments.cancel(conn, appointment.id, actor=actor, reason="client")
            await notices.appointment_cancelled(conn, client=client, appointment=cancelled,
                                                link_token=request.link_token)
            await freed_slots.offer(conn, cancelled, now=now)
        return request


async def another_time(pool: asyncpg.Pool, *, request_id: int, actor: str, now: datetime,
                       reminder_offsets: tuple[timedelta, ...]) -> requests_.Request:
    """"Another time, please": the appointment is released and the request goes back to its caseworker's
    queue, marked, with fresh proposals for them to choose from."""
    async with pool.acquire() as conn, conn.transaction():
        request = await requests_.get(conn, request_id, for_update=True)
        if request.status not in (requests_.Status.scheduled, requests_.Status.proposed, requests_.Status.received):
            raise InvalidTransition()
        client = await clients.get(conn, request.client_id)
        appointment = await appointments.latest_for_request(conn, request_id)
        staff_id = request.staff_id
        if appointment is not None and appointment.status is appointments.AppointmentStatus.confirmed:
            staff_id = appointment.staff_id
            cancelled = await appointments.cancel(conn, appointment.id, actor=actor, reason="client-another-time")
            await notices.appointment_cancelled(conn, client=client, appointment=cancelled,
                                                link_token=request.link_token)
            await freed_slots.offer(conn, cancelled, now=now)
        request = await requests_.transition(conn, request_id, to=requests_.Status.received, actor=actor,
                                             site_id=request.site_id, wants_other_time=True, staff_id=staff_id)
        site = await availability.site_by_id(conn, request.site_id)
        urgent = bool(await conn.fetchval("SELECT urgent FROM concerns WHERE id = $1", request.concern_id))
        await intake.plan_and_propose(conn, site=site, request=request, client=client, urgent=urgent, now=now,
                                      route=(request.team_id, staff_id), reminder_offsets=reminder_offsets,
                                      actor=actor)
        return await requests_.get(conn, request_id)


async def cancel_callback(pool: asyncpg.Pool, *, callback_id: int, actor: str) -> callbacks.Callback:
    """The client no longer needs the callback."""
    async with pool.acquire() as conn, conn.transaction():
        return await callbacks.close(conn, callback_id, to=callbacks.CallbackStatus.cancelled, actor=actor)
