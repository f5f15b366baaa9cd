"""Teams and the staff directory: who works where, their working hours and absences.

Owns the SQL of the `teams`, `staff` (directory, sign-in accounts, feed tokens), `working_hours` and `absences`
tables; sessions and sign-in failures are `scheduler.staff.auth`'s and `scheduler.staff.signin_limits`'.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime, time
from typing import Any, Final

import asyncpg
from asyncpg.types import Range

from scheduler.errors import ValidationFailed
from scheduler.i18n import N_
from scheduler.permissions import Role, StaffUser

# The columns a signed-in staff member is made of (`staff` aliased as st); the sessions query joins them too.
STAFF_USER_COLUMNS: Final = ("st.id, st.site_id, st.username, st.display_name, st.role, st.team_id, st.languages, "
                              "st.system_admin")


@dataclass(frozen=True, slots=True)
class Account:
    """A staff member as sign-in sees them: who they are and how they may sign in."""

    user: StaffUser
    active: bool
    sso: str | None
    oidc_subject: str | None = None
    password_hash: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class FeedOwner:
    """The active staff member a calendar feed token belongs to."""

    id: int
    site_id: int
    display_name: str


def staff_user(row: Mapping[str, Any]) -> StaffUser:
    """A StaffUser from a row holding STAFF_USER_COLUMNS."""
    return StaffUser(
        id=row["id"], site_id=row["site_id"], username=row["username"], display_name=row["display_name"],
        role=Role(row["role"]), team_id=row["team_id"], languages=tuple(row["languages"]),
        system_admin=row["system_admin"],
    )


def _account(row: Mapping[str, Any]) -> Account:
    return Account(user=staff_user(row), active=row["active"], sso=row["sso"], oidc_subject=row.get("oidc_subject"),
                   password_hash=row.get("password_hash"))


async def names(conn: asyncpg.Connection, site_id: int) -> dict[int, str]:
    """The site's team names by id, in name order."""
    rows = await conn.fetch("SELECT id, name FROM teams WHERE site_id = $1 ORDER BY name", site_id)
    return {r["id"]: r["name"] for r in rows}


async def list_for_site(conn: asyncpg.Connection, site_id: int) -> list[asyncpg.Record]:
    """The site's teams (id, name) in name order."""
    return list(await conn.fetch("SELECT id, name FROM teams WHERE site_id = $1 ORDER BY name", site_id))


async def list_with_members(conn: asyncpg.Connection, site_id: int) -> list[asyncpg.Record]:
    """The site's teams with code, name and how many staff belong to each."""
    return list(await conn.fetch(
        "SELECT t.id, t.code, t.name, count(s.id) AS members FROM teams t LEFT JOIN staff s ON s.team_id = t.id "
        "WHERE t.site_id = $1 GROUP BY t.id ORDER BY t.name", site_id))


async def create(conn: asyncpg.Connection, *, site_id: int, code: str, name: str) -> int:
    """Store a new team; a taken code raises asyncpg.UniqueViolationError."""
    team_id: int = await conn.fetchval(
        "INSERT INTO teams (site_id, code, name) VALUES ($1, $2, $3) RETURNING id", site_id, code, name)
    return team_id


async def apply_team(conn: asyncpg.Connection, *, site_id: int, code: str, name: str) -> str:
    """Make a team as a site file describes it: "added", "changed" (renamed) or "unchanged" (no write)."""
    added = await conn.fetchval(
        "INSERT INTO teams AS t (site_id, code, name) VALUES ($1, $2, $3) ON CONFLICT (site_id, code) "
        "DO UPDATE SET name = EXCLUDED.name WHERE t.name IS DISTINCT FROM EXCLUDED.name RETURNING xmax = 0",
        site_id, code, name)
    return "unchanged" if added is None else "added" if added else "changed"


async def staff_counts(conn: asyncpg.Connection) -> dict[int, int]:
    """How many active staff each site has (for the system administrator's list of sites)."""
    rows = await conn.fetch("SELECT site_id, count(*) AS n FROM staff WHERE active GROUP BY site_id")
    return {r["site_id"]: r["n"] for r in rows}


