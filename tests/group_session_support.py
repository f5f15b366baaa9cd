"""Helpers of the group-session tests: staff users of the demo site and a session created through the real command."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg

from scheduler import group_sessions
from scheduler.group_sessions import NewSession, Session
from scheduler.permissions import Role, StaffUser
from tests.factories import SiteFacts

TEAMS = {"lead.entrance": "entrance", "cw.yilmaz": "entrance", "cw.meyer": "placement", "lead.u25": "u25",
         "admin": "entrance", "cw.rahimi": "u25"}
ROLES = {"lead.entrance": Role.team_lead, "lead.u25": Role.team_lead, "admin": Role.admin}


def staff_user(site: SiteFacts, username: str) -> StaffUser:
    """The demo staff member as the pages see them after sign-in."""
    return StaffUser(id=site.staff[username], site_id=site.site_id, username=username, display_name=username,
                     role=ROLES.get(username, Role.caseworker), team_id=site.teams[TEAMS[username]],
                     languages=("de",))


async def make_session(pool: asyncpg.Pool, site: SiteFacts, *, seats: int = 20, topic: str = "Bewerbungstraining",
                       start: datetime | None = None, by: str = "lead.entrance",
                       hosts: tuple[str, ...] = ("cw.yilmaz",)) -> Session:
    """A session of the entrance team, a week ahead unless `start` says otherwise."""
    user = staff_user(site, by)
    return await group_sessions.create(pool, user=user, new=NewSession(
        team_id=site.teams[TEAMS[by]], topic=topic, room="E.10",
        start=start or datetime.now(UTC) + timedelta(days=7), minutes=90, seats=seats,
        hosts=tuple(site.staff[h] for h in hosts)), now=datetime.now(UTC))


def phone(n: int) -> str:
    """The n-th test mobile number (German, valid)."""
    return f"+49151{70000000 + n:08d}"
