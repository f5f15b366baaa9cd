"""rule_form.py: the rule builder's form <-> rule set conversion, and its editing buttons (pure)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from multidict import MultiDict

from scheduler.policy.parse import dump_yaml, load_yaml
from scheduler.policy.rules import Bounds, Need, Route, RuleSetInvalid
from scheduler.staff import rule_form, rule_templates
from scheduler.staff.rule_form import FormState

DEMO = load_yaml((Path(__file__).parents[2] / "scheduler/demo/policy-site.yaml").read_text(encoding="utf-8"))

# What a browser posts for a small rule set built in the form (check boxes repeat their name).
POSTED = MultiDict([
    ("r0.id", "no-money"), ("r0.when.concern", "no_money"), ("r0.when.concern", "eviction"),
    ("r0.when.age.gte", ""), ("r0.when.age.lt", ""), ("r0.when.urgent", ""), ("r0.when.invitation", ""),
    ("r0.then.priority", "95"), ("r0.then.within", "1"), ("r0.then.lead_time", "0"), ("r0.then.route", ""),
    ("r0.then.duration", ""), ("r0.then.follow_up", "invite"), ("r0.then.follow_up.lead", "3"),
    ("r1.id", "young"), ("r1.when.age.lt", "25"), ("r1.when.no_shows.gte", "2"), ("r1.when.invitation", "false"),
    ("r1.when.needs", "interpreter"), ("r1.then.route", "team:u25"), ("r1.then.duration", "45"),
    ("r1.then.modes", "video"), ("r1.then.modes", "phone"), ("r1.then.walk_in", "true"),
    ("r1.then.auto_confirm", "false"),
    ("defaults.priority", "10"), ("defaults.route", "assigned"), ("defaults.duration", "30"),
    ("defaults.lead_time", "1"), ("defaults.within", "15"), ("defaults.follow_up", "task"),
    ("ordering.aging_per_workday", "7"), ("ordering.tie_break", "newest_first"),
    ("caps.appointments_per_caseworker_per_day", "6"), ("callbacks.retry_after", "90"),
    ("callbacks.max_attempts", "4"), ("csrf", "x"), ("scope", "site"), ("action", "save"),
])


def test_a_posted_form_builds_the_rule_set() -> None:
    rs = rule_form.build(rule_form.read(POSTED))
    first, young = rs.rules
    assert (first.id, first.when.concern, first.then.priority, first.then.within, first.then.lead_time) == (
        "no-money", ("no_money", "eviction"), 95, 1, 0)
    assert first.then.follow_up is not None and first.then.follow_up.lead_time == 3
    assert first.when.age is None and first.then.route is None  # left empty: not set
    assert young.when.age == Bounds(lt=25) and young.when.no_shows == Bounds(gte=2)
    assert (young.when.invitation, young.when.needs) == (False, (Need.interpreter,))
    assert (young.then.route, young.then.duration, young.then.walk_in) == (Route(team="u25"), timedelta(minutes=45),
                                                                         True)
    assert young.then.auto_confirm is False
    assert (rs.ordering.aging_per_workday, str(rs.ordering.tie_break)) == (7, "newest_first")
    assert rs.caps.appointments_per_caseworker_per_day == 6
    assert rs.caps.callbacks_per_caseworker_per_day == 15  # not given: the built-in value
    assert (rs.callbacks.retry_after, rs.callbacks.max_attempts) == (timedelta(minutes=90), 4)


def test_form_yaml_form_round_trip() -> None:
    built = rule_form.build(rule_form.read(POSTED))
    assert load_yaml(dump_yaml(built)) == built  # export, re-import: the same rule set
    assert rule_form.build(rule_form.state_of(built)) == built  # shown in the form again and saved unchanged


def test_the_demo_rules_survive_the_form() -> None:
    assert rule_form.build(rule_form.state_of(DEMO)) == DEMO


def test_bounds_written_otherwise_mean_the_same() -> None:
    rs = load_yaml("rules: [{id: a, when: {age: {gt: 17, lte: 24}}, then: {priority: 1}}]")
    state = rule_form.state_of(rs)
    assert (state.value("when.age.gte", 0), state.value("when.age.lt", 0)) == ("18", "25")
    assert rule_form.build(state).rules[0].when.age == Bounds(gte=18, lt=25)


def test_problems_come_back_at_their_fields() -> None:
    form = MultiDict([
        ("r0.id", "a"), ("r0.then.duration", "600"), ("r0.when.age.lt", "old"),
        ("r1.id", "b"),  # no "then" at all
        ("r2.id", "a"), ("r2.then.priority", "5"), ("r2.then.route", "team:Not Valid"),
        ("defaults.within", "0"), ("defaults.lead_time", "2"), ("ordering.tie_break", "random"),
    ])
    with pytest.raises(RuleSetInvalid) as e:
        rule_form.build(rule_form.read(form))
    by_field = {k: sorted(err.code for err in v) for k, v in rule_form.errors_by_field(e.value.errors).items()}
    assert by_field == {
        "r0.then.duration": ["out-of-range"],
        "r0.when.age": ["bad-type"],
        "r1.then": ["empty"],
        "r2.id": ["duplicate-id"],
        "r2.then.route": ["bad-route"],
        "defaults.within": ["out-of-range"],
        "ordering.tie_break": ["bad-value"],
    }


def test_an_id_with_dots_keeps_its_errors_at_the_rule() -> None:
    form = MultiDict([("r0.id", "a.b.c"), ("r0.then.priority", "500")])
    with pytest.raises(RuleSetInvalid) as e:
        rule_form.build(rule_form.read(form))
    assert list(rule_form.errors_by_field(e.value.errors)) == ["r0.then.priority"]


def test_editing_buttons() -> None:
    state = rule_form.read(POSTED)
    assert rule_form.apply(state, "down:0")
    assert [v["id"] for v in state.rules] == [("young",), ("no-money",)]
    assert rule_form.apply(state, "up:1")
    assert [v["id"] for v in state.rules] == [("no-money",), ("young",)]
    assert rule_form.apply(state, "up:0")  # already first: nothing moves
    assert rule_form.apply(state, "add")
    assert state.rules[-1] == {"id": ("rule",)}
    assert rule_form.apply(state, "add")
    assert state.rules[-1] == {"id": ("rule-2",)}
    assert rule_form.apply(state, "remove:2")
    assert [v["id"][0] for v in state.rules] == ["no-money", "young", "rule-2"]
    assert not rule_form.apply(state, "remove:9") and not rule_form.apply(state, "save")
    assert not rule_form.apply(state, "up:x")


def test_templates_are_added_as_editable_rules() -> None:
    state = FormState()
    templates = rule_templates.form_values(default_minutes=30)
    for key in ("no-money", "under-25", "eservice-help", "interpreter", "no-money"):
        assert rule_form.apply(state, f"template:{key}", templates)
    assert [v["id"][0] for v in state.rules] == ["no-money", "under-25", "eservice-help", "interpreter",
                                                 "no-money-2"]
    rs = rule_form.build(state)
    no_money, under_25, eservice, interpreter, _ = rs.rules
    assert (no_money.when.concern, no_money.then.priority, no_money.then.within) == (("no_money", "eviction"), 95, 1)
    assert (under_25.when.age, under_25.then.route) == (Bounds(lt=25), Route(team="u25"))
    assert [str(m) for m in eservice.then.modes or ()] == ["video", "phone"]
    assert (interpreter.when.needs, interpreter.then.duration) == ((Need.interpreter,), timedelta(minutes=45))
    assert not rule_form.apply(state, "template:unknown", templates)


def test_sizes_are_bounded() -> None:
    form = MultiDict([("r0.id", "x" * 5000), *(("r0.when.concern", f"c{i}") for i in range(500)),
                      ("r9999.id", "far"), ("elsewhere", "y")])
    state = rule_form.read(form)
    assert len(state.rules) == 1 and len(state.value("id", 0)) == rule_form.MAX_VALUE
    assert len(state.values("when.concern", 0)) == rule_form.MAX_VALUES
    assert state.settings == {}
