"""Appointment requests (Terminanfragen): lifecycle with guarded state changes, and their proposals.

received → proposed → scheduled → done | no_show; side exits declined, withdrawn, expired.
"Another time, please" sends a scheduled request back to proposed/received for its caseworker.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Final

import asyncpg
from asyncpg.types import Range

from scheduler import audit
from scheduler.errors import InvalidTransition, NotFound
from scheduler.policy.engine import Decision, Slot
from scheduler.policy.rules import Mode


class Status(StrEnum):
    received = "received"
    proposed = "proposed"
    scheduled = "scheduled"
    done = "done"
    no_show = "no_show"
    declined = "declined"
    withdrawn = "withdrawn"
    expired = "expired"


OPEN: Final = frozenset({Status.received, Status.proposed})
CLOSED: Final = frozenset({Status.done, Status.no_show, Status.declined, Status.withdrawn, Status.expired})

ALLOWED_FROM: Final[dict[Status, frozenset[Status]]] = {
    Status.received: frozenset({Status.received, Status.proposed, Status.scheduled}),  # back to the queue
    Status.proposed: frozenset({Status.received, Status.proposed, Status.scheduled}),
    Status.scheduled: frozenset({Status.received, Status.proposed}),
    Status.done: frozenset({Status.scheduled}),
    Status.no_show: frozenset({Status.scheduled}),
    Status.declined: frozenset({Status.received, Status.proposed}),
    Status.withdrawn: frozenset({Status.received, Status.proposed, Status.scheduled}),
    Status.expired: frozenset({Status.received, Status.proposed}),
}


@dataclass(frozen=True, slots=True)
class Request:
    id: int
    site_id: int
    client_id: int
    concern_id: int
    concern_code: str
    channel: str
    status: Status
    reference: str
    link_token: str
    language: str
    modes: tuple[str, ...]
    windows: dict[str, Any]
    note: str
    invitation: str | None
    team_id: int | None
    staff_id: int | None
    priority: int
    decision: Decision | None
    manual_rank: float | None
    wants_other_time: bool
    deadline_at: datetime | None
    overdue_flagged_at: datetime | None
    decline_reason: str | None
    created_at: datetime
    updated_at: datetime


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


SELECT = """
SELECT r.id, r.site_id, r.client_id, r.concern_id, c.code AS concern_code, r.channel, r.status, r.reference,
       r.link_token, r.language, r.modes, r.windows, r.note, r.invitation, r.team_id, r.staff_id, r.priority,
       r.decision, r.manual_rank, r.wants_other_time, r.deadline_at, r.overdue_flagged_at, r.decline_reason,
       r.created_at, r.updated_at
FROM requests r JOIN concerns c ON c.id = r.concern_id
"""


def _from_row(row: Mapping[str, Any]) -> Request:
    decision = Decision.from_json(row["decision"]) if row["decision"] else None
    return Request(**{**row, "status": Status(row["status"]), "modes": tuple(row["modes"]), "decision": decision})


async def get(conn: asyncpg.Connection, request_id: int, *, for_update: bool = False) -> Request:
    """One request, or NotFound."""
    row = await conn.fetchrow(SELECT + " WHERE r.id = $1" + (" FOR UPDATE OF r" if for_update else ""), request_id)
    if row is None:
        raise NotFound()
    return _from_row(row)


async def find_by_token(conn: asyncpg.Connection, token: str) -> Request | None:
    """The request an SMS link points to."""
    row = await conn.fetchrow(SELECT + " WHERE r.link_token = $1", token)
    return _from_row(row) if row else None


async def find_by_reference(conn: asyncpg.Connection, site_id: int, reference: str) -> Request | None:
    """The request with this reference code at a site."""
    row = await conn.fetchrow(SELECT + " WHERE r.site_id = $1 AND r.reference = $2", site_id, reference)
    return _from_row(row) if row else None


@dataclass(frozen=True, slots=True)
class NewRequest:
    """A client's request as the policy planned it, ready to be stored."""

    site_id: int
    client_id: int
    concern_id: int
    channel: str
    language: str
    modes: list[str]
    windows: Mapping[str, Any]
    note: str
    idempotency_key: str | None
    invitation: str | None
    notice_text: str | None
    created_by: int | None
    status: Status
    decision: Decision
    team_id: int | None
    staff_id: int | None
    deadline_at: datetime
    policy_ids: tuple[int, ...]
    proposals: list[Slot]
    events: list[tuple[str, str, Mapping[str, object]]]  # audit rows: actor, action, details


_INSERT = """
WITH r AS (
    INSERT INTO requests (site_id, client_id, concern_id, channel, reference, link_token, language, modes, windows,
                          note, idempotency_key, invitation, notice_text, created_by, status, decision, team_id,
                          staff_id, priority, deadline_at, policy_ids)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)
    ON CONFLICT DO NOTHING
    RETURNING *
), logged AS (
    INSERT INTO audit_events (site_id, actor, action, subject_type, subject_id, details)
    SELECT r.site_id, e.value->>'actor', e.value->>'action', 'request', r.id, e.value->'details'
    FROM r, jsonb_array_elements($22::jsonb) WITH ORDINALITY AS e(value, n)
    ORDER BY e.n
), held AS (
    INSERT INTO proposals (site_id, request_id, staff_id, during, mode, room, source)
    SELECT r.site_id, r.id, p.staff_id, p.during, p.mode, p.room, 'policy'
    FROM r, unnest($23::bigint[], $24::tstzrange[], $25::text[], $26::text[]) AS p(staff_id, during, mode, room)
)
""" + SELECT.replace("FROM requests r", "FROM r")


