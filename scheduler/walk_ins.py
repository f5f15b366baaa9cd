"""Emergency walk-in tickets (Notfall-Wartenummern): a same-day place in the front desk queue for a kiosk
callback request whose policy decision allows it (`walk_in: true`), while the office is open.

Owns the `walk_in_tickets` and `walk_in_counters` tables. A ticket is numbered per site and local day ("N-014"):
the counter row is bumped by one upsert, so simultaneous kiosks wait on its row lock instead of racing, and the
unique (site, day, number) constraint guards it all the same. Lifecycle: waiting -> called (again) -> served | left,
each step a conditional UPDATE. The staff commands are in `walk_in_desk.py`, the queue in `front_desk_queue.py`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Final

import asyncpg

from scheduler import closures, sites, teams
from scheduler.errors import InvalidTransition, NotFound

PREFIX: Final = "N"  # Notfall: tells the ticket number from a reference code on the call display
LAST_TICKET_BEFORE_CLOSING: Final = timedelta(minutes=30)  # a later ticket would hardly be seen today
KEPT: Final = timedelta(days=7)  # then only the callback request and the audit trail remember the ticket


class WalkInStatus(StrEnum):
    waiting = "waiting"
    called = "called"
    served = "served"
    left = "left"


OPEN: Final = frozenset({WalkInStatus.waiting, WalkInStatus.called})
# Which statuses a ticket may come from, by the status it goes to.
ALLOWED_FROM: Final[dict[WalkInStatus, frozenset[WalkInStatus]]] = {
    WalkInStatus.called: OPEN,  # calling again is a further call
    WalkInStatus.served: OPEN,
    WalkInStatus.left: OPEN,
}


@dataclass(frozen=True, slots=True)
class Ticket:
    id: int
    site_id: int
    callback_id: int
    day: date
    number: int
    status: WalkInStatus
    taken_by: int | None
    created_at: datetime

    @property
    def label(self) -> str:
        """The number as printed and called, e.g. "N-014"."""
        return label(self.number)


def label(number: int) -> str:
    """A ticket number as printed and called: the prefix and at least three digits ("N-014")."""
    return f"{PREFIX}-{number:03d}"


_COLUMNS: Final = "id, site_id, callback_id, day, number, status, taken_by, created_at"


def _ticket(row: asyncpg.Record) -> Ticket:
    return Ticket(**{**row, "status": WalkInStatus(row["status"])})


async def open_until(conn: asyncpg.Connection, site: sites.Site, now: datetime) -> datetime | None:
    """When the office closes today, if it is open today with time left for a walk-in; else None.

    Open means a working day that is no closure day. Closing is the end of the day's last opening hours
    (sites.opening_hours, e.g. "mon-fri": "08:00-12:30"); a site without opening hours closes when the last
    working hours of its staff end. The last ticket goes out half an hour before closing."""
    calendar = site.calendar()
    today = calendar.local_date(now)
    if not calendar.is_workday(today):
        return None
    upcoming = await closures.list_upcoming(conn, site.id, since=today)
    if upcoming and upcoming[0].day == today:
        return None
    hours = await sites.opening_hours(conn, site.id)
    ends = closing_time(hours, today.weekday()) if hours else \
        await teams.site_closing_time(conn, site.id, today.weekday())
    if ends is None:
        return None
    closing = datetime.combine(today, ends, tzinfo=calendar.zone).astimezone(UTC)
    return closing if now < closing - LAST_TICKET_BEFORE_CLOSING else None


_DAYS: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def closing_time(hours: Mapping[str, object], weekday: int) -> time | None:
    """The latest end of the opening hours that cover a weekday (0 = Monday); None when closed that day.

    Keys are a day or a span of days ("thu", "mon-fri"), values one or more spans ("08:00-12:30, 14:00-16:00");
    entries that cannot be read are skipped."""
    ends: list[time] = []
    for key, value in hours.items():
        first, _, last = str(key).strip().lower().partition("-")
        if first not in _DAYS or (last and last not in _DAYS):
            continue
        if not _DAYS.index(first) <= weekday <= _DAYS.index(last or first):
            continue
        for span in str(value).split(","):
            try:
                start, stop = (time.fromisoformat(part.strip()) for part in span.split("-"))
            except ValueError:
                continue
            if start < stop:
                ends.append(stop)
    return max(ends, default=None)


async def for_callback(conn: asyncpg.Connection, callback_id: int) -> Ticket | None:
    """The ticket of a callback request, if it got one."""
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM walk_in_tickets WHERE callback_id = $1", callback_id)
    return _ticket(row) if row else None


async def get(conn: asyncpg.Connection, ticket_id: int, *, site_id: int) -> Ticket:
    """One ticket of a site; NotFound for another site's (or no) ticket."""
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM walk_in_tickets WHERE id = $1 AND site_id = $2",
                              ticket_id, site_id)
    if row is None:
        raise NotFound()
    return _ticket(row)


