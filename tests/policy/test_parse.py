from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

import pytest

from scheduler.policy.parse import dump_yaml, load_yaml, parse_ruleset
from scheduler.policy.rules import AgeRange, Channel, Kind, Mode, Route, RuleError, RuleSet, RuleSetInvalid, TieBreak

EXAMPLE = """
rules:
  - id: no-money
    when: {concern: [no_money, eviction]}
    then: {priority: 90, route: {team: entrance}, duration: 20m, within: 1 workday, modes: [in_person, phone]}
  - id: under-25
    when: {concern: integration_advice, age: {lt: 25}}
    then: {route: {team: u25}, duration: 45m, lead_time: 2 workdays, within: 10 workdays}
  - id: eservice-help
    when: {concern: eservice_help}
    then: {duration: 20m, modes: [video, phone, in_person], propose: 3, auto_confirm: true}
  - id: seniors-by-phone
    when: {channel: [phone, sms], language: de, kind: callback, age: {gte: 58}, urgent: false}
    then: {route: {caseworker: 17}, duration: 1h30m, lead_time: 0, within: 5}
defaults: {priority: 10, duration: 30m, lead_time: 1 workday, within: 15 workdays,
           route: {caseworker: assigned}, modes: [in_person, phone, video], propose: 3, auto_confirm: false}
ordering: {aging_per_workday: 5, tie_break: oldest_first}
caps: {appointments_per_caseworker_per_day: 8, callbacks_per_caseworker_per_day: 15}
callbacks: {retry_after: 2h, max_attempts: 3}
"""


def valid() -> dict[str, Any]:
    return {
        "rules": [
            {"id": "a", "when": {"concern": "x"}, "then": {"priority": 50, "duration": "20m"}},
            {"id": "b", "when": {"concern": ["y"]}, "then": {"route": {"team": "u25"}}},
        ],
        "defaults": {"priority": 10, "duration": "30m"},
    }


def errors_of(data: object) -> tuple[RuleError, ...]:
    with pytest.raises(RuleSetInvalid) as exc:
        parse_ruleset(data)  # type: ignore[arg-type]
    return exc.value.errors


def test_example_parses() -> None:
    rs = load_yaml(EXAMPLE)
    assert [r.id for r in rs.rules] == ["no-money", "under-25", "eservice-help", "seniors-by-phone"]
    no_money, under_25, eservice, seniors = rs.rules
    assert no_money.when.concern == ("no_money", "eviction")
    assert no_money.then.priority == 90
    assert no_money.then.route == Route(team="entrance")
    assert no_money.then.duration == timedelta(minutes=20)
    assert no_money.then.within == 1
    assert no_money.then.lead_time is None
    assert no_money.then.modes == (Mode.in_person, Mode.phone)
    assert under_25.when.concern == ("integration_advice",)  # scalar allowed where a list is
    assert under_25.when.age == AgeRange(lt=25)
    assert under_25.then.lead_time == 2
    assert eservice.then.auto_confirm is True
    assert seniors.when.channel == (Channel.phone, Channel.sms)
    assert seniors.when.kind == (Kind.callback,)
    assert seniors.when.urgent is False
    assert seniors.then.route == Route(caseworker_id=17)
    assert seniors.then.duration == timedelta(minutes=90)
    assert (seniors.then.lead_time, seniors.then.within) == (0, 5)
    assert rs.defaults.route == Route(assigned=True)
    assert rs.defaults.auto_confirm is False
    assert rs.ordering.tie_break is TieBreak.oldest_first
    assert rs.caps.callbacks_per_caseworker_per_day == 15
    assert rs.callbacks.retry_after == timedelta(hours=2)


def test_sections_other_than_rules_are_optional() -> None:
    rs = parse_ruleset({"rules": []})
    assert rs == RuleSet(rules=())
    assert rs.defaults.propose == 3 and rs.defaults.within == 15


