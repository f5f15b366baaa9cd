"""policy/diff.py: the changes between two rule sets as structured items, and the staff wording of them."""

from __future__ import annotations

from scheduler.policy.diff import Change, ChangeKind, diff
from scheduler.policy.parse import load_yaml
from scheduler.policy.rules import RuleSet
from scheduler.staff.explain import Names
from scheduler.staff.rule_diff_text import DiffWriter
from tests.dbharness import PROJECT_DIR

SITE = (PROJECT_DIR / "scheduler" / "demo" / "policy-site.yaml").read_text()
LABELS = {"no_money": {"de": "Kein Geld mehr", "en": "No money left"}, "eviction": {"de": "Räumung"},
          "eservice_help": {"de": "Hilfe mit eService"}}


def _rules(text: str) -> RuleSet:
    return load_yaml(text)


def _words(changes: list[Change], lang: str = "de") -> list[str]:
    return DiffWriter(lang, Names(teams={"entrance": "Eingangszone", "u25": "U25"}), LABELS).sentences(changes)


def test_the_same_rule_set_has_no_changes() -> None:
    assert diff(_rules(SITE), _rules(SITE)) == []
    assert _words([], "en") == ["No changes."]


def test_a_priority_change_names_the_field_the_rule_and_both_values() -> None:
    new = _rules(SITE.replace("then: {priority: 90,", "then: {priority: 95,"))
    changes = diff(_rules(SITE), new)
    assert changes == [Change(ChangeKind.rule_field, rule="no-money", part="then", field="priority", old=90, new=95)]
    assert _words(changes, "en") == ["Priority for “no-money” 90 → 95"]


def test_a_rule_about_one_concern_is_named_by_that_concern() -> None:
    old = _rules(SITE)
    new = _rules(SITE.replace("when: {concern: eservice_help}\n    then: {duration: 20m",
                              "when: {concern: eservice_help}\n    then: {duration: 25m"))
    changes = diff(old, new)
    assert [(c.rule, c.field, c.old, c.new, c.concern) for c in changes] == [
        ("eservice-help", "duration", "20m", "25m", "eservice_help")]
    assert _words(changes) == ["Dauer für „Hilfe mit eService“ 20 Min. → 25 Min."]
    assert _words(changes, "en") == ["Duration for “Hilfe mit eService” 20 min → 25 min"]


def _with_rules(*rules: str) -> RuleSet:
    """The demo site's settings with these rules (one YAML flow mapping each)."""
    settings = SITE[SITE.index("defaults:"):]
    return _rules("rules:\n" + "".join(f"  - {r}\n" for r in rules) + settings)


NO_MONEY = "{id: no-money, when: {concern: [no_money]}, then: {priority: 90}}"
UNDER_25 = "{id: under-25, when: {age: {lt: 25}}, then: {route: {team: u25}}}"
ESERVICE = "{id: eservice-help, when: {concern: [eservice_help]}, then: {duration: 20m}}"
INTERPRETER = "{id: interpreter, when: {language: [ar, fa]}, then: {duration: 45m}}"


def test_rules_added_removed_and_moved() -> None:
    old = _with_rules(NO_MONEY, UNDER_25, ESERVICE)
    new = _with_rules(UNDER_25, NO_MONEY, INTERPRETER)
    changes = diff(old, new)
    assert Change(ChangeKind.rule_removed, rule="eservice-help", old=3, concern="eservice_help") in changes
    assert Change(ChangeKind.rule_added, rule="interpreter", new=3) in changes
    moved = [c for c in changes if c.kind is ChangeKind.rule_moved]
    assert len(moved) == 1 and moved[0].rule in ("no-money", "under-25")  # the fewest moves that explain it
    words = _words(changes, "en")
    assert "New rule “interpreter” at position 3" in words
    assert "Rule “Hilfe mit eService” removed" in words
    assert any(w.startswith("Rule “") and "moved from position" in w for w in words), words
    assert len(words) == 3


def test_moving_one_rule_far_reports_only_that_rule() -> None:
    rules = [f"{{id: r{i}, when: {{language: [l{i}]}}, then: {{priority: {i}}}}}" for i in range(8)]
    changes = diff(_with_rules(*rules), _with_rules(*rules[1:], rules[0]))
    assert changes == [Change(ChangeKind.rule_moved, rule="r0", old=1, new=8)]


def test_fields_set_and_unset_in_a_rule_and_changed_settings() -> None:
    old = _rules(SITE)
    new = _rules(SITE.replace("when: {concern: integration_advice, age: {lt: 25}}",
                              "when: {concern: integration_advice}")
                 .replace("then: {duration: 20m, modes: [video, phone, in_person], propose: 3}",
                          "then: {duration: 20m, modes: [video, phone, in_person], propose: 3, priority: 40}")
                 .replace("aging_per_workday: 5", "aging_per_workday: 7")
                 .replace("defaults: {priority: 10,", "defaults: {priority: 15,")
                 .replace("max_attempts: 3", "max_attempts: 4"))
    changes = diff(old, new)
    found = {(c.kind, c.part, c.field, repr(c.old), repr(c.new)) for c in changes}
    assert found == {
        (ChangeKind.rule_field, "when", "age", "{'lt': 25}", "None"),
        (ChangeKind.rule_field, "then", "priority", "None", "40"),
        (ChangeKind.setting, "ordering", "aging_per_workday", "5", "7"),
        (ChangeKind.setting, "defaults", "priority", "10", "15"),
        (ChangeKind.setting, "callbacks", "max_attempts", "3", "4"),
    }
    words = _words(changes, "en")
    assert "Age for “under-25” no longer set (was < 25)" in words
    assert "Priority for “Hilfe mit eService” set to 40" in words
    assert "Aging per working day 5 → 7" in words
    assert "Priority by default 10 → 15" in words
    assert "Callback attempts at most 3 → 4" in words
    german = _words(changes, "de")
    assert "Alterung je Arbeitstag 5 → 7" in german


def test_routes_and_lists_are_worded_with_names_and_labels() -> None:
    old = _with_rules("{id: no-money, when: {concern: [no_money, eviction]}, then: {route: {team: entrance}}}")
    new = _with_rules("{id: no-money, when: {concern: [no_money]}, then: {route: {team: u25}}}")
    assert _words(diff(old, new), "en") == [
        "Concern for “No money left” No money left, Räumung → No money left",
        "Route for “No money left” team Eingangszone → team U25"]
    assert _words(diff(old, new), "de")[1] == "Weiterleitung für „Kein Geld mehr“ Team Eingangszone → Team U25"


def test_a_concern_two_rules_are_about_does_not_name_either() -> None:
    old = _with_rules(NO_MONEY, "{id: kiosk-money, when: {concern: [no_money], channel: [kiosk]}, then: {priority: 50}}")
    new = _with_rules(NO_MONEY.replace("90", "95"),
                      "{id: kiosk-money, when: {concern: [no_money], channel: [kiosk]}, then: {priority: 50}}")
    assert _words(diff(old, new), "en") == ["Priority for “no-money” 90 → 95"]


def test_without_an_old_rule_set_every_rule_is_new() -> None:
    site = _rules(SITE)
    changes = diff(None, site)
    assert [c.kind for c in changes] == [ChangeKind.rule_added] * len(site.rules)
    assert [c.new for c in changes] == list(range(1, len(site.rules) + 1))
