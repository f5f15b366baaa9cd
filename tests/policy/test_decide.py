"""decide(): the first matching rule that sets a field wins, every field explained; what it derives is cached."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scheduler.policy import store
from scheduler.policy.decide import decide
from scheduler.policy.decision import ExplanationLine, RequestFacts
from scheduler.policy.parse import load_yaml
from scheduler.policy.rules import Channel, Kind, Mode, RuleSet
from scheduler.policy.workdays import WorkCalendar
from tests.policy.examples import CAL, NOW, RULES, at, facts, run, sources, wall


def test_defaults_when_no_rule_matches() -> None:
    d = run(facts(concern="other", assigned_caseworker_id=5))
    assert (d.priority, d.duration, d.route_team, d.route_caseworker_id) == (
        10,
        timedelta(minutes=30),
        None,
        5,
    )
    assert d.modes == (Mode.in_person, Mode.phone, Mode.video)
    assert (d.propose_count, d.auto_confirm) == (3, False)
    assert (d.retry_after, d.max_attempts) == (timedelta(minutes=90), 4)
    assert d.explanation == (
        ExplanationLine("priority", "defaults", "10"),
        ExplanationLine("route", "defaults", "assigned caseworker 5"),
        ExplanationLine("duration", "defaults", "30m"),
        ExplanationLine("lead_time", "defaults", "1 workday"),
        ExplanationLine("within", "defaults", "15 workdays"),
        ExplanationLine("modes", "defaults", "in_person, phone, video"),
        ExplanationLine("propose", "defaults", "3"),
        ExplanationLine("auto_confirm", "defaults", "false"),
        ExplanationLine("follow_up", "defaults", "task"),
        ExplanationLine("walk_in", "defaults", "false"),
    )
    assert d.summary() == "defaults: priority 10, assigned caseworker 5"


def test_first_matching_rule_wins_per_field() -> None:
    # no-money, young and money-phone all match; each field comes from the first that sets it.
    d = run(facts(concern="no_money", channel=Channel.phone, age=20))
    assert sources(d) == {
        "priority": ("no-money", "90"),
        "route": ("no-money", "team entrance"),
        "duration": ("no-money", "20m"),
        "lead_time": ("young", "2 workdays"),
        "within": ("no-money", "2 workdays (raised to lead_time)"),
        "modes": ("no-money", "in_person, phone"),
        "propose": ("money-phone", "5"),
        "auto_confirm": ("defaults", "false"),
        "follow_up": ("defaults", "task"),
        "walk_in": ("defaults", "false"),
    }
    assert (d.priority, d.route_team, d.propose_count) == (90, "entrance", 5)
    assert d.summary() == "no-money: priority 90, team entrance"


def test_rule_order_matters_for_a_later_match() -> None:
    d = run(facts(concern="general", age=20))
    assert (d.priority, d.route_team, d.duration) == (40, "u25", timedelta(minutes=45))
    assert d.summary() == "young: priority 40, team u25"


@pytest.mark.parametrize(
    ("concern", "assigned", "team", "caseworker", "source", "text"),
    [
        ("job_offer", 42, None, 42, "own-caseworker", "assigned caseworker 42"),
        # no assigned caseworker: own-caseworker is skipped, the next rule's route applies
        ("job_offer", None, None, 17, "fixed", "caseworker 17"),
        ("sanctions", 42, None, 17, "fixed", "caseworker 17"),
        ("general", 42, None, 42, "defaults", "assigned caseworker 42"),
        # defaults say "assigned" too; without one, the site's default team
        ("general", None, "general", None, "defaults", "team general (no assigned caseworker)"),
        ("no_money", 42, "entrance", None, "no-money", "team entrance"),
    ],
)
def test_route(
    concern: str, assigned: int | None, team: str | None, caseworker: int | None, source: str, text: str
) -> None:
    d = run(facts(concern=concern, assigned_caseworker_id=assigned))
    assert (d.route_team, d.route_caseworker_id) == (team, caseworker)
    assert sources(d)["route"] == (source, text)


@pytest.mark.parametrize(
    ("concern", "channel", "auto", "source"),
    [
        ("eservice_help", Channel.web, True, "eservice-help"),
        ("eservice_help", Channel.kiosk, True, "eservice-help"),  # the first rule setting it wins
        ("general", Channel.web, False, "defaults"),
    ],
)
def test_auto_confirm_only_from_rules(concern: str, channel: Channel, auto: bool, source: str) -> None:
    d = run(facts(concern=concern, channel=channel))
    assert d.auto_confirm is auto
    assert sources(d)["auto_confirm"][0] == source


def test_auto_confirm_false_from_an_earlier_rule_wins() -> None:
    rs = load_yaml("""
rules:
  - {id: off, when: {channel: kiosk}, then: {auto_confirm: false}}
  - {id: on, when: {concern: eservice_help}, then: {auto_confirm: true}}
