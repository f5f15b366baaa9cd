"""A caseworker's or team's inbox: open requests and callbacks in policy order, with the reasons why; and the
appointments whose outcome the unmarked-outcome job asks this person to record."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import asyncpg

from scheduler import sites, today
from scheduler.permissions import StaffUser
from scheduler.policy import store
from scheduler.policy.decision import Decision
from scheduler.policy.ordering import QueueKey, order_keys
from scheduler.policy.rules import Ordering
from scheduler.policy.workdays import WorkCalendar


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
    needs: tuple[str, ...] = ()             # requests: policy.rules.Need values (needs.py shows them)
    interpreter_language: str | None = None
    max_attempts: int = 0                   # callbacks: how many attempts the rules allow


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
       r.wants_other_time, r.invitation, r.needs, r.interpreter_language,
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
       b.next_attempt_at, b.attempts, b.max_attempts
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


@dataclass(frozen=True, slots=True)
class _KeysContext:
    """What reading and ordering an inbox's keys needs: the statement's shape and arguments, and the order."""

    shape: dict[str, bool]
    args: list[object]
    ordering: Ordering
    calendar: WorkCalendar


async def _keys_context(conn: asyncpg.Connection, filt: InboxFilter, team_of_staff: int | None) -> _KeysContext:
    site = await sites.site_by_id(conn, filt.site_id)
    team_for_mine = team_of_staff if filt.staff_id is not None else filt.team_id
    args = [a for a in (filt.site_id, filt.staff_id, team_for_mine, filt.concern, filt.channel) if a is not None]
    shape = {"staff": filt.staff_id is not None, "team": team_for_mine is not None,
             "concern": filt.concern is not None, "channel": filt.channel is not None}
    return _KeysContext(shape, args, await _ordering(conn, filt.site_id, team_for_mine), site.calendar())


def _why(decision: Any) -> str:
    return Decision.from_json(decision).summary() if decision else ""


def request_item(r: asyncpg.Record, score: int) -> InboxItem:
    """An inbox item from a row of REQUEST_ROWS_SQL and its score."""
    return InboxItem(
        kind="request", id=r["id"], reference=r["reference"], concern=r["concern"], concern_label=r["labels"],
        channel=r["channel"], language=r["language"], status=r["status"], priority=r["priority"], score=score,
        manual_rank=r["manual_rank"], received_at=r["created_at"], modes=tuple(r["modes"]),
        why=_why(r["decision"]), team_id=r["team_id"], staff_id=r["staff_id"], overdue=r["overdue"],
        wants_other_time=r["wants_other_time"], invitation=r["invitation"], next_attempt_at=None, attempts=0,
        proposals=tuple(r["proposals"] or ()), needs=tuple(r["needs"]),
        interpreter_language=r["interpreter_language"],
    )


def callback_item(r: asyncpg.Record, score: int) -> InboxItem:
    """An inbox item from a row of CALLBACK_ROWS_SQL and its score."""
    return InboxItem(
        kind="callback", id=r["id"], reference=r["reference"], concern=r["concern"], concern_label=r["labels"],
        channel=r["channel"], language=r["language"], status=r["status"], priority=r["priority"], score=score,
        manual_rank=r["manual_rank"], received_at=r["created_at"], modes=("phone",), why=_why(r["decision"]),
        team_id=r["team_id"], staff_id=r["staff_id"], overdue=r["overdue"], wants_other_time=False,
        invitation=None, next_attempt_at=r["next_attempt_at"], attempts=r["attempts"], proposals=(),
        max_attempts=r["max_attempts"],
    )


async def load(conn: asyncpg.Connection, filt: InboxFilter, *, team_of_staff: int | None,
               now: datetime) -> tuple[list[InboxItem], list[InboxItem]]:
    """(requests, callbacks) of an inbox, each in policy order: pins first, then priority plus aging."""
    found = await _keys_context(conn, filt, team_of_staff)

    async def ranked(table: str, rows_sql: str, make: Any) -> list[InboxItem]:
        keys = await conn.fetch(keys_sql(table, **found.shape), *found.args)
        page = order_keys(keys, found.ordering, now=now, calendar=found.calendar)[:filt.limit]
        if not page:
            return []
        ids = [keys[pos][0] for pos, _ in page]
        rows = {r["id"]: r for r in await conn.fetch(rows_sql, ids)}
        # An item closed between the two reads is left out.
        return [make(rows[i], score) for i, (_, score) in zip(ids, page, strict=True) if i in rows]

    return (await ranked("requests", REQUEST_ROWS_SQL, request_item),
            await ranked("callbacks", CALLBACK_ROWS_SQL, callback_item))


# -- one queue: requests and callbacks in one list ----------------------------------------------------------
#
# Both kinds are ordered together by the same policy: manual pins first, then priority plus aging per working
# day waited. A callback's waiting counts from when it came in, like a request's: a retry after a failed
# attempt keeps its place instead of going to the back. Its due time decides whether it is in that order at
# all: a callback whose next try is not due yet (the rules' callbacks.retry_after after a failed attempt) is
# held back below every item that can be worked now, soonest due first, so nobody dials too early; once due
# it returns at its full score. Attempts count through the rules too: max_attempts ends a callback (it leaves
# the queue unreachable), and the count is shown on the item; it does not change the score, so a client
# called three times is not pushed down for not picking up. A pin is a person's decision and wins over all.


class Show(StrEnum):
    """Which kinds of items the one queue lists."""

    all = "all"
    appointments = "appointments"
    callbacks = "callbacks"


# Not frozen: a large office's whole queue makes thousands of entries per page view, and a frozen dataclass sets
# each field through object.__setattr__ (about 8 times slower to create: 14 ms for a queue of 4,000 items).
@dataclass(slots=True)
class QueueEntry:
    """One item of the whole queue, from its sort keys only (treat as read-only)."""

    kind: str  # "request" | "callback"
    id: int
    manual_rank: float | None
    score: int
    held_until_us: int | None = None  # a callback whose next try is not due yet: when it is


@dataclass(frozen=True, slots=True)
class QueuePage:
    """The whole queue in order (keys only) and the full items of one page of it."""

    entries: list[QueueEntry]
    items: list[InboxItem]
    page: int
    per_page: int

    @property
    def total(self) -> int:
        """How many items the whole queue has."""
        return len(self.entries)

    @property
    def pages(self) -> int:
        """How many pages the queue fills (at least one)."""
        return max(1, -(-self.total // self.per_page))

    @property
    def offset(self) -> int:
        """The position in the whole queue of this page's first item."""
        return (self.page - 1) * self.per_page


