"""Appointment requests (Terminanfragen): lifecycle with guarded state changes (proposals: proposals.py).

received → proposed → scheduled → done | no_show; side exits declined, withdrawn, expired.
"Another time, please" sends a scheduled request back to proposed/received for its caseworker.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Final

import asyncpg
from asyncpg.types import Range

from scheduler import audit, outbox
from scheduler.errors import InvalidTransition, NotFound
from scheduler.policy.decision import Decision
from scheduler.policy.rules import Channel
from scheduler.policy.slots import Slot


class Status(StrEnum):
    received = "received"
    proposed = "proposed"
    scheduled = "scheduled"
    done = "done"
    no_show = "no_show"
    declined = "declined"
    withdrawn = "withdrawn"
    expired = "expired"


class DeclineCategory(StrEnum):  # why a request was declined: the client's SMS says it in their language
    not_responsible = "not_responsible"
    duplicate = "duplicate"
    resolved = "resolved"
    other = "other"


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
    channel: Channel
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
    sms_consent: bool = False
    claimed_name: str | None = None             # as typed on an unauthenticated channel: unverified
    claimed_customer_number: str | None = None  # likewise
    decline_category: DeclineCategory | None = None  # set with decline_reason when staff decline it
    needs: tuple[str, ...] = ()                 # policy.rules.Need values (migration 0029; needs.py shows them)
    interpreter_language: str | None = None     # with the interpreter need: an ISO 639 code


SELECT = """
SELECT r.id, r.site_id, r.client_id, r.concern_id, c.code AS concern_code, r.channel, r.status, r.reference,
       r.link_token, r.language, r.modes, r.windows, r.note, r.invitation, r.team_id, r.staff_id, r.priority,
       r.decision, r.manual_rank, r.wants_other_time, r.deadline_at, r.overdue_flagged_at, r.decline_reason,
       r.created_at, r.updated_at, r.sms_consent, r.claimed_name, r.claimed_customer_number, r.decline_category,
       r.needs, r.interpreter_language
FROM requests r JOIN concerns c ON c.id = r.concern_id
"""


def _from_row(row: Mapping[str, Any]) -> Request:
    decision = Decision.from_json(row["decision"]) if row["decision"] else None
    category = DeclineCategory(row["decline_category"]) if row["decline_category"] else None
    return Request(**{**row, "status": Status(row["status"]), "channel": Channel(row["channel"]),
                      "modes": tuple(row["modes"]), "needs": tuple(row["needs"]), "decision": decision,
                      "decline_category": category})


async def get(conn: asyncpg.Connection, request_id: int, *, for_update: bool = False) -> Request:
    """One request, or NotFound."""
    row = await conn.fetchrow(SELECT + " WHERE r.id = $1" + (" FOR UPDATE OF r" if for_update else ""), request_id)
    if row is None:
        raise NotFound()
    return _from_row(row)


async def lock_many(conn: asyncpg.Connection, request_ids: Collection[int]) -> dict[int, Request]:
    """Lock many requests in one statement, in id order (so concurrent batches cannot deadlock); by id.
    NotFound when one does not exist."""
    rows = await conn.fetch(SELECT + " WHERE r.id = ANY($1::bigint[]) ORDER BY r.id FOR UPDATE OF r",
                            sorted(set(request_ids)))
    if len(rows) != len(set(request_ids)):
        raise NotFound()
    return {r["id"]: _from_row(r) for r in rows}


async def list_waiting_for(conn: asyncpg.Connection, *, site_id: int, staff_id: int, team_id: int | None,
                           exclude_id: int) -> list[Request]:
    """Open requests routed to this caseworker, or unassigned in their team, in one query."""
    rows = await conn.fetch(
        SELECT + """
        WHERE r.site_id = $1 AND r.status IN ('received', 'proposed') AND r.id <> $4
          AND (r.staff_id = $2 OR (r.staff_id IS NULL AND r.team_id = $3))
        """,
        site_id, staff_id, team_id, exclude_id,
    )
    return [_from_row(r) for r in rows]


async def list_recent(conn: asyncpg.Connection, *, site_id: int, team_id: int | None, staff_id: int | None,
                      limit: int) -> list[Request]:
    """A site's newest requests (of one team or caseworker when given), newest first."""
    rows = await conn.fetch(
        SELECT + """
        WHERE r.site_id = $1 AND ($2::bigint IS NULL OR r.team_id = $2) AND ($3::bigint IS NULL OR r.staff_id = $3)
        ORDER BY r.created_at DESC LIMIT $4
        """,
        site_id, team_id, staff_id, limit,
    )
    return [_from_row(r) for r in rows]