@pytest.mark.parametrize(
    ("mutate", "path", "code", "params"),
    [
        (
            lambda d: d["rules"][0]["then"].update(colour="red"),
            "rules[0] (a).then.colour",
            "unknown-field",
            {"got": "colour"},
        ),
        (
            lambda d: d["rules"][0]["when"].update(weather="rain"),
            "rules[0] (a).when.weather",
            "unknown-field",
            {"got": "weather"},
        ),
        (lambda d: d.update(extra=1), "extra", "unknown-field", {"got": "extra"}),
        (
            lambda d: d["rules"][0]["then"].update(duration="9h"),
            "rules[0] (a).then.duration",
            "out-of-range",
            {"allowed": "5m..4h", "got": "9h"},
        ),
        (
            lambda d: d["rules"][0]["then"].update(duration="soon"),
            "rules[0] (a).then.duration",
            "bad-duration",
            {"allowed": "5m..4h", "got": "'soon'"},
        ),
        (
            lambda d: d["rules"][0]["then"].update(duration=20),
            "rules[0] (a).then.duration",
            "bad-duration",
            {"allowed": "5m..4h", "got": "20"},
        ),
        (
            lambda d: d["rules"][0]["then"].update(priority=101),
            "rules[0] (a).then.priority",
            "out-of-range",
            {"allowed": "0..100", "got": "101"},
        ),
        (
            lambda d: d["rules"][0]["then"].update(priority="high"),
            "rules[0] (a).then.priority",
            "bad-type",
            {"allowed": "0..100"},
        ),
        (lambda d: d["rules"][0]["then"].update(priority=True), "rules[0] (a).then.priority", "bad-type", {}),
        (
            lambda d: d["rules"][0]["then"].update(propose=11),
            "rules[0] (a).then.propose",
            "out-of-range",
            {"allowed": "1..10"},
        ),
        (
            lambda d: d["rules"][0]["then"].update(lead_time="31 workdays"),
            "rules[0] (a).then.lead_time",
            "out-of-range",
            {"allowed": "0..30 workdays"},
        ),
        (
            lambda d: d["rules"][0]["then"].update(within="two weeks"),
            "rules[0] (a).then.within",
            "bad-workdays",
            {"allowed": "1..60 workdays"},
        ),
        (
            lambda d: d["rules"][0]["then"].update(lead_time=5, within=3),
            "rules[0] (a).then.within",
            "within-before-lead-time",
            {"lead_time": "5", "within": "3"},
        ),
        (
            lambda d: d["rules"][0]["then"].update(lead_time=20),
            "rules[0] (a).then.within",
            "within-before-lead-time",
            {"lead_time": "20", "within": "15"},
        ),
        (
            lambda d: d["rules"][0]["then"].update(modes=["fax"]),
            "rules[0] (a).then.modes",
            "bad-mode",
            {"allowed": "in_person, phone, video", "got": "'fax'"},
        ),
        (lambda d: d["rules"][0]["then"].update(modes=[]), "rules[0] (a).then.modes", "empty", {}),
        (
            lambda d: d["rules"][0]["then"].update(route={"team": "a", "caseworker": 3}),
            "rules[0] (a).then.route",
            "bad-route",
            {},
        ),
        (
            lambda d: d["rules"][0]["then"].update(route={"caseworker": "me"}),
            "rules[0] (a).then.route",
            "bad-route",
            {"got": "{caseworker: me}"},
        ),
        (lambda d: d["rules"][0]["then"].update(route="u25"), "rules[0] (a).then.route", "bad-route", {}),
        (
            lambda d: d["rules"][0]["then"].update(auto_confirm="yes please"),
            "rules[0] (a).then.auto_confirm",
            "bad-type",
            {"allowed": "true, false"},
        ),
        (
            lambda d: d["rules"][1].update(id="a"),
            "rules[1] (a).id",
            "duplicate-id",
            {"id": "a", "first": "rules[0] (a)"},
        ),
        (lambda d: d["rules"][1].update(id="defaults"), "rules[1] (defaults).id", "bad-id", {}),
        (lambda d: d["rules"][1].update(id=7), "rules[1].id", "bad-id", {"got": "7"}),
        (lambda d: d["rules"][1].pop("id"), "rules[1].id", "missing", {}),
        (lambda d: d["rules"][1].pop("then"), "rules[1] (b).then", "missing", {}),
        (lambda d: d["rules"][1].update(then={}), "rules[1] (b).then", "empty", {}),
        (lambda d: d.pop("rules"), "rules", "missing", {}),
        (lambda d: d.update(rules={"id": "a"}), "rules", "not-a-list", {}),
        (
            lambda d: d["rules"][0]["when"].update(concern={"a": 1}),
            "rules[0] (a).when.concern",
            "not-a-list",
            {},
        ),
        (
            lambda d: d["rules"][0]["when"].update(channel=["fax"]),
            "rules[0] (a).when.channel",
            "bad-value",
            {"allowed": "web, kiosk, phone, sms, staff"},
        ),
        (lambda d: d["rules"][0]["when"].update(kind="visit"), "rules[0] (a).when.kind", "bad-value", {}),
        (
            lambda d: d["rules"][0]["when"].update(age={"under": 25}),
            "rules[0] (a).when.age.under",
            "unknown-field",
            {"allowed": "lt, lte, gt, gte"},
        ),
        (
            lambda d: d["rules"][0]["when"].update(age={"lt": 200}),
            "rules[0] (a).when.age.lt",
            "out-of-range",
            {"allowed": "0..130"},
        ),
        (lambda d: d["rules"][0]["when"].update(age=25), "rules[0] (a).when.age", "not-a-mapping", {}),
        (lambda d: d["rules"].__setitem__(0, "no-money"), "rules[0]", "not-a-mapping", {}),
        (
            lambda d: d["defaults"].update(auto_confirm=True),
            "defaults.auto_confirm",
            "auto-confirm-in-defaults",
            {"allowed": "false"},
        ),
        (
            lambda d: d["defaults"].update(duration="1m"),
            "defaults.duration",
            "out-of-range",
            {"allowed": "5m..4h"},
        ),
        (
            lambda d: d.update(ordering={"tie_break": "random"}),
            "ordering.tie_break",
            "bad-value",
            {"allowed": "oldest_first, newest_first"},
        ),
        (
            lambda d: d.update(caps={"appointments_per_caseworker_per_day": 0}),
            "caps.appointments_per_caseworker_per_day",
            "out-of-range",
            {"allowed": "1..100"},
        ),
        (
            lambda d: d.update(callbacks={"retry_after": "2d"}),
            "callbacks.retry_after",
            "bad-duration",
            {"allowed": "5m..24h"},
        ),
    ],
)
def test_each_error_code(mutate: Any, path: str, code: str, params: dict[str, str]) -> None:
    data = valid()
    mutate(data)
    errors = errors_of(data)
    assert [(e.path, e.code) for e in errors] == [(path, code)]
    (err,) = errors
    assert params.items() <= err.params.items()
    assert err.params["field"]
    if path.startswith("rules[") and "." in path:
        # The message names the rule, the field, and (where there is one) what is allowed.
        assert f"Rule '{err.params['rule']}', field '{err.params['field']}'" in err.message
    else:
        assert path in err.message
    if "allowed" in err.params:
        assert err.params["allowed"] in err.message


