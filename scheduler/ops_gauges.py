"""Gauges for operators' alerts: outbox backlog, overdue decisions and open requests per site.

A read model over outbox, requests and callbacks (their owners hold the writes), refreshed by a periodic job
in every process that runs jobs, so each process's /metrics shows them; alerts take the max over processes.
Both statements use the partial indexes on open rows (outbox_due, requests_open_by_*, callbacks_open_by_*),
so a refresh reads the backlog, not the history.
"""

from __future__ import annotations

from datetime import datetime

import asyncpg

from scheduler.metrics import DECISIONS_OVERDUE, OPEN_REQUESTS, OPS_GAUGES_UPDATED, OUTBOX_OLDEST_DUE

_OPEN = """
SELECT s.code AS site, o.kind, o.open, o.overdue
FROM (
    SELECT site_id, 'request' AS kind, count(*) AS open, count(*) FILTER (WHERE deadline_at < $1) AS overdue
    FROM requests WHERE status IN ('received', 'proposed') GROUP BY site_id
    UNION ALL
    SELECT site_id, 'callback', count(*), count(*) FILTER (WHERE deadline_at < $1)
    FROM callbacks WHERE status IN ('open', 'in_progress') GROUP BY site_id
) o JOIN sites s ON s.id = o.site_id
"""


async def refresh(pool: asyncpg.Pool, *, now: datetime) -> float:
    """Read the backlog and set the gauges; returns the age in seconds of the oldest due outbox message."""
    async with pool.acquire() as conn:
        oldest = await conn.fetchval("SELECT min(due_at) FROM outbox WHERE status = 'pending' AND due_at <= $1", now)
        rows = await conn.fetch(_OPEN, now)
    age = max(0.0, (now - oldest).total_seconds()) if oldest else 0.0
    OUTBOX_OLDEST_DUE.set(age)
    # Cleared and set without an await in between: a scrape (same event loop) never sees them half filled,
    # and a site whose last open request closed drops out instead of keeping its old count.
    OPEN_REQUESTS.clear()
    DECISIONS_OVERDUE.clear()
    for r in rows:
        OPEN_REQUESTS.labels(r["site"], r["kind"]).set(r["open"])
        DECISIONS_OVERDUE.labels(r["site"], r["kind"]).set(r["overdue"])
    OPS_GAUGES_UPDATED.set(now.timestamp())
    return age
