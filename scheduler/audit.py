"""The audit trail: one row for every state change, staff action and staff view of client data."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

import asyncpg


async def record(conn: asyncpg.Connection, *, site_id: int, actor: str, action: str, subject_type: str,
                 subject_id: int | None, details: Mapping[str, object] | None = None) -> None:
    """Append an audit event; call it inside the transaction of the change it describes."""
    await conn.execute(
        """
        INSERT INTO audit_events (site_id, actor, action, subject_type, subject_id, details)
        VALUES ($1, $2, $3, $4, $5, $6)
        """,
        site_id, actor, action, subject_type, subject_id, dict(details or {}),
    )


async def record_many(conn: asyncpg.Connection, *, actor: str, action: str, subject_type: str,
                      events: Sequence[tuple[int, int, Mapping[str, object]]]) -> None:
    """Append one event per (site_id, subject_id, details) in one statement (a job's batch), inside the
    transaction of the change they describe."""
    if not events:
        return
    await conn.execute(
        """
        INSERT INTO audit_events (site_id, actor, action, subject_type, subject_id, details)
        SELECT e.site_id, $1, $2, $3, e.subject_id, e.details::jsonb
        FROM unnest($4::bigint[], $5::bigint[], $6::text[]) WITH ORDINALITY AS e(site_id, subject_id, details, n)
        ORDER BY e.n
        """,
        actor, action, subject_type, [e[0] for e in events], [e[1] for e in events],
        [json.dumps(dict(e[2])) for e in events],
    )


async def list_for(conn: asyncpg.Connection, *, subject_type: str, subject_id: int) -> list[dict[str, object]]:
    """The audit trail of one subject, oldest first."""
    rows = await conn.fetch(
        """
        SELECT actor, action, details, created_at FROM audit_events
        WHERE subject_type = $1 AND subject_id = $2 ORDER BY id
        """,
        subject_type, subject_id,
    )
    return [dict(r) for r in rows]


async def record_list_view(conn: asyncpg.Connection, *, site_id: int, actor: str, kind: str,
                           clients_by_item: Mapping[int, int]) -> None:
    """One row per opened list that shows clients' personal data: the items and the clients shown."""
    if not clients_by_item:
        return  # a list that shows nobody is no view of client data
    await record(conn, site_id=site_id, actor=actor, action="client.view_list", subject_type=f"{kind}s",
                 subject_id=None, details={f"{kind}_ids": sorted(clients_by_item),
                                           "client_ids": sorted(set(clients_by_item.values()))})


async def about_client(conn: asyncpg.Connection, *, site_id: int, client_id: int, request_ids: list[int],
                       callback_ids: list[int], appointment_ids: list[int]) -> list[dict[str, object]]:
    """Every audit row of a site about one client: the client, their items, and lists that showed them."""
    rows = await conn.fetch(
        """
        SELECT id, actor, action, subject_type, subject_id, details, created_at FROM audit_events
        WHERE site_id = $1 AND (
              (subject_type = 'client' AND subject_id = $2)
           OR (subject_type = 'request' AND subject_id = ANY($3))
           OR (subject_type = 'callback' AND subject_id = ANY($4))
           OR (subject_type = 'appointment' AND subject_id = ANY($5))
           OR (action = 'client.view_list' AND details -> 'client_ids' @> to_jsonb($2::bigint)))
        ORDER BY id
        """,
        site_id, client_id, request_ids, callback_ids, appointment_ids,
    )
    return [dict(r) for r in rows]
