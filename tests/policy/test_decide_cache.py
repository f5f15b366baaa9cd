"""decide() keeps what it derives from a rule set and the facts; a fresh rule set object must give the same decision."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from scheduler.policy import store
from scheduler.policy.engine import RequestFacts, decide
from scheduler.policy.rules import Channel, Kind, Mode, RuleSet, load_yaml
from scheduler.policy.workdays import WorkCalendar
from tests.policy.test_engine import RULES

CALENDAR = WorkCalendar()
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

facts = st.builds(
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
@given(st.sampled_from(RULESETS), facts, st.datetimes(datetime(2026, 1, 1), datetime(2027, 12, 31), timezones=st.just(UTC)),
       st.sampled_from(["entrance", "u25"]))
def test_a_known_rule_set_decides_like_a_fresh_one(ruleset: RuleSet, facts: RequestFacts, now: datetime, team: str) -> None:
    fresh = dataclasses.replace(ruleset)  # a new object: nothing is known about it yet
    assert fresh is not ruleset
    expected = decide(facts, fresh, now=now, calendar=CALENDAR, default_team=team)
    assert decide(facts, ruleset, now=now, calendar=CALENDAR, default_team=team) == expected


def test_layering_the_same_policies_again_gives_the_same_rule_set() -> None:
    first = store.layered(("u25", TEAM_POLICY), ("site", SITE))
    assert store.layered(("u25", TEAM_POLICY), ("site", SITE)) == first
    assert store.layered(("u26", TEAM_POLICY), ("site", SITE))[0].rules[0].id == "u26:late"
    assert store.layered(("site", SITE), ("u25", TEAM_POLICY))[0].rules[0].id == RULES.rules[0].id
