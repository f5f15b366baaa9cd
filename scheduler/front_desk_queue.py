"""The front desk queue (Empfang): today's open walk-in tickets together with the callback requests due today,
in the policy's order (the site's priority plus aging per workday waited, pinned items first: the inbox's order).

A ticket stands in for its callback request, so a callback with an open ticket is listed once, as the ticket.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Final

import asyncpg

from scheduler import sites, walk_ins
from scheduler.policy import store
from scheduler.policy.ordering import order_keys
from scheduler.policy.workdays import epoch_us

CALLBACK_LIMIT: Final = 300  # the most urgent due callbacks shown beside the tickets


@dataclass(frozen=True, slots=True)
class QueueEntry:
    kind: str                # "ticket" | "callback"
    id: int                  # the ticket's or the callback's id
    callback_id: int
    client_id: int
    client_name: str | None
    label: str               # the ticket number, or the callback's reference code
    reference: str
    concern: str
    concern_labels: dict[str, str]
    status: str
    taken_by: int | None     # who took the ticket, or claimed the callback
    taken_by_name: str | None
    priority: int
    score: int
    received_at: datetime
    calls: int               # how often a ticket was called into a room
    last_room: str | None


_TICKETS_SQL: Final = """
SELECT t.id, t.callback_id, b.client_id, cl.name AS client_name, t.number, b.reference, c.code AS concern,
       c.labels, t.status, t.taken_by, s.display_name AS taken_by_name, b.priority, b.manual_rank, b.created_at,
       coalesce(l.calls, 0) AS calls, l.last_room
FROM walk_in_tickets t
JOIN callbacks b ON b.id = t.callback_id
JOIN concerns c ON c.id = b.concern_id
JOIN clients cl ON cl.id = b.client_id
LEFT JOIN staff s ON s.id = t.taken_by
LEFT JOIN LATERAL (
    SELECT count(*) AS calls, (array_agg(x.room ORDER BY x.attempt DESC))[1] AS last_room
    FROM lobby_calls x WHERE x.walk_in_ticket_id = t.id
) l ON true
WHERE t.site_id = $1 AND t.day = $2 AND t.status IN ('waiting', 'called')
"""

_CALLBACKS_SQL: Final = f"""
SELECT b.id, b.id AS callback_id, b.client_id, cl.name AS client_name, b.reference, c.code AS concern, c.labels,
       b.status, b.claimed_by AS taken_by, s.display_name AS taken_by_name, b.priority, b.manual_rank, b.created_at
FROM callbacks b
JOIN concerns c ON c.id = b.concern_id
JOIN clients cl ON cl.id = b.client_id
LEFT JOIN staff s ON s.id = b.claimed_by
WHERE b.site_id = $1 AND b.status IN ('open', 'in_progress') AND (b.next_attempt_at IS NULL OR b.next_attempt_at < $2)
  AND NOT EXISTS (SELECT 1 FROM walk_in_tickets t WHERE t.callback_id = b.id AND t.status IN ('waiting', 'called'))
ORDER BY b.priority DESC, b.created_at, b.id
LIMIT {CALLBACK_LIMIT}
"""


async def load(conn: asyncpg.Connection, site: sites.Site, *, day: date, day_end: datetime,
               now: datetime) -> list[QueueEntry]:
    """Today's open tickets and the callbacks due before `day_end`, in the site policy's queue order."""
    tickets = await conn.fetch(_TICKETS_SQL, site.id, day)
    due = await conn.fetch(_CALLBACKS_SQL, site.id, day_end)
    rows: list[tuple[str, asyncpg.Record]] = [("ticket", r) for r in tickets] + [("callback", r) for r in due]
    active = await store.active(conn, site.id)
    ruleset, _ = store.layered(("site", active.site))
    keys = [(r["id"], r["priority"], epoch_us(r["created_at"]), r["manual_rank"]) for _, r in rows]
    return [_entry(*rows[pos], score) for pos, score in
            order_keys(keys, ruleset.ordering, now=now, calendar=site.calendar())]


def _entry(kind: str, r: asyncpg.Record, score: int) -> QueueEntry:
    ticket = kind == "ticket"
    labels: Any = r["labels"]
    return QueueEntry(
        kind=kind, id=r["id"], callback_id=r["callback_id"], client_id=r["client_id"], client_name=r["client_name"],
        label=walk_ins.label(r["number"]) if ticket else r["reference"], reference=r["reference"],
        concern=r["concern"], concern_labels=dict(labels or {}), status=r["status"], taken_by=r["taken_by"],
        taken_by_name=r["taken_by_name"], priority=r["priority"], score=score, received_at=r["created_at"],
        calls=r["calls"] if ticket else 0, last_room=r["last_room"] if ticket else None)


def stamp(entries: list[QueueEntry]) -> str:
    """A short fingerprint of the queue (ids, statuses, who took what, calls; no personal data)."""
    text = ";".join(f"{e.kind},{e.id},{e.status},{e.taken_by},{e.calls}" for e in entries)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
