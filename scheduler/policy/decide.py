"""decide(): which rules apply to a request, and what they set, each field explained by its source."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any, Final

from scheduler.policy.decision import DEFAULTS_SOURCE, Decision, ExplanationLine, RequestFacts
from scheduler.policy.rules import (
    Channel,
    Condition,
    Defaults,
    Kind,
    Mode,
    Need,
    Route,
    Rule,
    RuleSet,
    format_duration,
    format_workdays,
)
from scheduler.policy.workdays import WorkCalendar

# Stands in for the window in what is cached per rule set and facts; decide() puts in the real one.
_NO_WINDOW: Final = datetime(1970, 1, 1, tzinfo=UTC)


def decide(
    facts: RequestFacts, ruleset: RuleSet, *, now: datetime, calendar: WorkCalendar, default_team: str
) -> Decision:
    """Apply rules in order, first matching rule that sets a field wins; explain every field."""
    fixed = _fixed_part(
        ruleset, default_team, facts.kind, facts.concern, facts.channel, facts.language, facts.age, facts.urgent,
        facts.wished_modes, facts.assigned_caseworker_id, facts.needs, facts.invitation, facts.no_shows,
        facts.groups,
    )
    earliest = now.astimezone(UTC) if fixed.lead_time == 0 else calendar.add_workdays(now, fixed.lead_time)
    # "within N workdays": the N-th workday after today is the last allowed day.
    last_day = calendar.local_date(calendar.add_workdays(now, fixed.within))
    latest = calendar.day_start(last_day + timedelta(days=1))
    d = fixed.decision
    return Decision(
        kind=d.kind,
        route_team=d.route_team,
        route_caseworker_id=d.route_caseworker_id,
        priority=d.priority,
        duration=d.duration,
        earliest_start=earliest,
        latest_start=latest,
        modes=d.modes,
        propose_count=d.propose_count,
        auto_confirm=d.auto_confirm,
        retry_after=d.retry_after,
        max_attempts=d.max_attempts,
        explanation=d.explanation,
        follow_up=d.follow_up,
        walk_in=d.walk_in,
    )


@dataclass(frozen=True, slots=True)
class _Fixed:
    decision: Decision  # its earliest_start and latest_start are placeholders
    lead_time: int
    within: int


# Rule sets are immutable and hash once, and all but the window depends only on them and the facts (not on
# `now` nor on when the request came), so intake's decide() on every request is a cache lookup.
@lru_cache(maxsize=16_384)
def _fixed_part(
    ruleset: RuleSet, default_team: str, kind: Kind, concern: str, channel: Channel, language: str, age: int | None,
    urgent: bool, wished_modes: frozenset[Mode], assigned_caseworker_id: int | None, needs: frozenset[Need],
    invitation: bool, no_shows: int, groups: frozenset[str],
) -> _Fixed:
    facts = RequestFacts(kind, concern, channel, language, age, urgent, wished_modes, assigned_caseworker_id,
                         _NO_WINDOW, needs, invitation, no_shows, groups)
    return _derive(facts, ruleset, default_team)


def _matches(w: Condition, facts: RequestFacts) -> bool:
    return (
        (w.concern is None or facts.concern in w.concern)
        and (w.channel is None or facts.channel in w.channel)
        and (w.language is None or facts.language in w.language)
        and (w.kind is None or facts.kind in w.kind)
        and (w.age is None or (facts.age is not None and w.age.contains(facts.age)))
        and (w.urgent is None or facts.urgent == w.urgent)
        and (w.needs is None or not facts.needs.isdisjoint(w.needs))
        and (w.invitation is None or facts.invitation == w.invitation)
        and (w.no_shows is None or w.no_shows.contains(facts.no_shows))
        and (w.groups is None or not facts.groups.isdisjoint(w.groups))
    )


@dataclass(frozen=True, slots=True)
class _Inputs:
    facts: RequestFacts
    matched: Sequence[Rule]
    defaults: Defaults
    default_team: str


# A field's value, the rule id (or "defaults") it came from, and its explanation text.
_Choice = tuple[Any, str, str]
# How one field is chosen, given the inputs, the field name and the values chosen for the fields before it.
_Choose = Callable[[_Inputs, str, dict[str, Any]], _Choice]


def _first_set(inputs: _Inputs, name: str) -> tuple[Any, str]:
    """The value of the first matching rule that sets the field, else the default."""
    for r in inputs.matched:
        v = getattr(r.then, name)
        if v is not None:
            return v, r.id
    return getattr(inputs.defaults, name), DEFAULTS_SOURCE


def _shown_as(show: Callable[[Any], str]) -> _Choose:
    def choose(inputs: _Inputs, name: str, chosen: dict[str, Any]) -> _Choice:
        value, src = _first_set(inputs, name)
        return value, src, show(value)

    return choose


def _route(inputs: _Inputs, name: str, chosen: dict[str, Any]) -> _Choice:
    # Not just the first route set: an "assigned caseworker" route passes on when the client has none.
    candidates = [(r.id, r.then.route) for r in inputs.matched if r.then.route is not None]
    team, caseworker, src, text = _resolve_route(
        [*candidates, (DEFAULTS_SOURCE, inputs.defaults.route)], inputs.facts.assigned_caseworker_id,
        inputs.default_team,
    )
    return (team, caseworker), src, text


def _within(inputs: _Inputs, name: str, chosen: dict[str, Any]) -> _Choice:
    within, src = _first_set(inputs, name)
    lead_time = chosen["lead_time"]
    if within < lead_time:
        # Validation checks each rule against the defaults; two different rules can still
        # combine into an empty window, so widen it rather than propose nothing.
        return lead_time, src, f"{format_workdays(lead_time)} (raised to lead_time)"
    return within, src, format_workdays(within)


def _modes(inputs: _Inputs, name: str, chosen: dict[str, Any]) -> _Choice:
    rule_modes, src = _first_set(inputs, name)
    narrowed = tuple(m for m in rule_modes if m in inputs.facts.wished_modes)
    modes = narrowed or rule_modes
    note = " (client's wish)" if narrowed and narrowed != rule_modes else ""
    return modes, src, ", ".join(modes) + note


def _switch(inputs: _Inputs, name: str, chosen: dict[str, Any]) -> _Choice:
    value, src = _first_set(inputs, name)
    return value is True, src, "true" if value else "false"


# The explained fields in explanation order; a field may use the values of the fields before it.
_FIELDS: Final[tuple[tuple[str, _Choose], ...]] = (
    ("priority", _shown_as(str)),
    ("route", _route),
    ("duration", _shown_as(format_duration)),
    ("lead_time", _shown_as(format_workdays)),
    ("within", _within),
    ("modes", _modes),
    ("propose", _shown_as(str)),
    ("auto_confirm", _switch),
    ("follow_up", _shown_as(str)),  # after a no-show, or a callback that ends unreachable
    ("walk_in", _switch),
)


def _derive(facts: RequestFacts, ruleset: RuleSet, default_team: str) -> _Fixed:
    inputs = _Inputs(facts, [r for r in ruleset.rules if _matches(r.when, facts)], ruleset.defaults, default_team)
    chosen: dict[str, Any] = {}
    lines: list[ExplanationLine] = []
    for name, choose in _FIELDS:
        value, src, text = choose(inputs, name, chosen)
        chosen[name] = value
        lines.append(ExplanationLine(name, src, text))
    route_team, route_caseworker_id = chosen["route"]
    decision = Decision(
        kind=facts.kind,
        route_team=route_team,
        route_caseworker_id=route_caseworker_id,
        priority=chosen["priority"],
        duration=chosen["duration"],
        earliest_start=facts.received_at,
        latest_start=facts.received_at,
        modes=chosen["modes"],
        propose_count=chosen["propose"],
        auto_confirm=chosen["auto_confirm"],
        retry_after=ruleset.callbacks.retry_after,
        max_attempts=ruleset.callbacks.max_attempts,
        explanation=tuple(lines),
        follow_up=chosen["follow_up"],
        walk_in=chosen["walk_in"],
    )
    return _Fixed(decision, chosen["lead_time"], chosen["within"])


def _resolve_route(
    candidates: Sequence[tuple[str, Route]], assigned: int | None, default_team: str
) -> tuple[str | None, int | None, str, str]:
    for src, route in candidates:
        if route.team is not None:
            return route.team, None, src, f"team {route.team}"
        if route.caseworker_id is not None:
            return None, route.caseworker_id, src, f"caseworker {route.caseworker_id}"
        if assigned is not None:
            return None, assigned, src, f"assigned caseworker {assigned}"
    return default_team, None, DEFAULTS_SOURCE, f"team {default_team} (no assigned caseworker)"