async def site_of_team(conn: asyncpg.Connection, team_id: int) -> int | None:
    """The site a team belongs to; None for an unknown team."""
    site_id: int | None = await conn.fetchval("SELECT site_id FROM teams WHERE id = $1", team_id)
    return site_id


async def site_of_staff(conn: asyncpg.Connection, staff_id: int, *, active_only: bool = False) -> int | None:
    """The site a staff member works at; None when unknown (or inactive, with active_only)."""
    site_id: int | None = await conn.fetchval(
        "SELECT site_id FROM staff WHERE id = $1 AND (active OR NOT $2)", staff_id, active_only)
    return site_id


async def sites_of_active_staff(conn: asyncpg.Connection, staff_ids: Collection[int]) -> dict[int, int]:
    """site_of_staff(active_only=True) for many at once: the site of each of these who is active."""
    rows = await conn.fetch("SELECT id, site_id FROM staff WHERE id = ANY($1::bigint[]) AND active", list(staff_ids))
    return {r["id"]: r["site_id"] for r in rows}


async def team_of_staff(conn: asyncpg.Connection, staff_id: int) -> int | None:
    """The team a staff member belongs to, if any."""
    team_id: int | None = await conn.fetchval("SELECT team_id FROM staff WHERE id = $1", staff_id)
    return team_id


async def staff_names(conn: asyncpg.Connection, site_id: int) -> dict[int, str]:
    """Display names of the site's staff by id."""
    rows = await conn.fetch("SELECT id, display_name FROM staff WHERE site_id = $1", site_id)
    return {r["id"]: r["display_name"] for r in rows}


async def directory(conn: asyncpg.Connection, site_id: int) -> tuple[dict[str, str], dict[int, str]]:
    """Team names by code and staff names by id, in one query."""
    rows = await conn.fetch(
        """
        SELECT 'team' AS kind, NULL::bigint AS id, code, name FROM teams WHERE site_id = $1
        UNION ALL
        SELECT 'staff', id, NULL, display_name FROM staff WHERE site_id = $1
        """, site_id)
    return ({r["code"]: r["name"] for r in rows if r["kind"] == "team"},
            {r["id"]: r["name"] for r in rows if r["kind"] == "staff"})


async def bookable_staff(conn: asyncpg.Connection, site_id: int) -> list[asyncpg.Record]:
    """Active caseworkers and team leads of a site, with their team's name, by team and name."""
    return list(await conn.fetch(
        """
        SELECT s.id, s.display_name, s.team_id, t.name AS team_name FROM staff s LEFT JOIN teams t ON t.id = s.team_id
        WHERE s.site_id = $1 AND s.active AND s.role IN ('caseworker', 'team_lead')
        ORDER BY t.name, s.display_name
        """, site_id))


def check_bookable(people: Collection[asyncpg.Record], staff_id: int) -> None:
    """Refuse a caseworker who is not among the site's bookable staff, as a field error on `staff_id`."""
    if staff_id not in {p["id"] for p in people}:
        raise ValidationFailed(fields={"staff_id": N_("Please choose a caseworker of this office.")})


async def list_staff(conn: asyncpg.Connection, site_id: int) -> list[asyncpg.Record]:
    """Every staff member of a site with role, team name, languages and whether they may sign in."""
    return list(await conn.fetch(
        """
        SELECT s.id, s.username, s.display_name, s.role, s.active, s.languages, s.sso, t.name AS team_name
        FROM staff s LEFT JOIN teams t ON t.id = s.team_id WHERE s.site_id = $1 ORDER BY t.name, s.display_name
        """, site_id))


async def get_staff(conn: asyncpg.Connection, staff_id: int) -> asyncpg.Record | None:
    """One staff member's directory row, or None."""
    return await conn.fetchrow(
        "SELECT id, site_id, username, display_name, role, team_id, active, sso, oidc_subject FROM staff WHERE id = $1",
        staff_id)


async def staff_account(conn: asyncpg.Connection, staff_id: int) -> asyncpg.Record | None:
    """One staff member as the account pages edit them (with e-mail, languages, system flag and whether a
    password is set, never the hash), or None."""
    return await conn.fetchrow(
        "SELECT id, site_id, username, display_name, email, role, system_admin, team_id, languages, active, sso, "
        "oidc_subject, password_hash IS NOT NULL AS has_password FROM staff WHERE id = $1", staff_id)


