"""Read models of the staff request page that join several tables (requests, callbacks, concerns, appointments)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asyncpg


async def client_history(conn: asyncpg.Connection, client_id: int) -> list[dict[str, Any]]:
    """The client's requests and callbacks, newest first, each request with its latest appointment."""
    rows = await conn.fetch(
        """
        SELECT 'request' AS kind, r.id, r.reference, r.status, r.channel, r.created_at, c.labels,
               a.start, a.status AS appointment_status, a.arrived_at
        FROM requests r JOIN concerns c ON c.id = r.concern_id
        LEFT JOIN LATERAL (
            SELECT lower(during) AS start, status, arrived_at FROM appointments
            WHERE request_id = r.id ORDER BY (status = 'confirmed') DESC, id DESC LIMIT 1
        ) a ON true
        WHERE r.client_id = $1
        UNION ALL
        SELECT 'callback', b.id, b.reference, b.status, b.channel, b.created_at, c.labels, NULL, NULL, NULL
        FROM callbacks b JOIN concerns c ON c.id = b.concern_id
        WHERE b.client_id = $1
        ORDER BY created_at DESC LIMIT 50
        """, client_id)
    return [dict(r) for r in rows]


@dataclass(frozen=True, slots=True)
class CalendarFacts:
    """What a caseworker's calendar shows of the request behind an appointment."""

    request_id: int
    client_id: int
    reference: str
    labels: dict[str, str]
    name: str | None
    needs: tuple[str, ...] = ()  # what the client needs (needs.py), travelling with the appointment
    interpreter_language: str | None = None


async def calendar_facts(conn: asyncpg.Connection, request_ids: list[int]) -> dict[int, CalendarFacts]:
    """Reference, concern labels and client name of the requests behind a list of appointments (one query)."""
    rows = await conn.fetch(
        """
        SELECT r.id AS request_id, r.client_id, r.reference, c.labels, cl.name, r.needs, r.interpreter_language
        FROM requests r JOIN concerns c ON c.id = r.concern_id JOIN clients cl ON cl.id = r.client_id
        WHERE r.id = ANY($1)
        """, request_ids)
    return {r["request_id"]: CalendarFacts(**{**r, "needs": tuple(r["needs"])}) for r in rows}
