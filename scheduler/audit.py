"""The audit trail: one row for every state change, staff action and staff view of client data."""

from __future__ import annotations

from collections.abc import Mapping

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
