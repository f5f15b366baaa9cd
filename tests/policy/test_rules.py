"""The rule-set model: routes, age ranges, formatting, the YAML shape of each part, and RuleSet as a cache key."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from scheduler.policy.rules import (
    AgeRange,
    CallbackPolicy,
    Caps,
    Condition,
    Defaults,
    Kind,
    Mode,
    Ordering,
    Route,
    Rule,
    RuleError,
    RuleOutcome,
    RuleSet,
    RuleSetInvalid,
    TieBreak,
    format_duration,
    format_workdays,
)


@pytest.mark.parametrize("kw", [{}, {"team": "a", "assigned": True}, {"team": "a", "caseworker_id": 3},
                                {"caseworker_id": 3, "assigned": True}])
def test_a_route_needs_exactly_one_target(kw: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        Route(**kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("route", "shape", "text"),
    [
        (Route(team="u25"), {"team": "u25"}, "team u25"),
        (Route(caseworker_id=7), {"caseworker": 7}, "caseworker 7"),
        (Route(assigned=True), {"caseworker": "assigned"}, "assigned caseworker"),
    ],
)
def test_route_shape_and_text(route: Route, shape: dict[str, object], text: str) -> None:
    assert route.to_dict() == shape
    assert str(route) == text


@pytest.mark.parametrize(
    ("bounds", "inside", "outside"),
    [
        ({"lt": 25}, [0, 24], [25, 90]),
        ({"lte": 25}, [25], [26]),
        ({"gt": 60}, [61], [60, 0]),
        ({"gte": 60}, [60, 99], [59]),
        ({"gte": 18, "lt": 25}, [18, 24], [17, 25]),
    ],
)
def test_age_range_contains_every_bound(bounds: dict[str, int], inside: list[int], outside: list[int]) -> None:
    rng = AgeRange(**bounds)
    assert all(rng.contains(a) for a in inside)
    assert not any(rng.contains(a) for a in outside)
    assert rng.to_dict() == bounds


@pytest.mark.parametrize(
    ("minutes", "text"), [(5, "5m"), (60, "1h"), (90, "1h30m"), (240, "4h"), (0, "0m"), (61, "1h1m")]
)
def test_format_duration(minutes: int, text: str) -> None:
    assert format_duration(timedelta(minutes=minutes)) == text


@pytest.mark.parametrize(("n", "text"), [(0, "0 workdays"), (1, "1 workday"), (2, "2 workdays")])
def test_format_workdays(n: int, text: str) -> None:
    assert format_workdays(n) == text


def test_an_outcome_shows_only_what_it_sets() -> None:
    assert RuleOutcome().to_dict() == {}
    outcome = RuleOutcome(priority=0, lead_time=0, auto_confirm=False, modes=(Mode.phone,))
    assert outcome.to_dict() == {"priority": 0, "lead_time": "0 workdays", "modes": ["phone"], "auto_confirm": False}


def test_defaults_show_every_field() -> None:
    assert Defaults().to_dict() == {
        "priority": 10, "route": {"caseworker": "assigned"}, "duration": "30m", "lead_time": "1 workday",
        "within": "15 workdays", "modes": ["in_person", "phone", "video"], "propose": 3, "auto_confirm": False,
        "follow_up": "task", "walk_in": False,
    }


def test_condition_shows_only_what_it_tests() -> None:
    assert Condition().to_dict() == {}
    when = Condition(kind=(Kind.callback,), age=AgeRange(lt=25), urgent=False, language=("de",))
    assert when.to_dict() == {"language": ["de"], "kind": ["callback"], "age": {"lt": 25}, "urgent": False}


def test_settings_sections_show_every_field() -> None:
    assert Ordering(3, TieBreak.newest_first).to_dict() == {"aging_per_workday": 3, "tie_break": "newest_first"}
    assert Caps(2, 4).to_dict() == {"appointments_per_caseworker_per_day": 2, "callbacks_per_caseworker_per_day": 4}
    assert CallbackPolicy(timedelta(minutes=90), 2).to_dict() == {"retry_after": "1h30m", "max_attempts": 2}


def test_equal_rule_sets_hash_alike_and_differ_by_any_part() -> None:
    rule = Rule("a", Condition(concern=("x",)), RuleOutcome(priority=50))
    ruleset = RuleSet((rule,))
    copy = dataclasses.replace(ruleset)
    assert copy is not ruleset and copy == ruleset and hash(copy) == hash(ruleset)
    assert {ruleset: 1}[copy] == 1
    others = [
        RuleSet(()),
        dataclasses.replace(ruleset, rules=(dataclasses.replace(rule, then=RuleOutcome(priority=51)),)),
        dataclasses.replace(ruleset, defaults=Defaults(priority=11)),
        dataclasses.replace(ruleset, ordering=Ordering(aging_per_workday=6)),
        dataclasses.replace(ruleset, caps=Caps(appointments_per_caseworker_per_day=9)),
        dataclasses.replace(ruleset, callbacks=CallbackPolicy(max_attempts=4)),
    ]
    assert all(other != ruleset for other in others)
    assert len({hash(other) for other in [ruleset, *others]}) == len(others) + 1


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (RuleError("rules[0] (a).then.priority", "out-of-range",
                   {"field": "then.priority", "rule": "a", "allowed": "0..100", "got": "101"}),
         "Rule 'a', field 'then.priority', must be in the range 0..100, got 101."),
        (RuleError("caps", "not-a-mapping", {"field": "caps", "got": "a list"}),
         "Field 'caps' must be a mapping of 'key: value' fields, got a list."),
        (RuleError("", "not-a-mapping", {"field": "", "got": "'hello'"}),
         "The rule set must be a mapping of 'key: value' fields, got 'hello'."),
        (RuleError("", "yaml-syntax", {"field": "", "line": "2", "column": "3", "problem": "oops"}),
         "The rule set is not valid YAML at line 2, column 3: oops."),
        (RuleError("x", "no-such-code", {"field": "x"}), "Field 'x' is invalid (no-such-code)."),
    ],
)
def test_error_messages(error: RuleError, message: str) -> None:
    assert error.message == message


def test_invalid_lists_every_message() -> None:
    errors = (RuleError("a", "missing", {"field": "a"}), RuleError("b", "empty", {"field": "b"}))
    exc = RuleSetInvalid(errors)
    assert exc.errors == errors
    assert str(exc) == "Field 'a' is required.\nField 'b' must not be empty."
