"""Caseworker-owned policy rule sets as validated, immutable data (YAML/JSON shape <-> objects)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import Final, TypeVar

import yaml


class Mode(StrEnum):
    in_person = "in_person"
    phone = "phone"
    video = "video"


class Kind(StrEnum):
    appointment = "appointment"
    callback = "callback"


class Channel(StrEnum):
    web = "web"
    kiosk = "kiosk"
    phone = "phone"
    sms = "sms"
    staff = "staff"


class TieBreak(StrEnum):
    oldest_first = "oldest_first"
    newest_first = "newest_first"


DURATION_RANGE: Final = (timedelta(minutes=5), timedelta(hours=4))
RETRY_AFTER_RANGE: Final = (timedelta(minutes=5), timedelta(hours=24))
PRIORITY_RANGE: Final = (0, 100)
LEAD_TIME_RANGE: Final = (0, 30)
WITHIN_RANGE: Final = (1, 60)
PROPOSE_RANGE: Final = (1, 10)
AGE_RANGE: Final = (0, 130)
AGING_RANGE: Final = (0, 100)
CAP_RANGE: Final = (1, 100)
MAX_ATTEMPTS_RANGE: Final = (1, 10)

# "defaults" is reserved: explanation lines use it as the source of default values.
RESERVED_IDS: Final = frozenset({"defaults"})
_ID_RE: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_TEAM_RE: Final = re.compile(r"^[a-z0-9_-]{1,40}$")  # same as teams.code CHECK
_DURATION_RE: Final = re.compile(r"^\s*(?:(\d+)\s*h)?\s*(?:(\d+)\s*m(?:in)?)?\s*$")
_WORKDAYS_RE: Final = re.compile(r"^\s*(\d+)\s*workdays?\s*$")
_AGE_OPS: Final = ("lt", "lte", "gt", "gte")


# ---------------------------------------------------------------------------------------------
# errors

_DETAIL: Final[dict[str, str]] = {
    "yaml-syntax": "is not valid YAML at line {line}, column {column}: {problem}",
    "not-a-mapping": "must be a mapping of 'key: value' fields, got {got}",
    "not-a-list": "must be a list (or a single value), got {got}",
    "bad-type": "must be {expected} ({allowed}), got {got}",
    "unknown-field": "is not a known field; allowed fields are: {allowed}",
    "missing": "is required",
    "empty": "must not be empty",
    "duplicate-id": "repeats the id '{id}' already used by {first}; rule ids must be unique",
    "bad-id": "must be {allowed}, got {got}",
    "bad-duration": "must be a duration like 20m, 2h or 1h30m in the range {allowed}, got {got}",
    "bad-workdays": "must be a number of workdays like '1 workday' or '10 workdays' in the range "
    "{allowed}, got {got}",
    "out-of-range": "must be in the range {allowed}, got {got}",
    "bad-mode": "must contain only the modes {allowed}, got {got}",
    "bad-value": "must be one of {allowed}, got {got}",
    "bad-route": "must be {allowed}, got {got}",
    "within-before-lead-time": "({within} workdays) must be at least lead_time ({lead_time} workdays) "
    "once defaults are applied; allowed: {allowed}",
    "auto-confirm-in-defaults": "must be {allowed}: only a rule can enable auto-confirmation, got {got}",
}


@dataclass(frozen=True, slots=True)
class RuleError:
    """One problem in a rule set; `code` and `params` are stable so the UI can translate them."""

    path: str  # e.g. "rules[1] (under-25).then.duration"
    code: str
    params: Mapping[str, str]  # always has "field"; "rule" when inside a rule; "allowed"/"got" if relevant

    @property
    def message(self) -> str:
        """An English sentence naming the rule, the field and what is allowed."""
        if self.code == "yaml-syntax":
            return "The rule set " + _DETAIL[self.code].format_map(self.params) + "."
        rule = self.params.get("rule")
        if rule:
            subject = f"Rule '{rule}', field '{self.params['field']}',"
        else:
            subject = f"Field '{self.path}'" if self.path else "The rule set"
        detail = _DETAIL.get(self.code, "is invalid ({code})").format_map({"code": self.code, **self.params})
        return f"{subject} {detail}."


class RuleSetInvalid(Exception):
    """Raised with every problem found in a rule set, not just the first."""

    def __init__(self, errors: tuple[RuleError, ...]) -> None:
        super().__init__("\n".join(e.message for e in errors))
        self.errors = errors


# ---------------------------------------------------------------------------------------------
# data


@dataclass(frozen=True, slots=True)
class Route:
    """Exactly one of: a team, a fixed caseworker, or the client's assigned caseworker."""

    team: str | None = None
    caseworker_id: int | None = None
    assigned: bool = False

    def __post_init__(self) -> None:
        if (self.team is not None) + (self.caseworker_id is not None) + self.assigned != 1:
            raise ValueError("a route needs exactly one of team, caseworker_id, assigned")

    def to_dict(self) -> dict[str, object]:
        """The YAML/JSON shape: {team: CODE} | {caseworker: ID} | {caseworker: assigned}."""
        if self.team is not None:
            return {"team": self.team}
        return {"caseworker": "assigned" if self.assigned else self.caseworker_id}

    def __str__(self) -> str:
        if self.team is not None:
            return f"team {self.team}"
        return "assigned caseworker" if self.assigned else f"caseworker {self.caseworker_id}"


