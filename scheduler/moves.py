"""Moving booked appointments: one at a time (staff pick a free slot), or in bulk after an absence, a closure
day or a deactivation (staff review the policy's proposals and confirm the batch).

A move keeps the appointment row and its calendar UID; its SEQUENCE grows, the client gets one "moved" SMS
(and the new invite where e-mail is allowed), the reminders are planned anew, and the old time is offered
to waiting requests. Nothing moves without a person confirming it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from scheduler import (
    appointments,
    approvals,
    clients,
    closures,
    concerns,
    freed_slots,
    notices,
    planning,
    sites,
    teams,
    video_rooms,
)
from scheduler import requests as requests_
from scheduler.appointments import Appointment
from scheduler.clients import Client
from scheduler.errors import DomainError, Forbidden, InvalidTransition, NotFound, SlotTaken, ValidationFailed
from scheduler.holds import Holds, Scope
from scheduler.i18n import N_
from scheduler.permissions import Role, StaffUser, check_may_act, check_site
from scheduler.policy.rules import Kind, Mode
from scheduler.policy.slots import Slot

BATCH_LIMIT = 500  # rows one bulk move may carry
SOURCES = ("absence", "closure", "staff")


@dataclass(frozen=True, slots=True)
class Target:
    """Where one appointment should go: a caseworker, a start time and a mode."""

    appointment_id: int
    staff_id: int
    start: datetime
    mode: str


@dataclass(frozen=True, slots=True)
class BulkResult:
    moved: tuple[int, ...]
    conflicts: tuple[tuple[int, str], ...]  # (appointment id, error code)


@dataclass(frozen=True, slots=True)
class BatchFacts:
    """What a bulk move reads once for all its rows: the clients, and which staff are active where."""

    clients: Mapping[int, Client]
    active_sites: Mapping[int, int]


@dataclass(frozen=True, slots=True)
class Hit:
    """A booked appointment an absence, closure or deactivation hits, with the policy's proposals for it."""

    appointment: Appointment
    proposals: tuple[Slot, ...]


def slot_json(slot: Slot) -> dict[str, object]:
    """A proposal as the JSON a 409 carries."""
    return {"staff_id": slot.caseworker_id, "start": slot.start.isoformat(), "end": slot.end.isoformat(),
            "mode": slot.mode.value, "room": slot.room}


async def _active_site(conn: asyncpg.Connection, staff_id: int, known: Mapping[int, int] | None) -> int | None:
    """The site of an active staff member (None if inactive), from `known` when the caller looked it up."""
    if known is not None:
        return known.get(staff_id)
    return await teams.site_of_staff(conn, staff_id, active_only=True)


async def _validated_slot(conn: asyncpg.Connection, *, appointment: Appointment, site: sites.Site, target: Target,
                          now: datetime, active_sites: Mapping[int, int] | None = None) -> Slot:
    """The free slot a target names (of an active caseworker of the site, in their hours); SlotTaken if not free."""
    if target.mode not in {m.value for m in Mode}:
        raise ValidationFailed(fields={"mode": N_("Please choose in person, phone or video.")})
    if target.start <= now:
        raise ValidationFailed(fields={"start": N_("Please choose a time from the list.")})
    if await _active_site(conn, target.staff_id, active_sites) != site.id:
        raise ValidationFailed(fields={"staff_id": N_("Please choose a caseworker of this office.")})
    duration = appointment.end - appointment.start
    day = site.calendar().local_date(target.start)
    free = await approvals.free_slots(conn, site=site, staff_id=target.staff_id, day=day, duration=duration, now=now)
    match = next((s for s in free if s.start == target.start), None)
    if match is None:
        raise SlotTaken()
    return dataclasses.replace(match, mode=Mode(target.mode), end=target.start + duration)


