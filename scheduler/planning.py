"""Applies the policy to one request or callback: decide, route, propose, store the result.

Rule sets are layered: the caseworker's, then the team's, then the site's. The site's rules route a
request first; the rules of the team (or caseworker) it lands with then refine it. Auto-confirmation is
honoured only when a rule of that owning team or caseworker enables it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any, Final

import asyncpg

from scheduler import appointments, availability, clients, concerns, customer_groups, notices, rooms, sites, video_rooms
from scheduler import proposals as proposals_
from scheduler import requests as requests_
from scheduler import teams as teams_
from scheduler.appointments import Appointment
from scheduler.errors import InvalidTransition
from scheduler.holds import Holds, Scope
from scheduler.policy import personal_effect, store
from scheduler.policy import rooms as room_needs
from scheduler.policy.decide import decide
from scheduler.policy.decision import Decision, RequestFacts
from scheduler.policy.personal import PersonalSettings
from scheduler.policy.rules import Channel, Kind, Mode, Need, RuleSet
from scheduler.policy.slots import ClientWindows, DayPart, Slot, propose
from scheduler.policy.workdays import WorkCalendar
from scheduler.sites import Site

AUTO_CONFIRM: Final = "policy:auto-confirm"
NO_SHOW_MEMORY: Final = timedelta(days=365)  # how far back a client's no-shows count


@dataclass(frozen=True, slots=True)
class Plan:
    decision: Decision
    ruleset: RuleSet
    team_id: int | None
    staff_id: int | None
    auto_confirm: bool
    deadline_at: datetime
    policy_ids: tuple[int, ...]
    # For the caseworkers' own settings (policy/personal.py): what the request is about, and those settings.
    concern: str = ""
    urgent: bool = False
    personal: dict[int, PersonalSettings] | None = None
    rooms: frozenset[str] | None = None  # with step-free or hearing-loop needs: the rooms that meet them


def client_windows(windows: dict[str, Any]) -> ClientWindows:
    """The client's time wishes from their stored JSON form."""
    return ClientWindows(
        weekdays=frozenset(int(d) for d in windows.get("weekdays", [])),
        parts=frozenset(DayPart(p) for p in windows.get("parts", [])),
        date_from=date.fromisoformat(windows["date_from"]) if windows.get("date_from") else None,
        date_to=date.fromisoformat(windows["date_to"]) if windows.get("date_to") else None,
    )


def fits_client_windows(windows: ClientWindows, start: datetime, calendar: WorkCalendar) -> bool:
    """Whether a slot starting at `start` suits the client's weekdays, day parts and dates."""
    local = start.astimezone(calendar.zone)
    if windows.weekdays and local.weekday() not in windows.weekdays:
        return False
    if windows.parts and (DayPart.morning if local.hour < 12 else DayPart.afternoon) not in windows.parts:
        return False
    if windows.date_from and local.date() < windows.date_from:
        return False
    return not (windows.date_to and local.date() > windows.date_to)


