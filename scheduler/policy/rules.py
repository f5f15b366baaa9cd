"""Caseworker-owned policy rule sets as immutable data; policy/parse.py validates the YAML/JSON shape into it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import Any, Final


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


class Need(StrEnum):
    """What a client needs to be served well; a rule may match requests with any of them."""

    interpreter = "interpreter"
    sign_language = "sign_language"
    step_free = "step_free"
    hearing_loop = "hearing_loop"
    more_time = "more_time"


class FollowUpAction(StrEnum):
    none = "none"
    task = "task"  # a to-do for the caseworker on the request or callback
    invite = "invite"  # a new request made on the client's behalf, for the caseworker to approve


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
    "walk-in-in-defaults": "must be {allowed}: only a rule can allow same-day walk-in tickets, got {got}",
    "too-long": "is too long: at most {limit} characters are allowed, got {size}",
    "too-many": "has too many entries: at most {limit} are allowed, got {size}",
    "bad-code": "must be codes of {allowed}, got {got}",
    "unknown-group": "names customer groups the office does not have: {got}; the office's groups are: {allowed}",
    "bad-follow-up": "must be none, task or {{invite: N workdays}} with N in the range {low}..{high}, got {got}",
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
class FollowUp:
    """What follows a no-show, or a callback that ends unreachable: nothing, a task, or a new invitation."""

    action: FollowUpAction
    lead_time: int | None = None  # workdays before the invitation's earliest slot; only with invite

    def __post_init__(self) -> None:
        if (self.action is FollowUpAction.invite) != (self.lead_time is not None):
            raise ValueError("an invite follow-up needs a lead time, and only it")

    def to_value(self) -> str | dict[str, str]:
        """The YAML/JSON shape: 'none' | 'task' | {invite: 'N workdays'}."""
        if self.lead_time is not None:
            return {"invite": format_workdays(self.lead_time)}
        return str(self.action)

    def __str__(self) -> str:
        if self.lead_time is not None:
            return f"invite {format_workdays(self.lead_time)}"
        return str(self.action)


@dataclass(frozen=True, slots=True)
class Bounds:
    """Bounds on a whole number (an age, a count of no-shows): {lt, lte, gt, gte}, each optional."""

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


AgeRange = Bounds  # the name the age condition had first



@dataclass(frozen=True, slots=True)
class Condition:
    """The `when` part; a field left as None is not tested. All set fields must match."""

    concern: tuple[str, ...] | None = None
    channel: tuple[Channel, ...] | None = None
    language: tuple[str, ...] | None = None
    kind: tuple[Kind, ...] | None = None
    age: Bounds | None = None
    urgent: bool | None = None
    needs: tuple[Need, ...] | None = None  # matches when the request has any of them
    invitation: bool | None = None  # true: a caseworker's invitation; false: the client's own request
    no_shows: Bounds | None = None  # the client's no-shows in the last 12 months
    groups: tuple[str, ...] | None = None  # the office's customer group codes; matches when the client is in any

    def to_dict(self) -> dict[str, object]:
        """The YAML/JSON shape (lists for multi-valued fields), only the fields that are set, in field order."""
        return {name: shape(value) for name, shape in _CONDITION_SHAPE if (value := getattr(self, name)) is not None}


@dataclass(frozen=True, slots=True)
class RuleOutcome:
    """The `then` part of a rule; None means "this rule does not set the field"."""

    priority: int | None = None
    route: Route | None = None
    duration: timedelta | None = None
    lead_time: int | None = None  # workdays
    within: int | None = None  # workdays
    modes: tuple[Mode, ...] | None = None
    propose: int | None = None
    auto_confirm: bool | None = None
    follow_up: FollowUp | None = None
    walk_in: bool | None = None  # the kiosk may hand out a same-day walk-in ticket for this request

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
    follow_up: FollowUp = FollowUp(FollowUpAction.task)
    walk_in: bool = False  # like auto_confirm, only a rule may switch it on

    def to_dict(self) -> dict[str, object]:
        """The YAML/JSON shape with every field."""
        return _settings_dict(self)


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    when: Condition
    then: RuleOutcome

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
    """A whole rule set; hashable, so what is derived from it can be cached keyed by the rule set itself."""

    rules: tuple[Rule, ...]
    defaults: Defaults = Defaults()
    ordering: Ordering = Ordering()
    caps: Caps = Caps()
    callbacks: CallbackPolicy = CallbackPolicy()
    # Hashed once: decide() looks its rule set up in a cache on every request.
    _hash: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_hash", hash((self.rules, self.defaults, self.ordering, self.caps, self.callbacks)))

    def __hash__(self) -> int:
        return self._hash

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


def _as_list(values: tuple[object, ...]) -> list[str]:
    return [str(v) for v in values]


# How each condition field is written in the YAML/JSON shape, in that order.
_CONDITION_SHAPE: Final[tuple[tuple[str, Callable[[Any], object]], ...]] = (
    ("concern", _as_list),
    ("channel", _as_list),
    ("language", _as_list),
    ("kind", _as_list),
    ("age", lambda v: v.to_dict()),
    ("urgent", lambda v: v),
    ("needs", _as_list),
    ("invitation", lambda v: v),
    ("no_shows", lambda v: v.to_dict()),
    ("groups", _as_list),
)

# How each settings field is written in the YAML/JSON shape, in that order.
_SETTINGS_SHAPE: Final[tuple[tuple[str, Callable[[Any], object]], ...]] = (
    ("priority", lambda v: v),
    ("route", lambda v: v.to_dict()),
    ("duration", format_duration),
    ("lead_time", format_workdays),
    ("within", format_workdays),
    ("modes", lambda v: [str(m) for m in v]),
    ("propose", lambda v: v),
    ("auto_confirm", lambda v: v),
    ("follow_up", lambda v: v.to_value()),
    ("walk_in", lambda v: v),
)


def _settings_dict(s: RuleOutcome | Defaults) -> dict[str, object]:
    return {name: shape(value) for name, shape in _SETTINGS_SHAPE if (value := getattr(s, name)) is not None}
