"""Proposals: the times the policy (or a freed slot) holds for an open request until a caseworker approves one.

Owner of the `proposals` table. A request's first proposals are written with it in one statement
(requests.insert, for intake's speed); everything after that goes through these functions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import asyncpg
from asyncpg.types import Range

from scheduler.policy.rules import Mode
from scheduler.policy.slots import Slot

if TYPE_CHECKING:
    from scheduler.requests import Request


@dataclass(frozen=True, slots=True)
class Proposal:
    id: int
    request_id: int
    staff_id: int
    start: datetime
    end: datetime
    mode: Mode
    room: str | None
    source: str


_INSERT = ("INSERT INTO proposals (site_id, request_id, staff_id, during, mode, room, source) "
           "VALUES ($1, $2, $3, $4, $5, $6, $7)")


async def replace(conn: asyncpg.Connection, request: Request, slots: list[Slot], *, source: str = "policy") -> None:
    """Replace a request's proposals with these slots."""
    await conn.execute("DELETE FROM proposals WHERE request_id = $1", request.id)
    if slots:
        await conn.executemany(
            _INSERT,
            [(request.site_id, request.id, s.caseworker_id, Range(s.start, s.end), s.mode.value, s.room, source)
             for s in slots],
        )


async def list_for_request(conn: asyncpg.Connection, request_id: int) -> list[Proposal]:
    """A request's proposals, earliest first."""
    rows = await conn.fetch(
        """
        SELECT id, request_id, staff_id, lower(during) AS start, upper(during) AS "end", mode, room, source
        FROM proposals WHERE request_id = $1 ORDER BY lower(during), staff_id
        """,
        request_id,
    )
    return [Proposal(**{**r, "mode": Mode(r["mode"])}) for r in rows]


async def get(conn: asyncpg.Connection, request_id: int, proposal_id: int) -> Proposal | None:
    """One proposal of a request, or None."""
    return next((p for p in await list_for_request(conn, request_id) if p.id == proposal_id), None)


async def clear(conn: asyncpg.Connection, request_id: int) -> None:
    """Release the times held for a request."""
    await conn.execute("DELETE FROM proposals WHERE request_id = $1", request_id)


async def add(conn: asyncpg.Connection, request: Request, slot: Slot, *, source: str) -> None:
    """Add one proposal to a request's others."""
    await conn.execute(_INSERT, request.site_id, request.id, slot.caseworker_id, Range(slot.start, slot.end),
                       slot.mode.value, slot.room, source)
