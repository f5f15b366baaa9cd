"""Appointments: booking, cancelling, check-in. No double booking is a PostgreSQL constraint."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any, Final

import asyncpg
from asyncpg.types import Range

from scheduler import audit
from scheduler.errors import DomainError, InvalidTransition, NotFound, SlotTaken
from scheduler.i18n import N_


class AppointmentStatus(StrEnum):
    confirmed = "confirmed"
    cancelled = "cancelled"
    completed = "completed"
    no_show = "no_show"


class Outcome(StrEnum):
    """How an appointment ended, as the caseworker recorded it (issue 14)."""

    held = "held"
    no_show = "no_show"
    cancelled_by_office = "cancelled_by_office"


class NoShowReason(StrEnum):
    """The reason a client gave for not coming (a "wichtiger Grund" is judged by the caseworker, not here)."""

    ill = "ill"
    appointment_clash = "appointment_clash"
    other = "other"


# The appointment status each outcome sets.
OUTCOME_STATUS: Final[dict[Outcome, AppointmentStatus]] = {
    Outcome.held: AppointmentStatus.completed,
    Outcome.no_show: AppointmentStatus.no_show,
    Outcome.cancelled_by_office: AppointmentStatus.cancelled,
}


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
    outcome: Outcome | None = None
    outcome_at: datetime | None = None
    outcome_flagged_at: datetime | None = None


SELECT: Final = """
SELECT a.id, a.site_id, a.request_id, a.client_id, a.staff_id, s.display_name AS staff_name,
       lower(a.during) AS start, upper(a.during) AS "end", a.mode, a.room, a.status, a.arrived_at, a.ical_uid,
       a.sequence, a.created_at, a.updated_at, a.outcome, a.outcome_at, a.outcome_flagged_at
