"""Callbacks (Rückrufbitten): open → in_progress → reached | unreachable | cancelled, with attempts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Final

import asyncpg

from scheduler import audit
from scheduler.errors import InvalidTransition, NotFound
from scheduler.policy.decision import Decision
from scheduler.policy.rules import Channel


class CallbackStatus(StrEnum):
    open = "open"
    in_progress = "in_progress"
    reached = "reached"
    unreachable = "unreachable"
    cancelled = "cancelled"


class CallbackOutcome(StrEnum):
    reached = "reached"
    no_answer = "no_answer"
    wrong_number = "wrong_number"


OPEN: Final = frozenset({CallbackStatus.open, CallbackStatus.in_progress})
CLAIM_MINUTES: Final = 30


@dataclass(frozen=True, slots=True)
class Callback:
    id: int
    site_id: int
    client_id: int
    concern_id: int
    concern_code: str
    channel: Channel
    status: CallbackStatus
    reference: str
    link_token: str
    phone: str
    language: str
    windows: dict[str, Any]
    note: str
    team_id: int | None
    staff_id: int | None
    priority: int
    decision: Decision | None
    manual_rank: float | None
    claimed_by: int | None
    claimed_until: datetime | None
    attempts: int
    max_attempts: int
    next_attempt_at: datetime | None
    deadline_at: datetime | None
    converted_request_id: int | None
    created_at: datetime
    sms_consent: bool = False
    claimed_name: str | None = None             # as typed on an unauthenticated channel: unverified
    claimed_customer_number: str | None = None  # likewise


SELECT: Final = """
SELECT b.id, b.site_id, b.client_id, b.concern_id, c.code AS concern_code, b.channel, b.status, b.reference,
       b.link_token, b.phone, b.language, b.windows, b.note, b.team_id, b.staff_id, b.priority, b.decision,
       b.manual_rank, b.claimed_by, b.claimed_until, b.attempts, b.max_attempts, b.next_attempt_at,
       b.deadline_at, b.converted_request_id, b.created_at, b.sms_consent, b.claimed_name, b.claimed_customer_number