async def create_staff(conn: asyncpg.Connection, *, site_id: int, username: str, display_name: str,
                       email: str | None, role: Role, system_admin: bool, team_id: int | None,
                       languages: Collection[str], sso: str | None) -> int:
    """Store a new staff member without a password (a one-time link sets it); a taken username raises
    asyncpg.UniqueViolationError."""
    staff_id: int = await conn.fetchval(
        "INSERT INTO staff (site_id, username, display_name, email, role, system_admin, team_id, languages, sso) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
        site_id, username, display_name, email, role.value, system_admin, team_id, list(languages), sso)
    return staff_id


async def update_staff(conn: asyncpg.Connection, staff_id: int, *, display_name: str, email: str | None, role: Role,
                       system_admin: bool, team_id: int | None, languages: Collection[str]) -> None:
    """Change a staff member's name, e-mail, role, team and languages."""
    await conn.execute(
        "UPDATE staff SET display_name = $2, email = $3, role = $4, system_admin = $5, team_id = $6, languages = $7 "
        "WHERE id = $1", staff_id, display_name, email, role.value, system_admin, team_id, list(languages))


async def leads_with_email(conn: asyncpg.Connection, team_id: int) -> list[asyncpg.Record]:
    """The active team leads of a team who have an e-mail address: id, email, languages (escalation summary)."""
    return list(await conn.fetch(
        "SELECT id, email, languages FROM staff WHERE team_id = $1 AND role = 'team_lead' AND active "
        "AND coalesce(email, '') <> '' ORDER BY id", team_id))


async def set_active(conn: asyncpg.Connection, staff_id: int, *, active: bool) -> None:
    """Allow or stop a staff member's sign-in (their sessions are ended by the caller)."""
    await conn.execute("UPDATE staff SET active = $2 WHERE id = $1", staff_id, active)


async def set_sso(conn: asyncpg.Connection, staff_id: int, *, mode: str | None, subject: str | None) -> None:
    """Mark an account for single sign-on (by subject or username) or unmark it; a taken subject raises
    asyncpg.UniqueViolationError."""
    await conn.execute("UPDATE staff SET sso = $2, oidc_subject = $3 WHERE id = $1", staff_id, mode, subject)


async def rotate_feed_token(conn: asyncpg.Connection, staff_id: int, token: str) -> None:
    """Give a staff member's calendar feed a new token; the old one stops working at once."""
    await conn.execute("UPDATE staff SET feed_token = $2 WHERE id = $1", staff_id, token)


async def feed_token(conn: asyncpg.Connection, staff_id: int) -> str | None:
    """The token of a staff member's calendar feed."""
    token: str | None = await conn.fetchval("SELECT feed_token FROM staff WHERE id = $1", staff_id)
    return token


async def feed_owner(conn: asyncpg.Connection, token: str) -> FeedOwner | None:
    """The active staff member whose calendar feed has this token, or None."""
    row = await conn.fetchrow("SELECT id, site_id, display_name FROM staff WHERE feed_token = $1 AND active", token)
    return FeedOwner(**row) if row else None


async def account_by_username(conn: asyncpg.Connection, username: str) -> Account | None:
    """The account with this (normalised) username, with its password hash, for password sign-in."""
    row = await conn.fetchrow(
        f"SELECT {STAFF_USER_COLUMNS}, st.password_hash, st.active, st.sso, st.oidc_subject "
        "FROM staff st WHERE st.username = $1", username)
    return _account(dict(row)) if row else None


async def account_by_subject(conn: asyncpg.Connection, subject: str) -> Account | None:
    """The single sign-on account linked to this subject, locked for the caller's transaction."""
    row = await conn.fetchrow(
        f"SELECT {STAFF_USER_COLUMNS}, st.active, st.sso FROM staff st "
        "WHERE st.oidc_subject = $1 AND st.sso IS NOT NULL FOR UPDATE", subject)
    return _account(dict(row)) if row else None