DUE_LATER_SQL = """
SELECT id, (extract(epoch FROM next_attempt_at) * 1000000)::int8 AS due_us
FROM callbacks WHERE id = ANY($1::bigint[]) AND next_attempt_at > $2
"""


def merge(requests: Sequence[QueueKey], callbacks: Sequence[QueueKey], due_later: Mapping[int, int],
          ordering: Ordering, *, now: datetime, calendar: WorkCalendar) -> list[QueueEntry]:
    """Requests and callbacks in one policy order; unpinned callbacks not due yet (`due_later`: id -> due time
    in epoch microseconds) follow every other item, soonest due first."""
    held = [k for k in callbacks if k[3] is None and k[0] in due_later]
    ready = [k for k in callbacks if not (k[3] is None and k[0] in due_later)]
    keys = [*requests, *ready]
    kinds = ["request"] * len(requests) + ["callback"] * len(ready)
    entries = [QueueEntry(kinds[pos], keys[pos][0], keys[pos][3], score)
               for pos, score in order_keys(keys, ordering, now=now, calendar=calendar)]
    later = [QueueEntry("callback", held[pos][0], None, score, due_later[held[pos][0]])
             for pos, score in order_keys(held, ordering, now=now, calendar=calendar)]
    later.sort(key=lambda e: (e.held_until_us or 0, e.id))  # stable: equal due times keep the policy order
    return entries + later


async def load_queue(conn: asyncpg.Connection, filt: InboxFilter, *, team_of_staff: int | None, now: datetime,
                     show: Show = Show.all, page: int = 1, per_page: int = 50) -> QueuePage:
    """One page of the inbox's single queue of requests and callbacks (or one kind), in policy order.

    The keys of every open item are read and ordered (as in load()); full rows only for the page shown. A page
    beyond the last shows the last.
    """
    found = await _keys_context(conn, filt, team_of_staff)
    request_keys = [] if show is Show.callbacks else \
        await conn.fetch(keys_sql("requests", **found.shape), *found.args)
    callback_keys = [] if show is Show.appointments else \
        await conn.fetch(keys_sql("callbacks", **found.shape), *found.args)
    due_later: dict[int, int] = {}
    if callback_keys:
        due_later = {r["id"]: r["due_us"] for r in await conn.fetch(DUE_LATER_SQL, [k[0] for k in callback_keys], now)}
    entries = merge(request_keys, callback_keys, due_later, found.ordering, now=now, calendar=found.calendar)
    pages = max(1, -(-len(entries) // per_page))
    page = min(max(page, 1), pages)
    shown = entries[(page - 1) * per_page:page * per_page]
    rows: dict[tuple[str, int], asyncpg.Record] = {}
    for kind, rows_sql in (("request", REQUEST_ROWS_SQL), ("callback", CALLBACK_ROWS_SQL)):
        ids = [e.id for e in shown if e.kind == kind]
        if ids:
            rows |= {(kind, r["id"]): r for r in await conn.fetch(rows_sql, ids)}
    make = {"request": request_item, "callback": callback_item}
    # An item closed between the two reads is left out.
    items = [make[e.kind](rows[(e.kind, e.id)], e.score) for e in shown if (e.kind, e.id) in rows]
    return QueuePage(entries=entries, items=items, page=page, per_page=per_page)


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
        "attempts": item.attempts, "needs": list(item.needs), "interpreter_language": item.interpreter_language,
        "proposals": [{**p, "start": str(p["start"]), "end": str(p["end"])} for p in item.proposals],
    }
