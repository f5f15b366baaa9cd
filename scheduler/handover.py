"""Deactivating a staff member hands their work over: open requests and callbacks go to their team
(unassigned) or a named colleague; future appointments keep their time with the colleague where that
colleague is free, the rest wait for the bulk-move review (`moves`, source "staff"). Listed before confirming.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from scheduler import appointments, audit, callbacks, freed_slots, moves, planning, sites, teams
from scheduler import requests as requests_
from scheduler.appointments import Appointment
from scheduler.errors import DomainError, Forbidden, NotFound, ValidationFailed
from scheduler.i18n import N_
from scheduler.permissions import Role, StaffUser


@dataclass(frozen=True, slots=True)
class Handover:
    """What a staff member still holds."""

    staff_id: int
    display_name: str
    team_id: int | None
    active: bool
    requests: tuple[requests_.Request, ...]
    callbacks: tuple[callbacks.Callback, ...]
    appointments: tuple[Appointment, ...]


@dataclass(frozen=True, slots=True)
class Result:
    requests: int
    callbacks: int
    kept: tuple[int, ...]        # appointments now with the colleague at the same time
    to_review: tuple[int, ...]   # appointments left for the bulk-move review


async def _person(conn: asyncpg.Connection, user: StaffUser, staff_id: int) -> asyncpg.Record:
    if user.role is not Role.admin:
        raise Forbidden()
    row = await teams.get_staff(conn, staff_id)
    if row is None or row["site_id"] != user.site_id:
        raise NotFound()
    return row


async def preview(conn: asyncpg.Connection, *, user: StaffUser, staff_id: int, now: datetime) -> Handover:
    """Everything the person holds that would be handed over. Changes nothing."""
    person = await _person(conn, user, staff_id)
    return Handover(
        staff_id=staff_id, display_name=person["display_name"], team_id=person["team_id"], active=person["active"],
        requests=tuple(await requests_.list_open_for_staff(conn, staff_id)),
        callbacks=tuple(await callbacks.list_open_for_staff(conn, staff_id)),
        appointments=tuple(await appointments.list_future_for_staff(conn, staff_id=staff_id, after=now)))


async def confirm(pool: asyncpg.Pool, *, user: StaffUser, staff_id: int, to_staff_id: int | None, now: datetime,
                  reminder_offsets: tuple[timedelta, ...], sms_offer_max: int = freed_slots.SMS_OFFER_MAX) -> Result:
    """Hand everything over and deactivate the person, in one transaction. The caller ends their sessions."""
    if staff_id == user.id:
        raise ValidationFailed(N_("You cannot deactivate yourself."))
    async with pool.acquire() as conn, conn.transaction():
        person = await _person(conn, user, staff_id)
        if to_staff_id is not None and (to_staff_id == staff_id or
                                        await teams.site_of_staff(conn, to_staff_id, active_only=True) != user.site_id):
            raise ValidationFailed(fields={"to_staff_id": N_("Please choose a caseworker of this office.")})
        await teams.set_active(conn, staff_id, active=False)  # first, so re-planning no longer routes to them
        held = await preview(conn, user=user, staff_id=staff_id, now=now)
        to_team = await teams.team_of_staff(conn, to_staff_id) if to_staff_id else person["team_id"]
        kept: list[int] = []
        site = await sites.site_by_id(conn, user.site_id)
        for appointment in held.appointments if to_staff_id is not None else ():
            request = await requests_.get(conn, appointment.request_id, for_update=True)
            target = moves.Target(appointment.id, to_staff_id or 0, appointment.start, appointment.mode)
            try:
                async with conn.transaction():  # a savepoint: a busy colleague leaves it for the review
                    await moves.move_locked(conn, appointment=appointment, request=request, site=site,
                                            target=target, actor=user.actor, now=now,
                                            reminder_offsets=reminder_offsets, sms_offer_max=sms_offer_max)
            except DomainError:
                continue  # the colleague is not free then: this appointment goes to the bulk review
            kept.append(appointment.id)
        to_review = tuple(a.id for a in held.appointments if a.id not in kept)
        # Requests after the appointments: their fresh proposals would otherwise hold the colleague's times.
        for request in held.requests:
            await requests_.reroute(conn, request.id, team_id=to_team, staff_id=to_staff_id)
            await planning.plan_and_propose(conn, request.id, route=(to_team, to_staff_id), now=now,
                                            reminder_offsets=reminder_offsets, actor=user.actor)
        for cb in held.callbacks:
            await callbacks.reassign(conn, cb.id, team_id=to_team, staff_id=to_staff_id, actor=user.actor)
        await audit.record(conn, site_id=user.site_id, actor=user.actor, action="staff.handover",
                           subject_type="staff", subject_id=staff_id,
                           details={"to_staff_id": to_staff_id, "team_id": to_team,
                                    "requests": [r.id for r in held.requests],
                                    "callbacks": [c.id for c in held.callbacks], "kept": kept,
                                    "to_review": list(to_review)})
        await audit.record(conn, site_id=user.site_id, actor=user.actor, action="staff.active",
                           subject_type="staff", subject_id=staff_id, details={"active": False})
    return Result(len(held.requests), len(held.callbacks), tuple(kept), to_review)