""")
    d = decide(
        facts(concern="eservice_help", channel=Channel.kiosk), rs, now=NOW, calendar=CAL, default_team="g"
    )
    assert d.auto_confirm is False
    assert sources(d)["auto_confirm"] == ("off", "false")


@pytest.mark.parametrize(
    ("wished", "modes"),
    [
        (frozenset(), (Mode.in_person, Mode.phone)),
        (frozenset({Mode.phone, Mode.video}), (Mode.phone,)),
        (frozenset({Mode.video}), (Mode.in_person, Mode.phone)),  # nothing left: the rule's modes
        (frozenset(Mode), (Mode.in_person, Mode.phone)),
    ],
)
def test_modes_intersect_with_client_wish(wished: frozenset[Mode], modes: tuple[Mode, ...]) -> None:
    assert run(facts(concern="no_money", wished_modes=wished)).modes == modes


@pytest.mark.parametrize(
    ("kw", "earliest", "latest"),
    [
        # Wed 23 Dec: lead 1 -> Thu 24 (a workday in NI); 25/26 holidays, 27 Sunday.
        ({"concern": "no_money"}, date(2026, 12, 24), date(2026, 12, 24)),
        ({"concern": "general"}, date(2026, 12, 24), date(2027, 1, 15)),
        ({"concern": "general", "age": 20}, date(2026, 12, 28), date(2027, 1, 8)),
        # 3 workdays: 24, 28, 29 -> raised to lead_time 5: 24, 28, 29, 30, 31
        ({"concern": "training"}, date(2026, 12, 31), date(2026, 12, 31)),
    ],
)
def test_window_in_workdays_across_holidays(kw: dict[str, object], earliest: date, latest: date) -> None:
    d = run(facts(**kw))
    assert d.earliest_start == at(earliest.year, earliest.month, earliest.day)
    assert d.latest_start == at(latest.year, latest.month, latest.day) + timedelta(days=1)
    assert d.earliest_start.tzinfo is UTC


def test_lead_time_zero_starts_now() -> None:
    d = run(facts(concern="no_money", channel=Channel.phone))
    assert d.earliest_start == NOW


def test_window_over_a_weekend_and_new_year() -> None:
    friday = at(2027, 1, 1, 9)  # New Year's Day (holiday), a Friday
    d = run(facts(concern="no_money"), now=friday)
    assert wall(d.earliest_start) == "Mon 2027-01-04 00:00+0100"
    assert wall(d.latest_start) == "Tue 2027-01-05 00:00+0100"


def test_extra_closed_days_count_as_holidays() -> None:
    cal = WorkCalendar(extra_closed=frozenset({date(2026, 12, 24), date(2026, 12, 31)}))
    d = run(facts(concern="no_money"), calendar=cal)
    assert wall(d.earliest_start) == "Mon 2026-12-28 00:00+0100"


# ------------------------------------------------------------------------------ the cache of decide()

DEMO = load_yaml((Path(__file__).resolve().parents[2] / "scheduler" / "demo" / "policy-site.yaml").read_text())
TEAM = load_yaml("""
rules:
  - id: late
    when: {age: {gte: 60}}
    then: {lead_time: 5, modes: [phone], auto_confirm: true}
  - id: short
    when: {urgent: false, language: [de]}
    then: {within: 3}
  - id: mine
    when: {kind: [callback], language: [uk, ar]}
    then: {route: {caseworker: 7}, propose: 1}
defaults: {lead_time: 0, within: 8}
""")
SITE = store.StoredPolicy(1, 1, store.Scope.site, None, None, 1, store.PolicyStatus.active, RULES, "", None,
                          datetime(2026, 1, 1, tzinfo=UTC), None)
TEAM_POLICY = dataclasses.replace(SITE, id=2, scope=store.Scope.team, team_id=3, ruleset=TEAM)
RULESETS = [RULES, DEMO, TEAM, store.layered(("u25", TEAM_POLICY), ("site", SITE))[0]]

any_facts = st.builds(
    RequestFacts,
    kind=st.sampled_from(list(Kind)),
    concern=st.sampled_from(["no_money", "eviction", "eservice_help", "job_offer", "general", "integration_advice"]),
    channel=st.sampled_from(list(Channel)),
    language=st.sampled_from(["de", "uk", "ar", "en"]),
    age=st.none() | st.integers(14, 90),
    urgent=st.booleans(),
    wished_modes=st.frozensets(st.sampled_from(list(Mode))),
    assigned_caseworker_id=st.none() | st.integers(1, 3),
    received_at=st.datetimes(datetime(2026, 1, 1), datetime(2027, 12, 31), timezones=st.just(UTC)),
)


@settings(max_examples=1500, deadline=None)
@given(st.sampled_from(RULESETS), any_facts, st.datetimes(datetime(2026, 1, 1), datetime(2027, 12, 31), timezones=st.just(UTC)),
       st.sampled_from(["entrance", "u25"]))
def test_a_known_rule_set_decides_like_a_fresh_one(ruleset: RuleSet, facts: RequestFacts, now: datetime, team: str) -> None:
    fresh = dataclasses.replace(ruleset)  # a new object: nothing is known about it yet
    assert fresh is not ruleset
    expected = decide(facts, fresh, now=now, calendar=CAL, default_team=team)
    assert decide(facts, ruleset, now=now, calendar=CAL, default_team=team) == expected


def test_layering_the_same_policies_again_gives_the_same_rule_set() -> None:
    first = store.layered(("u25", TEAM_POLICY), ("site", SITE))
    assert store.layered(("u25", TEAM_POLICY), ("site", SITE)) == first
    assert store.layered(("u26", TEAM_POLICY), ("site", SITE))[0].rules[0].id == "u26:late"
    assert store.layered(("site", SITE), ("u25", TEAM_POLICY))[0].rules[0].id == RULES.rules[0].id