async def find_by_token(conn: asyncpg.Connection, token: str) -> Request | None:
    """The request an SMS link points to."""
    row = await conn.fetchrow(SELECT + " WHERE r.link_token = $1", token)
    return _from_row(row) if row else None


async def find_by_reference(conn: asyncpg.Connection, site_id: int, reference: str) -> Request | None:
    """The request with this reference code at a site."""
    row = await conn.fetchrow(SELECT + " WHERE r.site_id = $1 AND r.reference = $2", site_id, reference)
    return _from_row(row) if row else None


# A reference as typed on a phone keypad: each letter as the key that shows it (migrations/0026 indexes it).
KEYPAD_SQL: Final = "translate(r.reference, 'ABCDEFGHJKMNPQRSTVWXYZ-', '2223334455667777889999')"


async def find_open_by_keypad(conn: asyncpg.Connection, site_id: int, digits: str) -> list[Request]:
    """The open or scheduled requests at a site whose reference, typed on a keypad, gives these 8 digits
    (rarely more than one: several letters share a key)."""
    rows = await conn.fetch(
        SELECT + f" WHERE r.site_id = $1 AND {KEYPAD_SQL} = $2 AND r.status IN ('received', 'proposed', 'scheduled')"
        " LIMIT 5", site_id, digits)
    return [_from_row(r) for r in rows]


@dataclass(frozen=True, slots=True)
class NewRequest:
    """A client's request as the policy planned it, ready to be stored."""

    site_id: int
    client_id: int
    concern_id: int
    channel: Channel
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
    server_key: str | None = None
    idempotency_hash: str | None = None
    sms_consent: bool = False
    claimed_name: str | None = None
    claimed_customer_number: str | None = None
    needs: tuple[str, ...] = ()
    interpreter_language: str | None = None


_INSERT = """
WITH r AS (
    INSERT INTO requests (site_id, client_id, concern_id, channel, reference, link_token, language, modes, windows,
                          note, idempotency_key, invitation, notice_text, created_by, status, decision, team_id,
                          staff_id, priority, deadline_at, policy_ids, server_key, idempotency_hash, sms_consent,
                          claimed_name, claimed_customer_number, needs, interpreter_language)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21,
            $27, $28, $29, $30, $31, $39, $40)
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
), receipt AS (""" + outbox.receipt_insert("r", 32) + """
)
""" + SELECT.replace("FROM requests r", "FROM r")