async def move_locked(conn: asyncpg.Connection, *, appointment: Appointment, request: requests_.Request,
                      site: sites.Site, target: Target, actor: str, now: datetime,
                      reminder_offsets: tuple[timedelta, ...], batch: BatchFacts | None = None,
                      sms_offer_max: int = freed_slots.SMS_OFFER_MAX) -> Appointment:
    """Move one appointment inside the caller's transaction (its request locked): validate, move, reroute,
    tell the client, offer the old time. The caller has checked permissions; a caller moving many in one
    transaction passes what it read for all of them at once (`batch`), and holds a savepoint around each."""
    if appointment.status is not appointments.AppointmentStatus.confirmed or appointment.start <= now:
        raise InvalidTransition()
    active_sites = batch.active_sites if batch else None
    slot = await _validated_slot(conn, appointment=appointment, site=site, target=target, now=now,
                                 active_sites=active_sites)
    moved = await appointments.move(conn, appointment.id, staff_id=slot.caseworker_id, start=slot.start,
                                    end=slot.end, mode=slot.mode.value, room=slot.room, actor=actor,
                                    savepoint=batch is None)
    await video_rooms.ensure(conn, [moved])  # moved to video: a room from now on
    if request.staff_id != slot.caseworker_id:
        await requests_.reroute(conn, request.id, team_id=await teams.team_of_staff(conn, slot.caseworker_id),
                                staff_id=slot.caseworker_id)
    if request.wants_other_time:
        await requests_.set_wants_other_time(conn, request.id, value=False, actor=actor, site_id=site.id)
    client = batch.clients[request.client_id] if batch else await clients.get(conn, request.client_id)
    # The request's consent as read under its lock at the start of this transaction (nothing here changes it).
    await notices.appointment_confirmed(conn, client=client, appointment=moved, link_token=request.link_token,
                                        reminder_offsets=reminder_offsets, now=now, moved=True,
                                        consent=request.sms_consent)
    if await _bookable_again(conn, appointment, site=site, now=now, active_sites=active_sites):
        await freed_slots.offer(conn, appointment, now=now, sms_offer_max=sms_offer_max)
    return moved


async def _bookable_again(conn: asyncpg.Connection, old: Appointment, *, site: sites.Site, now: datetime,
                          active_sites: Mapping[int, int] | None = None) -> bool:
    """Whether the time an appointment left can be booked by someone else: its caseworker is still active, it
    lies in their hours and is not blocked (absence, closure day, the moved appointment itself)."""
    if old.start <= now or await _active_site(conn, old.staff_id, active_sites) != site.id:
        return False
    free = await approvals.free_slots(conn, site=site, staff_id=old.staff_id, day=site.calendar().local_date(old.start),
                                      duration=old.end - old.start, now=now)
    return any(s.start == old.start for s in free)


async def _lock(conn: asyncpg.Connection, appointment_id: int) -> tuple[Appointment, requests_.Request]:
    appointment = await appointments.get(conn, appointment_id)
    request = await requests_.get(conn, appointment.request_id, for_update=True)
    return await appointments.get(conn, appointment_id), request  # read again under the request's lock


async def move(pool: asyncpg.Pool, *, target: Target, user: StaffUser, now: datetime,
               reminder_offsets: tuple[timedelta, ...], sms_offer_max: int = freed_slots.SMS_OFFER_MAX) -> Appointment:
    """Staff move one booked appointment to a free slot; a taken slot answers SlotTaken with fresh proposals."""
    try:
        async with pool.acquire() as conn, conn.transaction():
            appointment, request = await _lock(conn, target.appointment_id)
            check_may_act(user, site_id=request.site_id, team_id=request.team_id, staff_id=appointment.staff_id)
            site = await sites.site_by_id(conn, request.site_id)
            return await move_locked(conn, appointment=appointment, request=request, site=site, target=target,
                                     actor=user.actor, now=now, reminder_offsets=reminder_offsets,
                                     sms_offer_max=sms_offer_max)
    except SlotTaken:
        async with pool.acquire() as conn:
            appointment = await appointments.get(conn, target.appointment_id)
            request = await requests_.get(conn, appointment.request_id)
            fresh = await propose(conn, appointment=appointment, request=request, now=now, count=3)
        raise SlotTaken(extra={"proposals": [slot_json(s) for s in fresh]}) from None


async def propose(conn: asyncpg.Connection, *, appointment: Appointment, request: requests_.Request, now: datetime,
                  count: int, hold: Scope | None = None) -> list[Slot]:
    """The policy's proposals for moving an appointment: its caseworker later (if still active), else a
    colleague of the team; inside the policy's window and the client's wishes."""
    site = await sites.site_by_id(conn, request.site_id)
    client = await clients.get(conn, request.client_id)
    urgent = await concerns.is_urgent(conn, request.concern_id)
    team_id = request.team_id or await teams.team_of_staff(conn, appointment.staff_id)
    routes: list[tuple[int | None, int | None]] = []
    if await teams.site_of_staff(conn, appointment.staff_id, active_only=True) == site.id:
        routes.append((team_id, appointment.staff_id))
    if team_id is not None:
        routes.append((team_id, None))
    for route in routes:
        plan = await planning.make_plan(
            conn, site=site, kind=Kind.appointment, concern_code=request.concern_code, urgent=urgent,
            channel=request.channel, language=request.language, modes=request.modes or (appointment.mode,),
            client=client, received_at=request.created_at, now=now, route=route, needs=request.needs,
            invitation=request.invitation is not None)
        slots = await planning.find_slots(conn, site=site, plan=plan, language=request.language,
                                          windows=request.windows, now=now, exclude_request_id=request.id,
                                          count=count, hold=hold)
        if slots:
            return slots
    return []


