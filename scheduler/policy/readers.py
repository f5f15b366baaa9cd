"""Reading one rule-set value at a time: each reader returns the value, or None after reporting the problem.

Problems go to a Collector, so that parse.py can report every problem of a rule set, not just the first.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Final, TypeVar

from scheduler.policy.rules import Bounds, FollowUp, FollowUpAction, Route, RuleError, format_duration

AGE_RANGE: Final = (0, 130)
NO_SHOWS_RANGE: Final = (0, 100)  # no-shows in a year
_TEAM_RE: Final = re.compile(r"^[a-z0-9_-]{1,40}$")  # same as teams.code CHECK
CODE_RE: Final = re.compile(r"^[a-z0-9_]{2,40}$")  # same as the concerns.code and customer_groups.code CHECKs
# Matched against stripped text with fullmatch: no two adjacent groups can match the same whitespace, so a
# match takes linear time (the earlier form, with \s* at both ends and between, took cubic time).
_DURATION_RE: Final = re.compile(r"(?:(\d{1,5})\s*h)?\s*(?:(\d{1,5})\s*m(?:in)?)?")
_WORKDAYS_RE: Final = re.compile(r"(\d{1,5})\s*workdays?")
MAX_VALUE_CHARS: Final = 200   # any text value of a rule set; the longest real one is a concern code
MAX_LIST_ITEMS: Final = 100    # any list value (concerns, languages, modes …)
MAX_SHOWN_CHARS: Final = 120   # of a value quoted back in a problem message
_AGE_OPS: Final = ("lt", "lte", "gt", "gte")


@dataclass(frozen=True, slots=True)
class Where:
    path: str  # full path for RuleError.path
    rule: str | None = None  # rule label for messages
    rel: str = ""  # path relative to the rule (or full path outside rules)

    def child(self, name: str) -> Where:
        return Where(
            f"{self.path}.{name}" if self.path else name,
            self.rule,
            f"{self.rel}.{name}" if self.rel else name,
        )


def top_level(name: str) -> Where:
    return Where(name, None, name)


class Collector:
    def __init__(self) -> None:
        self.errors: list[RuleError] = []

    def add(self, where: Where, code: str, **params: object) -> None:
        p = {k: _cut(shown(v)) for k, v in params.items()}
        p["field"] = where.rel or where.path
        if where.rule is not None:
            p["rule"] = where.rule
        self.errors.append(RuleError(where.path, code, p))


def _cut(text: str) -> str:
    return text if len(text) <= MAX_SHOWN_CHARS else text[:MAX_SHOWN_CHARS] + "…"


def bounded(v: object, where: Where, c: Collector) -> bool:
    """False (after reporting it) when a value, or an item of a list value, is larger than any rule set needs;
    checked before a value is parsed, so no pattern ever sees a long text."""
    items = v if isinstance(v, list | tuple) else [v]
    if len(items) > MAX_LIST_ITEMS:
        c.add(where, "too-many", limit=MAX_LIST_ITEMS, size=len(items))
        return False
    longest = max((len(i) for i in items if isinstance(i, str)), default=0)
    if longest > MAX_VALUE_CHARS:
        c.add(where, "too-long", limit=MAX_VALUE_CHARS, size=longest)
        return False
    return True


def shown(v: object) -> str:
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "nothing"
    return str(v)


def described(v: object) -> str:
    if isinstance(v, str):
        return repr(v)
    if isinstance(v, Mapping):
        return "a mapping"
    if isinstance(v, list | tuple):
        return "a list"
    return shown(v)


def mapping(v: object, where: Where, c: Collector) -> Mapping[str, object] | None:
    if not isinstance(v, Mapping):
        c.add(where, "not-a-mapping", got=described(v))
        return None
    return {str(k): val for k, val in v.items()}


def check_keys(m: Mapping[str, object], allowed: tuple[str, ...], where: Where, c: Collector) -> None:
    for k in m:
        if k not in allowed:
            c.add(where.child(_cut(k)), "unknown-field", allowed=", ".join(allowed), got=k)


def whole_number(v: object, rng: tuple[int, int], where: Where, c: Collector) -> int | None:
    if isinstance(v, bool) or not isinstance(v, int):
        c.add(where, "bad-type", expected="a whole number", got=described(v), allowed=f"{rng[0]}..{rng[1]}")
        return None
    if not rng[0] <= v <= rng[1]:
        c.add(where, "out-of-range", allowed=f"{rng[0]}..{rng[1]}", got=v)
        return None
    return v


def boolean(v: object, where: Where, c: Collector) -> bool | None:
    if not isinstance(v, bool):
        c.add(where, "bad-type", expected="true or false", got=described(v), allowed="true, false")
        return None
    return v


def parse_duration(text: str) -> timedelta | None:
    """'20m', '2h', '1h30m' -> timedelta; None if the text is not such a duration."""
    m = _DURATION_RE.fullmatch(text.strip())
    if m is None or (m.group(1) is None and m.group(2) is None):
        return None
    return timedelta(hours=int(m.group(1) or 0), minutes=int(m.group(2) or 0))


def duration(v: object, rng: tuple[timedelta, timedelta], where: Where, c: Collector) -> timedelta | None:
    allowed = f"{format_duration(rng[0])}..{format_duration(rng[1])}"
    td = parse_duration(v) if isinstance(v, str) else None
    if td is None:
        c.add(where, "bad-duration", allowed=allowed, got=described(v))
        return None
    if not rng[0] <= td <= rng[1]:
        c.add(where, "out-of-range", allowed=allowed, got=v)
        return None
    return td


def workdays(v: object, rng: tuple[int, int], where: Where, c: Collector) -> int | None:
    allowed = f"{rng[0]}..{rng[1]} workdays"
    n: int | None = None
    if isinstance(v, int) and not isinstance(v, bool):
        n = v
    elif isinstance(v, str) and (m := _WORKDAYS_RE.fullmatch(v.strip())):
        n = int(m.group(1))
    if n is None:
        c.add(where, "bad-workdays", allowed=allowed, got=described(v))
        return None
    if not rng[0] <= n <= rng[1]:
        c.add(where, "out-of-range", allowed=allowed, got=v)
        return None
    return n


def one_or_more(v: object, where: Where, c: Collector) -> list[object] | None:
    """A list, or a scalar standing for a one-element list."""
    if isinstance(v, list | tuple):
        if not v:
            c.add(where, "empty")
            return None
        return list(v)
    if isinstance(v, Mapping) or v is None:
        c.add(where, "not-a-list", got=described(v))
        return None
    return [v]


_E = TypeVar("_E", bound=StrEnum)


def enum_list(v: object, enum: type[_E], code: str, where: Where, c: Collector) -> tuple[_E, ...] | None:
    items = one_or_more(v, where, c)
    if items is None:
        return None
    allowed = [e.value for e in enum]
    bad = [i for i in items if not isinstance(i, str) or i not in allowed]
    if bad:
        c.add(where, code, allowed=", ".join(allowed), got=", ".join(described(b) for b in bad))
        return None
    return tuple(dict.fromkeys(enum(str(i)) for i in items))


def enum_one(v: object, enum: type[_E], where: Where, c: Collector) -> _E | None:
    allowed = [e.value for e in enum]
    if not isinstance(v, str) or v not in allowed:
        c.add(where, "bad-value", allowed=", ".join(allowed), got=described(v))
        return None
    return enum(v)


def names(v: object, where: Where, c: Collector) -> tuple[str, ...] | None:
    items = one_or_more(v, where, c)
    if items is None:
        return None
    bad = [i for i in items if not isinstance(i, str) or not i.strip()]
    if bad:
        c.add(
            where,
            "bad-type",
            expected="a list of names",
            allowed="non-empty text values",
            got=", ".join(described(b) for b in bad),
        )
        return None
    return tuple(dict.fromkeys(str(i) for i in items))


def codes(v: object, where: Where, c: Collector) -> tuple[str, ...] | None:
    """One or more codes shaped like concern codes: 2-40 lowercase letters, digits or '_'."""
    items = one_or_more(v, where, c)
    if items is None:
        return None
    bad = [i for i in items if not isinstance(i, str) or not CODE_RE.match(i)]
    if bad:
        c.add(where, "bad-code", allowed="2-40 lowercase letters, digits or '_'",
              got=", ".join(described(b) for b in bad))
        return None
    return tuple(dict.fromkeys(str(i) for i in items))


_ROUTE_SHAPES: Final = (
    "{team: CODE} (CODE of lowercase letters, digits, '-' or '_'), {caseworker: ID} (a positive number) "
    "or {caseworker: assigned}"
)


def route(v: object, where: Where, c: Collector) -> Route | None:
    if isinstance(v, Mapping) and len(v) == 1:
        ((key, val),) = v.items()
        if key == "team" and isinstance(val, str) and _TEAM_RE.match(val):
            return Route(team=val)
        if key == "caseworker" and val == "assigned":
            return Route(assigned=True)
        if key == "caseworker" and isinstance(val, int) and not isinstance(val, bool) and val > 0:
            return Route(caseworker_id=val)
    got = described(v)
    if isinstance(v, Mapping):
        got = "{" + ", ".join(f"{k}: {shown(x)}" for k, x in v.items()) + "}"
    c.add(where, "bad-route", allowed=_ROUTE_SHAPES, got=got)
    return None


def bounds(v: object, rng: tuple[int, int], where: Where, c: Collector) -> Bounds | None:
    """{lt, lte, gt, gte} (at least one), each a whole number inside `rng`."""
    m = mapping(v, where, c)
    if m is None:
        return None
    if not m:
        c.add(where, "empty")
        return None
    check_keys(m, _AGE_OPS, where, c)
    found = {op: whole_number(m[op], rng, where.child(op), c) for op in _AGE_OPS if op in m}
    if any(b is None for b in found.values()) or set(m) - set(_AGE_OPS):
        return None
    return Bounds(**found)


def age_range(v: object, where: Where, c: Collector) -> Bounds | None:
    return bounds(v, AGE_RANGE, where, c)


def no_shows(v: object, where: Where, c: Collector) -> Bounds | None:
    return bounds(v, NO_SHOWS_RANGE, where, c)


def follow_up(v: object, rng: tuple[int, int], where: Where, c: Collector) -> FollowUp | None:
    """'none', 'task' or {invite: 'N workdays'} (N the invitation's lead time, inside `rng`)."""
    if v in ("none", "task"):
        return FollowUp(FollowUpAction(str(v)))
    if isinstance(v, Mapping) and len(v) == 1 and "invite" in v:
        lead = v["invite"]
        n: int | None = None
        if isinstance(lead, int) and not isinstance(lead, bool):
            n = lead
        elif isinstance(lead, str) and (m := _WORKDAYS_RE.fullmatch(lead.strip())):
            n = int(m.group(1))
        if n is not None and rng[0] <= n <= rng[1]:
            return FollowUp(FollowUpAction.invite, n)
    got = described(v)
    if isinstance(v, Mapping):
        got = "{" + ", ".join(f"{k}: {shown(x)}" for k, x in v.items()) + "}"
    c.add(where, "bad-follow-up", low=rng[0], high=rng[1], got=got)
    return None
