"""Replay past requests through a draft rule set, in memory: what the draft would have decided, against what was
decided then, summed up for the preview (scheduler/preview_impact.py loads the requests, this computes).

Pure: rule sets, teams and facts in; numbers and changed rows out. "Days to appointment" is measured to the
earliest start the policy allows (lead time in working days from when the request came in), not to the
proposals the draft would make: proposals need a slot search against calendars per request, which is far
too slow for thousands of requests in a second, and would mix today's bookings into a question about rules.
"""

from __future__ import annotations

import dataclasses
import json
import re
import statistics
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Final, NamedTuple, cast

from scheduler.policy import store
from scheduler.policy.decide import decide
from scheduler.policy.decision import Decision, ExplanationLine, RequestFacts
from scheduler.policy.rules import Bounds, Channel, Kind, Need, RuleSet
from scheduler.policy.workdays import WorkCalendar

# Times computed at intake and here from the request's arrival differ by the moments between the two: a
# minute of tolerance keeps that from counting as "timed differently".
SAME_TIME: Final = timedelta(minutes=1)
DAY: Final = 86_400.0


# Before and PastRequest are built once per replayed request (thousands per preview): plain named tuples, which
# are far cheaper to make than frozen dataclasses.
class Before(NamedTuple):
    """What was decided for a request when it came in (from its stored decision)."""

    priority: int
    route_team: str | None
    route_caseworker_id: int | None
    duration_s: int
    earliest_start: datetime
    latest_start: datetime
    follow_up: object  # the YAML-shape value, or None
    explanation_json: str  # decoded only for the requests shown as changed; "" when read afterwards


class PastRequest(NamedTuple):
    """A request replayed: what the policy decides on (its modes left out: they only narrow the modes, which
    are not compared), when it came (and that day, in the site's time zone), and what was decided then."""

    id: int
    reference: str
    concern: str
    channel: Channel
    language: str
    age: int | None
    urgent: bool
    assigned_caseworker_id: int | None
    needs: frozenset[Need]
    invitation: bool
    received_at: datetime
    day: date
    before: Before


def past_request(request_id: int, reference: str, facts: RequestFacts, before: Before,
                 calendar: WorkCalendar) -> PastRequest:
    """A replayed request from its facts."""
    return PastRequest(request_id, reference, facts.concern, facts.channel, facts.language, facts.age, facts.urgent,
                       facts.assigned_caseworker_id, facts.needs, facts.invitation, facts.received_at,
                       calendar.local_date(facts.received_at), before)


@dataclass(frozen=True, slots=True)
class Draft:
    """The draft and where it goes: it replaces the active rule set of its scope for the replay."""

    ruleset: RuleSet
    scope: store.Scope
    team_id: int | None = None
    staff_id: int | None = None


@dataclass(frozen=True, slots=True)
class SiteRules:
    """What routing needs besides the facts: the site's active rule sets and its teams and staff."""

    active: store.ActivePolicies
    team_by_code: Mapping[str, int]
    code_by_team: Mapping[int, str]
    default_team: str
    team_of_staff: Mapping[int, int | None]
    calendar: WorkCalendar


@dataclass(frozen=True, slots=True)
class ChangedRow:
    request_id: int
    reference: str
    concern: str
    routed: bool
    prioritised: bool
    timed: bool
    followed_up: bool
    before_priority: int
    after_priority: int
    before_team: int | None
    after_team: int | None
    before_days: float
    after_days: float
    before_why: tuple[ExplanationLine, ...]
    after_why: tuple[ExplanationLine, ...]


@dataclass(frozen=True, slots=True)
class TeamLoad:
    team_id: int | None  # None: routed to nobody known (a caseworker of no team)
    before: int
    after: int
    before_minutes: int
    after_minutes: int


