"""Seats of group sessions (table group_session_seats): booking (web or a caseworker's invitation), the client
cancelling their seat, the participant list, and attendance.

Booking is one statement: the session's counter goes up (under its CHECK) and the seat row is written from the
UPDATE's result, so a full session writes nothing at all. Concurrent bookings queue on the session row's lock
for a moment; each then sees the count the one before left. See migrations/0028_group_sessions.sql.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Final

import asyncpg

from scheduler import audit, clients, group_sessions, outbox, references
from scheduler.clients import Client
from scheduler.errors import DomainError, InvalidTransition, NotFound, ValidationFailed
from scheduler.group_sessions import Session, SessionStatus
from scheduler.i18n import N_
from scheduler.notices import may_sms
from scheduler.permissions import StaffUser

BOOKED_KIND: Final = "sms.group_seat_booked"
CANCELLED_KIND: Final = "sms.group_session_cancelled"
PURGE_BATCH: Final = 200  # retention: seats per batch


class SeatStatus(StrEnum):
    booked = "booked"
    cancelled = "cancelled"


class SeatChannel(StrEnum):
    web = "web"
    staff = "staff"


class Attendance(StrEnum):
    """How a participant's seat ended: the words of appointments.Outcome."""

    held = "held"
    no_show = "no_show"


class SessionFull(DomainError):
    status, code = 409, "session-full"
    default_message = N_("This session is full.")


class SessionClosed(DomainError):
    status, code = 409, "session-closed"
    default_message = N_("This session can no longer be booked.")


@dataclass(frozen=True, slots=True)
class Seat:
    id: int
    session_id: int
    site_id: int
    client_id: int
    channel: SeatChannel
    reference: str
    link_token: str | None
    language: str
    status: SeatStatus
    outcome: Attendance | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Booked:
    seat: Seat
    new: bool  # False: the client already held a seat of this session, which is returned


_COLUMNS: Final = ("id, session_id, site_id, client_id, channel, reference, link_token, language, status, outcome, "
                   "created_at")

# The counter and the row in one statement: no row of the UPDATE (full, cancelled, begun) means no seat row.
_BOOK: Final = f"""
WITH counted AS (
    UPDATE group_sessions SET taken = taken + 1
    WHERE id = $1 AND site_id = $2 AND status = 'scheduled' AND starts_at > $3 AND taken < seats
    RETURNING id, site_id
)
INSERT INTO group_session_seats (session_id, site_id, client_id, channel, reference, link_token, language,
                                 sms_consent, booked_by)
SELECT counted.id, counted.site_id, $4, $5, $6, $7, $8, $9, $10 FROM counted
RETURNING {_COLUMNS}
"""


def _seat(row: asyncpg.Record) -> Seat:
    return Seat(**{**row, "channel": SeatChannel(row["channel"]), "status": SeatStatus(row["status"]),
                   "outcome": Attendance(row["outcome"]) if row["outcome"] else None})


async def book(conn: asyncpg.Connection, *, session_id: int, site_id: int, client: Client, channel: SeatChannel,
               sms_consent: bool, now: datetime, booked_by: int | None = None) -> Booked:
    """Take a seat for the client, with its confirmation SMS, inside the caller's transaction.

    SessionFull when no seat is free, SessionClosed when the session is cancelled or has begun; a client who
    already holds a seat gets that seat back (new=False). Nothing is written in any of these cases.
    """
    try:
        async with conn.transaction():  # a savepoint: a second seat of the same client leaves nothing behind
            row = await conn.fetchrow(_BOOK, session_id, site_id, now, client.id, channel.value,
                                      references.new_reference(), references.new_link_token(), client.language,
                                      sms_consent, booked_by)
    except asyncpg.UniqueViolationError as e:
        if e.constraint_name != "group_session_seats_one_per_client":
            raise
        existing = await conn.fetchrow(f"SELECT {_COLUMNS} FROM group_session_seats WHERE session_id = $1 "
                                       "AND client_id = $2 AND status = 'booked'", session_id, client.id)
        if existing is None:
            raise
        return Booked(_seat(existing), new=False)
    if row is None:
        session = await group_sessions.get(conn, session_id)
        if session.site_id != site_id:
            raise NotFound()
        if session.status is SessionStatus.scheduled and session.start > now:
            raise SessionFull(extra={"session_id": session_id})
        raise SessionClosed(extra={"session_id": session_id})
    seat = _seat(row)
    # The confirmation carries the reference like a request's receipt: it may go to a number someone else typed,
    # so it is sent as a receipt (and says how to answer STOP); later messages need the number's own consent.
    if may_sms(client, consent=sms_consent, receipt=True):
        assert client.phone
        await outbox.enqueue(conn, site_id=site_id, key=f"group-seat:{seat.id}:booked", channel="sms",
                             kind=BOOKED_KIND, recipient=client.phone, language=client.language,
                             payload={"seat_id": seat.id, "token": seat.link_token, "reference": seat.reference})
    await audit.record(conn, site_id=site_id, actor=f"staff:{booked_by}" if booked_by else f"client:{channel}",
                       action="group_session.seat_booked", subject_type="group_session", subject_id=session_id,
                       details={"seat_id": seat.id, "client_id": client.id})
    return Booked(seat, new=True)