@dataclass(frozen=True, slots=True)
class AgeRange:
    lt: int | None = None
    lte: int | None = None
    gt: int | None = None
    gte: int | None = None

    def contains(self, age: int) -> bool:
        """True if `age` satisfies every bound that is set."""
        return (
            (self.lt is None or age < self.lt)
            and (self.lte is None or age <= self.lte)
            and (self.gt is None or age > self.gt)
            and (self.gte is None or age >= self.gte)
        )

    def to_dict(self) -> dict[str, int]:
        """Only the bounds that are set."""
        bounds = {"lt": self.lt, "lte": self.lte, "gt": self.gt, "gte": self.gte}
        return {k: v for k, v in bounds.items() if v is not None}


@dataclass(frozen=True, slots=True)
class Condition:
    """The `when` part; a field left as None is not tested. All set fields must match."""

    concern: tuple[str, ...] | None = None
    channel: tuple[Channel, ...] | None = None
    language: tuple[str, ...] | None = None
    kind: tuple[Kind, ...] | None = None
    age: AgeRange | None = None
    urgent: bool | None = None

    def to_dict(self) -> dict[str, object]:
        """The YAML/JSON shape (lists for multi-valued fields)."""
        out: dict[str, object] = {}
        if self.concern is not None:
            out["concern"] = list(self.concern)
        if self.channel is not None:
            out["channel"] = [str(c) for c in self.channel]
        if self.language is not None:
            out["language"] = list(self.language)
        if self.kind is not None:
            out["kind"] = [str(k) for k in self.kind]
        if self.age is not None:
            out["age"] = self.age.to_dict()
        if self.urgent is not None:
            out["urgent"] = self.urgent
        return out


@dataclass(frozen=True, slots=True)
class Outcome:
    """The `then` part of a rule; None means "this rule does not set the field"."""

    priority: int | None = None
    route: Route | None = None
    duration: timedelta | None = None
    lead_time: int | None = None  # workdays
    within: int | None = None  # workdays
    modes: tuple[Mode, ...] | None = None
    propose: int | None = None
    auto_confirm: bool | None = None

    def to_dict(self) -> dict[str, object]:
        """The YAML/JSON shape, only the fields that are set."""
        return _settings_dict(self)


