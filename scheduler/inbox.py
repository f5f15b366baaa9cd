"""A caseworker's or team's inbox: open requests and callbacks in policy order, with the reasons why; and the
appointments whose outcome the unmarked-outcome job asks this person to record."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from scheduler import sites, today
from scheduler.permissions import StaffUser
from scheduler.policy import store
from scheduler.policy.decision import Decision
from scheduler.policy.ordering import order_keys
from scheduler.policy.rules import Ordering


@dataclass(frozen=True, slots=True)
class InboxItem:
    kind: str                       # "request" | "callback"
    id: int
    reference: str
    concern: str
    concern_label: dict[str, str]
    channel: str
    language: str
    status: str
    priority: int
    score: int
    manual_rank: float | None
    received_at: datetime
    modes: tuple[str, ...]
    why: str
    team_id: int | None
    staff_id: int | None
    overdue: bool
    wants_other_time: bool
    invitation: str | None
    next_attempt_at: datetime | None
    attempts: int
    proposals: tuple[dict[str, Any], ...]


@dataclass(frozen=True, slots=True)
class InboxFilter:
    site_id: int
    staff_id: int | None = None     # mine: routed to me, or to my team and nobody yet
    team_id: int | None = None
    concern: str | None = None
    channel: str | None = None
    limit: int = 500                # how many items of each list, after ordering


# An inbox is loaded in two steps: the sort keys of every open item (few columns, however long the
# queue), ordered in Python by the policy; then the full rows of the first `limit` items only.
# The keys are read from the covering partial indexes of migration 0005 (index-only scans), the time
# received as integer microseconds since the epoch (cheaper to decode than a timestamptz, and exact:
# extract() gives numeric on PostgreSQL 14+). Each filter combination gets its own statement, so that
# the planner sees plain index conditions instead of "$2 IS NULL OR ..." (at most 2 x 16 statements).
OPEN_STATUSES = {"requests": "('received', 'proposed')", "callbacks": "('open', 'in_progress')"}
# A booked request whose client asked for another time waits in the inbox too, until staff move it.
WAITING = {"requests": f"(status IN {OPEN_STATUSES['requests']} OR (status = 'scheduled' AND wants_other_time))",
           "callbacks": f"status IN {OPEN_STATUSES['callbacks']}"}


@functools.cache
def keys_sql(table: str, *, staff: bool, team: bool, concern: bool, channel: bool) -> str:
    """The key query of one filter combination; parameters: site, then staff, team, concern, channel if set.

    With a staff member: items routed to them, or (with a team) to the team and nobody yet; with only a
    team: everything routed to the team; with neither: the whole site.
    """
    if table not in OPEN_STATUSES:
        raise ValueError(f"no inbox items in table {table!r}")
    numbers = iter(range(2, 6))
    staff_p, team_p = (f"${next(numbers)}" if staff else ""), (f"${next(numbers)}" if team else "")
    extra = f" AND concern_id IN (SELECT id FROM concerns WHERE code = ${next(numbers)})" if concern else ""
    extra += f" AND channel = ${next(numbers)}" if channel else ""
    select = (f"SELECT id, priority, (extract(epoch FROM created_at) * 1000000)::int8 AS at_us, manual_rank "
              f"FROM {table} WHERE site_id = $1 AND {WAITING[table]}")
    if staff and team:  # the two parts are disjoint (staff_id = $2 / staff_id IS NULL)
        return (f"{select} AND staff_id = {staff_p}{extra}\n"
                f"UNION ALL\n{select} AND staff_id IS NULL AND team_id = {team_p}{extra}")
    if staff:
        return f"{select} AND staff_id = {staff_p}{extra}"
    if team:
        return f"{select} AND team_id = {team_p}{extra}"
    return select + extra


REQUEST_ROWS_SQL = """
SELECT r.id, r.reference, c.code AS concern, c.labels, r.channel, r.language, r.status, r.priority, r.manual_rank,
       r.created_at, r.modes, r.decision, r.team_id, r.staff_id, r.overdue_flagged_at IS NOT NULL AS overdue,
       r.wants_other_time, r.invitation,
       (SELECT json_agg(json_build_object('id', p.id, 'staff_id', p.staff_id, 'start', lower(p.during),
                                          'end', upper(p.during), 'mode', p.mode, 'room', p.room)
                        ORDER BY lower(p.during))
        FROM proposals p WHERE p.request_id = r.id) AS proposals  -- NULL without proposals: nothing to decode
FROM requests r JOIN concerns c ON c.id = r.concern_id
WHERE r.id = ANY($1::bigint[])
"""

CALLBACK_ROWS_SQL = """
SELECT b.id, b.reference, c.code AS concern, c.labels, b.channel, b.language, b.status, b.priority, b.manual_rank,
       b.created_at, b.decision, b.team_id, b.staff_id, b.overdue_flagged_at IS NOT NULL AS overdue,
       b.next_attempt_at, b.attempts
