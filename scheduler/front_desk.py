"""The front desk list (Empfang): every client of the office who arrived today for an open appointment, for whom,
since when, and whether they were called (again)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Final

import asyncpg
from asyncpg.types import Range

LIMIT: Final = 500  # a large office has a few hundred arrivals a day


@dataclass(frozen=True, slots=True)
class Arrival:
    appointment_id: int
    request_id: int
    client_id: int
    client_name: str | None
    reference: str
    staff_name: str
    start: datetime
    room: str | None
    arrived_at: datetime
    calls: int
    last_called_at: datetime | None
    last_room: str | None


async def arrivals(conn: asyncpg.Connection, site_id: int, *, start: datetime, end: datetime) -> list[Arrival]:
    """Arrived clients of open appointments starting in [start, end), longest waiting first."""
    rows = await conn.fetch(
        f"""
        SELECT a.id AS appointment_id, a.request_id, a.client_id, cl.name AS client_name, r.reference,
               s.display_name AS staff_name, lower(a.during) AS start, a.room, a.arrived_at,
               coalesce(c.calls, 0) AS calls, c.last_called_at, c.last_room
        FROM appointments a
        JOIN staff s ON s.id = a.staff_id
        JOIN requests r ON r.id = a.request_id
        JOIN clients cl ON cl.id = a.client_id
        LEFT JOIN LATERAL (
            SELECT count(*) AS calls, max(l.called_at) AS last_called_at,
                   (array_agg(l.room ORDER BY l.attempt DESC))[1] AS last_room
            FROM lobby_calls l WHERE l.appointment_id = a.id
        ) c ON true
        WHERE a.site_id = $1 AND a.during && $2 AND lower(a.during) >= $3 AND a.status = 'confirmed'
          AND a.outcome IS NULL AND a.arrived_at IS NOT NULL
        ORDER BY a.arrived_at, a.id LIMIT {LIMIT}
        """, site_id, Range(start, end), start)
    return [Arrival(**r) for r in rows]


def stamp(rows: list[Arrival]) -> str:
    """A short fingerprint of the list (ids, arrivals, calls; no personal data): it changes when the list does."""
    text = ";".join(f"{r.appointment_id},{r.arrived_at.timestamp()},{r.calls}" for r in rows)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
