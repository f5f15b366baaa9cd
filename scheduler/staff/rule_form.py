"""The rule builder's form <-> rule set, pure: what a form shows for a rule set, and the rule set a form builds.

The form's values are kept as typed (FormState), so a rule can be moved, added or removed, and a wrong value
shown again at its field, without the whole rule set being valid. `build` turns them into the YAML shape and
validates it with the same parser as the YAML editor (policy/parse.py), so the form can build exactly the rule
sets YAML can. Field names in the form: "r3.when.concern" (rule 3), "defaults.duration", "caps.…".
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from scheduler.policy.parse import MAX_RULES, parse_ruleset
from scheduler.policy.readers import parse_duration
from scheduler.policy.rules import RuleError, RuleSet
from scheduler.staff.rule_form_fields import SECTIONS, THEN, WHEN, Field, Widget

Values = dict[str, tuple[str, ...]]  # a form field's name -> its values as typed (check boxes give several)

MAX_VALUE: Final = 200  # characters of one typed value (as readers.MAX_VALUE_CHARS)
MAX_VALUES: Final = 100  # values of one field (check boxes)
_RULE_KEY: Final = re.compile(r"r(\d{1,3})\.(.{1,80})")
_WHOLE: Final = re.compile(r"-?\d{1,9}")
_ERROR_RULE: Final = re.compile(r"^rules\[(\d+)\]")


@dataclass(slots=True)
class FormState:
    """The builder's values: one Values per rule (keys relative to the rule: "id", "when.age.gte" …) and the
    settings (keys like "defaults.duration")."""

    rules: list[Values] = field(default_factory=list)
    settings: Values = field(default_factory=dict)

    def value(self, key: str, index: int | None = None) -> str:
        """The first value of a field ('' when unset)."""
        values = (self.settings if index is None else self.rules[index]).get(key, ())
        return values[0] if values else ""

    def values(self, key: str, index: int | None = None) -> tuple[str, ...]:
        return (self.settings if index is None else self.rules[index]).get(key, ())


# -- rule set -> form ----------------------------------------------------------------------------------------

def _shown(f: Field, v: object) -> Values:
    """The form values of one field's YAML value."""
    if f.widget is Widget.choices:
        return {f.name: tuple(str(x) for x in (v if isinstance(v, list) else [v]))}
    if f.widget is Widget.yes_no:
        return {f.name: ("true" if v else "false",)}
    if f.widget is Widget.minutes:
        td = parse_duration(str(v))
        return {f.name: (str(int(td.total_seconds()) // 60) if td else str(v),)}
    if f.widget is Widget.workdays:
        return {f.name: (str(v).split()[0],)}
    if f.widget is Widget.bounds and isinstance(v, Mapping):
        # Whole numbers: "more than n" is "at least n + 1", "at most n" is "below n + 1".
        low = v.get("gte", v["gt"] + 1 if "gt" in v else None)
        high = v.get("lt", v["lte"] + 1 if "lte" in v else None)
        return {f"{f.name}.gte": () if low is None else (str(low),),
                f"{f.name}.lt": () if high is None else (str(high),)}
    if f.widget is Widget.route and isinstance(v, Mapping):
        if "team" in v:
            return {f.name: (f"team:{v['team']}",)}
        return {f.name: ("assigned" if v.get("caseworker") == "assigned" else f"caseworker:{v.get('caseworker')}",)}
    if f.widget is Widget.follow_up and isinstance(v, Mapping):
        return {f.name: ("invite",), f"{f.name}.lead": (str(v.get("invite", "")).split()[0],)}
    return {f.name: (str(v),)}


def section_values(fields: Iterable[Field], data: Mapping[str, object], prefix: str) -> Values:
    """The form values of one section in the YAML shape ("when", "then", "defaults" …), keys with `prefix`."""
    out: Values = {}
    for f in fields:
        if f.name in data:
            out.update({f"{prefix}{k}": v for k, v in _shown(f, data[f.name]).items()})
    return out


def state_of(ruleset: RuleSet) -> FormState:
    """The form's values for a rule set."""
    data = ruleset.to_dict()
    rules: list[Values] = []
    for rule in data["rules"]:  # type: ignore[attr-defined]
        values: Values = {"id": (rule["id"],)}
        values.update(section_values(WHEN, rule["when"], "when."))
        values.update(section_values(THEN, rule["then"], "then."))
        rules.append(values)
    settings: Values = {}
    for name, _, fields in SECTIONS:
        settings.update(section_values(fields, data[name], f"{name}."))  # type: ignore[arg-type]
    return FormState(rules, settings)


# -- form -> rule set ----------------------------------------------------------------------------------------

def read(form: Any) -> FormState:
    """The builder's values from a posted form (a MultiDict, or a mapping of lists), cut to sane sizes."""
    items = form.items() if hasattr(form, "getall") else ((k, v) for k, vs in form.items() for v in vs)
    posted: dict[str, list[str]] = {}
    for key, value in items:  # one pass: getall() per key would read the whole form again for each key
        found = posted.setdefault(str(key), [])
        if isinstance(value, str) and len(found) < MAX_VALUES:
            found.append(value[:MAX_VALUE].strip())
    rows: dict[int, Values] = {}
    settings: Values = {}
    for key, values in posted.items():
        rule = _RULE_KEY.fullmatch(key)
        if rule is not None and int(rule[1]) < MAX_RULES:
            rows.setdefault(int(rule[1]), {})[rule[2]] = tuple(values)
        elif key in _SETTING_KEYS or key.rpartition(".")[0] in _SETTING_KEYS:
            settings[key] = tuple(values)
    return FormState([rows[i] for i in sorted(rows) if "id" in rows[i]], settings)


_SETTING_KEYS: Final = frozenset(f"{name}.{f.name}" for name, _, fields in SECTIONS for f in fields)


def _number(text: str) -> int | str:
    return int(text) if _WHOLE.fullmatch(text) else text


def _given(f: Field, values: Values, prefix: str) -> object | None:
    """The YAML value of one field from its form values; None when it is left empty (not set)."""
    first = (values.get(prefix + f.name) or ("",))[0]
    if f.widget is Widget.choices:
        chosen = [v for v in values.get(prefix + f.name, ()) if v]
        return chosen or None
    if f.widget is Widget.bounds:
        parts = {op: (values.get(f"{prefix}{f.name}.{op}") or ("",))[0] for op in ("gte", "lt")}
        return {op: _number(v) for op, v in parts.items() if v} or None
    if not first:
        return None
    if f.widget is Widget.yes_no:
        return {"true": True, "false": False}.get(first, first)
    if f.widget in (Widget.number, Widget.workdays):
        return _number(first)
    if f.widget is Widget.minutes:
        return f"{first}m" if first.isdigit() else first
    if f.widget is Widget.route:
        return _route(first)
    if f.widget is Widget.follow_up and first == "invite":
        lead = (values.get(f"{prefix}{f.name}.lead") or ("",))[0]
        return {"invite": _number(lead) if lead else ""}
    return first


def _route(chosen: str) -> object:
    """'assigned', 'team:CODE' or 'caseworker:ID' (the route select's values) in the YAML shape."""
    kind, _, ref = chosen.partition(":")
    if kind == "team":
        return {"team": ref}
    if kind == "caseworker":
        return {"caseworker": _number(ref)}
    return {"caseworker": "assigned"} if chosen == "assigned" else chosen


def _section(fields: Iterable[Field], values: Values, prefix: str) -> dict[str, object]:
    return {f.name: v for f in fields if (v := _given(f, values, prefix)) is not None}


def to_data(state: FormState) -> dict[str, object]:
    """The rule set in the YAML shape, as the form's values say (not yet validated)."""
    rules = [{"id": (values.get("id") or ("",))[0], "when": _section(WHEN, values, "when."),
              "then": _section(THEN, values, "then.")} for values in state.rules]
    return {"rules": rules, **{name: _section(fields, state.settings, f"{name}.") for name, _, fields in SECTIONS}}


def build(state: FormState) -> RuleSet:
    """The validated rule set the form describes; RuleSetInvalid with every problem otherwise."""
    return parse_ruleset(to_data(state))


def field_key(error: RuleError) -> str:
    """The form field a problem belongs to: "r2.then.duration", "r2.when.age", "r2" (the rule), "defaults.within",
    or "" (the whole rule set)."""
    found = _ERROR_RULE.match(error.path)
    rel = error.params.get("field", "")
    if found is not None and "rule" in error.params:
        return f"r{found[1]}" if rel in ("", error.path) else ".".join([f"r{found[1]}", *rel.split(".")[:2]])
    return ".".join(error.path.split(".")[:2]) if error.path.partition(".")[0] in _SECTION_NAMES else ""


_SECTION_NAMES: Final = frozenset(name for name, _, _ in SECTIONS)


def errors_by_field(errors: Sequence[RuleError]) -> dict[str, list[RuleError]]:
    """The problems grouped by the form field they are shown at."""
    grouped: dict[str, list[RuleError]] = {}
    for error in errors:
        grouped.setdefault(field_key(error), []).append(error)
    return grouped


# -- editing the list of rules (buttons, no JavaScript needed) ---------------------------------------------

def new_rule_id(state: FormState, base: str = "rule") -> str:
    """An id no rule of the form uses yet: base, base-2, base-3 …"""
    taken = {v.get("id", ("",))[0] for v in state.rules}
    n, candidate = 1, base
    while candidate in taken:
        n += 1
        candidate = f"{base}-{n}"
    return candidate


def apply(state: FormState, action: str, templates: Mapping[str, Values] | None = None) -> bool:
    """Carry out an editing button ("add", "up:2", "down:2", "remove:2", "template:KEY") on the state;
    False when the action is none of these (then it is a check, preview or save)."""
    verb, _, arg = action.partition(":")
    rules = state.rules
    if verb == "add" and len(rules) < MAX_RULES:
        rules.append({"id": (new_rule_id(state),)})
        return True
    if verb == "template" and templates is not None and arg in templates and len(rules) < MAX_RULES:
        values = dict(templates[arg])
        values["id"] = (new_rule_id(state, values["id"][0]),)
        rules.append(values)
        return True
    if verb not in ("up", "down", "remove") or not arg.isdigit() or not int(arg) < len(rules):
        return False
    i = int(arg)
    if verb == "remove":
        del rules[i]
    elif verb == "up" and i > 0:
        rules[i - 1], rules[i] = rules[i], rules[i - 1]
    elif verb == "down" and i + 1 < len(rules):
        rules[i + 1], rules[i] = rules[i], rules[i + 1]
    return True
