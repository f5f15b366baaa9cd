"""Group sessions (Gruppeninformationsveranstaltungen): a room, a time, a topic, a number of seats and the
caseworkers running it (tables group_sessions, group_session_hosts).

The seats of a session are counted in its `taken` column by the booking statement in group_session_seats.py,
under CHECK (taken BETWEEN 0 AND seats): the database, not the code, keeps a session from being overbooked.
Who may run one: team leads and caseworkers for their own team (admins for any team of their site).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final

import asyncpg

from scheduler import audit, teams
from scheduler.errors import Forbidden, InvalidTransition, NotFound, ValidationFailed
from scheduler.i18n import N_
from scheduler.permissions import Role, StaffUser, check_may_act, check_site

TOPIC_MAX: Final = 120
ROOM_MAX: Final = 40
MINUTES: Final = (15, 480)
SEATS: Final = (1, 200)
MAX_AHEAD: Final = timedelta(days=366)
HOSTS_MAX: Final = 5


class SessionStatus(StrEnum):
    scheduled = "scheduled"
    cancelled = "cancelled"


@dataclass(frozen=True, slots=True)
class Session:
    id: int
    site_id: int
    team_id: int
    topic: str
    room: str
    start: datetime
    minutes: int
    seats: int
    taken: int
    status: SessionStatus
    hosts: tuple[int, ...]

    @property
    def free(self) -> int:
        """Seats still free."""
        return self.seats - self.taken

    @property
    def end(self) -> datetime:
        return self.start + timedelta(minutes=self.minutes)

    def open_for_booking(self, now: datetime) -> bool:
        """Scheduled, not yet begun and with a free seat."""
        return self.status is SessionStatus.scheduled and self.start > now and self.free > 0


@dataclass(frozen=True, slots=True)
class NewSession:
    """A parsed creation form."""

    team_id: int
    topic: str
    room: str
    start: datetime
    minutes: int
    seats: int
    hosts: tuple[int, ...]


_SELECT: Final = """
    SELECT s.id, s.site_id, s.team_id, s.topic, s.room, s.starts_at AS start, s.minutes, s.seats, s.taken, s.status,
           coalesce((SELECT array_agg(h.staff_id ORDER BY h.staff_id) FROM group_session_hosts h
                     WHERE h.session_id = s.id), '{}') AS hosts
    FROM group_sessions s
"""


def _session(row: asyncpg.Record) -> Session:
    return Session(**{**row, "status": SessionStatus(row["status"]), "hosts": tuple(row["hosts"])})


def check_new(new: NewSession, *, now: datetime) -> None:
    """Every field within its limits; all problems at once, by field."""
    problems: dict[str, str] = {}
    if not 1 <= len(new.topic.strip()) <= TOPIC_MAX:
        problems["topic"] = N_("Please enter a topic of at most 120 characters.")
    if not 1 <= len(new.room.strip()) <= ROOM_MAX:
        problems["room"] = N_("Please enter a room of at most 40 characters.")
    if not now < new.start < now + MAX_AHEAD:
        problems["start"] = N_("The session must start in the future, within a year.")
    if not MINUTES[0] <= new.minutes <= MINUTES[1]:
        problems["minutes"] = N_("A session lasts between 15 and 480 minutes.")
    if not SEATS[0] <= new.seats <= SEATS[1]:
        problems["seats"] = N_("A session has between 1 and 200 seats.")
    if not 1 <= len(new.hosts) <= HOSTS_MAX:
        problems["hosts"] = N_("Choose one to five caseworkers who run the session.")
    if problems:
        raise ValidationFailed(fields=problems)


async def create(pool: asyncpg.Pool, *, user: StaffUser, new: NewSession, now: datetime) -> Session:
    """Create a session of the user's team (any team of the site for admins) with its hosts, audited."""
    check_new(new, now=now)
    async with pool.acquire() as conn, conn.transaction():
        if await teams.site_of_team(conn, new.team_id) != user.site_id:
            raise ValidationFailed(fields={"team_id": N_("Choose a team of your office.")})
        check_may_act(user, site_id=user.site_id, team_id=new.team_id, staff_id=None)
        sites_of = await teams.sites_of_active_staff(conn, new.hosts)
        if any(sites_of.get(h) != user.site_id for h in new.hosts):
            raise ValidationFailed(fields={"hosts": N_("Choose active caseworkers of your office.")})
        session_id: int = await conn.fetchval(
            """
            INSERT INTO group_sessions (site_id, team_id, topic, room, starts_at, minutes, seats, created_by)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id
            """,
            user.site_id, new.team_id, new.topic.strip(), new.room.strip(), new.start, new.minutes, new.seats,
            user.id)
        await conn.executemany("INSERT INTO group_session_hosts (session_id, site_id, staff_id) VALUES ($1, $2, $3)",
                               [(session_id, user.site_id, h) for h in sorted(set(new.hosts))])
        await audit.record(conn, site_id=user.site_id, actor=user.actor, action="group_session.created",
                           subject_type="group_session", subject_id=session_id,
                           details={"seats": new.seats, "team_id": new.team_id})
        return await get(conn, session_id)


