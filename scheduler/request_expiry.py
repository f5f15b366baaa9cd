"""The end of undecided requests, as set-based statements on the `requests` table (owner: requests.py).

The per-request lifecycle (one row, guarded transition, audit) is requests.py; these are the batch statements
the expiry job (expiry.py) runs over many requests at once, each locking its rows with FOR UPDATE SKIP LOCKED
and guarded by `status IN ('received', 'proposed')` so several processes never expire or re-plan a request
twice; and the read model of the staff list of expired requests.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg


async def sites_past_deadline(conn: asyncpg.Connection, *, now: datetime) -> list[int]:
    """The sites that have open requests whose decision deadline lies before `now`."""
    rows = await conn.fetch(
        "SELECT DISTINCT site_id FROM requests WHERE status IN ('received', 'proposed') AND deadline_at < $1", now)
    return [r["site_id"] for r in rows]


@dataclass(frozen=True, slots=True)
class Expired:
    """A request one batch expired, with what its client's SMS needs."""

    id: int
    site_id: int
    client_id: int
    sms_consent: bool
    link_token: str
    reference: str


# Read in deadline order from requests_open_by_deadline, bounded by the latest site cutoff ($5), each row checked
# against its own site's cutoff, so LIMIT stops the scan once the batch is full. (Joining the cutoffs by site
# read every open request per batch; and once the server's generic plan set in, it looped over the sites.)
_EXPIRE = """
WITH due AS (
    SELECT r.id FROM requests r
    WHERE r.status IN ('received', 'proposed') AND r.deadline_at < $5
      AND r.deadline_at < (SELECT c.cutoff FROM unnest($1::bigint[], $2::timestamptz[]) AS c(site_id, cutoff)
                           WHERE c.site_id = r.site_id)
    ORDER BY r.deadline_at LIMIT $3 FOR UPDATE OF r SKIP LOCKED
), expired AS (
    UPDATE requests r SET status = 'expired', closed_at = $4, updated_at = $4
    WHERE r.id = ANY(ARRAY(SELECT id FROM due)) AND r.status IN ('received', 'proposed')
    RETURNING r.id, r.site_id, r.client_id, r.sms_consent, r.link_token, r.reference
), logged AS (
    INSERT INTO audit_events (site_id, actor, action, subject_type, subject_id, details)
    SELECT site_id, 'system', 'request.expired', 'request', id, '{"reason": "deadline"}' FROM expired
)
SELECT * FROM expired
"""


async def expire_batch(conn: asyncpg.Connection, *, cutoffs: Mapping[int, datetime], limit: int,
                       now: datetime) -> list[Expired]:
    """Expire up to `limit` open requests whose deadline lies before their site's cutoff, with an audit row each;
    rows another transaction holds are skipped (the next batch or run takes them)."""
    rows = await conn.fetch(_EXPIRE, list(cutoffs), list(cutoffs.values()), limit, now, max(cutoffs.values()))
    return [Expired(**r) for r in rows]


_PASSED = """
SELECT r.id FROM requests r
WHERE r.id IN (SELECT p.request_id FROM proposals p WHERE lower(p.during) <= $1)
  AND r.status IN ('received', 'proposed') AND r.id <> ALL($3::bigint[])
ORDER BY r.id LIMIT $2 FOR UPDATE OF r SKIP LOCKED
"""


async def lock_with_passed_proposals(conn: asyncpg.Connection, *, now: datetime, limit: int,
                                     skip: Sequence[int]) -> list[int]:
    """Lock up to `limit` open requests (not in `skip`) with a proposal that starts at or before `now`; their ids.

    Rows another transaction holds are skipped; the locks last until the caller's transaction ends.
    """
    return [r["id"] for r in await conn.fetch(_PASSED, now, limit, list(skip))]


# -- the staff list of expired requests ----------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class ExpiredItem:
    id: int
    client_id: int
    reference: str
    concern_label: Mapping[str, str]
    channel: str
    language: str
    team_id: int | None
    staff_name: str | None
    received_at: datetime
    deadline_at: datetime | None
    expired_at: datetime


_LIST = """
SELECT r.id, r.client_id, r.reference, c.labels AS concern_label, r.channel, r.language, r.team_id,
       s.display_name AS staff_name, r.created_at AS received_at, r.deadline_at, r.closed_at AS expired_at
FROM requests r JOIN concerns c ON c.id = r.concern_id LEFT JOIN staff s ON s.id = r.staff_id
WHERE r.site_id = $1 AND r.status = 'expired' AND r.anonymised_at IS NULL AND r.closed_at IS NOT NULL
  AND r.closed_at >= $2 AND ($3::bigint IS NULL OR r.staff_id = $3) AND ($4::bigint IS NULL OR r.team_id = $4)
ORDER BY r.closed_at DESC LIMIT $5
"""


async def list_expired(conn: asyncpg.Connection, *, site_id: int, staff_id: int | None, team_id: int | None,
                       since: datetime, limit: int = 500) -> list[ExpiredItem]:
    """Requests of a site (one caseworker's or team's when given) that expired since `since`, newest first."""
    rows = await conn.fetch(_LIST, site_id, since, staff_id, team_id, limit)
    return [ExpiredItem(**_item(r)) for r in rows]


def _item(row: Mapping[str, Any]) -> dict[str, Any]:
    return {**row, "concern_label": dict(row["concern_label"] or {})}