async def insert(conn: asyncpg.Connection, new: NewRequest, *, reference: str, link_token: str,
                 receipt: outbox.Receipt | None = None) -> Request | None:
    """Store a planned request with its audit rows, proposals and receipt SMS in one statement.

    One statement instead of four saves intake three round trips to PostgreSQL, its largest cost.

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
        new.server_key, new.idempotency_hash, new.sms_consent, new.claimed_name, new.claimed_customer_number,
        *outbox.receipt_parameters(receipt), list(new.needs), new.interpreter_language,
    )
    return _from_row(row) if row else None


async def find_by_key(conn: asyncpg.Connection, site_id: int, key: str, *,
                      server: bool) -> tuple[Request, str | None] | None:
    """The request an earlier submit with this key created, with the hash a client key was bound to.

    Server-made keys and client keys are separate spaces: a client can never name a server-made key.
    """
    column = "r.server_key" if server else "r.idempotency_key"
    row = await conn.fetchrow(SELECT.replace("SELECT r.id,", "SELECT r.idempotency_hash, r.id,")
                              + f" WHERE r.site_id = $1 AND {column} = $2", site_id, key)
    if row is None:
        return None
    fields = dict(row)
    bound = fields.pop("idempotency_hash")
    return _from_row(fields), bound


async def sms_consent(conn: asyncpg.Connection, request_id: int) -> bool:
    """Whether this request asked for SMS."""
    return bool(await conn.fetchval("SELECT sms_consent FROM requests WHERE id = $1", request_id))


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


# The only column names `transition` formats into its UPDATE.
_SETTABLE: Final = frozenset({"staff_id", "team_id", "decline_reason", "wants_other_time", "closed_at",
                              "manual_rank", "decline_category"})


async def transition(conn: asyncpg.Connection, request_id: int, *, to: Status, actor: str, site_id: int,
                     details: Mapping[str, object] | None = None, **columns: object) -> Request:
    """Move a request to `to` if its current status allows it, set extra columns, and audit it."""
    sets = ["status = $2", "updated_at = now()"]
    args: list[object] = [request_id, to.value, [s.value for s in ALLOWED_FROM[to]]]
    for name, value in columns.items():
        if name not in _SETTABLE:
            raise ValueError(f"requests.{name} cannot be set by a transition")
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


async def set_wants_other_time(conn: asyncpg.Connection, request_id: int, *, value: bool, actor: str,
                               site_id: int) -> None:
    """Flag (or unflag) a booked request whose client asked for another time; the booking itself stays."""
    row = await conn.fetchrow(
        "UPDATE requests SET wants_other_time = $2, updated_at = now() WHERE id = $1 AND status = 'scheduled' "
        "RETURNING id", request_id, value)
    if row is None:
        raise InvalidTransition()
    await audit.record(conn, site_id=site_id, actor=actor, action="request.wants_other_time", subject_type="request",
                       subject_id=request_id, details={"value": value})


async def list_open_for_staff(conn: asyncpg.Connection, staff_id: int) -> list[Request]:
    """Open requests routed to one caseworker, oldest first (what a deactivation hands over)."""
    rows = await conn.fetch(SELECT + " WHERE r.staff_id = $1 AND r.status IN ('received', 'proposed') "
                            "ORDER BY r.created_at, r.id", staff_id)
    return [_from_row(r) for r in rows]


async def reroute(conn: asyncpg.Connection, request_id: int, *, team_id: int | None, staff_id: int | None) -> None:
    """Give a request to another team (its team stays when None) or caseworker."""
    await conn.execute("UPDATE requests SET team_id = coalesce($2, team_id), staff_id = $3 WHERE id = $1",
                       request_id, team_id, staff_id)


async def flag_overdue(conn: asyncpg.Connection, *, now: datetime) -> list[asyncpg.Record]:
    """Mark open requests past their decision deadline; returns (id, site_id) of those newly marked.

    A flag older than the current deadline was for an earlier one (the request was reassigned since): it is
    marked again, so missing the new deadline escalates it once more (escalation.py, migration 0034)."""
    return list(await conn.fetch(
        """
        UPDATE requests SET overdue_flagged_at = $1
        WHERE status IN ('received', 'proposed') AND deadline_at < $1
          AND (overdue_flagged_at IS NULL OR overdue_flagged_at < deadline_at)
        RETURNING id, site_id
        """,
        now,
    ))


async def explanations(conn: asyncpg.Connection, ids: list[int]) -> dict[int, object]:
    """The stored decision explanation (JSON, or None) of each listed request, by id."""
    rows = await conn.fetch("SELECT id, decision->'explanation' AS explanation FROM requests WHERE id = ANY($1)", ids)
    return {r["id"]: r["explanation"] for r in rows}


async def keep_deadline(conn: asyncpg.Connection, request_id: int, *, deadline_at: datetime | None) -> None:
    """A re-plan the system made on its own does not push the decision deadline back."""
    await conn.execute("UPDATE requests SET deadline_at = least(deadline_at, $2) WHERE id = $1", request_id,
                       deadline_at)
