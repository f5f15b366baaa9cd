"""The follow-up field: what the policy says happens after a no-show or an unreachable callback."""

from __future__ import annotations

import pytest

from scheduler.policy.decide import decide
from scheduler.policy.decision import Decision
from scheduler.policy.parse import dump_yaml, load_yaml
from scheduler.policy.rules import FollowUp, FollowUpAction, Kind, RuleSetInvalid
from tests.policy.examples import CAL, NOW, facts

RULES = """
rules:
  - id: u25-invite
    when: {concern: job_offer, age: {lt: 25}}
    then: {follow_up: {invite: 3 workdays}}
  - id: callbacks-quiet
    when: {kind: callback}
    then: {follow_up: none}
  - id: job-offer
    when: {concern: job_offer}
    then: {priority: 50}
defaults: {follow_up: task}
"""


def _decide(**kw: object) -> Decision:
    return decide(facts(**kw), load_yaml(RULES), now=NOW, calendar=CAL, default_team="entrance")


def test_the_first_rule_that_sets_it_wins_and_is_explained() -> None:
    d = _decide(concern="job_offer", age=20)
    assert d.follow_up == FollowUp(FollowUpAction.invite, 3)
    line = next(e for e in d.explanation if e.field == "follow_up")
    assert (line.rule_id, line.value) == ("u25-invite", "invite 3 workdays")


def test_defaults_apply_when_no_rule_sets_it() -> None:
    d = _decide(concern="job_offer", age=40)
    assert d.follow_up == FollowUp(FollowUpAction.task)
    assert [(e.rule_id, e.value) for e in d.explanation if e.field == "follow_up"] == [("defaults", "task")]


def test_a_rule_can_switch_it_off_for_callbacks() -> None:
    assert _decide(concern="general", kind=Kind.callback).follow_up == FollowUp(FollowUpAction.none)


def test_without_defaults_the_follow_up_is_a_task() -> None:
    rs = load_yaml("rules: []\n")
    d = decide(facts(), rs, now=NOW, calendar=CAL, default_team="entrance")
    assert d.follow_up == FollowUp(FollowUpAction.task)


def test_stored_form_round_trips_and_old_decisions_have_none() -> None:
    d = _decide(concern="job_offer", age=20)
    stored = d.to_json()
    assert stored["follow_up"] == {"invite": "3 workdays"}
    assert Decision.from_json(stored) == d
    old = {k: v for k, v in stored.items() if k != "follow_up"}
    assert Decision.from_json(old).follow_up is None  # decided before follow-ups: decide afresh


def test_yaml_round_trip() -> None:
    rs = load_yaml(RULES)
    assert load_yaml(dump_yaml(rs)) == rs


@pytest.mark.parametrize("value", ["later", "{invite: 31 workdays}", "{invite: soon}", "{invite: 2, task: 1}",
                                   "true", "[task]", "{task: 2}", "invite"])
def test_bad_values_are_refused_with_the_allowed_shapes(value: str) -> None:
    with pytest.raises(RuleSetInvalid) as e:
        load_yaml(f"rules:\n  - id: x\n    when: {{}}\n    then: {{follow_up: {value}}}\n")
    (error,) = e.value.errors
    assert error.code == "bad-follow-up"
    assert error.params["field"] == "then.follow_up"
    assert "none, task or {invite: N workdays}" in error.message and "0..30" in error.message


def test_invite_accepts_a_bare_number_and_zero() -> None:
    rs = load_yaml("rules: []\ndefaults: {follow_up: {invite: 0}}\n")
    assert rs.defaults.follow_up == FollowUp(FollowUpAction.invite, 0)


def test_a_follow_up_shape_is_checked() -> None:
    with pytest.raises(ValueError):
        FollowUp(FollowUpAction.task, 2)
    with pytest.raises(ValueError):
        FollowUp(FollowUpAction.invite)