FROM appointments a JOIN staff s ON s.id = a.staff_id
"""


def _from_row(row: Any) -> Appointment:
    return Appointment(**{**row, "status": AppointmentStatus(row["status"]),
                          "outcome": Outcome(row["outcome"]) if row["outcome"] else None})


async def get(conn: asyncpg.Connection, appointment_id: int) -> Appointment:
    """One appointment, or NotFound."""
    row = await conn.fetchrow(SELECT + " WHERE a.id = $1", appointment_id)
    if row is None:
        raise NotFound()
    return _from_row(row)


async def get_many(conn: asyncpg.Connection, appointment_ids: Sequence[int]) -> dict[int, Appointment]:
    """Many appointments by id, in one statement; NotFound when one does not exist."""
    rows = await conn.fetch(SELECT + " WHERE a.id = ANY($1::bigint[])", list(appointment_ids))
    if len(rows) != len(set(appointment_ids)):
        raise NotFound()
    return {r["id"]: _from_row(r) for r in rows}


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


async def book_many(conn: asyncpg.Connection, items: Sequence[tuple[Any, ...]], *, actor: str) -> list[Appointment]:
    """Book many (site, request, client, staff, start, end, mode, room) at once; SlotTaken if any clashes (none is)."""
    try:
        ids = await conn.fetch(
            """
            INSERT INTO appointments (site_id, request_id, client_id, staff_id, during, mode, room, ical_uid,
                                      created_by)
            SELECT b.site_id, b.request_id, b.client_id, b.staff_id, tstzrange(b.start_at, b.end_at), b.mode,
                   b.room, replace(gen_random_uuid()::text, '-', '') || '@termine.jobcenter', $9
            FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::timestamptz[],
                        $6::timestamptz[], $7::text[], $8::text[])
                 AS b(site_id, request_id, client_id, staff_id, start_at, end_at, mode, room)
            RETURNING id
            """, *([i[k] for i in items] for k in range(8)), actor)
    except (asyncpg.ExclusionViolationError, asyncpg.DeadlockDetectedError) as e:
        raise SlotTaken() from e
    booked = await get_many(conn, [r["id"] for r in ids])
    await audit.record_many(conn, actor=actor, action="appointment.book", subject_type="appointment", events=[(
        a.site_id, a.id, {"request_id": a.request_id, "staff_id": a.staff_id, "start": a.start.isoformat()})
        for a in booked.values()])
    return list(booked.values())


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


async def move(conn: asyncpg.Connection, appointment_id: int, *, staff_id: int, start: datetime, end: datetime,
               mode: str, room: str | None, actor: str, savepoint: bool = True) -> Appointment:
    """Move a confirmed appointment to another time or caseworker: the same row and calendar UID, SEQUENCE + 1.

    SlotTaken when the new caseworker is booked then; InvalidTransition when it is no longer confirmed. The
    UPDATE runs in a savepoint, so the caller's transaction goes on after a clash; `savepoint=False` for a
    caller that already holds one around this move (a bulk move's row).
    """
    try:
        async with conn.transaction() if savepoint else contextlib.nullcontext():
            row = await conn.fetchrow(
                """
                UPDATE appointments SET staff_id = $2, during = $3, mode = $4, room = $5, sequence = sequence + 1,
                       arrived_at = NULL, updated_at = now()
                WHERE id = $1 AND status = 'confirmed'
                RETURNING site_id
                """,
                appointment_id, staff_id, Range(start, end), mode, room,
            )
    except (asyncpg.ExclusionViolationError, asyncpg.DeadlockDetectedError) as e:
        if isinstance(e, asyncpg.ExclusionViolationError) and e.constraint_name != "no_double_booking":
            raise
        raise SlotTaken() from e
    if row is None:
        raise InvalidTransition()
    await audit.record(conn, site_id=row["site_id"], actor=actor, action="appointment.move",
                       subject_type="appointment", subject_id=appointment_id,
                       details={"staff_id": staff_id, "start": start.isoformat(), "mode": mode})
    return await get(conn, appointment_id)


async def list_confirmed_overlapping(conn: asyncpg.Connection, *, site_id: int, staff_id: int | None,
                                     start: datetime, end: datetime, after: datetime) -> list[Appointment]:
    """Confirmed appointments of a site (of one caseworker when given) overlapping [start, end) that start
    after `after`, earliest first: what an absence or closure day hits."""
    rows = await conn.fetch(
        SELECT + """
        WHERE a.site_id = $1 AND ($2::bigint IS NULL OR a.staff_id = $2) AND a.status = 'confirmed'
          AND a.during && $3 AND lower(a.during) > $4
        ORDER BY lower(a.during), a.id
        """,
        site_id, staff_id, Range(start, end), after,
    )
    return [_from_row(r) for r in rows]


async def list_future_for_staff(conn: asyncpg.Connection, *, staff_id: int, after: datetime) -> list[Appointment]:
    """A caseworker's confirmed appointments that start after `after`, earliest first."""
    rows = await conn.fetch(
        SELECT + " WHERE a.staff_id = $1 AND a.status = 'confirmed' AND lower(a.during) > $2 "
        "ORDER BY lower(a.during), a.id", staff_id, after)
    return [_from_row(r) for r in rows]


async def finish(conn: asyncpg.Connection, appointment_id: int, *, to: AppointmentStatus, actor: str) -> Appointment:
    """Mark a confirmed appointment completed or no-show."""
    if to not in (AppointmentStatus.completed, AppointmentStatus.no_show):
        raise ValueError(f"an appointment cannot be finished as {to}")
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


async def no_shows_since(conn: asyncpg.Connection, *, client_id: int, since: datetime) -> int:
    """How many of the client's appointments that started since `since` ended with the outcome no-show."""
    return await conn.fetchval("SELECT count(*) FROM appointments WHERE client_id = $1 AND outcome = 'no_show' "
                               "AND lower(during) >= $2", client_id, since)


# -- outcomes (issue 14) ------------------------------------------------------------------------------------

class OutcomeAlreadyRecorded(DomainError):
    status, code = 409, "outcome-recorded"
    default_message = N_("The outcome of this appointment was already recorded, by you or a colleague. "
                         "Please reload.")


class OutcomeTooEarly(DomainError):
    status, code = 422, "outcome-too-early"
    default_message = N_("This appointment has not started yet. Its outcome can be recorded once it has begun.")


async def caseworker_team(conn: asyncpg.Connection, appointment_id: int) -> int | None:
    """The team of the appointment's caseworker (whose lead may act on it)."""
    return await conn.fetchval("SELECT s.team_id FROM appointments a JOIN staff s ON s.id = a.staff_id "
                               "WHERE a.id = $1", appointment_id)


async def record_outcome(conn: asyncpg.Connection, appointment_id: int, *, outcome: Outcome,
                         reason: NoShowReason | None, reason_date: date | None, staff_id: int, actor: str,
                         now: datetime) -> Appointment:
    """Record how a started, still confirmed appointment ended; exactly one of two racing callers wins."""
    # The row lock of the UPDATE orders racing callers; the loser re-reads the row, finds it no longer
    # confirmed and gets OutcomeAlreadyRecorded.
    row = await conn.fetchrow(
        """
        UPDATE appointments
        SET status = $2, outcome = $3, outcome_reason = $4, outcome_reason_date = $5, outcome_by = $6,
            outcome_at = $7, updated_at = $7,
            cancel_reason = CASE WHEN $3 = 'cancelled_by_office' THEN 'office' ELSE cancel_reason END,
            sequence = sequence + CASE WHEN $3 = 'cancelled_by_office' THEN 1 ELSE 0 END
        WHERE id = $1 AND status = 'confirmed' AND outcome IS NULL AND lower(during) <= $7
        RETURNING site_id
        """,
        appointment_id, OUTCOME_STATUS[outcome].value, outcome.value, reason.value if reason else None,
        reason_date, staff_id, now,
    )
    if row is None:
        current = await get(conn, appointment_id)  # NotFound when it does not exist
        if current.status is AppointmentStatus.confirmed and current.start > now:
            raise OutcomeTooEarly()
        if current.outcome is None:
            raise InvalidTransition()  # cancelled or moved meanwhile, not by an outcome
        raise OutcomeAlreadyRecorded()
    await audit.record(conn, site_id=row["site_id"], actor=actor, action="appointment.outcome",
                       subject_type="appointment", subject_id=appointment_id,
                       details={"outcome": outcome.value, "reason": reason.value if reason else None,
                                "reason_date": reason_date.isoformat() if reason_date else None})
    return await get(conn, appointment_id)


async def sites_with_open_outcomes(conn: asyncpg.Connection, *, started_before: datetime) -> list[int]:
    """Sites that have confirmed appointments started before a moment and not yet escalated."""
    rows = await conn.fetch("SELECT DISTINCT site_id FROM appointments WHERE status = 'confirmed' "
                            "AND outcome_escalated_at IS NULL AND lower(during) < $1", started_before)
    return [r["site_id"] for r in rows]


@dataclass(frozen=True, slots=True)
class Unmarked:
    """An appointment the unmarked-outcome job just flagged (or escalated)."""

    id: int
    site_id: int
    staff_id: int


async def flag_unmarked(conn: asyncpg.Connection, *, cutoffs: Sequence[tuple[int, datetime, datetime | None]],
                        now: datetime, escalate: bool, batch: int) -> list[Unmarked]:
    """Flag one batch of unmarked appointments of many sites at once (to the caseworker, or escalate flagged
    ones to the lead); returns those newly flagged. Rows another process holds are skipped.

    `cutoffs` holds per site (site_id, started_before, flagged_before): an appointment counts when it started
    before `started_before`; to escalate, its caseworker must also have been flagged before `flagged_before`.
    """
    column, condition = ("outcome_escalated_at", "a.outcome_flagged_at < c.flagged_before") if escalate \
        else ("outcome_flagged_at", "a.outcome_flagged_at IS NULL")
    rows = await conn.fetch(
        f"""
        WITH due AS (
            SELECT a.id FROM appointments a
            JOIN unnest($1::bigint[], $2::timestamptz[], $3::timestamptz[])
                 AS c(site_id, started_before, flagged_before)
              ON a.site_id = c.site_id AND lower(a.during) < c.started_before
            WHERE a.status = 'confirmed' AND a.outcome_escalated_at IS NULL AND {condition}
            ORDER BY lower(a.during), a.id LIMIT $5 FOR UPDATE OF a SKIP LOCKED)
        UPDATE appointments a SET {column} = $4 FROM due WHERE a.id = due.id
        RETURNING a.id, a.site_id, a.staff_id
        """,
        [c[0] for c in cutoffs], [c[1] for c in cutoffs], [c[2] for c in cutoffs], now, batch,
    )
    return [Unmarked(**r) for r in rows]
