"""Shared by the walk-in tests: kiosk callback requests through the real intake, staff users, a fixed open hour."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

import asyncpg

from scheduler import intake
from scheduler.permissions import Role, StaffUser
from scheduler.policy.rules import Channel, Kind
from tests.factories import SiteFacts

# Thursday 3 December 2026, 10:00 in Musterstadt (Europe/Berlin): the demo office is open until 17:00.
OPEN_MORNING = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


async def kiosk_callback(pool: asyncpg.Pool, *, concern: str = "no_money", channel: str = "kiosk",
                         now: datetime = OPEN_MORNING) -> int:
    """A callback request as the kiosk makes it (the demo rule no-money-walk-in allows a walk-in for no_money)."""
    submitted = await intake.submit(pool, intake.Intake(
        site="musterstadt", kind=Kind.callback, channel=Channel(channel), concern=concern,
        phone=f"+49151{secrets.randbelow(10**8):08d}", language="de"), now=now)
    return submitted.id


async def staff_user(conn: asyncpg.Connection, site: SiteFacts, username: str) -> StaffUser:
    """A demo staff member as a signed-in user."""
    row = await conn.fetchrow("SELECT id, site_id, username, display_name, role, team_id, languages FROM staff "
                              "WHERE id = $1", site.staff[username])
    return StaffUser(id=row["id"], site_id=row["site_id"], username=row["username"],
                     display_name=row["display_name"], role=Role(row["role"]), team_id=row["team_id"],
                     languages=tuple(row["languages"]))
