"""A caseworker's list of clients invited into a group session: each good line takes a seat.

The list is read by the pure batch_lists.parse_list (the batch invitations' format). `review` says, line by line
and before anything is sent, who gets a seat, who already has one, which lines are bad and which lie beyond the
free seats. `send` books the seats in one transaction, each through the same counting statement as a web booking
(group_session_seats.book), so a client who booked on the web meanwhile only moves the line where the seats end.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

import asyncpg

from scheduler import clients, group_session_seats, group_sessions
from scheduler.batch_lists import Row
from scheduler.group_session_seats import SeatChannel, SessionClosed, SessionFull
from scheduler.group_sessions import Session
from scheduler.permissions import StaffUser


class LineState(StrEnum):
    seat = "seat"          # gets (review) or got (send) a seat
    already = "already"    # the client holds a seat of this session already
    no_seat = "no_seat"    # beyond the free seats
    bad = "bad"            # the line itself is wrong (problem) or has no mobile number


@dataclass(frozen=True, slots=True)
class Line:
    line: int
    phone: str | None
    name: str | None
    state: LineState
    problem: str | None = None
    reference: str | None = None


def _bad(row: Row) -> str | None:
    if row.problem is not None:
        return row.problem.value
    if not row.phone:
        return "phone"  # a seat is confirmed by SMS: a line needs a mobile number
    return None


async def review(conn: asyncpg.Connection, session: Session, rows: Sequence[Row]) -> list[Line]:
    """What sending the list would do, line by line (nothing is written)."""
    free = session.free
    lines: list[Line] = []
    for row in rows:
        problem = _bad(row)
        if problem is not None:
            lines.append(Line(row.line, row.phone, row.name, LineState.bad, problem))
            continue
        assert row.phone
        known = await clients.find_by_phone(conn, site_id=session.site_id, phone=row.phone)
        if known is not None and await group_session_seats.holds_seat(conn, session.id, known.id):
            lines.append(Line(row.line, row.phone, row.name, LineState.already))
        elif free > 0:
            free -= 1
            lines.append(Line(row.line, row.phone, row.name, LineState.seat))
        else:
            lines.append(Line(row.line, row.phone, row.name, LineState.no_seat))
    return lines


async def send(pool: asyncpg.Pool, *, user: StaffUser, session_id: int, rows: Sequence[Row],
               now: datetime) -> list[Line]:
    """Book a seat for each good line while seats are free, in one transaction, with the confirmation SMS.

    `rows` come from batch_lists.parse_list, which refuses an empty list."""
    async with pool.acquire() as conn, conn.transaction():
        session = await group_sessions.get_for_site(conn, session_id, user.site_id)
        group_sessions.check_may_run(user, session)
        lines: list[Line] = []
        full = False
        for row in rows:
            problem = _bad(row)
            if problem is not None:
                lines.append(Line(row.line, row.phone, row.name, LineState.bad, problem))
                continue
            if full:
                lines.append(Line(row.line, row.phone, row.name, LineState.no_seat))
                continue
            assert row.phone
            # Staff know the client: the language is theirs and the number's SMS consent is confirmed, as for
            # a batch invitation.
            client = await clients.upsert_by_phone(conn, site_id=session.site_id, phone=row.phone,
                                                   language=row.language, staff=True, sms_consent=True)
            try:
                booked = await group_session_seats.book(conn, session_id=session.id, site_id=session.site_id,
                                                        client=client, channel=SeatChannel.staff, sms_consent=True,
                                                        now=now, booked_by=user.id)
            except SessionFull:
                full = True
                lines.append(Line(row.line, row.phone, row.name, LineState.no_seat))
                continue
            except SessionClosed:
                raise
            lines.append(Line(row.line, row.phone, row.name, LineState.seat if booked.new else LineState.already,
                              reference=booked.seat.reference))
        return lines
