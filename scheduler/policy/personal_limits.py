"""What a team allows its caseworkers to decide for themselves, and the check that personal settings stay
inside it: a caseworker may narrow the team's rules (fewer modes, a lower cap, more notice), never widen them."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from scheduler.policy.decide import decide
from scheduler.policy.decision import RequestFacts
from scheduler.policy.personal import PersonalError, PersonalInvalid, PersonalSettings
from scheduler.policy.rules import Channel, Condition, Kind, Mode, RuleSet
from scheduler.policy.workdays import WorkCalendar

_SOME_DAY = datetime(2026, 1, 5, 9, tzinfo=UTC)  # the window does not matter for modes


@dataclass(frozen=True, slots=True)
class TeamLimits:
    """The team's caps, notice and per-concern modes, as its layered rule set (team over site) has them."""

    appointments_cap: int
    callbacks_cap: int
    lead_time: int  # workdays, the team's default
    within: int  # workdays, the team's default
    concerns: tuple[str, ...]  # the concerns the team takes, in the site's order
    modes: Mapping[str, tuple[Mode, ...]]  # per concern the team takes: the modes its rules allow


def _routed_elsewhere(ruleset: RuleSet, concern: str, team_code: str) -> bool:
    """Whether a rule that tests nothing but the concern routes it to another team."""
    for rule in ruleset.rules:
        when, route = rule.when, rule.then.route
        if route is None or when.concern is None or concern not in when.concern:
            continue
        if dataclasses.replace(when, concern=None) != Condition():
            continue  # it routes only some requests about the concern (say, the under-25s)
        return route.team is not None and route.team != team_code
    return False


def team_limits(ruleset: RuleSet, *, team_code: str, concerns: Sequence[tuple[str, tuple[str, ...]]],
                calendar: WorkCalendar) -> TeamLimits:
    """The limits of a team from its layered rule set and the site's (code, modes) concerns.

    A concern's allowed modes are what the rules give an ordinary request about it (the concern's own modes,
    where the office set some, narrow them further).
    """
    taken = tuple(code for code, _ in concerns if not _routed_elsewhere(ruleset, code, team_code))
    modes: dict[str, tuple[Mode, ...]] = {}
    for code, concern_modes in concerns:
        if code not in taken:
            continue
        facts = RequestFacts(kind=Kind.appointment, concern=code, channel=Channel.web, language="de", age=None,
                             urgent=False, wished_modes=frozenset(Mode), assigned_caseworker_id=None,
                             received_at=_SOME_DAY)
        decided = decide(facts, ruleset, now=_SOME_DAY, calendar=calendar, default_team=team_code).modes
        modes[code] = tuple(m for m in decided if not concern_modes or m in concern_modes) or decided
    d = ruleset.defaults
    return TeamLimits(appointments_cap=ruleset.caps.appointments_per_caseworker_per_day,
                      callbacks_cap=ruleset.caps.callbacks_per_caseworker_per_day,
                      lead_time=d.lead_time, within=d.within, concerns=taken, modes=modes)


def _numbers(settings: PersonalSettings, limits: TeamLimits) -> list[PersonalError]:
    errors: list[PersonalError] = []
    for name, own, team in (("appointments_cap", settings.appointments_cap, limits.appointments_cap),
                            ("callbacks_cap", settings.callbacks_cap, limits.callbacks_cap)):
        if own is not None and own > team:
            errors.append(PersonalError(name, "above-team-cap", {"team": str(team), "got": str(own)}))
    if settings.lead_time is not None and settings.lead_time < limits.lead_time:
        errors.append(PersonalError("lead_time", "below-team-lead-time",
                                    {"team": str(limits.lead_time), "got": str(settings.lead_time)}))
    elif settings.lead_time is not None and settings.lead_time > limits.within:
        errors.append(PersonalError("lead_time", "beyond-team-within",
                                    {"team": str(limits.within), "got": str(settings.lead_time)}))
    return errors


def _concerns(settings: PersonalSettings, limits: TeamLimits) -> list[PersonalError]:
    errors: list[PersonalError] = []
    for code, modes in settings.modes:
        allowed = limits.modes.get(code)
        if allowed is None:
            errors.append(PersonalError(f"modes.{code}", "concern-not-taken", {"concern": code}))
            continue
        extra = [m for m in modes if m not in allowed]
        if extra:
            errors.append(PersonalError(f"modes.{code}", "mode-not-allowed", {
                "concern": code, "allowed": ", ".join(allowed), "got": ", ".join(extra)}))
    errors += [PersonalError(f"take.{code}", "concern-not-taken", {"concern": code})
               for code in settings.concerns or () if code not in limits.concerns]
    if settings.concerns is not None and not settings.concerns:
        errors.append(PersonalError("concerns", "no-concern"))
    return errors


def widening(settings: PersonalSettings, limits: TeamLimits) -> tuple[PersonalError, ...]:
    """Every place where the settings would go beyond what the team allows."""
    return (*_numbers(settings, limits), *_concerns(settings, limits))


def check(settings: PersonalSettings, limits: TeamLimits) -> PersonalSettings:
    """The settings as they are, or PersonalInvalid where they widen the team's rules."""
    errors = widening(settings, limits)
    if errors:
        raise PersonalInvalid(errors)
    return settings
