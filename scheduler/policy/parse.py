"""The validating parser: a rule set in the YAML/JSON shape -> RuleSet, or RuleSetInvalid with every problem."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final

import yaml

from scheduler.policy.readers import (
    Collector,
    Where,
    age_range,
    boolean,
    bounded,
    check_keys,
    codes,
    described,
    duration,
    enum_list,
    enum_one,
    follow_up,
    mapping,
    names,
    no_shows,
    route,
    top_level,
    whole_number,
    workdays,
)
from scheduler.policy.rules import (
    CallbackPolicy,
    Caps,
    Channel,
    Condition,
    Defaults,
    Kind,
    Mode,
    Need,
    Ordering,
    Rule,
    RuleError,
    RuleOutcome,
    RuleSet,
    RuleSetInvalid,
    TieBreak,
)

DURATION_RANGE: Final = (timedelta(minutes=5), timedelta(hours=4))
RETRY_AFTER_RANGE: Final = (timedelta(minutes=5), timedelta(hours=24))
PRIORITY_RANGE: Final = (0, 100)
LEAD_TIME_RANGE: Final = (0, 30)
WITHIN_RANGE: Final = (1, 60)
PROPOSE_RANGE: Final = (1, 10)
AGING_RANGE: Final = (0, 100)
CAP_RANGE: Final = (1, 100)
MAX_ATTEMPTS_RANGE: Final = (1, 10)

# "defaults" is reserved: explanation lines use it as the source of default values.
RESERVED_IDS: Final = frozenset({"defaults"})
MAX_RULES: Final = 500
MAX_YAML_CHARS: Final = 100_000  # the whole text; real rule sets are a few KB
_ID_RE: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")

# How each field is read: (raw value, where, collector) -> the value, or None after reporting the problem.
_Parse = Callable[[object, Where, Collector], Any]

_THEN: Final[Mapping[str, _Parse]] = {
    "priority": lambda v, w, c: whole_number(v, PRIORITY_RANGE, w, c),
    "route": route,
    "duration": lambda v, w, c: duration(v, DURATION_RANGE, w, c),
    "lead_time": lambda v, w, c: workdays(v, LEAD_TIME_RANGE, w, c),
    "within": lambda v, w, c: workdays(v, WITHIN_RANGE, w, c),
    "modes": lambda v, w, c: enum_list(v, Mode, "bad-mode", w, c),
    "propose": lambda v, w, c: whole_number(v, PROPOSE_RANGE, w, c),
    "auto_confirm": boolean,
    "follow_up": lambda v, w, c: follow_up(v, LEAD_TIME_RANGE, w, c),
    "walk_in": boolean,
}
_WHEN: Final[Mapping[str, _Parse]] = {
    "concern": names,
    "channel": lambda v, w, c: enum_list(v, Channel, "bad-value", w, c),
    "language": names,
    "kind": lambda v, w, c: enum_list(v, Kind, "bad-value", w, c),
    "age": age_range,
    "urgent": boolean,
    "needs": lambda v, w, c: enum_list(v, Need, "bad-value", w, c),
    "invitation": boolean,
    "no_shows": no_shows,
    "groups": codes,
}


def _fields(m: Mapping[str, object], parsers: Mapping[str, _Parse], where: Where, c: Collector) -> dict[str, Any]:
    """The fields of `m` that are present, each read by its parser (None where it was invalid)."""
    check_keys(m, tuple(parsers), where, c)
    out: dict[str, Any] = {}
    for name in (n for n in parsers if n in m):  # in the parsers' order, as the problems are listed
        at = where.child(name)
        if bounded(m[name], at, c):
            out[name] = parsers[name](m[name], at, c)
    return out


def _condition(v: object, where: Where, c: Collector) -> Condition:
    m = mapping(v, where, c)
    return Condition() if m is None else Condition(**_fields(m, _WHEN, where, c))


def _check_window(lead_time: int, within: int, where: Where, c: Collector) -> None:
    if within < lead_time:
        c.add(
            where.child("within"),
            "within-before-lead-time",
            allowed="within >= lead_time",
            lead_time=lead_time,
            within=within,
            got=within,
        )


def _rule_id(m: Mapping[str, object], rw: Where, seen: dict[str, str], c: Collector) -> str | None:
    if "id" not in m:
        c.add(rw.child("id"), "missing")
        return None
    rid = m["id"]
    if not isinstance(rid, str) or not _ID_RE.match(rid) or rid in RESERVED_IDS:
        allowed = "1-64 letters, digits, '-', '_' or '.', starting with a letter or digit, not 'defaults'"
        c.add(rw.child("id"), "bad-id", allowed=allowed, got=described(rid))
        return None
    if rid in seen:
        c.add(rw.child("id"), "duplicate-id", id=rid, first=seen[rid])
        return None
    seen[rid] = rw.path
    return rid


def _rule_then(m: Mapping[str, object], rw: Where, c: Collector) -> RuleOutcome:
    if "then" not in m:
        c.add(rw.child("then"), "missing")
        return RuleOutcome()
    tm = mapping(m["then"], rw.child("then"), c)
    if tm is None:
        return RuleOutcome()
    if not tm:
        c.add(rw.child("then"), "empty")
        return RuleOutcome()
    return RuleOutcome(**_fields(tm, _THEN, rw.child("then"), c))


_Rules = list[tuple[Where, Rule]]


def _rules(v: object, c: Collector) -> _Rules:
    if not isinstance(v, list):
        c.add(top_level("rules"), "not-a-list", got=described(v))
        return []
    if len(v) > MAX_RULES:
        c.add(top_level("rules"), "too-many", limit=MAX_RULES, size=len(v))
        return []
    out: _Rules = []
    seen: dict[str, str] = {}
    for i, raw in enumerate(v):
        rid = raw.get("id") if isinstance(raw, Mapping) else None
        named = isinstance(rid, str) and 0 < len(rid) <= 64
        rw = Where(f"rules[{i}] ({rid})" if named else f"rules[{i}]", str(rid) if named else f"#{i + 1}")
        m = mapping(raw, rw, c)
        if m is None:
            continue
        check_keys(m, ("id", "when", "then"), rw, c)
        checked_id = _rule_id(m, rw, seen, c)
        when = _condition(m["when"], rw.child("when"), c) if "when" in m else Condition()
        then = _rule_then(m, rw, c)
        if checked_id is not None:
            out.append((rw, Rule(checked_id, when, then)))
    return out


def _check_defaults(defaults: Defaults, given: Mapping[str, object], where: Where, rules: _Rules,
                    c: Collector) -> None:
    """Only rules may auto-confirm or allow walk-ins, and every rule's window must stay open once the defaults
    fill it in."""
    if given.get("auto_confirm"):
        c.add(where.child("auto_confirm"), "auto-confirm-in-defaults", allowed="false", got=True)
    if given.get("walk_in"):
        c.add(where.child("walk_in"), "walk-in-in-defaults", allowed="false", got=True)
    _check_window(defaults.lead_time, defaults.within, where, c)
    for rw, rule in rules:
        t = rule.then
        if t.lead_time is not None or t.within is not None:
            lead = defaults.lead_time if t.lead_time is None else t.lead_time
            _check_window(lead, defaults.within if t.within is None else t.within, rw.child("then"), c)


@dataclass(frozen=True, slots=True)
class _Section:
    """A top-level settings section: the fields it may set over its defaults, and what to check afterwards."""

    name: str
    base: Any  # the section's dataclass with its default values
    fields: Mapping[str, _Parse]
    check: Callable[[Any, Mapping[str, object], Where, _Rules, Collector], None] | None = None


_SECTIONS: Final = (
    _Section("defaults", Defaults(), _THEN, _check_defaults),
    _Section("ordering", Ordering(), {
        "aging_per_workday": lambda v, w, c: whole_number(v, AGING_RANGE, w, c),
        "tie_break": lambda v, w, c: enum_one(v, TieBreak, w, c),
    }),
    _Section("caps", Caps(), {
        "appointments_per_caseworker_per_day": lambda v, w, c: whole_number(v, CAP_RANGE, w, c),
        "callbacks_per_caseworker_per_day": lambda v, w, c: whole_number(v, CAP_RANGE, w, c),
    }),
    _Section("callbacks", CallbackPolicy(), {
        "retry_after": lambda v, w, c: duration(v, RETRY_AFTER_RANGE, w, c),
        "max_attempts": lambda v, w, c: whole_number(v, MAX_ATTEMPTS_RANGE, w, c),
    }),
)
_TOP_FIELDS: Final = ("rules", *(s.name for s in _SECTIONS))


def _section(section: _Section, top: Mapping[str, object], rules: _Rules, c: Collector) -> Any:
    """The section's values over its defaults (the defaults alone when it is absent or invalid)."""
    where = top_level(section.name)
    given: Mapping[str, object] = {}
    if section.name in top and (m := mapping(top[section.name], where, c)) is not None:
        given = _fields(m, section.fields, where, c)
    value = dataclasses.replace(section.base, **{k: v for k, v in given.items() if v is not None})
    if section.check is not None:
        section.check(value, given, where, rules, c)
    return value