async def account_to_link(conn: asyncpg.Connection, username: str) -> Account | None:
    """The unlinked account marked for single sign-on by this username, locked for the caller's transaction."""
    row = await conn.fetchrow(
        f"""
        SELECT {STAFF_USER_COLUMNS}, st.active, st.sso FROM staff st
        WHERE st.username = $1 AND st.sso = 'username' AND st.oidc_subject IS NULL
        FOR UPDATE
        """,
        username,
    )
    return _account(dict(row)) if row else None


async def set_password_hash(conn: asyncpg.Connection, staff_id: int, password_hash: str) -> None:
    """Store a staff member's new password hash."""
    await conn.execute("UPDATE staff SET password_hash = $2 WHERE id = $1", staff_id, password_hash)


async def link_subject(conn: asyncpg.Connection, staff_id: int, subject: str) -> None:
    """Link a staff account to its single sign-on subject."""
    await conn.execute("UPDATE staff SET oidc_subject = $2 WHERE id = $1", staff_id, subject)


async def list_hours(conn: asyncpg.Connection, staff_id: int) -> list[asyncpg.Record]:
    """A staff member's working hour blocks by weekday and start."""
    return list(await conn.fetch(
        "SELECT id, weekday, starts, ends, room, modes FROM working_hours WHERE staff_id = $1 "
        "ORDER BY weekday, starts", staff_id))


async def site_closing_time(conn: asyncpg.Connection, site_id: int, weekday: int) -> time | None:
    """When the site's last active staff member stops working on a weekday (0 = Monday); None if nobody works."""
    return await conn.fetchval(
        "SELECT max(w.ends) FROM working_hours w JOIN staff s ON s.id = w.staff_id "
        "WHERE w.site_id = $1 AND w.weekday = $2 AND s.active", site_id, weekday)


async def add_hours(conn: asyncpg.Connection, *, site_id: int, staff_id: int, weekday: int, starts: time,
                    ends: time, room: str | None, modes: list[str]) -> None:
    """Store a block of working hours; an overlap raises asyncpg.ExclusionViolationError."""
    await conn.execute(
        "INSERT INTO working_hours (site_id, staff_id, weekday, starts, ends, room, modes) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7)", site_id, staff_id, weekday, starts, ends, room, modes)


async def delete_hours(conn: asyncpg.Connection, *, site_id: int, staff_id: int, row_id: int) -> bool:
    """Remove one block of working hours; False when there was no such block."""
    deleted = await conn.fetchval(
        "DELETE FROM working_hours WHERE id = $1 AND staff_id = $2 AND site_id = $3 RETURNING id",
        row_id, staff_id, site_id)
    return deleted is not None


async def list_recent_absences(conn: asyncpg.Connection, staff_id: int) -> list[asyncpg.Record]:
    """A staff member's absences that ended at most 30 days ago, earliest first."""
    return list(await conn.fetch(
        "SELECT id, lower(during) AS starts, upper(during) AS ends, reason FROM absences "
        "WHERE staff_id = $1 AND upper(during) > now() - interval '30 days' ORDER BY lower(during)", staff_id))


async def add_absence(conn: asyncpg.Connection, *, site_id: int, staff_id: int, start: datetime, end: datetime,
                      reason: str) -> int:
    """Store an absence from start to end; its id (the bulk-move review lists the appointments it hits)."""
    absence_id: int = await conn.fetchval(
        "INSERT INTO absences (site_id, staff_id, during, reason) VALUES ($1, $2, $3, $4) RETURNING id",
        site_id, staff_id, Range(start, end), reason)
    return absence_id


async def get_absence(conn: asyncpg.Connection, absence_id: int) -> asyncpg.Record | None:
    """One absence (id, site_id, staff_id, starts, ends, reason), or None."""
    return await conn.fetchrow("SELECT id, site_id, staff_id, lower(during) AS starts, upper(during) AS ends, reason "
                               "FROM absences WHERE id = $1", absence_id)


async def delete_absence(conn: asyncpg.Connection, *, site_id: int, staff_id: int, row_id: int) -> bool:
    """Remove one absence; False when there was no such absence."""
    deleted = await conn.fetchval(
        "DELETE FROM absences WHERE id = $1 AND staff_id = $2 AND site_id = $3 RETURNING id",
        row_id, staff_id, site_id)
    return deleted is not None
