"""Bounded rule sets (issue 13, item 10): no value can make the parser run for long.

The duration pattern had three adjacent optional-whitespace groups, so a long run of spaces that does not
end in a duration took cubic time (800 characters: about 2 s; 60 KB: never). Every rule field now has a
size limit that is checked before any pattern runs, the patterns are linear, and the whole YAML text is
bounded too. The tests assert the clear size errors; that they return at all is the point.
"""

from __future__ import annotations

import pytest

from scheduler.policy import readers
from scheduler.policy.parse import MAX_RULES, MAX_YAML_CHARS, load_yaml, parse_ruleset
from scheduler.policy.rules import RuleError, RuleSetInvalid
from scheduler.staff.rule_errors import describe

SIXTY_KB = 60 * 1024


def _errors(text: str) -> tuple[RuleError, ...]:
    with pytest.raises(RuleSetInvalid) as exc:
        load_yaml(text)
    return exc.value.errors


def test_a_60_kb_duration_is_refused_for_its_size() -> None:
    value = " " * SIXTY_KB + "x"
    [error] = _errors(f"rules:\n  - id: slow\n    when: {{concern: x}}\n    then: {{duration: '{value}'}}\n")
    assert error.code == "too-long" and error.path == "rules[0] (slow).then.duration"
    assert error.params["size"] == str(len(value)) and error.params["limit"] == str(readers.MAX_VALUE_CHARS)
    assert "at most" in error.message
    assert describe(error, "de") == (f"Regel „slow“, Feld „then.duration“: ist zu lang: erlaubt sind höchstens "
                                     f"{readers.MAX_VALUE_CHARS} Zeichen, angegeben waren {len(value)}.")


@pytest.mark.parametrize("text", [" " * SIXTY_KB + "x", "1" * SIXTY_KB + "h", " " * SIXTY_KB + "1h" + " " * 10 + "x"])
def test_the_duration_pattern_is_linear(text: str) -> None:
    assert readers.parse_duration(text) is None


@pytest.mark.parametrize("text", ["20m", " 2h ", "1h30m", "1h 30min", "45 min", "2 h 5 m"])
def test_durations_still_parse(text: str) -> None:
    assert readers.parse_duration(text) is not None


@pytest.mark.parametrize("text", ["", " ", "h", "m", "1x", "1h1h", "30m1h", "1hm"])
def test_non_durations_are_still_refused(text: str) -> None:
    assert readers.parse_duration(text) is None


def test_the_workdays_pattern_is_linear() -> None:
    with pytest.raises(RuleSetInvalid) as exc:
        parse_ruleset({"rules": [{"id": "a", "then": {"within": " " * SIXTY_KB + "1" + " " * SIXTY_KB}}]})
    assert [e.code for e in exc.value.errors] == ["too-long"]


@pytest.mark.parametrize(("when", "code"), [
    ({"concern": "c" * SIXTY_KB}, "too-long"),
    ({"concern": ["ok", "c" * 1000]}, "too-long"),
    ({"language": ["de"] * 1000}, "too-many"),
    ({"channel": "w" * SIXTY_KB}, "too-long"),
])
def test_every_field_is_bounded(when: dict[str, object], code: str) -> None:
    with pytest.raises(RuleSetInvalid) as exc:
        parse_ruleset({"rules": [{"id": "a", "when": when, "then": {"priority": 20}}]})
    [error] = exc.value.errors
    assert error.code == code
    assert len(error.message) < 400  # the value itself is never echoed back whole


def test_long_ids_and_keys_are_not_echoed_whole() -> None:
    with pytest.raises(RuleSetInvalid) as exc:
        parse_ruleset({"rules": [{"id": "i" * SIXTY_KB, "then": {"k" * SIXTY_KB: 1}}]})
    assert exc.value.errors and all(len(e.message) < 800 for e in exc.value.errors)
    assert all(len(e.path) < 200 for e in exc.value.errors)


def test_too_many_rules() -> None:
    rules = [{"id": f"r{i}", "then": {"priority": 20}} for i in range(MAX_RULES + 1)]
    with pytest.raises(RuleSetInvalid) as exc:
        parse_ruleset({"rules": rules})
    assert [e.code for e in exc.value.errors] == ["too-many"]


def test_the_whole_text_is_bounded() -> None:
    text = "rules: []\n" + "#" * MAX_YAML_CHARS
    [error] = _errors(text)
    assert error.code == "too-long" and error.path == ""
    assert describe(error, "en") == (f"The rule set: is too long: at most {MAX_YAML_CHARS} characters are allowed, "
                                     f"given were {len(text)}.")
