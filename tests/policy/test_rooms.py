"""policy.rooms: in-person times only in rooms that meet the needs, more time unless a rule on it set the length."""

from __future__ import annotations

from datetime import time, timedelta

from scheduler.policy.decide import decide
from scheduler.policy.parse import load_yaml
from scheduler.policy.rooms import MORE_TIME, Room, adjust, restrict, room_needs, suitable
from scheduler.policy.rules import Mode, Need
from scheduler.policy.slots import CaseworkerAvailability, WorkingHours
from tests.policy.examples import CAL, NOW, facts

RULES = load_yaml("""
rules:
  - id: long-for-more-time
    when: {needs: [more_time]}
    then: {duration: 60m}
  - id: interpreters-to-team
    when: {needs: [interpreter, sign_language]}
    then: {route: {team: languages}}
defaults: {duration: 30m}
""")
PLAIN = load_yaml("rules: []\ndefaults: {duration: 30m}")


def _decide(ruleset, needs: frozenset[Need]):  # type: ignore[no-untyped-def]
    return decide(facts(needs=needs), ruleset, now=NOW, calendar=CAL, default_team="general")


def test_rooms_meet_every_room_need() -> None:
    rooms = [Room("E.01", step_free=True, hearing_loop=True), Room("E.02", step_free=True), Room("U.01")]
    assert room_needs((Need.interpreter, Need.hearing_loop)) == (Need.hearing_loop,)
    assert suitable(rooms, (Need.step_free,)) == {"E.01", "E.02"}
    assert suitable(rooms, (Need.step_free, Need.hearing_loop)) == {"E.01"}


def test_restrict_keeps_phone_and_video_of_other_rooms() -> None:
    hours = (WorkingHours(0, time(8), time(12), room="E.01"),
             WorkingHours(1, time(8), time(12), room="U.01"),
             WorkingHours(2, time(8), time(12), room="U.01", modes=frozenset({Mode.in_person})),
             WorkingHours(3, time(8), time(12), room=None))
    [cw] = restrict([CaseworkerAvailability(7, hours)], frozenset({"E.01"}))
    assert [(h.weekday, h.modes) for h in cw.hours] == [
        (0, frozenset(Mode)), (1, frozenset({Mode.phone, Mode.video})), (3, frozenset({Mode.phone, Mode.video}))]


def test_more_time_adds_the_default_unless_a_rule_on_it_chose_the_length() -> None:
    plain = _decide(PLAIN, frozenset({Need.more_time}))
    longer = adjust(plain, PLAIN, (Need.more_time,), None)
    assert longer.duration == plain.duration + MORE_TIME == timedelta(minutes=45)
    assert ("duration", "needs", "45m") in [(x.field, x.rule_id, x.value) for x in longer.explanation]
    by_rule = _decide(RULES, frozenset({Need.more_time}))
    assert adjust(by_rule, RULES, (Need.more_time,), None).duration == timedelta(minutes=60)


def test_the_explanation_names_the_rooms_or_says_there_is_none() -> None:
    decision = _decide(PLAIN, frozenset({Need.step_free}))
    lines = adjust(decision, PLAIN, (Need.step_free,), frozenset({"E.02", "E.01"})).explanation
    assert ("room", "needs", "E.01, E.02") in [(x.field, x.rule_id, x.value) for x in lines]
    lines = adjust(decision, PLAIN, (Need.step_free,), frozenset()).explanation
    assert ("room", "needs", "-") in [(x.field, x.rule_id, x.value) for x in lines]
    assert adjust(decision, PLAIN, (Need.interpreter,), None) is decision


def test_a_rule_routes_on_a_need() -> None:
    assert _decide(RULES, frozenset({Need.sign_language})).route_team == "languages"
    assert _decide(RULES, frozenset()).route_team != "languages"