@dataclass(frozen=True, slots=True)
class Impact:
    total: int
    changed: int
    routed: int
    prioritised: int
    timed: int
    followed_up: int
    teams: tuple[TeamLoad, ...]  # only teams whose load changes
    median_days_before: float | None
    median_days_after: float | None
    rows: tuple[ChangedRow, ...]  # the first `show` changed requests, newest first
    weeks: int

    @property
    def median_days_change(self) -> float | None:
        """After minus before, in days (negative: sooner)."""
        if self.median_days_before is None or self.median_days_after is None:
            return None
        return self.median_days_after - self.median_days_before


_DRAFT_ID: Final = -1  # the draft is not stored; layered() only needs an id to report


def _draft_policy(draft: Draft, site_id: int) -> store.StoredPolicy:
    now = datetime.now(UTC)
    return store.StoredPolicy(id=_DRAFT_ID, site_id=site_id, scope=draft.scope, team_id=draft.team_id,
                              staff_id=draft.staff_id, version=0, status=store.PolicyStatus.draft,
                              ruleset=draft.ruleset, source_yaml="", owner_id=None, created_at=now, activated_at=None)


def with_draft(active: store.ActivePolicies, draft: Draft, site_id: int) -> store.ActivePolicies:
    """The site's active rule sets with the draft in place of its scope's active one."""
    policy = _draft_policy(draft, site_id)
    if draft.scope is store.Scope.site:
        return dataclasses.replace(active, site=policy)
    if draft.scope is store.Scope.team and draft.team_id is not None:
        return dataclasses.replace(active, teams={**active.teams, draft.team_id: policy})
    if draft.staff_id is not None:
        return dataclasses.replace(active, caseworkers={**active.caseworkers, draft.staff_id: policy})
    return active


def replan(facts: RequestFacts, rules: SiteRules, active: store.ActivePolicies) -> Decision:
    """The decision planning.make_plan reaches for these facts, without the database: the site's rules route,
    then the rules of the caseworker and team it lands with refine it (same layering and names)."""
    ruleset = layered_for(facts, rules, active)
    return decide(facts, ruleset, now=facts.received_at, calendar=rules.calendar, default_team=rules.default_team)


def layered_for(facts: RequestFacts, rules: SiteRules, active: store.ActivePolicies) -> RuleSet:
    """The layered rule set that decides a request with these facts: the site's, under the rules of the team or
    caseworker the site's rules route it to (which do not depend on when it came)."""
    first = decide(facts, store.layered(("site", active.site))[0], now=facts.received_at, calendar=rules.calendar,
                   default_team=rules.default_team)
    team_id = rules.team_by_code.get(first.route_team) if first.route_team else None
    staff_id = first.route_caseworker_id
    if staff_id is not None:
        team_id = rules.team_of_staff.get(staff_id)
    team_code = rules.code_by_team.get(team_id) if team_id is not None else None
    return store.layered(*store.layers_for(active, staff_id=staff_id, team_id=team_id, team_code=team_code))[0]


def _team(rules: SiteRules, route_team: str | None, caseworker: int | None) -> int | None:
    if caseworker is not None:
        return rules.team_of_staff.get(caseworker)
    return rules.team_by_code.get(route_team) if route_team else None


def _days(start: datetime, received: datetime) -> float:
    return max((start - received).total_seconds(), 0.0) / DAY


def explanation_lines(raw: str) -> tuple[ExplanationLine, ...]:
    """A stored decision's explanation (its JSON text) as lines; () for none or a malformed one."""
    try:
        found = json.loads(raw) if raw else []
    except ValueError:
        return ()
    return tuple(ExplanationLine(e["field"], e["rule_id"], e["value"]) for e in found
                 if isinstance(e, Mapping) and all(isinstance(e.get(k), str) for k in ("field", "rule_id", "value")))


@dataclass(frozen=True, slots=True)
class _Outcome:
    """What the draft decides for one kind of request, whenever it came: all but the window."""

    route: tuple[str | None, int | None]
    team: int | None
    priority: int
    duration_s: int
    lead_time: int
    within: int
    follow_up: object
    explanation: tuple[ExplanationLine, ...]


_WORKDAYS = re.compile(r"(\d+) workdays?")