async def book_on_web(pool: asyncpg.Pool, *, session_id: int, site_id: int, phone: str, language: str,
                      sms_consent: bool, now: datetime) -> Booked:
    """A client asks for a seat on the web: their client record by phone, and the seat, in one transaction."""
    if not sms_consent:
        raise ValidationFailed(fields={"sms_consent": N_(
            "Please agree to text messages: we send you the seat and its reference code by SMS.")})
    async with pool.acquire() as conn, conn.transaction():
        client = await clients.upsert_by_phone(conn, site_id=site_id, phone=phone, language=language)
        return await book(conn, session_id=session_id, site_id=site_id, client=client, channel=SeatChannel.web,
                          sms_consent=sms_consent, now=now)


async def by_token(conn: asyncpg.Connection, token: str) -> Seat | None:
    """The seat a client's link names, or None."""
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM group_session_seats WHERE link_token = $1", token)
    return _seat(row) if row else None


async def holds_seat(conn: asyncpg.Connection, session_id: int, client_id: int) -> bool:
    """Whether the client holds a seat of this session."""
    return bool(await conn.fetchval("SELECT EXISTS (SELECT 1 FROM group_session_seats WHERE session_id = $1 "
                                    "AND client_id = $2 AND status = 'booked')", session_id, client_id))


async def get(conn: asyncpg.Connection, seat_id: int) -> Seat:
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM group_session_seats WHERE id = $1", seat_id)
    if row is None:
        raise NotFound()
    return _seat(row)


async def cancel_by_client(pool: asyncpg.Pool, *, token: str, now: datetime) -> Seat:
    """The client gives their seat back before the session begins: the seat is counted free again."""
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            f"""
            UPDATE group_session_seats st SET status = 'cancelled', cancelled_at = $2
            FROM group_sessions s
            WHERE st.link_token = $1 AND st.status = 'booked' AND s.id = st.session_id
              AND s.status = 'scheduled' AND s.starts_at > $2
            RETURNING {', '.join('st.' + c for c in _COLUMNS.split(', '))}
            """, token, now)
        if row is None:
            raise InvalidTransition()
        seat = _seat(row)
        await conn.execute("UPDATE group_sessions SET taken = taken - 1 WHERE id = $1", seat.session_id)
        await audit.record(conn, site_id=seat.site_id, actor="client:web", action="group_session.seat_cancelled",
                           subject_type="group_session", subject_id=seat.session_id, details={"seat_id": seat.id})
        return seat


async def tell_cancelled(conn: asyncpg.Connection, session: Session) -> int:
    """Queue the 'session cancelled' SMS to every participant who may get it; how many were queued."""
    rows = await conn.fetch(
        """
        SELECT st.id, st.link_token, st.sms_consent, c.id AS client_id, c.phone, c.language, c.sms_consent AS confirmed,
               c.sms_opted_out_at
        FROM group_session_seats st JOIN clients c ON c.id = st.client_id
        WHERE st.session_id = $1 AND st.status = 'booked'
        """, session.id)
    queued = 0
    for r in rows:
        client = Client(id=r["client_id"], site_id=session.site_id, phone=r["phone"], language=r["language"],
                        sms_consent=r["confirmed"], sms_opted_out_at=r["sms_opted_out_at"], assigned_staff_id=None,
                        birth_date=None)
        if not may_sms(client, consent=r["sms_consent"]):
            continue
        assert client.phone
        if await outbox.enqueue(conn, site_id=session.site_id, key=f"group-seat:{r['id']}:session-cancelled",
                                channel="sms", kind=CANCELLED_KIND, recipient=client.phone, language=client.language,
                                payload={"seat_id": r["id"], "token": r["link_token"]}) is not None:
            queued += 1
    return queued


@dataclass(frozen=True, slots=True)
class Participant:
    """One row of a session's participant list for staff."""

    seat_id: int
    client_id: int
    name: str | None
    phone: str | None
    language: str
    reference: str
    channel: SeatChannel
    status: SeatStatus
    outcome: Attendance | None