def test_message_reads_as_a_sentence() -> None:
    data = valid()
    data["rules"][1]["then"]["duration"] = "9h"
    (err,) = errors_of(data)
    assert err.path == "rules[1] (b).then.duration"
    assert err.message == "Rule 'b', field 'then.duration', must be in the range 5m..4h, got 9h."


def test_all_errors_are_collected() -> None:
    data = valid()
    data["rules"][0]["then"].update(duration="9h", modes=["fax"], bogus=1)
    data["rules"][1]["id"] = "a"
    data["defaults"]["priority"] = -1
    data["caps"] = {"appointments_per_caseworker_per_day": 500}
    errors = errors_of(data)
    assert {(e.path, e.code) for e in errors} == {
        ("rules[0] (a).then.bogus", "unknown-field"),
        ("rules[0] (a).then.duration", "out-of-range"),
        ("rules[0] (a).then.modes", "bad-mode"),
        ("rules[1] (a).id", "duplicate-id"),
        ("defaults.priority", "out-of-range"),
        ("caps.appointments_per_caseworker_per_day", "out-of-range"),
    }
    with pytest.raises(RuleSetInvalid) as exc:
        parse_ruleset(data)
    assert str(exc.value).count("\n") == len(errors) - 1


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("5m", timedelta(minutes=5)),
        ("2h", timedelta(hours=2)),
        ("1h30m", timedelta(minutes=90)),
        ("4h", timedelta(hours=4)),
        ("45m", timedelta(minutes=45)),
    ],
)
def test_durations(text: str, value: timedelta) -> None:
    data = valid()
    data["rules"][0]["then"]["duration"] = text
    assert parse_ruleset(data).rules[0].then.duration == value


@pytest.mark.parametrize(("text", "n"), [("1 workday", 1), ("10 workdays", 10), (7, 7), ("0 workdays", 0)])
def test_workday_counts(text: object, n: int) -> None:
    data = valid()
    data["rules"][0]["then"]["lead_time"] = text
    assert parse_ruleset(data).rules[0].then.lead_time == n


