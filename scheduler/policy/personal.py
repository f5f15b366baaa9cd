"""A caseworker's own settings: preferred modes per concern, buffer, personal daily caps, blocked times,
the concerns they take and a longer notice. Pure data and validation; personal_limits.py checks them
against what the team allows, personal_effect.py applies them to decisions and availability.

Stored as the `personal` section of a caseworker-scope rule set (policy/store.py), so versions, activation
and rollback are the rule sets' own.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import time
from typing import Final

from scheduler.policy.rules import Mode

BUFFER_RANGE: Final = (0, 120)  # minutes
CAP_RANGE: Final = (1, 100)
LEAD_TIME_RANGE: Final = (0, 30)  # workdays
MAX_BLOCKED: Final = 20
MAX_CONCERNS: Final = 100
MAX_LABEL_CHARS: Final = 80
MAX_CODE_CHARS: Final = 64
_TIME_RE: Final = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")
_CODE_RE: Final = re.compile(r"[a-z0-9_-]{1,64}")
_KEYS: Final = ("modes", "buffer_minutes", "appointments_cap", "callbacks_cap", "blocked", "concerns", "lead_time")


@dataclass(frozen=True, slots=True)
class PersonalError:
    """One problem at one form field; `code` and `params` are stable, staff/personal_errors.py words them."""

    field: str  # e.g. "appointments_cap", "modes.no_money", "blocked[0].to"
    code: str
    params: Mapping[str, str] = dataclasses.field(default_factory=dict)


class PersonalInvalid(Exception):
    """Raised with every problem found, not just the first."""

    def __init__(self, errors: tuple[PersonalError, ...]) -> None:
        super().__init__("; ".join(f"{e.field}: {e.code}" for e in errors))
        self.errors = errors


@dataclass(frozen=True, slots=True)
class BlockedTime:
    """A recurring time the caseworker keeps free of appointments (e.g. Monday 08:00-10:00 paperwork)."""

    weekday: int  # 0 = Monday
    start: time  # local wall time
    end: time
    label: str = ""

    def to_dict(self) -> dict[str, object]:
        """The stored shape."""
        return {"weekday": self.weekday, "from": self.start.strftime("%H:%M"), "to": self.end.strftime("%H:%M"),
                "label": self.label}


@dataclass(frozen=True, slots=True)
class PersonalSettings:
    """What a caseworker decides for themself; None and empty mean "as the team has it"."""

    modes: tuple[tuple[str, tuple[Mode, ...]], ...] = ()  # (concern code, preferred modes), by code
    buffer_minutes: int = 0
    appointments_cap: int | None = None
    callbacks_cap: int | None = None
    blocked: tuple[BlockedTime, ...] = ()
    concerns: tuple[str, ...] | None = None  # the concerns they take; None = all the team takes
    lead_time: int | None = None  # workdays of notice at least, for requests that are not urgent

    def preferred_modes(self, concern: str) -> tuple[Mode, ...]:
        """The modes preferred for a concern (empty: no preference)."""
        return next((modes for code, modes in self.modes if code == concern), ())

    def takes(self, concern: str) -> bool:
        """Whether the caseworker takes requests about this concern when their team's requests are shared out."""
        return self.concerns is None or concern in self.concerns

    def to_dict(self) -> dict[str, object]:
        """The stored shape; parse_personal(s.to_dict()) == s."""
        return {
            "modes": {code: [str(m) for m in modes] for code, modes in self.modes},
            "buffer_minutes": self.buffer_minutes,
            "appointments_cap": self.appointments_cap,
            "callbacks_cap": self.callbacks_cap,
            "blocked": [b.to_dict() for b in self.blocked],
            "concerns": None if self.concerns is None else list(self.concerns),
            "lead_time": self.lead_time,
        }


class _Problems:
    def __init__(self) -> None:
        self.errors: list[PersonalError] = []

    def add(self, where: str, code: str, **params: object) -> None:
        self.errors.append(PersonalError(where, code, {k: str(v) for k, v in params.items()}))


def _number(raw: object, rng: tuple[int, int], where: str, p: _Problems, *, optional: bool) -> int | None:
    if raw is None and optional:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int):
        p.add(where, "not-a-number", low=rng[0], high=rng[1])
        return None
    if not rng[0] <= raw <= rng[1]:
        p.add(where, "out-of-range", low=rng[0], high=rng[1], got=raw)
        return None
    return raw


