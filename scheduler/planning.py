"""Applies the policy to one request or callback: decide, route, propose, store the result.

Rule sets are layered: the caseworker's, then the team's, then the site's. The site's rules route a
request first; the rules of the team (or caseworker) it lands with then refine it. Auto-confirmation is
honoured only when a rule of that owning team or caseworker enables it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import asyncpg

from scheduler import availability, holds, site_config
from scheduler.availability import Site
from scheduler.clients import Client
from scheduler.policy import store
from scheduler.policy.engine import ClientWindows, DayPart, Decision, RequestFacts, Slot, decide, propose
from scheduler.policy.rules import Channel, Kind, Mode, RuleSet


@dataclass(frozen=True, slots=True)
class Plan:
    decision: Decision
    ruleset: RuleSet
    team_id: int | None
    staff_id: int | None
    auto_confirm: bool
    deadline_at: datetime
    policy_ids: tuple[int, ...]


def client_windows(windows: dict[str, Any]) -> ClientWindows:
    """The client's time wishes from their stored JSON form."""
    return ClientWindows(
        weekdays=frozenset(int(d) for d in windows.get("weekdays", [])),
        parts=frozenset(DayPart(p) for p in windows.get("parts", [])),
        date_from=date.fromisoformat(windows["date_from"]) if windows.get("date_from") else None,
        date_to=date.fromisoformat(windows["date_to"]) if windows.get("date_to") else None,
    )


async def make_plan(conn: asyncpg.Connection, *, site: Site, kind: Kind, concern_code: str, urgent: bool,
                    channel: str, language: str, modes: tuple[str, ...], client: Client, received_at: datetime,
                    now: datetime, route: tuple[int | None, int | None] | None = None) -> Plan:
    """Decide route, priority, timing and auto-confirmation for one request; `route` overrides routing."""
    calendar = site.calendar()
    setup = await site_config.load(conn, site)
    teams, active = setup.teams, setup.policies
    facts = RequestFacts(
        kind=kind, concern=concern_code, channel=Channel(channel), language=language,
        age=client.age_on(calendar.local_date(now)), urgent=urgent,
        wished_modes=frozenset(Mode(m) for m in modes), assigned_caseworker_id=client.assigned_staff_id,
        received_at=received_at,
    )
    site_rules, _ = store.layered(("site", active.site))
    first = decide(facts, site_rules, now=now, calendar=calendar, default_team=teams.default_code)
    if route is not None:
        team_id, staff_id = route
    else:
        team_id = teams.by_code.get(first.route_team) if first.route_team else None
        staff_id = first.route_caseworker_id
    if staff_id is not None:
        team_id = await conn.fetchval("SELECT team_id FROM staff WHERE id = $1", staff_id)
    team_code = teams.code_by_id.get(team_id) if team_id else None
    layers: list[tuple[str, store.StoredPolicy | None]] = []
    if staff_id is not None:
        layers.append((f"caseworker-{staff_id}", active.caseworkers.get(staff_id)))
    if team_id is not None and team_code:
        layers.append((team_code, active.teams.get(team_id)))
    layers.append(("site", active.site))
    ruleset, policy_ids = store.layered(*layers)
    decision = decide(facts, ruleset, now=now, calendar=calendar, default_team=teams.default_code)
    if route is None:
        # A team's own rule may route on to one of its caseworkers or to another team.
        route_line = next(line for line in decision.explanation if line.field == "route")
        if ":" in route_line.rule_id:
            if decision.route_caseworker_id is not None:
                staff_id = decision.route_caseworker_id
            elif decision.route_team in teams.by_code:
                team_id, staff_id = teams.by_code[decision.route_team], None
    owners = {f"caseworker-{staff_id}:", f"{team_code}:"} if team_code else {f"caseworker-{staff_id}:"}
    auto_line = next(line for line in decision.explanation if line.field == "auto_confirm")
    auto_confirm = decision.auto_confirm and any(auto_line.rule_id.startswith(o) for o in owners)
    deadline = min(calendar.add_workdays(now, 1), max(decision.latest_start, now + timedelta(hours=1)))
    if decision.latest_start - now <= timedelta(days=1):
        deadline = now + timedelta(hours=4)  # urgent: decide within hours, not the next day
    return Plan(decision=decision, ruleset=ruleset, team_id=team_id, staff_id=staff_id,
                auto_confirm=auto_confirm, deadline_at=deadline, policy_ids=policy_ids)


def search_span(decision: Decision, now: datetime) -> tuple[datetime, datetime]:
    """What a slot search reads: from the window's start (not before now) as far as its last slot can end
    (a slot starts inside the window but may end after it)."""
    return max(decision.earliest_start, now), decision.latest_start + decision.duration


async def find_slots(conn: asyncpg.Connection, *, site: Site, plan: Plan, language: str, windows: dict[str, Any],
                     now: datetime, exclude_request_id: int | None = None, count: int | None = None,
                     decision: Decision | None = None, hold: holds.Scope | None = None) -> list[Slot]:
    """Free slots for a plan: its caseworker or team, inside its window and the client's wishes.

    Times this process has just proposed elsewhere count as held (`holds`); with `hold`, the slots found
    are held in turn, for the transaction that stores them as proposals.
    """
    decision = decision or plan.decision
    if count is not None:
        from dataclasses import replace
        decision = replace(decision, propose_count=count)
    start, end = search_span(decision, now)
    with holds.HOLDS.search() as search:
        avail = await availability.load_routed(conn, site_id=site.id, team_id=plan.team_id, staff_id=plan.staff_id,
                                               language=language, start=start, end=end, tz=site.timezone,
                                               exclude_request_id=exclude_request_id, min_free=decision.duration)
        slots = propose(decision, search.with_holds(avail, start, end), client_windows=client_windows(windows),
                        caps=plan.ruleset.caps, now=now, calendar=site.calendar())
    if hold is not None:
        hold.hold(slots)  # before anything else runs in this process, so no other search misses them
    return slots