async def insert(conn: asyncpg.Connection, new: NewRequest, *, reference: str, link_token: str) -> Request | None:
    """Store a planned request with its audit rows and proposals in one statement.

    None when a unique value is already taken: the idempotency key (a retried submit) or, rarely, the
    reference or link token; the caller tells them apart. Nothing is written then.
    """
    row = await conn.fetchrow(
        _INSERT,
        new.site_id, new.client_id, new.concern_id, new.channel, reference, link_token, new.language, new.modes,
        dict(new.windows), new.note, new.idempotency_key, new.invitation, new.notice_text, new.created_by,
        new.status.value, new.decision.to_json(), new.team_id, new.staff_id, new.decision.priority,
        new.deadline_at, list(new.policy_ids),
        [{"actor": actor, "action": action, "details": dict(details)} for actor, action, details in new.events],
        [s.caseworker_id for s in new.proposals], [Range(s.start, s.end) for s in new.proposals],
        [s.mode.value for s in new.proposals], [s.room for s in new.proposals],
    )
    return _from_row(row) if row else None


async def find_by_idempotency_key(conn: asyncpg.Connection, site_id: int, key: str) -> Request | None:
    """The request an earlier submit with this key created."""
    row = await conn.fetchrow(SELECT + " WHERE r.site_id = $1 AND r.idempotency_key = $2", site_id, key)
    return _from_row(row) if row else None


async def store_decision(conn: asyncpg.Connection, request_id: int, *, decision: Decision, team_id: int | None,
                         staff_id: int | None, deadline_at: datetime, policy_ids: tuple[int, ...]) -> None:
    """Record the routing, priority and explanation the policy produced."""
    await conn.execute(
        """
        UPDATE requests SET decision = $2, team_id = $3, staff_id = $4, priority = $5, deadline_at = $6,
               policy_ids = $7, updated_at = now()
        WHERE id = $1
        """,
        request_id, decision.to_json(), team_id, staff_id, decision.priority, deadline_at, list(policy_ids),
    )


async def transition(conn: asyncpg.Connection, request_id: int, *, to: Status, actor: str, site_id: int,
                     details: Mapping[str, object] | None = None, **columns: object) -> Request:
    """Move a request to `to` if its current status allows it, set extra columns, and audit it."""
    sets = ["status = $2", "updated_at = now()"]
    args: list[object] = [request_id, to.value, [s.value for s in ALLOWED_FROM[to]]]
    for name, value in columns.items():
        assert name in {"staff_id", "team_id", "decline_reason", "wants_other_time", "closed_at", "manual_rank"}
        args.append(value)
        sets.append(f"{name} = ${len(args)}")
    if to in CLOSED:
        sets.append("closed_at = now()")
    row = await conn.fetchrow(
        f"UPDATE requests SET {', '.join(sets)} WHERE id = $1 AND status = ANY($3::text[]) RETURNING id", *args,
    )
    if row is None:
        raise InvalidTransition()
    await audit.record(conn, site_id=site_id, actor=actor, action=f"request.{to.value}", subject_type="request",
                       subject_id=request_id, details=details)
    return await get(conn, request_id)


async def set_rank(conn: asyncpg.Connection, request_id: int, *, rank: float | None) -> None:
    """Pin (or unpin, with None) a request at a manual position in its queue."""
    await conn.execute("UPDATE requests SET manual_rank = $2, updated_at = now() WHERE id = $1", request_id, rank)


async def replace_proposals(conn: asyncpg.Connection, request: Request, slots: list[Slot], *,
                            source: str = "policy") -> None:
    """Replace a request's proposals with these slots."""
    await conn.execute("DELETE FROM proposals WHERE request_id = $1", request.id)
    if slots:
        await conn.executemany(
            "INSERT INTO proposals (site_id, request_id, staff_id, during, mode, room, source) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7)",
            [(request.site_id, request.id, s.caseworker_id, Range(s.start, s.end), s.mode.value, s.room, source)
             for s in slots],
        )


async def list_proposals(conn: asyncpg.Connection, request_id: int) -> list[Proposal]:
    """A request's proposals, earliest first."""
    rows = await conn.fetch(
        """
        SELECT id, request_id, staff_id, lower(during) AS start, upper(during) AS "end", mode, room, source
        FROM proposals WHERE request_id = $1 ORDER BY lower(during), staff_id
        """,
        request_id,
    )
    return [Proposal(**{**r, "mode": Mode(r["mode"])}) for r in rows]


async def get_proposal(conn: asyncpg.Connection, request_id: int, proposal_id: int) -> Proposal | None:
    """One proposal of a request."""
    proposals = await list_proposals(conn, request_id)
    return next((p for p in proposals if p.id == proposal_id), None)


async def clear_proposals(conn: asyncpg.Connection, request_id: int) -> None:
    """Release the times held for a request."""
    await conn.execute("DELETE FROM proposals WHERE request_id = $1", request_id)