FROM callbacks b JOIN concerns c ON c.id = b.concern_id
WHERE b.id = ANY($1::bigint[])
"""


async def _ordering(conn: asyncpg.Connection, site_id: int, team_id: int | None) -> Ordering:
    active = await store.active(conn, site_id)
    layers: list[tuple[str, store.StoredPolicy | None]] = []
    if team_id is not None:
        layers.append(("team", active.teams.get(team_id)))
    layers.append(("site", active.site))
    ruleset, _ = store.layered(*layers)
    return ruleset.ordering


def _why(decision: Any) -> str:
    return Decision.from_json(decision).summary() if decision else ""


async def load(conn: asyncpg.Connection, filt: InboxFilter, *, team_of_staff: int | None,
               now: datetime) -> tuple[list[InboxItem], list[InboxItem]]:
    """(requests, callbacks) of an inbox, each in policy order: pins first, then priority plus aging."""
    site = await sites.site_by_id(conn, filt.site_id)
    calendar = site.calendar()
    team_for_mine = team_of_staff if filt.staff_id is not None else filt.team_id
    ordering = await _ordering(conn, filt.site_id, team_for_mine)
    args = [a for a in (filt.site_id, filt.staff_id, team_for_mine, filt.concern, filt.channel) if a is not None]
    shape = {"staff": filt.staff_id is not None, "team": team_for_mine is not None,
             "concern": filt.concern is not None, "channel": filt.channel is not None}

    async def ranked(table: str, rows_sql: str, make: Any) -> list[InboxItem]:
        keys = await conn.fetch(keys_sql(table, **shape), *args)
        page = order_keys(keys, ordering, now=now, calendar=calendar)[:filt.limit]
        if not page:
            return []
        ids = [keys[pos][0] for pos, _ in page]
        rows = {r["id"]: r for r in await conn.fetch(rows_sql, ids)}
        # An item closed between the two reads is left out.
        return [make(rows[i], score) for i, (_, score) in zip(ids, page, strict=True) if i in rows]

    def request_item(r: asyncpg.Record, score: int) -> InboxItem:
        return InboxItem(
            kind="request", id=r["id"], reference=r["reference"], concern=r["concern"], concern_label=r["labels"],
            channel=r["channel"], language=r["language"], status=r["status"], priority=r["priority"], score=score,
            manual_rank=r["manual_rank"], received_at=r["created_at"], modes=tuple(r["modes"]),
            why=_why(r["decision"]), team_id=r["team_id"], staff_id=r["staff_id"], overdue=r["overdue"],
            wants_other_time=r["wants_other_time"], invitation=r["invitation"], next_attempt_at=None, attempts=0,
            proposals=tuple(r["proposals"] or ()),
        )

    def callback_item(r: asyncpg.Record, score: int) -> InboxItem:
        return InboxItem(
            kind="callback", id=r["id"], reference=r["reference"], concern=r["concern"], concern_label=r["labels"],
            channel=r["channel"], language=r["language"], status=r["status"], priority=r["priority"], score=score,
            manual_rank=r["manual_rank"], received_at=r["created_at"], modes=("phone",), why=_why(r["decision"]),
            team_id=r["team_id"], staff_id=r["staff_id"], overdue=r["overdue"], wants_other_time=False,
            invitation=None, next_attempt_at=r["next_attempt_at"], attempts=r["attempts"], proposals=(),
        )

    return (await ranked("requests", REQUEST_ROWS_SQL, request_item),
            await ranked("callbacks", CALLBACK_ROWS_SQL, callback_item))


async def outcomes_missing(conn: asyncpg.Connection, user: StaffUser, *, now: datetime) -> list[today.TodayRow]:
    """Past appointments still without an outcome that are flagged to this user: a caseworker's own (flagged by
    outcomes.flag_unmarked), and for a team lead their team's escalated ones too; earliest first."""
    return await today.missing(conn, user, before=now)  # one scope rule for the inbox and the today page


def item_json(item: InboxItem) -> dict[str, Any]:
    """JSON form of an inbox item."""
    return {
        "kind": item.kind, "id": item.id, "reference": item.reference, "concern": item.concern,
        "concern_label": item.concern_label, "channel": item.channel, "language": item.language,
        "status": item.status, "priority": item.priority, "score": item.score, "manual_rank": item.manual_rank,
        "received_at": item.received_at.isoformat(), "modes": list(item.modes), "why": item.why,
        "team_id": item.team_id, "staff_id": item.staff_id, "overdue": item.overdue,
        "wants_other_time": item.wants_other_time, "invitation": item.invitation,
        "next_attempt_at": item.next_attempt_at.isoformat() if item.next_attempt_at else None,
        "attempts": item.attempts,
        "proposals": [{**p, "start": str(p["start"]), "end": str(p["end"])} for p in item.proposals],
    }