async def make_plan(conn: asyncpg.Connection, *, site: Site, kind: Kind, concern_code: str, urgent: bool,
                    channel: Channel, language: str, modes: tuple[str, ...], client: clients.Client,
                    received_at: datetime, now: datetime, route: tuple[int | None, int | None] | None = None,
                    setups: sites.SetupCache | None = None, needs: tuple[str, ...] = (),
                    invitation: bool = False) -> Plan:
    """Decide route, priority, timing and auto-confirmation for one request; `route` overrides routing;
    `invitation`: a caseworker invites the client (rather than the client asking)."""
    calendar = site.calendar()
    setup = await sites.setup(conn, site, setups)
    teams, active = setup.teams, setup.policies
    facts = RequestFacts(
        kind=kind, concern=concern_code, channel=Channel(channel), language=language,
        age=client.age_on(calendar.local_date(now)), urgent=urgent,
        wished_modes=frozenset(Mode(m) for m in modes), assigned_caseworker_id=client.assigned_staff_id,
        received_at=received_at, needs=frozenset(Need(n) for n in needs), invitation=invitation,
        no_shows=await recent_no_shows(conn, client, now, active), groups=await client_groups(conn, client, active),
    )
    site_rules, _ = store.layered(("site", active.site))
    first = decide(facts, site_rules, now=now, calendar=calendar, default_team=teams.default_code)
    if route is not None:
        team_id, staff_id = route
    else:
        team_id = teams.by_code.get(first.route_team) if first.route_team else None
        staff_id = first.route_caseworker_id
    if staff_id is not None:
        team_id = await teams_.team_of_staff(conn, staff_id)
    team_code = teams.code_by_id.get(team_id) if team_id else None
    ruleset, policy_ids = store.layered(*store.layers_for(active, staff_id=staff_id, team_id=team_id,
                                                          team_code=team_code))
    decision = decide(facts, ruleset, now=now, calendar=calendar, default_team=teams.default_code)
    suitable = await rooms.suitable_names(conn, site.id, needs)  # no query without room needs
    decision = room_needs.adjust(decision, ruleset, needs, suitable)
    if route is None:
        # A team's own rule may route on to one of its caseworkers or to another team.
        route_line = next(line for line in decision.explanation if line.field == "route")
        if ":" in route_line.rule_id:
            if decision.route_caseworker_id is not None:
                staff_id = decision.route_caseworker_id
            elif decision.route_team in teams.by_code:
                team_id, staff_id = teams.by_code[decision.route_team], None
    personal = _personal_settings(active)
    # Routed to a caseworker: their preferred modes and notice narrow the decision.
    decision = personal_effect.narrow(decision, personal.get(staff_id or 0), staff_id=staff_id or 0,
                                      concern=concern_code, urgent=urgent, now=now, calendar=calendar)
    auto_confirm = owner_allows_auto_confirm(decision, team_code=team_code, staff_id=staff_id)
    deadline = min(calendar.add_workdays(now, 1), max(decision.latest_start, now + timedelta(hours=1)))
    if decision.latest_start - now <= timedelta(days=1):
        deadline = now + timedelta(hours=4)  # urgent: decide within hours, not the next day
    return Plan(decision=decision, ruleset=ruleset, team_id=team_id, staff_id=staff_id,
                auto_confirm=auto_confirm, deadline_at=deadline, policy_ids=policy_ids, rooms=suitable,
                concern=concern_code, urgent=urgent, personal=personal or None)


def _personal_settings(active: store.ActivePolicies) -> dict[int, PersonalSettings]:
    return {sid: p.personal for sid, p in active.caseworkers.items() if p.personal is not None}


async def recent_no_shows(conn: asyncpg.Connection, client: clients.Client, now: datetime,
                          active: store.ActivePolicies) -> int:
    """The client's no-shows in the last 12 months, as the policy's `no_shows` condition counts them; read only
    when an active rule set of the site tests them, so intake sends no extra statement otherwise."""
    if client.id <= 0 or not _any_rule_tests(active, "no_shows"):  # client.id <= 0: not stored yet
        return 0
    return await appointments.no_shows_since(conn, client_id=client.id, since=now - NO_SHOW_MEMORY)


async def client_groups(conn: asyncpg.Connection, client: clients.Client,
                        active: store.ActivePolicies) -> frozenset[str]:
    """The client's customer group codes; read only when an active rule set of the site tests groups, so intake
    sends no extra statement otherwise (and none for a client not stored yet)."""
    if client.id <= 0 or not _any_rule_tests(active, "groups"):
        return frozenset()
    return await customer_groups.codes_of_client(conn, client.id)


def _any_rule_tests(active: store.ActivePolicies, condition: str) -> bool:
    policies = (active.site, *active.teams.values(), *active.caseworkers.values())
    return any(p is not None and tests_condition(p.ruleset, condition) for p in policies)


@lru_cache(maxsize=1024)
def tests_condition(ruleset: RuleSet, condition: str) -> bool:
    """Whether a rule of the rule set tests this `when` field (rule sets are immutable, so this is cached)."""
    return any(getattr(rule.when, condition) is not None for rule in ruleset.rules)


def owner_allows_auto_confirm(decision: Decision, *, team_code: str | None, staff_id: int | None) -> bool:
    """Whether a decision books on its own by a rule of the owning team or caseworker (never by the site's)."""
    owners = {f"caseworker-{staff_id}:", f"{team_code}:"} if team_code else {f"caseworker-{staff_id}:"}
    auto_line = next((line for line in decision.explanation if line.field == "auto_confirm"), None)
    return decision.auto_confirm and auto_line is not None and any(auto_line.rule_id.startswith(o) for o in owners)


def search_span(decision: Decision, now: datetime) -> tuple[datetime, datetime]:
    """What a slot search reads: from the window's start (not before now) as far as its last slot can end
    (a slot starts inside the window but may end after it)."""
    return max(decision.earliest_start, now), decision.latest_start + decision.duration