@dataclass(frozen=True, slots=True)
class Defaults:
    """Values used for every field no matching rule sets."""

    priority: int = 10
    route: Route = field(default_factory=lambda: Route(assigned=True))
    duration: timedelta = timedelta(minutes=30)
    lead_time: int = 1
    within: int = 15
    modes: tuple[Mode, ...] = (Mode.in_person, Mode.phone, Mode.video)
    propose: int = 3
    auto_confirm: bool = False

    def to_dict(self) -> dict[str, object]:
        """The YAML/JSON shape with every field."""
        return _settings_dict(self)


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    when: Condition
    then: Outcome

    def to_dict(self) -> dict[str, object]:
        """The YAML/JSON shape of one rule."""
        return {"id": self.id, "when": self.when.to_dict(), "then": self.then.to_dict()}


@dataclass(frozen=True, slots=True)
class Ordering:
    aging_per_workday: int = 5
    tie_break: TieBreak = TieBreak.oldest_first

    def to_dict(self) -> dict[str, object]:
        """The YAML/JSON shape."""
        return {"aging_per_workday": self.aging_per_workday, "tie_break": str(self.tie_break)}


@dataclass(frozen=True, slots=True)
class Caps:
    appointments_per_caseworker_per_day: int = 8
    callbacks_per_caseworker_per_day: int = 15

    def to_dict(self) -> dict[str, object]:
        """The YAML/JSON shape."""
        return {
            "appointments_per_caseworker_per_day": self.appointments_per_caseworker_per_day,
            "callbacks_per_caseworker_per_day": self.callbacks_per_caseworker_per_day,
        }


@dataclass(frozen=True, slots=True)
class CallbackPolicy:
    retry_after: timedelta = timedelta(hours=2)
    max_attempts: int = 3

    def to_dict(self) -> dict[str, object]:
        """The YAML/JSON shape."""
        return {"retry_after": format_duration(self.retry_after), "max_attempts": self.max_attempts}


@dataclass(frozen=True, slots=True)
class RuleSet:
    rules: tuple[Rule, ...]
    defaults: Defaults = Defaults()
    ordering: Ordering = Ordering()
    caps: Caps = Caps()
    callbacks: CallbackPolicy = CallbackPolicy()

    def to_dict(self) -> dict[str, object]:
        """JSON-safe dict in the YAML shape; parse_ruleset(rs.to_dict()) == rs."""
        return {
            "rules": [r.to_dict() for r in self.rules],
            "defaults": self.defaults.to_dict(),
            "ordering": self.ordering.to_dict(),
            "caps": self.caps.to_dict(),
            "callbacks": self.callbacks.to_dict(),
        }


