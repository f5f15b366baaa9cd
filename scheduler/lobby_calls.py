"""Calls into a room (Aufruf): a caseworker calls an arrived client of today; the call displays show the reference
code and the room, never a name. Calling again adds a new, numbered call."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

import asyncpg

from scheduler import appointments, audit, sites, walk_ins
from scheduler.appointments import AppointmentStatus
from scheduler.errors import DomainError, Forbidden, ValidationFailed
from scheduler.i18n import N_
from scheduler.permissions import Role, StaffUser, check_site

ROOM_MAX: Final = 40
BOARD_SIZE: Final = 8  # the display shows the latest call large and a few before it
KEPT: Final = timedelta(days=2)  # calls are deleted after this (jobs.purge_lobby_calls)
_ATTEMPTS: Final = 5  # tries to number a call when colleagues click at the same moment


class NotCallable(DomainError):
    status, code = 409, "not-callable"
    default_message = N_("Only clients who have arrived for an open appointment today can be called.")


@dataclass(frozen=True, slots=True)
class Call:
    id: int
    appointment_id: int | None  # None for a walk-in ticket's call
    reference: str              # the request's reference code, or the walk-in ticket's number
    room: str
    attempt: int
    called_at: datetime

    @property
    def repeated(self) -> bool:
        """Whether this is a repeat call of the same client."""
        return self.attempt > 1


@dataclass(frozen=True, slots=True)
class CallState:
    """How often an appointment's client was called today, and when last."""

    calls: int
    last_called_at: datetime


def check_may_call(user: StaffUser, *, site_id: int, staff_id: int, team_id: int | None) -> None:
    """The client's own caseworker, their team (caseworkers and lead) and the site's admins may call."""
    check_site(user, site_id)
    if user.role is Role.admin or staff_id == user.id:
        return
    if team_id is not None and team_id == user.team_id:
        return
    raise Forbidden()


def may_call(user: StaffUser, *, site_id: int, staff_id: int, team_id: int | None, status: str,
             outcome: str | None, arrived_at: datetime | None, start: datetime, day: tuple[datetime, datetime]) -> bool:
    """Whether this user may call this appointment's client now (arrived, open, today, theirs or their team's)."""
    if status != AppointmentStatus.confirmed or outcome is not None or arrived_at is None \
            or not day[0] <= start < day[1]:
        return False
    try:
        check_may_call(user, site_id=site_id, staff_id=staff_id, team_id=team_id)
    except Forbidden:
        return False
    return True


def clean_room(raw: str | None) -> str | None:
    """A room name as entered (trimmed), None when empty; ValidationFailed when too long or unprintable."""
    room = (raw or "").strip()
    if not room:
        return None
    if len(room) > ROOM_MAX or not room.isprintable():
        raise ValidationFailed(fields={"room": N_("Please enter a room of at most 40 characters.")})
    return room


async def call(pool: asyncpg.Pool, *, user: StaffUser, appointment_id: int, room: str | None,
               now: datetime) -> Call:
    """Call the arrived client of today's open appointment into a room (the appointment's, unless one is given);
    a further call of the same appointment is numbered as a repeat. Audited; the displays hear it at commit."""
    chosen = clean_room(room)
    async with pool.acquire() as conn, conn.transaction():
        appointment = await appointments.get(conn, appointment_id)
        team_id = await appointments.caseworker_team(conn, appointment_id)
        check_may_call(user, site_id=appointment.site_id, staff_id=appointment.staff_id, team_id=team_id)
        site = await sites.site_by_id(conn, appointment.site_id)
        today = site.calendar().local_date(now)
        start = site.calendar().day_start(today)
        end = site.calendar().day_start(today + timedelta(days=1))
        if appointment.status is not AppointmentStatus.confirmed or appointment.outcome is not None \
                or appointment.arrived_at is None or not start <= appointment.start < end:
            raise NotCallable()
        where = chosen or appointment.room
        if not where:
            raise ValidationFailed(fields={"room": N_("This appointment has no room. Please enter the room.")})
        row = await _insert(conn, site_id=site.id, appointment_id=appointment_id, room=where, staff_id=user.id,
                            now=now)
        await audit.record(conn, site_id=site.id, actor=user.actor, action="appointment.call",
                           subject_type="appointment", subject_id=appointment_id,
                           details={"attempt": row["attempt"], "room": where})
        reference = await conn.fetchval("SELECT reference FROM requests WHERE id = $1", appointment.request_id)
    return Call(id=row["id"], appointment_id=appointment_id, reference=reference, room=where,
                attempt=row["attempt"], called_at=now)