async def participants(conn: asyncpg.Connection, session_id: int) -> list[Participant]:
    """A session's participants in booking order (a read model: seat with its client's name and number)."""
    rows = await conn.fetch(
        """
        SELECT st.id AS seat_id, st.client_id, c.name, c.phone, st.language, st.reference, st.channel, st.status,
               st.outcome
        FROM group_session_seats st JOIN clients c ON c.id = st.client_id
        WHERE st.session_id = $1 ORDER BY st.id
        """, session_id)
    return [Participant(**{**r, "channel": SeatChannel(r["channel"]), "status": SeatStatus(r["status"]),
                           "outcome": Attendance(r["outcome"]) if r["outcome"] else None}) for r in rows]


async def record_attendance(pool: asyncpg.Pool, *, user: StaffUser, seat_id: int, outcome: Attendance,
                            now: datetime) -> Seat:
    """Mark a participant held or no-show, once, after the session has begun; audited."""
    async with pool.acquire() as conn, conn.transaction():
        seat = await get(conn, seat_id)
        session = await group_sessions.get_for_site(conn, seat.session_id, user.site_id)
        group_sessions.check_may_run(user, session)
        if session.status is not SessionStatus.scheduled or session.start > now:
            raise ValidationFailed(N_("Attendance can be recorded once the session has begun."))
        row = await conn.fetchrow(
            f"""
            UPDATE group_session_seats SET outcome = $2, outcome_by = $3, outcome_at = $4
            WHERE id = $1 AND status = 'booked' AND outcome IS NULL RETURNING {_COLUMNS}
            """, seat_id, outcome.value, user.id, now)
        if row is None:
            raise InvalidTransition()
        await audit.record(conn, site_id=session.site_id, actor=user.actor, action="group_session.attendance",
                           subject_type="group_session", subject_id=session.id,
                           details={"seat_id": seat_id, "client_id": seat.client_id, "outcome": outcome.value})
        return _seat(row)


async def cancel_session(pool: asyncpg.Pool, *, user: StaffUser, session_id: int, now: datetime) -> tuple[Session, int]:
    """Cancel a session and tell its participants by SMS, in one transaction; the session and how many SMS."""
    async with pool.acquire() as conn, conn.transaction():
        session = await group_sessions.cancel(conn, user=user, session_id=session_id, now=now)
        return session, await tell_cancelled(conn, session)


# --- the client's rights and retention (called by privacy.py and retention.py) ---------------------------------


async def export_for(conn: asyncpg.Connection, *, site_id: int, client_id: int) -> list[dict[str, object]]:
    """The client's seats at this site for a data export; link tokens stay out (the file travels)."""
    rows = await conn.fetch(
        "SELECT st.id, st.reference, s.topic, s.starts_at, s.room, st.channel, st.language, st.sms_consent, "
        "st.status, st.outcome, st.created_at, st.cancelled_at FROM group_session_seats st "
        "JOIN group_sessions s ON s.id = st.session_id WHERE st.client_id = $1 AND st.site_id = $2 ORDER BY st.id",
        client_id, site_id)
    return [{k: v.isoformat() if isinstance(v, datetime) else v for k, v in dict(r).items()} for r in rows]


async def erase_for(conn: asyncpg.Connection, *, site_id: int, client_id: int, now: datetime) -> int:
    """Erasure: the client's seats in sessions still to come are given back (counted free), and every seat of
    theirs loses its link. The rows stay, so a session's attendance numbers do not change."""
    freed = await conn.fetch(
        """
        UPDATE group_session_seats st SET status = 'cancelled', cancelled_at = $3
        FROM group_sessions s
        WHERE st.client_id = $1 AND st.site_id = $2 AND st.status = 'booked' AND s.id = st.session_id
          AND s.starts_at > $3
        RETURNING st.session_id
        """, client_id, site_id, now)
    for row in freed:
        await conn.execute("UPDATE group_sessions SET taken = taken - 1 WHERE id = $1", row["session_id"])
    await conn.execute("UPDATE group_session_seats SET link_token = NULL WHERE client_id = $1 AND site_id = $2",
                       client_id, site_id)
    return len(freed)


async def purge_batch(conn: asyncpg.Connection, now: datetime) -> int:
    """Retention: seats of sessions that ended longer ago than their site's period lose their link (the client's
    page answers 404); the client row itself is anonymised by retention's clients step."""
    result: str = await conn.execute(
        """
        UPDATE group_session_seats SET link_token = NULL WHERE id IN (
            SELECT st.id FROM group_session_seats st
            JOIN group_sessions s ON s.id = st.session_id JOIN sites si ON si.id = st.site_id
            WHERE st.link_token IS NOT NULL
              AND s.starts_at + make_interval(mins => s.minutes) < $1::timestamptz
                  - make_interval(days => si.retention_days)
            LIMIT $2 FOR UPDATE OF st SKIP LOCKED)
        """, now, PURGE_BATCH)
    return int(result.split()[-1])