def format_duration(td: timedelta) -> str:
    """Whole minutes as '20m', '2h' or '1h30m'."""
    hours, minutes = divmod(int(td.total_seconds()) // 60, 60)
    if hours and minutes:
        return f"{hours}h{minutes}m"
    return f"{hours}h" if hours else f"{minutes}m"


def format_workdays(n: int) -> str:
    """'1 workday' / 'N workdays'."""
    return f"{n} workday" if n == 1 else f"{n} workdays"


def _settings_dict(s: Outcome | Defaults) -> dict[str, object]:
    out: dict[str, object] = {}
    if s.priority is not None:
        out["priority"] = s.priority
    if s.route is not None:
        out["route"] = s.route.to_dict()
    if s.duration is not None:
        out["duration"] = format_duration(s.duration)
    if s.lead_time is not None:
        out["lead_time"] = format_workdays(s.lead_time)
    if s.within is not None:
        out["within"] = format_workdays(s.within)
    if s.modes is not None:
        out["modes"] = [str(m) for m in s.modes]
    if s.propose is not None:
        out["propose"] = s.propose
    if s.auto_confirm is not None:
        out["auto_confirm"] = s.auto_confirm
    return out


# ---------------------------------------------------------------------------------------------
# parsing


@dataclass(frozen=True, slots=True)
class _Where:
    path: str  # full path for RuleError.path
    rule: str | None = None  # rule label for messages
    rel: str = ""  # path relative to the rule (or full path outside rules)

    def child(self, name: str) -> _Where:
        return _Where(
            f"{self.path}.{name}" if self.path else name,
            self.rule,
            f"{self.rel}.{name}" if self.rel else name,
        )


def _top(name: str) -> _Where:
    return _Where(name, None, name)


class _Collector:
    def __init__(self) -> None:
        self.errors: list[RuleError] = []

    def add(self, where: _Where, code: str, **params: object) -> None:
        p = {k: _show(v) for k, v in params.items()}
        p["field"] = where.rel or where.path
        if where.rule is not None:
            p["rule"] = where.rule
        self.errors.append(RuleError(where.path, code, p))


def _show(v: object) -> str:
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "nothing"
    return str(v)


def _got(v: object) -> str:
    if isinstance(v, str):
        return repr(v)
    if isinstance(v, Mapping):
        return "a mapping"
    if isinstance(v, list | tuple):
        return "a list"
    return _show(v)


def _mapping(v: object, where: _Where, c: _Collector) -> Mapping[str, object] | None:
    if not isinstance(v, Mapping):
        c.add(where, "not-a-mapping", got=_got(v))
        return None
    return {str(k): val for k, val in v.items()}


def _check_keys(m: Mapping[str, object], allowed: tuple[str, ...], where: _Where, c: _Collector) -> None:
    for k in m:
        if k not in allowed:
            c.add(where.child(k), "unknown-field", allowed=", ".join(allowed), got=k)


def _int(v: object, rng: tuple[int, int], where: _Where, c: _Collector) -> int | None:
    if isinstance(v, bool) or not isinstance(v, int):
        c.add(where, "bad-type", expected="a whole number", got=_got(v), allowed=f"{rng[0]}..{rng[1]}")
        return None
    if not rng[0] <= v <= rng[1]:
        c.add(where, "out-of-range", allowed=f"{rng[0]}..{rng[1]}", got=v)
        return None
    return v


def _bool(v: object, where: _Where, c: _Collector) -> bool | None:
    if not isinstance(v, bool):
        c.add(where, "bad-type", expected="true or false", got=_got(v), allowed="true, false")
        return None
    return v


def parse_duration(text: str) -> timedelta | None:
    """'20m', '2h', '1h30m' -> timedelta; None if the text is not such a duration."""
    m = _DURATION_RE.match(text)
    if m is None or (m.group(1) is None and m.group(2) is None):
        return None
    return timedelta(hours=int(m.group(1) or 0), minutes=int(m.group(2) or 0))


def _duration(v: object, rng: tuple[timedelta, timedelta], where: _Where, c: _Collector) -> timedelta | None:
    allowed = f"{format_duration(rng[0])}..{format_duration(rng[1])}"
    td = parse_duration(v) if isinstance(v, str) else None
    if td is None:
        c.add(where, "bad-duration", allowed=allowed, got=_got(v))
        return None
    if not rng[0] <= td <= rng[1]:
        c.add(where, "out-of-range", allowed=allowed, got=v)
        return None
    return td


def _workdays(v: object, rng: tuple[int, int], where: _Where, c: _Collector) -> int | None:
    allowed = f"{rng[0]}..{rng[1]} workdays"
    n: int | None = None
    if isinstance(v, int) and not isinstance(v, bool):
        n = v
    elif isinstance(v, str) and (m := _WORKDAYS_RE.match(v)):
        n = int(m.group(1))
    if n is None:
        c.add(where, "bad-workdays", allowed=allowed, got=_got(v))
        return None
    if not rng[0] <= n <= rng[1]:
        c.add(where, "out-of-range", allowed=allowed, got=v)
        return None
    return n


def _list(v: object, where: _Where, c: _Collector) -> list[object] | None:
    """A list, or a scalar standing for a one-element list."""
    if isinstance(v, list | tuple):
        if not v:
            c.add(where, "empty")
            return None
        return list(v)
    if isinstance(v, Mapping) or v is None:
        c.add(where, "not-a-list", got=_got(v))
        return None
    return [v]


_E = TypeVar("_E", bound=StrEnum)


def _enum_list(v: object, enum: type[_E], code: str, where: _Where, c: _Collector) -> tuple[_E, ...] | None:
    items = _list(v, where, c)
    if items is None:
        return None
    allowed = [e.value for e in enum]
    bad = [i for i in items if not isinstance(i, str) or i not in allowed]
    if bad:
        c.add(where, code, allowed=", ".join(allowed), got=", ".join(_got(b) for b in bad))
        return None
    return tuple(dict.fromkeys(enum(str(i)) for i in items))


def _enum_one(v: object, enum: type[_E], where: _Where, c: _Collector) -> _E | None:
    allowed = [e.value for e in enum]
    if not isinstance(v, str) or v not in allowed:
        c.add(where, "bad-value", allowed=", ".join(allowed), got=_got(v))
        return None
    return enum(v)


def _str_list(v: object, where: _Where, c: _Collector) -> tuple[str, ...] | None:
    items = _list(v, where, c)
    if items is None:
        return None
    bad = [i for i in items if not isinstance(i, str) or not i.strip()]
    if bad:
        c.add(
            where,
            "bad-type",
            expected="a list of names",
            allowed="non-empty text values",
            got=", ".join(_got(b) for b in bad),
        )
        return None
    return tuple(dict.fromkeys(str(i) for i in items))


_ROUTE_SHAPES: Final = (
    "{team: CODE} (CODE of lowercase letters, digits, '-' or '_'), {caseworker: ID} (a positive number) "
    "or {caseworker: assigned}"
)


def _route(v: object, where: _Where, c: _Collector) -> Route | None:
    if isinstance(v, Mapping) and len(v) == 1:
        ((key, val),) = v.items()
        if key == "team" and isinstance(val, str) and _TEAM_RE.match(val):
            return Route(team=val)
        if key == "caseworker" and val == "assigned":
            return Route(assigned=True)
        if key == "caseworker" and isinstance(val, int) and not isinstance(val, bool) and val > 0:
            return Route(caseworker_id=val)
    got = _got(v)
    if isinstance(v, Mapping):
        got = "{" + ", ".join(f"{k}: {_show(x)}" for k, x in v.items()) + "}"
    c.add(where, "bad-route", allowed=_ROUTE_SHAPES, got=got)
    return None


def _age(v: object, where: _Where, c: _Collector) -> AgeRange | None:
    m = _mapping(v, where, c)
    if m is None:
        return None
    if not m:
        c.add(where, "empty")
        return None
    _check_keys(m, _AGE_OPS, where, c)
    bounds = {op: _int(m[op], AGE_RANGE, where.child(op), c) for op in _AGE_OPS if op in m}
    if any(b is None for b in bounds.values()) or set(m) - set(_AGE_OPS):
        return None
    return AgeRange(**bounds)


_WHEN_FIELDS: Final = ("concern", "channel", "language", "kind", "age", "urgent")
_THEN_FIELDS: Final = (
    "priority",
    "route",
    "duration",
    "lead_time",
    "within",
    "modes",
    "propose",
    "auto_confirm",
)


def _condition(v: object, where: _Where, c: _Collector) -> Condition:
    m = _mapping(v, where, c)
    if m is None:
        return Condition()
    _check_keys(m, _WHEN_FIELDS, where, c)
    return Condition(
        concern=_str_list(m["concern"], where.child("concern"), c) if "concern" in m else None,
        channel=_enum_list(m["channel"], Channel, "bad-value", where.child("channel"), c)
        if "channel" in m
        else None,
        language=_str_list(m["language"], where.child("language"), c) if "language" in m else None,
        kind=_enum_list(m["kind"], Kind, "bad-value", where.child("kind"), c) if "kind" in m else None,
        age=_age(m["age"], where.child("age"), c) if "age" in m else None,
        urgent=_bool(m["urgent"], where.child("urgent"), c) if "urgent" in m else None,
    )


_T = TypeVar("_T")


def _opt(
    m: Mapping[str, object], key: str, where: _Where, parse: Callable[[object, _Where], _T | None]
) -> _T | None:
    return parse(m[key], where.child(key)) if key in m else None


def _settings(m: Mapping[str, object], where: _Where, c: _Collector) -> Outcome:
    _check_keys(m, _THEN_FIELDS, where, c)
    return Outcome(
        priority=_opt(m, "priority", where, lambda v, w: _int(v, PRIORITY_RANGE, w, c)),
        route=_opt(m, "route", where, lambda v, w: _route(v, w, c)),
        duration=_opt(m, "duration", where, lambda v, w: _duration(v, DURATION_RANGE, w, c)),
        lead_time=_opt(m, "lead_time", where, lambda v, w: _workdays(v, LEAD_TIME_RANGE, w, c)),
        within=_opt(m, "within", where, lambda v, w: _workdays(v, WITHIN_RANGE, w, c)),
        modes=_opt(m, "modes", where, lambda v, w: _enum_list(v, Mode, "bad-mode", w, c)),
        propose=_opt(m, "propose", where, lambda v, w: _int(v, PROPOSE_RANGE, w, c)),
        auto_confirm=_opt(m, "auto_confirm", where, lambda v, w: _bool(v, w, c)),
    )


def _defaults(v: object, where: _Where, c: _Collector) -> Defaults:
    m = _mapping(v, where, c)
    if m is None:
        return Defaults()
    s = _settings(m, where, c)
    if s.auto_confirm:
        c.add(where.child("auto_confirm"), "auto-confirm-in-defaults", allowed="false", got=True)
    base = Defaults()
    return Defaults(
        priority=base.priority if s.priority is None else s.priority,
        route=s.route or base.route,
        duration=s.duration or base.duration,
        lead_time=base.lead_time if s.lead_time is None else s.lead_time,
        within=s.within or base.within,
        modes=s.modes or base.modes,
        propose=s.propose or base.propose,
        auto_confirm=False,
    )


def _check_window(lead_time: int, within: int, where: _Where, c: _Collector) -> None:
    if within < lead_time:
        c.add(
            where.child("within"),
            "within-before-lead-time",
            allowed="within >= lead_time",
            lead_time=lead_time,
            within=within,
            got=within,
        )


def _rule_id(m: Mapping[str, object], rw: _Where, seen: dict[str, str], c: _Collector) -> str | None:
    if "id" not in m:
        c.add(rw.child("id"), "missing")
        return None
    rid = m["id"]
    if not isinstance(rid, str) or not _ID_RE.match(rid) or rid in RESERVED_IDS:
        allowed = "1-64 letters, digits, '-', '_' or '.', starting with a letter or digit, not 'defaults'"
        c.add(rw.child("id"), "bad-id", allowed=allowed, got=_got(rid))
        return None
    if rid in seen:
        c.add(rw.child("id"), "duplicate-id", id=rid, first=seen[rid])
        return None
    seen[rid] = rw.path
    return rid


def _rule_then(m: Mapping[str, object], rw: _Where, c: _Collector) -> Outcome:
    if "then" not in m:
        c.add(rw.child("then"), "missing")
        return Outcome()
    tm = _mapping(m["then"], rw.child("then"), c)
    if tm is None:
        return Outcome()
    if not tm:
        c.add(rw.child("then"), "empty")
        return Outcome()
    return _settings(tm, rw.child("then"), c)


def _rules(v: object, c: _Collector) -> list[tuple[_Where, Rule]]:
    if not isinstance(v, list):
        c.add(_top("rules"), "not-a-list", got=_got(v))
        return []
    out: list[tuple[_Where, Rule]] = []
    seen: dict[str, str] = {}
    for i, raw in enumerate(v):
        rid = raw.get("id") if isinstance(raw, Mapping) else None
        named = isinstance(rid, str) and bool(rid)
        rw = _Where(f"rules[{i}] ({rid})" if named else f"rules[{i}]", str(rid) if named else f"#{i + 1}")
        m = _mapping(raw, rw, c)
        if m is None:
            continue
        _check_keys(m, ("id", "when", "then"), rw, c)
        checked_id = _rule_id(m, rw, seen, c)
        when = _condition(m["when"], rw.child("when"), c) if "when" in m else Condition()
        then = _rule_then(m, rw, c)
        if checked_id is not None:
            out.append((rw, Rule(checked_id, when, then)))
    return out


def parse_ruleset(data: Mapping[str, object]) -> RuleSet:
    """Validate a rule set in the YAML/JSON shape; raise RuleSetInvalid listing every problem."""
    c = _Collector()
    top = _mapping(data, _Where(""), c)
    if top is None:
        raise RuleSetInvalid(tuple(c.errors))
    _check_keys(top, ("rules", "defaults", "ordering", "caps", "callbacks"), _Where(""), c)
    rules: list[tuple[_Where, Rule]] = []
    if "rules" not in top:
        c.add(_top("rules"), "missing")
    else:
        rules = _rules(top["rules"], c)
    defaults = _defaults(top["defaults"], _top("defaults"), c) if "defaults" in top else Defaults()
    _check_window(defaults.lead_time, defaults.within, _top("defaults"), c)
    for rw, rule in rules:
        t = rule.then
        if t.lead_time is not None or t.within is not None:
            lead = defaults.lead_time if t.lead_time is None else t.lead_time
            _check_window(lead, defaults.within if t.within is None else t.within, rw.child("then"), c)

    ordering = Ordering()
    if "ordering" in top and (om := _mapping(top["ordering"], _top("ordering"), c)) is not None:
        w = _top("ordering")
        _check_keys(om, ("aging_per_workday", "tie_break"), w, c)
        aging = _opt(om, "aging_per_workday", w, lambda v, ww: _int(v, AGING_RANGE, ww, c))
        tie = _opt(om, "tie_break", w, lambda v, ww: _enum_one(v, TieBreak, ww, c))
        ordering = Ordering(ordering.aging_per_workday if aging is None else aging, tie or ordering.tie_break)

    caps = Caps()
    if "caps" in top and (cm := _mapping(top["caps"], _top("caps"), c)) is not None:
        w = _top("caps")
        names = ("appointments_per_caseworker_per_day", "callbacks_per_caseworker_per_day")
        _check_keys(cm, names, w, c)
        a, b = (_opt(cm, n, w, lambda v, ww: _int(v, CAP_RANGE, ww, c)) for n in names)
        caps = Caps(a or caps.appointments_per_caseworker_per_day, b or caps.callbacks_per_caseworker_per_day)

    callbacks = CallbackPolicy()
    if "callbacks" in top and (km := _mapping(top["callbacks"], _top("callbacks"), c)) is not None:
        w = _top("callbacks")
        _check_keys(km, ("retry_after", "max_attempts"), w, c)
        retry = _opt(km, "retry_after", w, lambda v, ww: _duration(v, RETRY_AFTER_RANGE, ww, c))
        attempts = _opt(km, "max_attempts", w, lambda v, ww: _int(v, MAX_ATTEMPTS_RANGE, ww, c))
        callbacks = CallbackPolicy(retry or callbacks.retry_after, attempts or callbacks.max_attempts)

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
    try:
        data = yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader
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
        c = _Collector()
        c.add(_Where(""), "not-a-mapping", got=_got(data))
        raise RuleSetInvalid(tuple(c.errors))
    return parse_ruleset(data)


def dump_yaml(ruleset: RuleSet) -> str:
    """The rule set as YAML that load_yaml() reads back to an equal RuleSet."""
    return yaml.safe_dump(ruleset.to_dict(), sort_keys=False, allow_unicode=True, default_flow_style=None)