FROM callbacks b JOIN concerns c ON c.id = b.concern_id
"""


def _from_row(row: Mapping[str, Any]) -> Callback:
    decision = Decision.from_json(row["decision"]) if row["decision"] else None
    return Callback(**{**row, "status": CallbackStatus(row["status"]), "channel": Channel(row["channel"]),
                       "decision": decision})


async def get(conn: asyncpg.Connection, callback_id: int) -> Callback:
    """One callback, or NotFound."""
    row = await conn.fetchrow(SELECT + " WHERE b.id = $1", callback_id)
    if row is None:
        raise NotFound()
    return _from_row(row)


async def find_by_token(conn: asyncpg.Connection, token: str) -> Callback | None:
    """The callback an SMS link points to."""
    row = await conn.fetchrow(SELECT + " WHERE b.link_token = $1", token)
    return _from_row(row) if row else None


async def find_by_reference(conn: asyncpg.Connection, site_id: int, reference: str) -> Callback | None:
    """The callback with this reference code at a site."""
    row = await conn.fetchrow(SELECT + " WHERE b.site_id = $1 AND b.reference = $2", site_id, reference)
    return _from_row(row) if row else None


async def find_by_key(conn: asyncpg.Connection, site_id: int, key: str, *,
                      server: bool) -> tuple[Callback, str | None] | None:
    """The callback an earlier submit with this key created, with the hash a client key was bound to."""
    column = "b.server_key" if server else "b.idempotency_key"
    row = await conn.fetchrow(SELECT.replace("SELECT b.id,", "SELECT b.idempotency_hash, b.id,")
                              + f" WHERE b.site_id = $1 AND {column} = $2", site_id, key)
    if row is None:
        return None
    fields = dict(row)
    bound = fields.pop("idempotency_hash")
    return _from_row(fields), bound


async def find_by_idempotency_key(conn: asyncpg.Connection, site_id: int, key: str) -> Callback | None:
    """The callback an earlier submit with this client key created."""
    found = await find_by_key(conn, site_id, key, server=False)
    return found[0] if found else None


async def insert(conn: asyncpg.Connection, *, site_id: int, client_id: int, concern_id: int, channel: Channel,
                 reference: str, link_token: str, phone: str, language: str, windows: Mapping[str, Any],
                 note: str, idempotency_key: str | None, server_key: str | None = None,
                 idempotency_hash: str | None = None, sms_consent: bool = False, claimed_name: str | None = None,
                 claimed_customer_number: str | None = None) -> tuple[int, str, str] | None:
    """Insert a new callback: (id, reference, link token), or None when a unique value is taken (see intake)."""
    callback_id: int | None = await conn.fetchval(
        """
        INSERT INTO callbacks (site_id, client_id, concern_id, channel, reference, link_token, phone, language,
                               windows, note, idempotency_key, server_key, idempotency_hash, sms_consent,
                               claimed_name, claimed_customer_number)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
        ON CONFLICT DO NOTHING RETURNING id
        """,
        site_id, client_id, concern_id, channel, reference, link_token, phone, language, dict(windows), note,
        idempotency_key, server_key, idempotency_hash, sms_consent, claimed_name, claimed_customer_number,
    )
    return None if callback_id is None else (callback_id, reference, link_token)


async def sms_consent(conn: asyncpg.Connection, callback_id: int) -> bool:
    """Whether this callback request asked for SMS."""
    return bool(await conn.fetchval("SELECT sms_consent FROM callbacks WHERE id = $1", callback_id))


async def store_decision(conn: asyncpg.Connection, callback_id: int, *, decision: Decision, team_id: int | None,
                         staff_id: int | None, deadline_at: datetime, next_attempt_at: datetime,
                         policy_ids: tuple[int, ...]) -> None:
    """Record the routing, priority, retry plan and explanation the policy produced."""
    await conn.execute(
        """
        UPDATE callbacks SET decision = $2, team_id = $3, staff_id = $4, priority = $5, deadline_at = $6,
               next_attempt_at = $7, max_attempts = $8, policy_ids = $9, updated_at = now()
        WHERE id = $1
        """,
        callback_id, decision.to_json(), team_id, staff_id, decision.priority, deadline_at, next_attempt_at,
        decision.max_attempts, list(policy_ids),
    )


async def claim(conn: asyncpg.Connection, callback_id: int, *, staff_id: int, now: datetime) -> Callback:
    """A caseworker takes a callback to dial it; nobody else can claim it for half an hour."""
    row = await conn.fetchrow(
        """
        UPDATE callbacks SET status = 'in_progress', claimed_by = $2, claimed_until = $3, updated_at = now()
        WHERE id = $1 AND (status = 'open' OR (status = 'in_progress' AND (claimed_by = $2 OR claimed_until < $4)))
        RETURNING site_id
        """,
        callback_id, staff_id, now + timedelta(minutes=CLAIM_MINUTES), now,
    )
    if row is None:
        raise InvalidTransition()
    await audit.record(conn, site_id=row["site_id"], actor=f"staff:{staff_id}", action="callback.claim",
                       subject_type="callback", subject_id=callback_id)
    return await get(conn, callback_id)


async def record_attempt(conn: asyncpg.Connection, callback_id: int, *, staff_id: int, outcome: CallbackOutcome,
                         note: str, now: datetime) -> Callback:
    """Record a call attempt and apply the retry plan: retry later, or close as reached/unreachable."""
    current = await get(conn, callback_id)
    if current.status not in OPEN:
        raise InvalidTransition()
    attempts = current.attempts + 1
    retry_after = current.decision.retry_after if current.decision else timedelta(hours=2)
    if outcome is CallbackOutcome.reached:
        status, next_at = CallbackStatus.reached, None
    elif outcome is CallbackOutcome.wrong_number or attempts >= current.max_attempts:
        status, next_at = CallbackStatus.unreachable, None
    else:
        status, next_at = CallbackStatus.open, now + retry_after
    row = await conn.fetchrow(
        """
        UPDATE callbacks SET status = $2, attempts = $3, next_attempt_at = $4, claimed_by = NULL,
               claimed_until = NULL, updated_at = now(),
               closed_at = CASE WHEN $2 IN ('reached', 'unreachable') THEN now() END
        WHERE id = $1 AND status = ANY($5::text[]) AND attempts = $6 RETURNING id
        """,
        callback_id, status.value, attempts, next_at, [s.value for s in OPEN], current.attempts,
    )
    if row is None:
        raise InvalidTransition()
    await conn.execute(
        "INSERT INTO callback_attempts (site_id, callback_id, staff_id, outcome, note) VALUES ($1, $2, $3, $4, $5)",
        current.site_id, callback_id, staff_id, outcome.value, note,
    )
    await audit.record(conn, site_id=current.site_id, actor=f"staff:{staff_id}", action=f"callback.{outcome.value}",
                       subject_type="callback", subject_id=callback_id,
                       details={"attempt": attempts, "status": status.value})
    return await get(conn, callback_id)


async def close(conn: asyncpg.Connection, callback_id: int, *, to: CallbackStatus, actor: str,
                converted_request_id: int | None = None) -> Callback:
    """Close an open callback (cancelled by the client, or reached and turned into an appointment)."""
    row = await conn.fetchrow(
        """
        UPDATE callbacks SET status = $2, converted_request_id = coalesce($3, converted_request_id),
               claimed_by = NULL, claimed_until = NULL, closed_at = now(), updated_at = now()
        WHERE id = $1 AND status = ANY($4::text[]) RETURNING site_id
        """,
        callback_id, to.value, converted_request_id, [s.value for s in OPEN],
    )
    if row is None:
        raise InvalidTransition()
    await audit.record(conn, site_id=row["site_id"], actor=actor, action=f"callback.{to.value}",
                       subject_type="callback", subject_id=callback_id,
                       details={"converted_request_id": converted_request_id} if converted_request_id else None)
    return await get(conn, callback_id)


async def set_rank(conn: asyncpg.Connection, callback_id: int, *, rank: float | None) -> None:
    """Pin (or unpin) a callback at a manual position in its queue."""
    await conn.execute("UPDATE callbacks SET manual_rank = $2, updated_at = now() WHERE id = $1", callback_id, rank)


async def reassign(conn: asyncpg.Connection, callback_id: int, *, team_id: int | None, staff_id: int | None,
                   actor: str) -> Callback:
    """Give an open callback to another team or caseworker."""
    row = await conn.fetchrow(
        "UPDATE callbacks SET team_id = $2, staff_id = $3, claimed_by = NULL, claimed_until = NULL, "
        "updated_at = now() WHERE id = $1 AND status = ANY($4::text[]) RETURNING site_id",
        callback_id, team_id, staff_id, [s.value for s in OPEN],
    )
    if row is None:
        raise InvalidTransition()
    await audit.record(conn, site_id=row["site_id"], actor=actor, action="callback.reassign", subject_type="callback",
                       subject_id=callback_id, details={"team_id": team_id, "staff_id": staff_id})
    return await get(conn, callback_id)


async def list_open_for_staff(conn: asyncpg.Connection, staff_id: int) -> list[Callback]:
    """Open callbacks routed to (or claimed by) one caseworker, oldest first (what a deactivation hands over)."""
    rows = await conn.fetch(SELECT + " WHERE (b.staff_id = $1 OR b.claimed_by = $1) "
                            "AND b.status IN ('open', 'in_progress') ORDER BY b.created_at, b.id", staff_id)
    return [_from_row(r) for r in rows]


async def flag_overdue(conn: asyncpg.Connection, *, now: datetime) -> list[asyncpg.Record]:
    """Mark open callbacks past their decision deadline; returns (id, site_id) of those newly marked."""
    return list(await conn.fetch(
        """
        UPDATE callbacks SET overdue_flagged_at = $1
        WHERE status IN ('open', 'in_progress') AND deadline_at < $1 AND overdue_flagged_at IS NULL
        RETURNING id, site_id
        """,
        now,
    ))


async def staff_details(conn: asyncpg.Connection, ids: list[int]) -> dict[int, dict[str, object]]:
    """Phone, claim, retry plan and earlier attempts (`attempt_list`) of the listed callbacks, in two queries."""
    rows = await conn.fetch(
        """
        SELECT b.id, b.client_id, b.phone, b.note, b.claimed_by, b.claimed_until, b.max_attempts,
               s.display_name AS claimed_name
        FROM callbacks b LEFT JOIN staff s ON s.id = b.claimed_by WHERE b.id = ANY($1)
        """, ids)
    attempts = await conn.fetch(
        """
        SELECT a.callback_id, a.outcome, a.note, a.created_at, s.display_name
        FROM callback_attempts a JOIN staff s ON s.id = a.staff_id
        WHERE a.callback_id = ANY($1) ORDER BY a.id
        """, ids)
    details: dict[int, dict[str, object]] = {r["id"]: {**r, "attempt_list": []} for r in rows}
    for a in attempts:
        attempt_list = details[a["callback_id"]]["attempt_list"]
        assert isinstance(attempt_list, list)
        attempt_list.append(dict(a))
    return details


async def explanations(conn: asyncpg.Connection, ids: list[int]) -> dict[int, object]:
    """The stored decision explanation (JSON, or None) of each listed callback, by id."""
    rows = await conn.fetch("SELECT id, decision->'explanation' AS explanation FROM callbacks WHERE id = ANY($1)",
                            ids)
    return {r["id"]: r["explanation"] for r in rows}