def _explained_workdays(decision: Decision, field: str) -> int:
    """lead_time / within in workdays, from the decision's explanation ("3 workdays", "2 workdays (raised …)")."""
    line = next(e for e in decision.explanation if e.field == field)
    found = _WORKDAYS.match(line.value)
    if found is None:
        raise ValueError(f"unexpected {field} {line.value!r}")
    return int(found.group(1))


def window(calendar: WorkCalendar, received: datetime, lead_time: int, within: int) -> tuple[datetime, datetime]:
    """earliest and latest start for a request received then, as decide() computes them."""
    earliest, latest = day_window(calendar, calendar.local_date(received), lead_time, within)
    return earliest or received.astimezone(UTC), latest


def day_window(calendar: WorkCalendar, day: date, lead_time: int, within: int) -> tuple[datetime | None, datetime]:
    """The window for every request received on a (local) day: earliest start (None: the moment it came, for a
    lead time of 0) and latest start, as decide() computes them."""
    start = calendar.day_start(day)
    earliest = None if lead_time == 0 else calendar.add_workdays(start, lead_time)
    last_day = calendar.local_date(calendar.add_workdays(start, within))
    return earliest, calendar.day_start(last_day + timedelta(days=1))


def _bound_starts(bounds: Sequence[Bounds]) -> list[int]:
    starts: set[int] = set()
    for b in bounds:
        starts |= {v for v in (b.lt, b.gte) if v is not None}
        starts |= {v + 1 for v in (b.lte, b.gt) if v is not None}
    return sorted(starts)


def _smallest_alike(starts: Sequence[int], value: int) -> int:
    """The smallest number every bound with these starts treats like `value`."""
    k = bisect_right(starts, value)
    return starts[k - 1] if k else min(value, 0)


class FactClasses:
    """Which facts the rule sets can tell apart. Requests that differ only in facts no condition distinguishes
    (an age between the same bounds, a language no rule names, the modes the client wished, which only narrow
    the modes and are not compared) are decided alike, so each class is replayed once."""

    def __init__(self, rulesets: Sequence[RuleSet]) -> None:
        conditions = [rule.when for ruleset in rulesets for rule in ruleset.rules]
        self.ages = _bound_starts([c.age for c in conditions if c.age is not None])
        self.no_shows = _bound_starts([c.no_shows for c in conditions if c.no_shows is not None])
        self.concerns = {v for c in conditions for v in c.concern or ()}
        self.channels = {v for c in conditions for v in c.channel or ()}
        self.languages = {v for c in conditions for v in c.language or ()}
        self.needs = frozenset(v for c in conditions for v in c.needs or ())

    def alike(self, p: PastRequest) -> RequestFacts:
        """Facts that every condition of the rule sets treats like the request's (the same for its whole class).

        Earlier no-shows are not replayed: taken as none."""
        return RequestFacts(
            kind=Kind.appointment, concern=p.concern if p.concern in self.concerns else _OTHER,
            channel=p.channel if p.channel in self.channels else _OTHER_CHANNEL,
            language=p.language if p.language in self.languages else _OTHER,
            age=None if p.age is None else _smallest_alike(self.ages, p.age), urgent=p.urgent,
            wished_modes=frozenset(), assigned_caseworker_id=p.assigned_caseworker_id, received_at=p.received_at,
            needs=p.needs & self.needs, invitation=p.invitation, no_shows=_smallest_alike(self.no_shows, 0))

    def key(self, p: PastRequest) -> tuple[object, ...]:
        """The class of a request, cheaply (what alike() keeps)."""
        return (p.concern if p.concern in self.concerns else _OTHER,
                p.channel if p.channel in self.channels else _OTHER,
                p.language if p.language in self.languages else _OTHER,
                None if p.age is None else _smallest_alike(self.ages, p.age), p.urgent, p.assigned_caseworker_id,
                p.needs & self.needs if p.needs else p.needs, p.invitation)


# A value no membership condition names (concern, channel, language are never empty).
_OTHER: Final = ""
_OTHER_CHANNEL: Final = cast(Channel, _OTHER)


