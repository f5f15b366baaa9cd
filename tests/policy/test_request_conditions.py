"""The conditions on needs, invitation and earlier no-shows, and the walk-in outcome (issue 16)."""

from __future__ import annotations

import pytest

from scheduler.policy.decide import decide
from scheduler.policy.decision import Decision
from scheduler.policy.parse import dump_yaml, load_yaml, parse_ruleset
from scheduler.policy.rules import Bounds, Condition, Need, RuleOutcome, RuleSetInvalid
from tests.policy.examples import CAL, NOW, facts, sources

RULES = load_yaml("""
rules:
  - id: interpreter
    when: {needs: [interpreter, sign_language]}
    then: {duration: 45m}
  - id: invited
    when: {invitation: true}
    then: {priority: 60}
  - id: often-absent
    when: {no_shows: {gte: 2}}
    then: {modes: [phone], walk_in: true}
  - id: own-request
    when: {invitation: false, no_shows: {lt: 1}}
    then: {priority: 30}
""")


def run(**kw: object) -> Decision:
    return decide(facts(**kw), RULES, now=NOW, calendar=CAL, default_team="general")


def test_needs_match_when_the_request_has_any_of_them() -> None:
    assert sources(run(needs=frozenset({Need.sign_language, Need.step_free})))["duration"] == ("interpreter", "45m")
    assert sources(run(needs=frozenset({Need.step_free})))["duration"] == ("defaults", "30m")
    assert sources(run())["duration"] == ("defaults", "30m")


@pytest.mark.parametrize(("invitation", "no_shows", "priority", "source"), [
    (True, 0, 60, "invited"),
    (False, 0, 30, "own-request"),
    (False, 1, 10, "defaults"),  # own request, but an earlier no-show
])
def test_invitation_and_no_shows(invitation: bool, no_shows: int, priority: int, source: str) -> None:
    d = run(invitation=invitation, no_shows=no_shows)
    assert d.priority == priority
    assert sources(d)["priority"][0] == source


def test_no_show_bounds_and_walk_in() -> None:
    often = run(no_shows=2)
    assert (often.walk_in, often.modes) == (True, ("phone",))
    assert sources(often)["walk_in"] == ("often-absent", "true")
    once = run(no_shows=1)
    assert once.walk_in is False
    assert sources(once)["walk_in"] == ("defaults", "false")


def test_the_cache_tells_the_new_facts_apart() -> None:
    # Same other facts, decided one after another: the cached part must not be reused across them.
    assert [run(no_shows=n).walk_in for n in (0, 3, 0, 3)] == [False, True, False, True]
    assert [run(invitation=i).priority for i in (True, False, True)] == [60, 30, 60]
    assert [run(needs=n).duration.seconds // 60 for n in (frozenset({Need.interpreter}), frozenset())] == [45, 30]


def test_walk_in_is_stored_with_the_decision() -> None:
    d = run(no_shows=5)
    assert Decision.from_json(d.to_json()) == d
    older = {k: v for k, v in d.to_json().items() if k != "walk_in"}
    assert Decision.from_json(older).walk_in is False


def test_round_trip() -> None:
    rule = RULES.rules[2]
    assert rule.when == Condition(no_shows=Bounds(gte=2))
    assert rule.then == RuleOutcome(modes=rule.then.modes, walk_in=True)
    assert RULES.rules[0].when.needs == (Need.interpreter, Need.sign_language)
    assert parse_ruleset(RULES.to_dict()) == RULES
    assert load_yaml(dump_yaml(RULES)) == RULES
    assert RULES.to_dict()["rules"][1]["when"] == {"invitation": True}  # type: ignore[index]


def _problems(text: str) -> dict[str, str]:
    with pytest.raises(RuleSetInvalid) as e:
        load_yaml(text)
    return {err.path: err.code for err in e.value.errors}


def test_field_level_errors() -> None:
    problems = _problems("""
rules:
  - id: a
    when: {needs: [interpreter, telepathy], invitation: maybe, no_shows: {gte: -1, about: 2}}
    then: {walk_in: "yes"}
  - id: b
    when: {no_shows: {}}
    then: {priority: 1}
defaults: {walk_in: true}
""")
    assert problems == {
        "rules[0] (a).when.needs": "bad-value",
        "rules[0] (a).when.invitation": "bad-type",
        "rules[0] (a).when.no_shows.about": "unknown-field",
        "rules[0] (a).when.no_shows.gte": "out-of-range",
        "rules[0] (a).then.walk_in": "bad-type",
        "rules[1] (b).when.no_shows": "empty",
        "defaults.walk_in": "walk-in-in-defaults",
    }


def test_walk_in_false_in_defaults_is_fine() -> None:
    assert load_yaml("rules: []\ndefaults: {walk_in: false}").defaults.walk_in is False
