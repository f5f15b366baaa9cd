"""The customer group condition (issue 16): a rule matches when the client is in any listed group; parsing,
round trip, problems at the field, and decide()'s cache telling groups apart."""

from __future__ import annotations

import pytest

from scheduler.policy.decide import decide
from scheduler.policy.decision import Decision
from scheduler.policy.parse import dump_yaml, load_yaml, parse_ruleset
from scheduler.policy.rules import Condition, RuleError, RuleSetInvalid
from tests.policy.examples import CAL, NOW, facts, sources

RULES = load_yaml("""
rules:
  - id: single-parents
    when: {groups: [alleinerziehend, reha]}
    then: {priority: 70, modes: [phone, video]}
  - id: top-up-u25
    when: {groups: aufstocker, age: {lt: 25}}
    then: {priority: 50}
""")


def run(groups: frozenset[str] = frozenset(), **kw: object) -> Decision:
    return decide(facts(groups=groups, **kw), RULES, now=NOW, calendar=CAL, default_team="general")


@pytest.mark.parametrize(("groups", "priority", "source"), [
    (frozenset({"alleinerziehend"}), 70, "single-parents"),
    (frozenset({"reha", "other"}), 70, "single-parents"),  # any of the listed groups
    (frozenset({"other"}), 10, "defaults"),
    (frozenset(), 10, "defaults"),  # a client in no group (a new client): no group rule matches
])
def test_a_rule_matches_a_client_in_any_listed_group(groups: frozenset[str], priority: int, source: str) -> None:
    d = run(groups)
    assert (d.priority, sources(d)["priority"][0]) == (priority, source)


def test_groups_combine_with_the_other_conditions() -> None:
    assert run(frozenset({"aufstocker"}), age=22).priority == 50
    assert run(frozenset({"aufstocker"}), age=40).priority == 10


def test_the_cache_tells_groups_apart() -> None:
    # Same other facts one after another: decide()'s cached part is keyed by the groups too.
    seq = [frozenset({"reha"}), frozenset(), frozenset({"reha"}), frozenset({"x"}), frozenset({"alleinerziehend"})]
    assert [run(g).priority for g in seq] == [70, 10, 70, 10, 70]


def test_parse_and_round_trip() -> None:
    assert RULES.rules[0].when == Condition(groups=("alleinerziehend", "reha"))
    assert RULES.rules[1].when.groups == ("aufstocker",)  # a single value is a list of one
    assert RULES.to_dict()["rules"][0]["when"] == {"groups": ["alleinerziehend", "reha"]}  # type: ignore[index]
    assert parse_ruleset(RULES.to_dict()) == RULES
    assert load_yaml(dump_yaml(RULES)) == RULES
    assert load_yaml("rules: [{id: a, when: {groups: [reha, reha]}, then: {priority: 1}}]").rules[0].when.groups \
        == ("reha",)


def _problems(text: str) -> list[RuleError]:
    with pytest.raises(RuleSetInvalid) as e:
        load_yaml(text)
    return list(e.value.errors)


@pytest.mark.parametrize("value", ['["Alleinerziehend"]', "[a]", "[reha, 7]", '["x y"]', "[{a: 1}]",
                                   '["' + "a" * 41 + '"]'])
def test_a_code_of_the_wrong_shape_is_a_field_error(value: str) -> None:
    (problem,) = _problems(f"rules: [{{id: g, when: {{groups: {value}}}, then: {{priority: 1}}}}]")
    assert (problem.path, problem.code, problem.params["field"], problem.params["rule"]) == (
        "rules[0] (g).when.groups", "bad-code", "when.groups", "g")
    assert "Rule 'g', field 'when.groups'" in problem.message


def test_empty_and_oversized_group_lists_are_refused() -> None:
    assert [p.code for p in _problems("rules: [{id: g, when: {groups: []}, then: {priority: 1}}]")] == ["empty"]
    many = "[" + ", ".join(f"g{i:03d}" for i in range(101)) + "]"
    assert [p.code for p in _problems(f"rules: [{{id: g, when: {{groups: {many}}}, then: {{priority: 1}}}}]")] \
        == ["too-many"]
