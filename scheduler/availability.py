"""Working hours, absences, holidays and existing bookings, read as engine inputs."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

import asyncpg
from asyncpg.types import Range

from scheduler.policy.engine import CaseworkerAvailability, WorkingHours
from scheduler.policy.rules import Mode
from scheduler.policy.workdays import WorkCalendar


@dataclass(frozen=True, slots=True)
class Site:
    id: int
    code: str
    name: str
    timezone: str
    address: str
    holiday_region: str
    languages: tuple[str, ...]
    public_base_url: str
    email_enabled: bool
    retention_days: int

    def calendar(self) -> WorkCalendar:
        """The site's working-day calendar (time zone and public holidays)."""
        return _calendar(self.timezone, self.holiday_region)


_CALENDARS: dict[tuple[str, str], WorkCalendar] = {}


def _calendar(tz: str, region: str) -> WorkCalendar:
    # WorkCalendar caches holidays per year; keep one per site setting for the process.
    key = (tz, region)
    if key not in _CALENDARS:
        _CALENDARS[key] = WorkCalendar(tz=tz, holiday_region=region)
    return _CALENDARS[key]


SITE_COLUMNS = ("id, code, name, timezone, address, holiday_region, languages, public_base_url, "
                "email_enabled, retention_days")


def _site(row: asyncpg.Record) -> Site:
    return Site(**{**row, "languages": tuple(row["languages"])})


async def site_by_code(conn: asyncpg.Connection, code: str) -> Site | None:
    """A site by its code."""
    row = await conn.fetchrow(f"SELECT {SITE_COLUMNS} FROM sites WHERE code = $1", code)
    return _site(row) if row else None


async def site_by_id(conn: asyncpg.Connection, site_id: int) -> Site:
    """A site by id (it must exist)."""
    row = await conn.fetchrow(f"SELECT {SITE_COLUMNS} FROM sites WHERE id = $1", site_id)
    assert row is not None
    return _site(row)


async def candidates(conn: asyncpg.Connection, *, site_id: int, team_id: int | None, staff_id: int | None,
                     language: str) -> list[int]:
    """Who can take a request: the routed caseworker, or the team's members who speak the client's
    language (all members when nobody does)."""
    if staff_id is not None:
        return [staff_id]
    rows = await conn.fetch(
        """
        SELECT s.id, $3 = ANY(s.languages) AS speaks FROM staff s
        WHERE s.site_id = $1 AND s.team_id = $2 AND s.active AND s.role IN ('caseworker', 'team_lead')
          AND EXISTS (SELECT 1 FROM working_hours w WHERE w.staff_id = s.id)
        ORDER BY s.id
        """,
        site_id, team_id, language.split("-")[0],
    )
    speakers = [r["id"] for r in rows if r["speaks"]]
    return speakers or [r["id"] for r in rows]


async def load(conn: asyncpg.Connection, *, staff_ids: list[int], start: datetime, end: datetime, tz: str,
               exclude_request_id: int | None = None) -> list[CaseworkerAvailability]:
    """Availability of caseworkers between start and end: hours, absences, bookings and held proposals.

    Open proposals of other requests count as busy, so two clients are rarely offered the same time;
    if it still happens, the booking constraint decides.
    """
    if not staff_ids:
        return []
    window = Range(start, end)
    hours = await conn.fetch(
        "SELECT staff_id, weekday, starts, ends, room, modes FROM working_hours WHERE staff_id = ANY($1)",
        staff_ids,
    )
    absences = await conn.fetch(
        "SELECT staff_id, lower(during) AS s, upper(during) AS e FROM absences "
        "WHERE staff_id = ANY($1) AND during && $2",
        staff_ids, window,
    )
    busy = await conn.fetch(
        """
        SELECT staff_id, lower(during) AS s, upper(during) AS e, true AS booked FROM appointments
        WHERE staff_id = ANY($1) AND status = 'confirmed' AND during && $2
        UNION ALL
        SELECT p.staff_id, lower(p.during), upper(p.during), false FROM proposals p
        JOIN requests r ON r.id = p.request_id
        WHERE p.staff_id = ANY($1) AND p.during && $2 AND r.status IN ('received', 'proposed')
          AND r.id IS DISTINCT FROM $3
        """,
        staff_ids, window, exclude_request_id,
    )
    zone = ZoneInfo(tz)
    by_staff_hours: dict[int, list[WorkingHours]] = defaultdict(list)
    for r in hours:
        by_staff_hours[r["staff_id"]].append(WorkingHours(
            weekday=r["weekday"], start=r["starts"], end=r["ends"], room=r["room"],
            modes=frozenset(Mode(m) for m in r["modes"])))
    by_staff_absent: dict[int, list[tuple[datetime, datetime]]] = defaultdict(list)
    for r in absences:
        by_staff_absent[r["staff_id"]].append((r["s"], r["e"]))
    by_staff_busy: dict[int, list[tuple[datetime, datetime]]] = defaultdict(list)
    booked: dict[int, dict[date, int]] = defaultdict(lambda: defaultdict(int))
    for r in busy:
        by_staff_busy[r["staff_id"]].append((r["s"], r["e"]))
        if r["booked"]:
            booked[r["staff_id"]][r["s"].astimezone(zone).date()] += 1
    return [
        CaseworkerAvailability(
            caseworker_id=sid, hours=tuple(by_staff_hours[sid]), absences=tuple(by_staff_absent[sid]),
            busy=tuple(by_staff_busy[sid]), booked_per_day=dict(booked[sid]),
        )
        for sid in staff_ids
    ]