async def insert(conn: asyncpg.Connection, *, site_id: int, callback_id: int, day: date, now: datetime) -> Ticket:
    """Hand out the site's next number of the day for a callback request (inside the caller's transaction)."""
    number = await conn.fetchval(
        """
        INSERT INTO walk_in_counters AS c (site_id, day, last) VALUES ($1, $2, 1)
        ON CONFLICT (site_id, day) DO UPDATE SET last = c.last + 1
        RETURNING last
        """, site_id, day)
    row = await conn.fetchrow(
        f"""
        INSERT INTO walk_in_tickets (site_id, callback_id, day, number, created_at, updated_at)
        VALUES ($1, $2, $3, $4, $5, $5)
        RETURNING {_COLUMNS}
        """, site_id, callback_id, day, number, now)
    return _ticket(row)


async def transition(conn: asyncpg.Connection, ticket_id: int, *, site_id: int, to: WalkInStatus, staff_id: int,
                     may_take_over: bool) -> Ticket:
    """Move a ticket on if its status allows it and nobody else has taken it (unless `may_take_over`); the one
    acting takes it. InvalidTransition otherwise (a double click, or a colleague was quicker)."""
    row = await conn.fetchrow(
        f"""
        UPDATE walk_in_tickets SET status = $3, taken_by = $4, updated_at = now(),
               closed_at = CASE WHEN $3 IN ('served', 'left') THEN now() END
        WHERE id = $1 AND site_id = $2 AND status = ANY($5::text[])
          AND (taken_by IS NULL OR taken_by = $4 OR $6)
        RETURNING {_COLUMNS}
        """, ticket_id, site_id, to.value, staff_id, [s.value for s in ALLOWED_FROM[to]], may_take_over)
    if row is None:
        await get(conn, ticket_id, site_id=site_id)  # NotFound first: another site's ticket is not shown
        raise InvalidTransition()
    return _ticket(row)


async def take(conn: asyncpg.Connection, ticket_id: int, *, site_id: int, staff_id: int,
               may_take_over: bool) -> Ticket:
    """Assign an open ticket to a staff member (who then calls it); guarded like `transition`."""
    row = await conn.fetchrow(
        f"""
        UPDATE walk_in_tickets SET taken_by = $3, updated_at = now()
        WHERE id = $1 AND site_id = $2 AND status IN ('waiting', 'called')
          AND (taken_by IS NULL OR taken_by = $3 OR $4)
        RETURNING {_COLUMNS}
        """, ticket_id, site_id, staff_id, may_take_over)
    if row is None:
        await get(conn, ticket_id, site_id=site_id)
        raise InvalidTransition()
    return _ticket(row)


async def delete_before(conn: asyncpg.Connection, *, before: datetime) -> int:
    """Forget tickets (with their calls) and day counters from before a moment; how many tickets went."""
    done = await conn.execute("DELETE FROM walk_in_tickets WHERE created_at < $1", before)
    await conn.execute("DELETE FROM walk_in_counters WHERE day < $1", before.date() - timedelta(days=1))
    return int(done.split()[-1])