def parse_time(raw: object) -> time | None:
    """'HH:MM' (24 hours) -> time; None if it is not such a time."""
    m = _TIME_RE.fullmatch(raw.strip()) if isinstance(raw, str) and len(raw) <= 8 else None
    return time(int(m.group(1)), int(m.group(2))) if m else None


def _code(raw: object, where: str, p: _Problems) -> str | None:
    if not isinstance(raw, str) or not _CODE_RE.fullmatch(raw):
        p.add(where, "bad-concern")
        return None
    return raw


def _modes(raw: object, p: _Problems) -> tuple[tuple[str, tuple[Mode, ...]], ...]:
    if raw is None:
        return ()
    if not isinstance(raw, Mapping) or len(raw) > MAX_CONCERNS:
        p.add("modes", "bad-shape")
        return ()
    out: list[tuple[str, tuple[Mode, ...]]] = []
    for code, modes in raw.items():
        if _code(code, "modes", p) is None:
            continue
        where = f"modes.{code}"
        if not isinstance(modes, list) or any(m not in Mode.__members__ for m in modes):
            p.add(where, "bad-mode", allowed=", ".join(Mode))
            continue
        if modes:  # no mode ticked: no preference
            out.append((code, tuple(m for m in Mode if m.value in modes)))
    return tuple(sorted(out))


def _one_blocked(item: object, where: str, p: _Problems) -> BlockedTime | None:
    if not isinstance(item, Mapping):
        p.add(where, "bad-shape")
        return None
    weekday = _number(item.get("weekday"), (0, 6), f"{where}.weekday", p, optional=False)
    start, end = parse_time(item.get("from")), parse_time(item.get("to"))
    label = item.get("label", "")
    if start is None:
        p.add(f"{where}.from", "bad-time")
    if end is None:
        p.add(f"{where}.to", "bad-time")
    elif start is not None and end <= start:
        p.add(f"{where}.to", "end-before-start")
        return None
    if not isinstance(label, str) or len(label) > MAX_LABEL_CHARS:
        p.add(f"{where}.label", "too-long", limit=MAX_LABEL_CHARS)
        return None
    if weekday is None or start is None or end is None:
        return None
    return BlockedTime(weekday, start, end, label.strip())


def _blocked(raw: object, p: _Problems) -> tuple[BlockedTime, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        p.add("blocked", "bad-shape")
        return ()
    if len(raw) > MAX_BLOCKED:
        p.add("blocked", "too-many", limit=MAX_BLOCKED)
        return ()
    found = (_one_blocked(item, f"blocked[{i}]", p) for i, item in enumerate(raw))
    return tuple(sorted((b for b in found if b is not None), key=lambda b: (b.weekday, b.start, b.end)))


def _concerns(raw: object, p: _Problems) -> tuple[str, ...] | None:
    if raw is None:
        return None
    if not isinstance(raw, list) or len(raw) > MAX_CONCERNS:
        p.add("concerns", "bad-shape")
        return None
    codes = [c for c in (_code(c, "concerns", p) for c in raw) if c is not None]
    return tuple(sorted(set(codes)))


def parse_personal(data: object) -> PersonalSettings:
    """Validate the stored (or form-built) shape; raise PersonalInvalid listing every problem."""
    p = _Problems()
    if not isinstance(data, Mapping):
        raise PersonalInvalid((PersonalError("", "bad-shape"),))
    for key in data:
        if key not in _KEYS:
            p.add(str(key)[:MAX_CODE_CHARS], "unknown-field")
    settings = PersonalSettings(
        modes=_modes(data.get("modes"), p),
        buffer_minutes=_number(data.get("buffer_minutes", 0), BUFFER_RANGE, "buffer_minutes", p,
                               optional=False) or 0,
        appointments_cap=_number(data.get("appointments_cap"), CAP_RANGE, "appointments_cap", p, optional=True),
        callbacks_cap=_number(data.get("callbacks_cap"), CAP_RANGE, "callbacks_cap", p, optional=True),
        blocked=_blocked(data.get("blocked"), p),
        concerns=_concerns(data.get("concerns"), p),
        lead_time=_number(data.get("lead_time"), LEAD_TIME_RANGE, "lead_time", p, optional=True),
    )
    if p.errors:
        raise PersonalInvalid(tuple(p.errors))
    return settings