async def find_slots(conn: asyncpg.Connection, *, site: Site, plan: Plan, language: str, windows: dict[str, Any],
                     now: datetime, exclude_request_id: int | None = None, count: int | None = None,
                     decision: Decision | None = None, hold: Scope | None = None) -> list[Slot]:
    """Free slots for a plan: its caseworker or team, inside its window and the client's wishes.

    With `hold` (a transaction's scope of the app's holds), times this process has just proposed elsewhere
    count as held, and the slots found are held in turn, for the transaction that stores them as proposals.
    """
    decision = decision or plan.decision
    if count is not None:
        from dataclasses import replace
        decision = replace(decision, propose_count=count)
    start, end = search_span(decision, now)
    with (hold.owner if hold is not None else Holds()).search() as search:
        avail = await availability.load_routed(conn, site_id=site.id, team_id=plan.team_id, staff_id=plan.staff_id,
                                               language=language, start=start, end=end, tz=site.timezone,
                                               exclude_request_id=exclude_request_id, min_free=decision.duration)
        if plan.rooms is not None:  # step-free or hearing loop: in person only in rooms that have it
            avail = room_needs.restrict(avail, plan.rooms)
        if plan.personal:  # the caseworkers' own blocked times, buffer, caps, modes and concerns
            avail = personal_effect.apply(avail, plan.personal, decision=decision, concern=plan.concern,
                                          urgent=plan.urgent, team_routed=plan.staff_id is None,
                                          caps=plan.ruleset.caps, start=start, end=end, now=now,
                                          calendar=site.calendar())
        slots = propose(decision, search.with_holds(avail, start, end), client_windows=client_windows(windows),
                        caps=plan.ruleset.caps, now=now, calendar=site.calendar())
    if hold is not None:
        hold.hold(slots)  # before anything else runs in this process, so no other search misses them
    return slots


async def book(conn: asyncpg.Connection, *, request: requests_.Request, slot: Slot, actor: str, now: datetime,
               reminder_offsets: tuple[timedelta, ...]) -> Appointment:
    """Book a slot for an open request: the appointment, the request scheduled, its proposals gone, notices queued.

    The one booking sequence, whoever books (a caseworker's approval or pick, or the policy's auto-confirmation);
    a clash with another booking raises SlotTaken.
    """
    if request.status not in requests_.OPEN:
        raise InvalidTransition()
    client = await clients.get(conn, request.client_id)
    appointment = await appointments.book(
        conn, site_id=request.site_id, request_id=request.id, client_id=request.client_id,
        staff_id=slot.caseworker_id, start=slot.start, end=slot.end, mode=slot.mode.value, room=slot.room,
        actor=actor)
    await video_rooms.ensure(conn, [appointment])  # a video appointment's own room, before its notices
    await requests_.transition(conn, request.id, to=requests_.Status.scheduled, actor=actor,
                               site_id=request.site_id, staff_id=slot.caseworker_id, wants_other_time=False)
    await proposals_.clear(conn, request.id)
    await notices.appointment_confirmed(conn, client=client, appointment=appointment, link_token=request.link_token,
                                        reminder_offsets=reminder_offsets, now=now)
    return appointment


async def plan_and_propose(conn: asyncpg.Connection, request_id: int, *, route: tuple[int | None, int | None] | None,
                           now: datetime, reminder_offsets: tuple[timedelta, ...], actor: str) -> requests_.Status:
    """Run the policy again for an open request (after a clash, a reassignment, "another time"): store the
    decision and fresh proposals, or auto-book where the owning team allows. The one re-planning sequence."""
    request = await requests_.get(conn, request_id)
    site = await sites.site_by_id(conn, request.site_id)
    client = await clients.get(conn, request.client_id)
    plan = await make_plan(
        conn, site=site, kind=Kind.appointment, concern_code=request.concern_code,
        urgent=await concerns.is_urgent(conn, request.concern_id), channel=request.channel,
        language=request.language, modes=request.modes, client=client, received_at=request.created_at, now=now,
        route=route, needs=request.needs, invitation=request.invitation is not None)
    await requests_.store_decision(conn, request.id, decision=plan.decision, team_id=plan.team_id,
                                   staff_id=plan.staff_id, deadline_at=plan.deadline_at, policy_ids=plan.policy_ids)
    slots = await find_slots(conn, site=site, plan=plan, language=request.language, windows=request.windows,
                             now=now, exclude_request_id=request.id)
    if plan.auto_confirm and slots:
        await book(conn, request=request, slot=slots[0], actor=AUTO_CONFIRM, now=now,
                   reminder_offsets=reminder_offsets)
        return requests_.Status.scheduled
    await proposals_.replace(conn, request, slots)
    target = requests_.Status.proposed if slots else requests_.Status.received
    if request.status is not target:
        await requests_.transition(conn, request.id, to=target, actor=actor, site_id=site.id,
                                   details={"proposals": len(slots)})
    return target