async def _insert(conn: asyncpg.Connection, *, site_id: int, appointment_id: int, room: str, staff_id: int,
                  now: datetime) -> asyncpg.Record:
    for _ in range(_ATTEMPTS):
        try:
            async with conn.transaction():  # a savepoint: a lost race for the number is retried
                return await conn.fetchrow(
                    """
                    INSERT INTO lobby_calls (site_id, appointment_id, attempt, room, called_by, called_at)
                    SELECT $1, $2, coalesce(max(attempt), 0) + 1, $3, $4, $5
                    FROM lobby_calls WHERE appointment_id = $2
                    RETURNING id, attempt
                    """, site_id, appointment_id, room, staff_id, now)
        except asyncpg.UniqueViolationError:
            continue
    raise NotCallable(N_("A colleague is calling this client right now. Please reload."))


async def insert_ticket_call(conn: asyncpg.Connection, *, site_id: int, ticket_id: int, room: str, staff_id: int,
                             now: datetime) -> int:
    """Add the next numbered call of a walk-in ticket (walk_in_desk.call checks who and what); its attempt."""
    for _ in range(_ATTEMPTS):
        try:
            async with conn.transaction():  # a savepoint: a lost race for the number is retried
                attempt: int = await conn.fetchval(
                    """
                    INSERT INTO lobby_calls (site_id, walk_in_ticket_id, attempt, room, called_by, called_at)
                    SELECT $1, $2, coalesce(max(attempt), 0) + 1, $3, $4, $5
                    FROM lobby_calls WHERE walk_in_ticket_id = $2
                    RETURNING attempt
                    """, site_id, ticket_id, room, staff_id, now)
                return attempt
        except asyncpg.UniqueViolationError:
            continue
    raise NotCallable(N_("A colleague is calling this client right now. Please reload."))


async def board(conn: asyncpg.Connection, site_id: int, *, since: datetime, limit: int = BOARD_SIZE) -> list[Call]:
    """The site's latest calls since a moment (the start of the local day), newest first."""
    rows = await conn.fetch(
        """
        SELECT l.id, l.appointment_id, r.reference, t.number AS ticket, l.room, l.attempt, l.called_at
        FROM lobby_calls l
        LEFT JOIN appointments a ON a.id = l.appointment_id
        LEFT JOIN requests r ON r.id = a.request_id
        LEFT JOIN walk_in_tickets t ON t.id = l.walk_in_ticket_id
        WHERE l.site_id = $1 AND l.called_at >= $2
        ORDER BY l.called_at DESC, l.id DESC
        LIMIT $3
        """, site_id, since, limit)
    return [Call(id=r["id"], appointment_id=r["appointment_id"],
                 reference=r["reference"] if r["ticket"] is None else walk_ins.label(r["ticket"]),
                 room=r["room"], attempt=r["attempt"], called_at=r["called_at"]) for r in rows]


async def states(conn: asyncpg.Connection, appointment_ids: Sequence[int]) -> dict[int, CallState]:
    """Per appointment: how many calls and when the last one was (appointments never called are left out)."""
    if not appointment_ids:
        return {}
    rows = await conn.fetch(
        "SELECT appointment_id, count(*) AS calls, max(called_at) AS last_called_at FROM lobby_calls "
        "WHERE appointment_id = ANY($1::bigint[]) GROUP BY appointment_id", list(appointment_ids))
    return {r["appointment_id"]: CallState(calls=r["calls"], last_called_at=r["last_called_at"]) for r in rows}


async def delete_before(conn: asyncpg.Connection, *, before: datetime) -> int:
    """Forget calls older than a moment (the display needs only today's); how many were deleted."""
    done = await conn.execute("DELETE FROM lobby_calls WHERE called_at < $1", before)
    return int(done.split()[-1])
