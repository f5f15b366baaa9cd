"""preview_replay.py, pure: the fast replay (one decision per kind of request, a window per request) agrees with
deciding every request in full, as planning does."""

from __future__ import annotations

import dataclasses
import random
from datetime import UTC, datetime, timedelta

import pytest

from scheduler.policy import decide as decide_module
from scheduler.policy import store
from scheduler.policy.decision import RequestFacts
from scheduler.policy.parse import load_yaml
from scheduler.policy.rules import Channel, Kind, Mode, Need
from scheduler.preview_replay import (
    Before,
    Draft,
    FactClasses,
    PastRequest,
    SiteRules,
    _explained_workdays,
    impact,
    past_request,
    replan,
    window,
)
from scheduler.sites import _calendar
from tests.dbharness import PROJECT_DIR

SITE_POLICY = (PROJECT_DIR / "scheduler" / "demo" / "policy-site.yaml").read_text()
CALENDAR = _calendar("Europe/Berlin", "DE-NI")
NOW = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
CONCERNS = ("general", "no_money", "eviction", "integration_advice", "eservice_help")
AGE_RULES = """rules:
  - {id: young, when: {age: {lt: 25}}, then: {priority: 40}}
  - {id: teen, when: {age: {lte: 17}}, then: {priority: 60}}
  - {id: old, when: {age: {gt: 60}}, then: {duration: 45m}}
  - {id: mid, when: {age: {gte: 40, lt: 50}}, then: {lead_time: 3 workdays}}
"""
MIXED_RULES = """rules:
  - {id: interpreter, when: {needs: [interpreter]}, then: {duration: 60m}}
  - {id: kiosk-ar, when: {channel: [kiosk], language: [ar]}, then: {priority: 70}}
  - {id: invited, when: {invitation: true}, then: {lead_time: 4 workdays}}
  - {id: money, when: {concern: [no_money], urgent: true}, then: {route: {team: u25}}}
"""


BEFORE = Before(10, None, None, 1800, NOW, NOW, "task", "[]")


@pytest.fixture(autouse=True)
def _empty_decide_cache() -> None:
    decide_module._fixed_part.cache_clear()


def _site_rules(text: str) -> SiteRules:
    policy = store.StoredPolicy(1, 1, store.Scope.site, None, None, 1, store.PolicyStatus.active, load_yaml(text), "",
                                None, NOW, NOW)
    return SiteRules(active=store.ActivePolicies(site=policy, teams={}, caseworkers={}),
                     team_by_code={"entrance": 1, "u25": 2, "placement": 3},
                     code_by_team={1: "entrance", 2: "u25", 3: "placement"}, default_team="entrance",
                     team_of_staff={i: 1 + i % 3 for i in range(1, 7)}, calendar=CALENDAR)


def _facts(rng: random.Random) -> RequestFacts:
    return RequestFacts(
        kind=Kind.appointment, concern=rng.choice(CONCERNS), channel=rng.choice(list(Channel)),
        language=rng.choice(("de", "en", "ar")), age=rng.choice((None, *range(14, 75))), urgent=rng.random() < 0.1,
        wished_modes=frozenset(rng.sample(list(Mode), rng.randint(1, 3))),
        assigned_caseworker_id=rng.choice((None, 1, 2, 5)),
        received_at=NOW - timedelta(seconds=rng.randint(0, 30 * 86_400)),
        needs=frozenset(rng.sample(list(Need), rng.choice((0, 0, 1, 2)))), invitation=rng.random() < 0.2)


def _past(rules: SiteRules, rng: random.Random, n: int) -> list[PastRequest]:
    past = []
    for i in range(n):
        f = _facts(rng)
        d = replan(f, rules, rules.active)
        past.append(past_request(i, f"R{i}", f, Before(
            d.priority, d.route_team, d.route_caseworker_id, int(d.duration.total_seconds()), d.earliest_start,
            d.latest_start, d.follow_up.to_value() if d.follow_up else None, "[]"), CALENDAR))
    return past


def test_the_window_is_the_one_decide_computes() -> None:
    rules, rng = _site_rules(SITE_POLICY), random.Random(3)
    for _ in range(300):
        f = _facts(rng)
        d = replan(f, rules, rules.active)
        lead, within = _explained_workdays(d, "lead_time"), _explained_workdays(d, "within")
        assert window(CALENDAR, f.received_at, lead, within) == (d.earliest_start, d.latest_start)


@pytest.mark.parametrize("policy", [SITE_POLICY, AGE_RULES, MIXED_RULES])
def test_facts_no_rule_tells_apart_decide_the_same(policy: str) -> None:
    rules = _site_rules(policy)
    by_age = FactClasses([load_yaml(AGE_RULES)])
    f = _facts(random.Random(1))
    assert [by_age.alike(past_request(1, "R", dataclasses.replace(f, age=a), BEFORE, CALENDAR)).age
            for a in (None, 3, 17, 18, 24, 25, 39, 40, 49, 50, 60, 61, 90)] == \
        [None, 0, 0, 18, 18, 25, 25, 40, 40, 50, 50, 61, 61]
    classes = FactClasses([load_yaml(policy)])
    rng = random.Random(5)
    for _ in range(300):
        f = _facts(rng)
        full = replan(f, rules, rules.active)
        past = past_request(1, "R", f, BEFORE, CALENDAR)
        by_class = replan(classes.alike(past), rules, rules.active)
        assert (full.priority, full.duration, full.route_team, full.route_caseworker_id, full.follow_up) == \
            (by_class.priority, by_class.duration, by_class.route_team, by_class.route_caseworker_id, by_class.follow_up)
        assert [line.field for line in full.explanation] == [line.field for line in by_class.explanation]
        assert [(line.rule_id, line.value) for line in full.explanation if line.field != "modes"] == \
            [(line.rule_id, line.value) for line in by_class.explanation if line.field != "modes"]
        assert classes.key(past) == classes.key(past_request(2, "S", classes.alike(past), BEFORE, CALENDAR))


@pytest.mark.parametrize("policy", [SITE_POLICY, AGE_RULES, MIXED_RULES])
def test_the_active_rules_replayed_change_nothing(policy: str) -> None:
    rules = _site_rules(policy)
    past = _past(rules, random.Random(7), 500)
    found = impact(past, Draft(load_yaml(policy), store.Scope.site), rules, site_id=1, weeks=4)
    assert (found.total, found.changed, found.teams) == (500, 0, ())
    assert found.median_days_change == 0


def test_a_changed_age_rule_counts_exactly_the_requests_it_touches() -> None:
    rules = _site_rules(AGE_RULES)
    past = _past(rules, random.Random(11), 500)
    found = impact(past, Draft(load_yaml(AGE_RULES.replace("priority: 40", "priority: 45")), store.Scope.site),
                   rules, site_id=1, weeks=4, show=1000)
    expected = {p.id for p in past if p.age is not None and p.age < 25}  # "young" is tried first
    assert {r.request_id for r in found.rows} == expected
    assert found.prioritised == found.changed == len(expected) and found.timed == found.routed == 0
    assert all((r.before_priority, r.after_priority) == (40, 45) for r in found.rows)
