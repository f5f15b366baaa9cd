"""Appointments: booking, cancelling, check-in. No double booking is a PostgreSQL constraint."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Final

import asyncpg
from asyncpg.types import Range

from scheduler import audit
from scheduler.errors import InvalidTransition, NotFound, SlotTaken


class AppointmentStatus(StrEnum):
    confirmed = "confirmed"
    cancelled = "cancelled"
    completed = "completed"
    no_show = "no_show"


@dataclass(frozen=True, slots=True)
class Appointment:
    id: int
    site_id: int
    request_id: int
    client_id: int
    staff_id: int
    staff_name: str
    start: datetime
    end: datetime
    mode: str
    room: str | None
    status: AppointmentStatus
    arrived_at: datetime | None
    ical_uid: str
    sequence: int
    created_at: datetime
    updated_at: datetime


SELECT: Final = """
SELECT a.id, a.site_id, a.request_id, a.client_id, a.staff_id, s.display_name AS staff_name,
       lower(a.during) AS start, upper(a.during) AS "end", a.mode, a.room, a.status, a.arrived_at, a.ical_uid,
       a.sequence, a.created_at, a.updated_at
FROM appointments a JOIN staff s ON s.id = a.staff_id
"""


def _from_row(row: Any) -> Appointment:
    return Appointment(**{**row, "status": AppointmentStatus(row["status"])})


async def get(conn: asyncpg.Connection, appointment_id: int) -> Appointment:
    """One appointment, or NotFound."""
    row = await conn.fetchrow(SELECT + " WHERE a.id = $1", appointment_id)
    if row is None:
        raise NotFound()
    return _from_row(row)


async def latest_for_request(conn: asyncpg.Connection, request_id: int) -> Appointment | None:
    """The request's current (or last) appointment."""
    row = await conn.fetchrow(
        SELECT + " WHERE a.request_id = $1 ORDER BY (a.status = 'confirmed') DESC, a.id DESC LIMIT 1", request_id)
    return _from_row(row) if row else None


async def book(conn: asyncpg.Connection, *, site_id: int, request_id: int, client_id: int, staff_id: int,
               start: datetime, end: datetime, mode: str, room: str | None, actor: str) -> Appointment:
    """Book a confirmed appointment; SlotTaken when the caseworker is already booked then."""
    try:
        async with conn.transaction():  # a savepoint: the caller's transaction survives a clash
            appointment_id = await conn.fetchval(
                """
                INSERT INTO appointments (site_id, request_id, client_id, staff_id, during, mode, room, ical_uid,
                                          created_by)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id
                """,
                site_id, request_id, client_id, staff_id, Range(start, end), mode, room,
                f"{secrets.token_hex(12)}@termine.jobcenter", actor,
            )
    except asyncpg.ExclusionViolationError as e:
        if e.constraint_name != "no_double_booking":
            raise
        raise SlotTaken() from e
    except asyncpg.DeadlockDetectedError as e:
        # Two bookings of overlapping times inserted at the same moment each wait for the other's row in the
        # exclusion check; PostgreSQL breaks the tie by failing one of them. For that one the time is taken.
        raise SlotTaken() from e
    except asyncpg.UniqueViolationError as e:
        if e.constraint_name != "appointments_one_confirmed_per_request":
            raise
        raise InvalidTransition() from e
    await audit.record(conn, site_id=site_id, actor=actor, action="appointment.book", subject_type="appointment",
                       subject_id=appointment_id, details={"request_id": request_id, "staff_id": staff_id,
                                                           "start": start.isoformat(), "mode": mode})
    return await get(conn, appointment_id)


async def cancel(conn: asyncpg.Connection, appointment_id: int, *, actor: str, reason: str) -> Appointment:
    """Cancel a confirmed appointment; its SEQUENCE grows so calendars replace the event."""
    row = await conn.fetchrow(
        """
        UPDATE appointments SET status = 'cancelled', cancel_reason = $2, sequence = sequence + 1, updated_at = now()
        WHERE id = $1 AND status = 'confirmed' RETURNING site_id
        """,
        appointment_id, reason,
    )
    if row is None:
        raise InvalidTransition()
    await audit.record(conn, site_id=row["site_id"], actor=actor, action="appointment.cancel",
                       subject_type="appointment", subject_id=appointment_id, details={"reason": reason})
    return await get(conn, appointment_id)


async def finish(conn: asyncpg.Connection, appointment_id: int, *, to: AppointmentStatus, actor: str) -> Appointment:
    """Mark a confirmed appointment completed or no-show."""
    assert to in (AppointmentStatus.completed, AppointmentStatus.no_show)
    row = await conn.fetchrow(
        "UPDATE appointments SET status = $2, updated_at = now() WHERE id = $1 AND status = 'confirmed' "
        "RETURNING site_id", appointment_id, to.value,
    )
    if row is None:
        raise InvalidTransition()
    await audit.record(conn, site_id=row["site_id"], actor=actor, action=f"appointment.{to.value}",
                       subject_type="appointment", subject_id=appointment_id)
    return await get(conn, appointment_id)


async def check_in(conn: asyncpg.Connection, appointment_id: int, *, at: datetime, actor: str) -> Appointment:
    """Record the client's arrival (kiosk check-in); a second check-in keeps the first time."""
    row = await conn.fetchrow(
        "UPDATE appointments SET arrived_at = coalesce(arrived_at, $2), updated_at = now() "
        "WHERE id = $1 AND status = 'confirmed' RETURNING site_id", appointment_id, at,
    )
    if row is None:
        raise InvalidTransition()
    await audit.record(conn, site_id=row["site_id"], actor=actor, action="appointment.check_in",
                       subject_type="appointment", subject_id=appointment_id)
    return await get(conn, appointment_id)


async def list_for_staff(conn: asyncpg.Connection, *, staff_id: int, start: datetime,
                         end: datetime) -> list[Appointment]:
    """A caseworker's appointments overlapping [start, end), earliest first."""
    rows = await conn.fetch(SELECT + " WHERE a.staff_id = $1 AND a.during && $2 ORDER BY lower(a.during)",
                            staff_id, Range(start, end))
    return [_from_row(r) for r in rows]


async def confirmed_for_client_between(conn: asyncpg.Connection, *, site_id: int, client_id: int, start: datetime,
                                       end: datetime) -> Appointment | None:
    """The client's earliest confirmed appointment at a site that starts in [start, end)."""
    row = await conn.fetchrow(
        SELECT + """
        WHERE a.site_id = $1 AND a.client_id = $2 AND a.status = 'confirmed'
          AND lower(a.during) >= $3 AND lower(a.during) < $4
        ORDER BY lower(a.during) LIMIT 1
        """,
        site_id, client_id, start, end,
    )
    return _from_row(row) if row else None
