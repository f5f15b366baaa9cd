"""Preview a draft rule set: what it would change for recent requests, without changing anything.

The draft is activated inside a transaction that is always rolled back, so the preview runs exactly the
code that will run once the draft is live.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from scheduler import clients, concerns, planning, sites
from scheduler import requests as requests_
from scheduler.policy import store
from scheduler.policy.ordering import QueueItem, order
from scheduler.policy.rules import Kind, RuleSet


@dataclass(frozen=True, slots=True)
class PreviewRow:
    request_id: int
    reference: str
    concern: str
    before_route: str
    after_route: str
    before_priority: int
    after_priority: int
    before_position: int
    after_position: int
    before_first_slot: datetime | None
    after_first_slot: datetime | None
    before_follow_up: str = ""  # what follows a no-show: "none", "task", "invite 3 workdays"
    after_follow_up: str = ""

    @property
    def changed(self) -> bool:
        """True when route, priority, position, first proposed date or no-show follow-up differ."""
        return (self.before_route, self.before_priority, self.before_position, self.before_first_slot,
                self.before_follow_up) != \
            (self.after_route, self.after_priority, self.after_position, self.after_first_slot,
             self.after_follow_up)


class _Rollback(Exception):
    """Raised to end the preview's transaction without keeping anything."""


async def _recent(conn: asyncpg.Connection, *, site_id: int, scope: store.Scope, team_id: int | None,
                  staff_id: int | None, last_n: int) -> list[requests_.Request]:
    return await requests_.list_recent(conn, site_id=site_id, team_id=team_id if scope is store.Scope.team else None,
                                       staff_id=staff_id if scope is store.Scope.caseworker else None, limit=last_n)


async def _evaluate(conn: asyncpg.Connection, site: sites.Site, recent: list[requests_.Request],
                    now: datetime) -> tuple[dict[int, tuple[str, int, datetime | None, str]], dict[int, int]]:
    teams = (await sites.setup(conn, site)).teams
    outcome: dict[int, tuple[str, int, datetime | None, str]] = {}
    for request in recent:
        client = await clients.get(conn, request.client_id)
        urgent = await concerns.is_urgent(conn, request.concern_id)
        plan = await planning.make_plan(
            conn, site=site, kind=Kind.appointment, concern_code=request.concern_code, urgent=urgent,
            channel=request.channel, language=request.language, modes=request.modes, client=client,
            received_at=request.created_at, now=now, needs=request.needs,
            invitation=request.invitation is not None)
        slots = await planning.find_slots(conn, site=site, plan=plan, language=request.language,
                                          windows=request.windows, now=now, exclude_request_id=request.id, count=1)
        if plan.staff_id is not None:
            route = f"caseworker {plan.staff_id}"
        else:
            route = f"team {teams.code_by_id.get(plan.team_id or 0, '-')}"
        outcome[request.id] = (route, plan.decision.priority, slots[0].start if slots else None,
                               str(plan.decision.follow_up))
    ruleset, _ = store.layered(("site", (await store.active(conn, site.id)).site))
    queue = [QueueItem(r.id, outcome[r.id][1], r.created_at, r.manual_rank) for r in recent]
    positions = {q.id: i + 1 for i, q in enumerate(order(queue, ruleset.ordering, now=now,
                                                          calendar=site.calendar()))}
    return outcome, positions


async def preview(pool: asyncpg.Pool, *, site_id: int, scope: store.Scope, team_id: int | None,
                  staff_id: int | None, ruleset: RuleSet, owner_id: int, last_n: int,
                  now: datetime) -> list[PreviewRow]:
    """Compare the active rules with a draft over the last `last_n` requests of the draft's scope."""
    rows: list[PreviewRow] = []
    async with pool.acquire() as conn:
        with contextlib.suppress(_Rollback):
            async with conn.transaction():
                site = await sites.site_by_id(conn, site_id)
                recent = await _recent(conn, site_id=site_id, scope=scope, team_id=team_id, staff_id=staff_id,
                                       last_n=last_n)
                before, before_pos = await _evaluate(conn, site, recent, now)
                draft = await store.save_draft(conn, site_id=site_id, scope=scope, team_id=team_id,
                                               staff_id=staff_id, ruleset=ruleset, source_yaml="",
                                               owner_id=owner_id)
                await store.activate(conn, draft.id, actor_id=owner_id)
                site = await sites.site_by_id(conn, site_id)  # its config stamp changed with the draft
                after, after_pos = await _evaluate(conn, site, recent, now)
                for request in recent:
                    b, a = before[request.id], after[request.id]
                    rows.append(PreviewRow(
                        request_id=request.id, reference=request.reference, concern=request.concern_code,
                        before_route=b[0], after_route=a[0], before_priority=b[1], after_priority=a[1],
                        before_position=before_pos[request.id], after_position=after_pos[request.id],
                        before_first_slot=b[2], after_first_slot=a[2], before_follow_up=b[3],
                        after_follow_up=a[3]))
                raise _Rollback()
    return rows


def row_json(row: PreviewRow) -> dict[str, object]:
    """JSON form of a preview row."""
    return {
        "request_id": row.request_id, "reference": row.reference, "concern": row.concern,
        "before": {"route": row.before_route, "priority": row.before_priority, "position": row.before_position,
                   "first_slot": row.before_first_slot.isoformat() if row.before_first_slot else None,
                   "follow_up": row.before_follow_up},
        "after": {"route": row.after_route, "priority": row.after_priority, "position": row.after_position,
                  "first_slot": row.after_first_slot.isoformat() if row.after_first_slot else None,
                  "follow_up": row.after_follow_up},
        "changed": row.changed,
    }