def impact(past: Sequence[PastRequest], draft: Draft, rules: SiteRules, *, site_id: int, weeks: int,
           show: int = 200) -> Impact:
    """Replay every request through the draft and compare with its stored decision.

    What the policy decides but the window does not depend on when a request came, so each class of requests
    the rules cannot tell apart (FactClasses) is decided once, and each request gets its own window.
    """
    active = with_draft(rules.active, draft, site_id)
    classes = FactClasses([p.ruleset for p in (active.site, *active.teams.values(), *active.caseworkers.values())
                           if p is not None])
    outcomes: dict[tuple[object, ...], _Outcome] = {}
    windows: dict[tuple[date, int, int], tuple[datetime | None, datetime]] = {}
    calendar = rules.calendar
    counts = {"changed": 0, "routed": 0, "prioritised": 0, "timed": 0, "followed_up": 0}
    load: dict[int | None, list[int]] = {}  # team -> [before, after, before minutes, after minutes]
    days_before: list[float] = []
    days_after: list[float] = []
    rows: list[ChangedRow] = []
    for p in past:
        b = p.before
        key = classes.key(p)
        a = outcomes.get(key)
        if a is None:
            decision = replan(classes.alike(p), rules, active)
            a = outcomes[key] = _Outcome(
                route=(decision.route_team, decision.route_caseworker_id),
                team=_team(rules, decision.route_team, decision.route_caseworker_id), priority=decision.priority,
                duration_s=int(decision.duration.total_seconds()),
                lead_time=_explained_workdays(decision, "lead_time"), within=_explained_workdays(decision, "within"),
                follow_up=decision.follow_up.to_value() if decision.follow_up is not None else None,
                explanation=decision.explanation)
        received = p.received_at
        day_key = (p.day, a.lead_time, a.within)
        found = windows.get(day_key)
        if found is None:
            found = windows[day_key] = day_window(calendar, p.day, a.lead_time, a.within)
        earliest, latest = found[0] or received, found[1]
        routed = (b.route_team, b.route_caseworker_id) != a.route
        prioritised = b.priority != a.priority
        timed = (b.duration_s != a.duration_s or abs(b.earliest_start - earliest) > SAME_TIME
                 or abs(b.latest_start - latest) > SAME_TIME)
        followed_up = b.follow_up is not None and b.follow_up != a.follow_up
        before_team = _team(rules, b.route_team, b.route_caseworker_id)
        for team, index, minutes in ((before_team, 0, b.duration_s // 60), (a.team, 1, a.duration_s // 60)):
            entry = load.get(team)
            if entry is None:
                entry = load[team] = [0, 0, 0, 0]
            entry[index] += 1
            entry[index + 2] += minutes
        before_days, after_days = _days(b.earliest_start, received), _days(earliest, received)
        days_before.append(before_days)
        days_after.append(after_days)
        if not (routed or prioritised or timed or followed_up):
            continue
        counts["changed"] += 1
        counts["routed"] += routed
        counts["prioritised"] += prioritised
        counts["timed"] += timed
        counts["followed_up"] += followed_up
        if len(rows) < show:
            rows.append(ChangedRow(
                request_id=p.id, reference=p.reference, concern=p.concern, routed=routed, prioritised=prioritised,
                timed=timed, followed_up=followed_up, before_priority=b.priority, after_priority=a.priority,
                before_team=before_team, after_team=a.team, before_days=before_days, after_days=after_days,
                before_why=explanation_lines(b.explanation_json), after_why=a.explanation))
    teams = tuple(TeamLoad(team, *numbers) for team, numbers in sorted(load.items(), key=lambda t: (t[0] is None,
                                                                                                   t[0] or 0))
                  if numbers[0] != numbers[1] or numbers[2] != numbers[3])
    return Impact(total=len(past), teams=teams, rows=tuple(rows), weeks=weeks,
                  median_days_before=statistics.median(days_before) if days_before else None,
                  median_days_after=statistics.median(days_after) if days_after else None, **counts)