async def get(conn: asyncpg.Connection, session_id: int, *, for_update: bool = False) -> Session:
    """One session; NotFound when there is none."""
    row = await conn.fetchrow(_SELECT + " WHERE s.id = $1" + (" FOR UPDATE OF s" if for_update else ""),
                              session_id)
    if row is None:
        raise NotFound()
    return _session(row)


async def get_for_site(conn: asyncpg.Connection, session_id: int, site_id: int) -> Session:
    """A session of this site; another site's session is as unknown as a missing one (404)."""
    session = await get(conn, session_id)
    if session.site_id != site_id:
        raise NotFound()
    return session


async def upcoming(conn: asyncpg.Connection, site_id: int, *, now: datetime, limit: int = 100) -> list[Session]:
    """Scheduled sessions of a site that have not begun, soonest first."""
    rows = await conn.fetch(_SELECT + """
        WHERE s.site_id = $1 AND s.status = 'scheduled' AND s.starts_at > $2 ORDER BY s.starts_at, s.id LIMIT $3
        """, site_id, now, limit)
    return [_session(r) for r in rows]


async def list_for_staff(conn: asyncpg.Connection, site_id: int, *, since: datetime,
                         limit: int = 200) -> list[Session]:
    """Every session of a site from `since` on (cancelled ones too), soonest first."""
    rows = await conn.fetch(_SELECT + " WHERE s.site_id = $1 AND s.starts_at >= $2 ORDER BY s.starts_at, s.id "
                            "LIMIT $3", site_id, since, limit)
    return [_session(r) for r in rows]


async def next_of_topic(conn: asyncpg.Connection, session: Session, *, now: datetime) -> Session | None:
    """The next session of the same topic (same title, any case) at the same site with a free seat."""
    row = await conn.fetchrow(_SELECT + """
        WHERE s.site_id = $1 AND lower(s.topic) = lower($2) AND s.id <> $3 AND s.status = 'scheduled'
          AND s.starts_at > greatest($4::timestamptz, $5::timestamptz) AND s.taken < s.seats
        ORDER BY s.starts_at, s.id LIMIT 1
        """, session.site_id, session.topic, session.id, now, session.start)
    return _session(row) if row else None


def check_may_run(user: StaffUser, session: Session) -> None:
    """Its hosts, its team's lead and caseworkers, and the site's admins act on a session."""
    check_site(user, session.site_id)
    if user.id in session.hosts or user.role is Role.admin:
        return
    if user.team_id == session.team_id:
        return
    raise Forbidden()


async def cancel(conn: asyncpg.Connection, *, user: StaffUser, session_id: int, now: datetime) -> Session:
    """Cancel a scheduled session (once; a second click is an InvalidTransition). The caller tells its
    participants in the same transaction (group_session_seats.cancel_session)."""
    session = await get_for_site(conn, session_id, user.site_id)
    check_may_run(user, session)
    done = await conn.fetchval(
        """
        UPDATE group_sessions SET status = 'cancelled', cancelled_at = $2, cancelled_by = $3
        WHERE id = $1 AND status = 'scheduled' RETURNING id
        """, session_id, now, user.id)
    if done is None:
        raise InvalidTransition()
    await audit.record(conn, site_id=session.site_id, actor=user.actor, action="group_session.cancelled",
                       subject_type="group_session", subject_id=session_id, details={"taken": session.taken})
    return await get(conn, session_id)


async def host_names(conn: asyncpg.Connection, sessions: Sequence[Session], site_id: int) -> dict[int, str]:
    """Display names of the hosts of these sessions, by staff id."""
    names = await teams.staff_names(conn, site_id)
    wanted = {h for s in sessions for h in s.hosts}
    return {k: v for k, v in names.items() if k in wanted}
