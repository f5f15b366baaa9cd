"""Office closure days (Schließtage): whole local days a site is closed, entered by its admins.

Owns the `closures` table. A closure blocks the day for every caseworker of the site in the slot search
(`availability` reads `blocked_days_sql` next to the absences); the appointments already booked on that
day are listed for a bulk move (`moves`), which a person confirms.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import asyncpg

from scheduler import audit
from scheduler.errors import NotFound, ValidationFailed
from scheduler.i18n import N_

REASON_LIMIT = 200


@dataclass(frozen=True, slots=True)
class Closure:
    id: int
    site_id: int
    day: date
    reason: str
    created_by: str
    created_at: datetime


_COLUMNS = "id, site_id, day, reason, created_by, created_at"


def blocked_days_sql(*, staff_id: str, span: str, tz: str) -> str:
    """SQL that yields `during` ranges of the closure days of a staff member's site inside `span`.

    The arguments are SQL expressions (a column and parameter numbers), never values.
    """
    return f"""
      SELECT tstzrange(c.day::timestamp AT TIME ZONE {tz}, (c.day + 1)::timestamp AT TIME ZONE {tz}) AS during
      FROM closures c JOIN staff cs ON cs.site_id = c.site_id
      WHERE cs.id = {staff_id}
        AND c.day BETWEEN (lower({span}) AT TIME ZONE {tz})::date - 1 AND (upper({span}) AT TIME ZONE {tz})::date"""


def parse_day(raw: str) -> date:
    """A closure day from a form (YYYY-MM-DD); a field error otherwise."""
    try:
        return date.fromisoformat(raw.strip())
    except ValueError:
        raise ValidationFailed(fields={"day": N_("Please enter a date like 2026-12-01.")}) from None


async def get(conn: asyncpg.Connection, closure_id: int, *, site_id: int) -> Closure:
    """One closure day of a site, or NotFound."""
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM closures WHERE id = $1 AND site_id = $2",
                              closure_id, site_id)
    if row is None:
        raise NotFound()
    return Closure(**row)


async def list_upcoming(conn: asyncpg.Connection, site_id: int, *, since: date) -> list[Closure]:
    """A site's closure days from `since` on, earliest first."""
    rows = await conn.fetch(f"SELECT {_COLUMNS} FROM closures WHERE site_id = $1 AND day >= $2 ORDER BY day",
                            site_id, since)
    return [Closure(**r) for r in rows]


async def create(conn: asyncpg.Connection, *, site_id: int, day: date, reason: str, actor: str,
                 today: date) -> Closure:
    """Store a closure day (not in the past, one per day and site) and audit it."""
    if day < today:
        raise ValidationFailed(fields={"day": N_("A closure day cannot be in the past.")})
    if len(reason) > REASON_LIMIT:
        raise ValidationFailed(fields={"reason": N_("This text is too long.")})
    row = await conn.fetchrow(
        f"""
        INSERT INTO closures (site_id, day, reason, created_by) VALUES ($1, $2, $3, $4)
        ON CONFLICT (site_id, day) DO NOTHING RETURNING {_COLUMNS}
        """,
        site_id, day, reason, actor)
    if row is None:
        raise ValidationFailed(fields={"day": N_("This day is already entered as a closure day.")})
    await audit.record(conn, site_id=site_id, actor=actor, action="closure.add", subject_type="closure",
                       subject_id=row["id"], details={"day": day.isoformat(), "reason": reason})
    return Closure(**row)


async def delete(conn: asyncpg.Connection, closure_id: int, *, site_id: int, actor: str) -> None:
    """Remove a closure day (the office opens after all); NotFound when there is no such day."""
    day = await conn.fetchval("DELETE FROM closures WHERE id = $1 AND site_id = $2 RETURNING day",
                              closure_id, site_id)
    if day is None:
        raise NotFound()
    await audit.record(conn, site_id=site_id, actor=actor, action="closure.delete", subject_type="closure",
                       subject_id=closure_id, details={"day": day.isoformat()})