def parse_ruleset(data: Mapping[str, object]) -> RuleSet:
    """Validate a rule set in the YAML/JSON shape; raise RuleSetInvalid listing every problem."""
    c = Collector()
    top = mapping(data, Where(""), c)
    if top is None:
        raise RuleSetInvalid(tuple(c.errors))
    check_keys(top, _TOP_FIELDS, Where(""), c)
    rules: _Rules = []
    if "rules" not in top:
        c.add(top_level("rules"), "missing")
    else:
        rules = _rules(top["rules"], c)
    defaults, ordering, caps, callbacks = (_section(s, top, rules, c) for s in _SECTIONS)
    if c.errors:
        raise RuleSetInvalid(tuple(c.errors))
    return RuleSet(tuple(r for _, r in rules), defaults, ordering, caps, callbacks)


class _Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 booleans: only true/false, so `id: off` or `concern: no` stay text."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
for _first in "tTfF":
    _Loader.yaml_implicit_resolvers.setdefault(_first, []).append(
        ("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"))
    )


def load_yaml(text: str) -> RuleSet:
    """Parse and validate YAML; syntax errors become one 'yaml-syntax' RuleError with the line."""
    if len(text) > MAX_YAML_CHARS:
        raise RuleSetInvalid((RuleError("", "too-long", {"field": "", "limit": str(MAX_YAML_CHARS),
                                                         "size": str(len(text))}),))
    try:
        data = yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader  # nosec B506
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 0
        column = mark.column + 1 if mark is not None else 0
        problem = getattr(e, "problem", None) or str(e)
        err = RuleError(
            "", "yaml-syntax", {"field": "", "line": str(line), "column": str(column), "problem": problem}
        )
        raise RuleSetInvalid((err,)) from e
    if not isinstance(data, Mapping):
        c = Collector()
        c.add(Where(""), "not-a-mapping", got=described(data))
        raise RuleSetInvalid(tuple(c.errors))
    return parse_ruleset(data)


def dump_yaml(ruleset: RuleSet) -> str:
    """The rule set as YAML that load_yaml() reads back to an equal RuleSet."""
    # libyaml's emitter when there is one: the pure-Python one takes most of a large rule set's save.
    return yaml.dump(ruleset.to_dict(), Dumper=_DUMPER, sort_keys=False, allow_unicode=True,
                     default_flow_style=None)


_DUMPER: Final = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
