"""The "today" list: a team's (or one caseworker's) appointments of a day with arrivals and outcomes, and the
appointments whose outcome is missing (flagged to the caseworker, escalated to the team lead)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import asyncpg
from asyncpg.types import Range

from scheduler.errors import Forbidden
from scheduler.permissions import Role, StaffUser, check_may_act

# At most this many rows of each list (a team of ten caseworkers has well under 200 a day).
LIMIT: Final = 300


@dataclass(frozen=True, slots=True)
class TodayRow:
    id: int
    request_id: int
    client_id: int
    staff_id: int
    staff_name: str
    team_id: int | None
    start: datetime
    end: datetime
    mode: str
    room: str | None
    status: str
    arrived_at: datetime | None
    outcome: str | None
    outcome_reason: str | None
    flagged: bool
    escalated: bool
    reference: str
    concern_labels: dict[str, str]
    client_name: str | None
    needs: list[str] | None = None  # what the client needs (needs.py), from the request
    interpreter_language: str | None = None


_COLUMNS: Final = """
SELECT a.id, a.request_id, a.client_id, a.staff_id, s.display_name AS staff_name, s.team_id,
       lower(a.during) AS start, upper(a.during) AS "end", a.mode, a.room, a.status, a.arrived_at, a.outcome,
       a.outcome_reason, a.outcome_flagged_at IS NOT NULL AS flagged, a.outcome_escalated_at IS NOT NULL AS escalated,
       r.reference, c.labels AS concern_labels, cl.name AS client_name, r.needs, r.interpreter_language
FROM appointments a
JOIN staff s ON s.id = a.staff_id
JOIN requests r ON r.id = a.request_id
JOIN concerns c ON c.id = r.concern_id
JOIN clients cl ON cl.id = a.client_id
"""


@dataclass(frozen=True, slots=True)
class Scope:
    """Whose appointments: one caseworker's (staff_id) or a team's (team_id); both None: the whole site."""

    site_id: int
    staff_id: int | None = None
    team_id: int | None = None


def scope_for(user: StaffUser, view: str) -> tuple[Scope, str]:
    """The list a user asked for: "mine" or "team" (the default); someone without a team sees their own."""
    if view == "mine" or (user.team_id is None and user.role is not Role.admin):
        return Scope(user.site_id, staff_id=user.id), "mine"
    return Scope(user.site_id, team_id=user.team_id), "team"


def waiting_in_lobby(row: TodayRow) -> bool:
    """The client has checked in and the appointment has no outcome yet: they wait (or are being seen)."""
    return row.arrived_at is not None and row.outcome is None and row.status == "confirmed"


def _where(scope: Scope, args: list[Any]) -> str:
    args.append(scope.site_id)
    parts = [f"a.site_id = ${len(args)}"]
    if scope.staff_id is not None:
        args.append(scope.staff_id)
        parts.append(f"a.staff_id = ${len(args)}")
    elif scope.team_id is not None:
        args.append(scope.team_id)
        parts.append(f"s.team_id = ${len(args)}")
    return " AND ".join(parts)


def _rows(rows: list[asyncpg.Record]) -> list[TodayRow]:
    return [TodayRow(**r) for r in rows]


async def day(conn: asyncpg.Connection, scope: Scope, *, start: datetime, end: datetime) -> list[TodayRow]:
    """Appointments of the scope in [start, end), earliest first; those the client cancelled are left out."""
    args: list[Any] = [Range(start, end)]
    rows = await conn.fetch(
        _COLUMNS + f"""
        WHERE a.during && $1 AND {_where(scope, args)} AND (a.status <> 'cancelled' OR a.outcome IS NOT NULL)
        ORDER BY lower(a.during), a.id LIMIT {LIMIT}
        """, *args)
    return _rows(rows)


async def missing(conn: asyncpg.Connection, user: StaffUser, *, before: datetime) -> list[TodayRow]:
    """Earlier appointments still without an outcome that this user is asked to mark: a caseworker's own
    flagged ones; for a team lead also their team's escalated ones (an admin: the site's)."""
    args: list[Any] = [user.site_id, user.id, before]
    lead = ""
    if user.role is Role.team_lead:
        args.append(user.team_id)
        lead = f" OR (a.outcome_escalated_at IS NOT NULL AND s.team_id = ${len(args)})"
    elif user.role is Role.admin:
        lead = " OR a.outcome_escalated_at IS NOT NULL"
    rows = await conn.fetch(
        _COLUMNS + f"""
        WHERE a.site_id = $1 AND a.status = 'confirmed' AND lower(a.during) < $3
          AND ((a.outcome_flagged_at IS NOT NULL AND a.staff_id = $2){lead})
        ORDER BY lower(a.during), a.id LIMIT {LIMIT}
        """, *args)
    return _rows(rows)


def may_record(user: StaffUser, row: TodayRow, now: datetime) -> bool:
    """Whether this user may record this appointment's outcome now (started, open, theirs to act on)."""
    if row.status != "confirmed" or row.outcome is not None or row.start > now:
        return False
    try:
        check_may_act(user, site_id=user.site_id, team_id=row.team_id, staff_id=row.staff_id)
    except Forbidden:
        return False
    return True