async def hits(conn: asyncpg.Connection, *, source: str, source_id: int, user: StaffUser,
               now: datetime) -> list[Appointment]:
    """The future booked appointments an absence, a closure day or a deactivated person ("staff") hits."""
    if source == "absence":
        absence = await teams.get_absence(conn, source_id)
        if absence is None:
            raise NotFound()
        check_site(user, absence["site_id"])
        return await appointments.list_confirmed_overlapping(
            conn, site_id=absence["site_id"], staff_id=absence["staff_id"], start=absence["starts"],
            end=absence["ends"], after=now)
    if source == "closure":
        closure = await closures.get(conn, source_id, site_id=user.site_id)
        calendar = (await sites.site_by_id(conn, user.site_id)).calendar()
        return await appointments.list_confirmed_overlapping(
            conn, site_id=user.site_id, staff_id=None, start=calendar.day_start(closure.day),
            end=calendar.day_start(closure.day + timedelta(days=1)), after=now)
    if source == "staff":
        if await teams.site_of_staff(conn, source_id) != user.site_id:
            raise NotFound()
        return await appointments.list_future_for_staff(conn, staff_id=source_id, after=now)
    raise NotFound()


def _check_lead(user: StaffUser) -> None:
    if user.role not in (Role.team_lead, Role.admin):
        raise Forbidden()


async def review(pool: asyncpg.Pool, *, source: str, source_id: int, user: StaffUser, now: datetime,
                 count: int = 3) -> list[Hit]:
    """The appointments a source hits, each with the policy's proposals (the first is preselected); the
    proposals of one review never overlap each other. Nothing is changed."""
    _check_lead(user)
    async with pool.acquire() as conn:
        found = await hits(conn, source=source, source_id=source_id, user=user, now=now)
        result = []
        with Holds().transaction() as scope:  # what earlier rows got counts as taken for later rows
            for appointment in found:
                request = await requests_.get(conn, appointment.request_id)
                if user.role is not Role.admin and request.team_id != user.team_id:
                    continue  # a lead reviews their own team's appointments
                # An absence or closure moves a client later, never to short notice before their time.
                slots = await propose(conn, appointment=appointment, request=request,
                                      now=max(now, appointment.start), count=count, hold=scope)
                result.append(Hit(appointment, tuple(slots)))
        return result


async def bulk_move(pool: asyncpg.Pool, *, targets: Sequence[Target], user: StaffUser, now: datetime,
                    reminder_offsets: tuple[timedelta, ...],
                    sms_offer_max: int = freed_slots.SMS_OFFER_MAX) -> BulkResult:
    """Move a confirmed batch in one transaction: each row moves or is listed as a conflict (taken slot,
    already changed, invalid); the others still move. Every row is permission-checked first."""
    _check_lead(user)
    if not targets:
        raise ValidationFailed(N_("Please choose at least one appointment to move."))
    if len(targets) > BATCH_LIMIT or len({t.appointment_id for t in targets}) != len(targets):
        raise ValidationFailed(N_("Please move at most 500 different appointments at once."))
    moved: list[int] = []
    conflicts: list[tuple[int, str]] = []
    async with pool.acquire() as conn, conn.transaction():
        # As _lock for each row, in three statements: the requests are locked in id order (one lock order for
        # concurrent batches), then the appointments read again under those locks.
        ids = [t.appointment_id for t in targets]
        first = await appointments.get_many(conn, ids)
        requests = await requests_.lock_many(conn, {a.request_id for a in first.values()})
        current = await appointments.get_many(conn, ids)
        locked = []
        for target in sorted(targets, key=lambda t: t.appointment_id):
            appointment = current[target.appointment_id]
            request = requests[appointment.request_id]
            check_may_act(user, site_id=request.site_id, team_id=request.team_id, staff_id=appointment.staff_id)
            locked.append((target, appointment, request))
        site = await sites.site_by_id(conn, user.site_id)
        batch = BatchFacts(
            clients=await clients.get_many(conn, {r.client_id for r in requests.values()}),
            active_sites=await teams.sites_of_active_staff(
                conn, {t.staff_id for t in targets} | {a.staff_id for a in current.values()}))
        for target, appointment, request in sorted(locked, key=lambda x: x[1].start):
            try:
                async with conn.transaction():  # a savepoint per row: a conflict leaves the rest
                    await move_locked(conn, appointment=appointment, request=request, site=site, target=target,
                                      actor=user.actor, now=now, reminder_offsets=reminder_offsets, batch=batch,
                                      sms_offer_max=sms_offer_max)
                moved.append(appointment.id)
            except DomainError as e:
                conflicts.append((appointment.id, e.code))
    return BulkResult(tuple(moved), tuple(conflicts))