def test_round_trip_dict_and_yaml() -> None:
    rs = load_yaml(EXAMPLE)
    as_dict = rs.to_dict()
    assert parse_ruleset(copy.deepcopy(as_dict)) == rs
    assert load_yaml(dump_yaml(rs)) == rs
    assert as_dict["rules"][0] == {  # type: ignore[index]
        "id": "no-money",
        "when": {"concern": ["no_money", "eviction"]},
        "then": {
            "priority": 90,
            "route": {"team": "entrance"},
            "duration": "20m",
            "within": "1 workday",
            "modes": ["in_person", "phone"],
        },
    }
    assert as_dict["defaults"]["route"] == {"caseworker": "assigned"}  # type: ignore[index]


def test_to_dict_is_json_safe() -> None:
    import json

    rs = load_yaml(EXAMPLE)
    assert parse_ruleset(json.loads(json.dumps(rs.to_dict()))) == rs


@pytest.mark.parametrize(
    ("text", "line"),
    [("rules: [\n  - a", 2), ("rules:\n  - id: a\n    then: {priority: 90\n", 4), ("rules:\n\t- id: a\n", 2)],
)
def test_yaml_syntax_error(text: str, line: int) -> None:
    with pytest.raises(RuleSetInvalid) as exc:
        load_yaml(text)
    (err,) = exc.value.errors
    assert err.code == "yaml-syntax"
    assert err.params["line"] == str(line)
    assert f"line {line}" in err.message


@pytest.mark.parametrize("text", ["", "- just\n- a list\n", "hello"])
def test_yaml_that_is_not_a_mapping(text: str) -> None:
    with pytest.raises(RuleSetInvalid) as exc:
        load_yaml(text)
    assert [e.code for e in exc.value.errors] == ["not-a-mapping"]
    assert exc.value.errors[0].message.startswith("The rule set must be a mapping")


def test_yaml_booleans_are_only_true_and_false() -> None:
    # YAML 1.1 would read `off`, `no` and `yes` as booleans; rule ids and concern codes need them as text.
    rs = load_yaml("""
rules:
  - {id: off, when: {concern: no}, then: {priority: 20}}
  - {id: on, when: {concern: [yes, n]}, then: {auto_confirm: true}}
""")
    assert [r.id for r in rs.rules] == ["off", "on"]
    assert rs.rules[0].when.concern == ("no",)
    assert rs.rules[1].when.concern == ("yes", "n")
    assert rs.rules[1].then.auto_confirm is True
    with pytest.raises(RuleSetInvalid) as exc:
        load_yaml("rules:\n  - {id: a, then: {auto_confirm: yes}}\n")
    assert [(e.path, e.code) for e in exc.value.errors] == [("rules[0] (a).then.auto_confirm", "bad-type")]


# Tests added for mutants that survived (docs/mutation.md).


def test_yaml_syntax_error_names_line_column_and_problem() -> None:
    with pytest.raises(RuleSetInvalid) as exc:
        load_yaml("rules:\n  - {id: a\n")
    (err,) = exc.value.errors
    mark = (err.params["line"], err.params["column"])
    assert mark == ("3", "1")
    assert err.params["problem"] == "expected ',' or '}', but got '<stream end>'"


@pytest.mark.parametrize(("caseworker", "ok"), [(0, False), (1, True), (-3, False), (True, False)])
def test_a_fixed_caseworker_is_a_positive_number(caseworker: object, ok: bool) -> None:
    data = valid()
    data["rules"][1]["then"]["route"] = {"caseworker": caseworker}
    if ok:
        assert parse_ruleset(data).rules[1].then.route == Route(caseworker_id=1)
    else:
        (err,) = errors_of(data)
        assert err.code == "bad-route"


def test_a_bad_route_shows_what_was_given_and_what_is_allowed() -> None:
    data = valid()
    data["rules"][1]["then"]["route"] = {"team": "u25", "caseworker": 3}
    (err,) = errors_of(data)
    assert err.params["got"] == "{team: u25, caseworker: 3}"
    assert err.params["allowed"].startswith("{team: CODE}")


def test_an_empty_age_or_an_unknown_bound_is_reported_at_the_age() -> None:
    data = valid()
    data["rules"][0]["when"]["age"] = {}
    assert [(e.path, e.code) for e in errors_of(data)] == [("rules[0] (a).when.age", "empty")]
    data["rules"][0]["when"]["age"] = {"lt": 30, "below": 3}
    assert [(e.path, e.code) for e in errors_of(data)] == [("rules[0] (a).when.age.below", "unknown-field")]
