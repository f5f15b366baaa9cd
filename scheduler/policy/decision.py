"""The stored policy decision for one request: what was decided, why, and its JSON form."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from scheduler.policy.rules import Channel, FollowUp, FollowUpAction, Kind, Mode, Need

# The source named in explanation lines for values no rule set; parse.py keeps it from being a rule id.
DEFAULTS_SOURCE: Final = "defaults"


@dataclass(frozen=True, slots=True)
class RequestFacts:
    kind: Kind
    concern: str
    channel: Channel
    language: str
    age: int | None
    urgent: bool
    wished_modes: frozenset[Mode]
    assigned_caseworker_id: int | None
    received_at: datetime
    needs: frozenset[Need] = frozenset()
    invitation: bool = False  # made by a caseworker as an invitation, not asked for by the client
    no_shows: int = 0  # the client's appointments with the outcome no-show in the last 12 months
    groups: frozenset[str] = frozenset()  # codes of the office's customer groups the client belongs to


@dataclass(frozen=True, slots=True)
class ExplanationLine:
    field: str
    rule_id: str  # a rule id, or "defaults"
    value: str


@dataclass(frozen=True, slots=True)
class Decision:
    kind: Kind
    route_team: str | None
    route_caseworker_id: int | None
    priority: int
    duration: timedelta
    earliest_start: datetime
    latest_start: datetime  # exclusive
    modes: tuple[Mode, ...]
    propose_count: int
    auto_confirm: bool
    retry_after: timedelta
    max_attempts: int
    explanation: tuple[ExplanationLine, ...]
    # None in decisions stored before follow-ups existed: then the active rules decide it afresh.
    follow_up: FollowUp | None = None
    walk_in: bool = False  # the kiosk may hand out a same-day walk-in ticket; False in older decisions

    def to_json(self) -> dict[str, object]:
        """JSON-safe dict for the request's `decision` JSONB column."""
        return {
            "version": 1,
            "kind": str(self.kind),
            "route_team": self.route_team,
            "route_caseworker_id": self.route_caseworker_id,
            "priority": self.priority,
            "duration_s": int(self.duration.total_seconds()),
            "earliest_start": self.earliest_start.isoformat(),
            "latest_start": self.latest_start.isoformat(),
            "modes": [str(m) for m in self.modes],
            "propose_count": self.propose_count,
            "auto_confirm": self.auto_confirm,
            "retry_after_s": int(self.retry_after.total_seconds()),
            "max_attempts": self.max_attempts,
            "follow_up": None if self.follow_up is None else self.follow_up.to_value(),
            "walk_in": self.walk_in,
            "explanation": [
                {"field": e.field, "rule_id": e.rule_id, "value": e.value} for e in self.explanation
            ],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> Decision:
        """Inverse of to_json(); raises ValueError/KeyError on a malformed document."""
        team, cw = data["route_team"], data["route_caseworker_id"]
        modes, lines = data["modes"], data["explanation"]
        if not isinstance(modes, list) or not isinstance(lines, list):
            raise ValueError("modes and explanation must be lists")
        return cls(
            kind=Kind(_str(data["kind"])),
            route_team=None if team is None else _str(team),
            route_caseworker_id=None if cw is None else _int(cw),
            priority=_int(data["priority"]),
            duration=timedelta(seconds=_int(data["duration_s"])),
            earliest_start=_aware(data["earliest_start"]),
            latest_start=_aware(data["latest_start"]),
            modes=tuple(Mode(_str(m)) for m in modes),
            propose_count=_int(data["propose_count"]),
            auto_confirm=_bool(data["auto_confirm"]),
            retry_after=timedelta(seconds=_int(data["retry_after_s"])),
            max_attempts=_int(data["max_attempts"]),
            explanation=tuple(
                ExplanationLine(_str(e["field"]), _str(e["rule_id"]), _str(e["value"]))
                for e in lines
                if isinstance(e, Mapping)
            ),
            follow_up=_follow_up(data.get("follow_up")),
            walk_in=_bool(data.get("walk_in", False)),
        )

    def summary(self) -> str:
        """One line "why here", e.g. "no-money: priority 90, team entrance"."""
        parts: dict[str, list[str]] = {}
        for line in self.explanation:
            if line.field in ("priority", "route"):
                text = f"priority {line.value}" if line.field == "priority" else line.value
                parts.setdefault(line.rule_id, []).append(text)
        return "; ".join(f"{src}: {', '.join(texts)}" for src, texts in parts.items())


def _follow_up(v: object) -> FollowUp | None:
    if v is None:
        return None
    if isinstance(v, Mapping):
        return FollowUp(FollowUpAction.invite, _int(_workdays(v.get("invite"))))
    return FollowUp(FollowUpAction(_str(v)))


def _workdays(v: object) -> int:
    """'5 workdays' (the to_value() shape) -> 5."""
    return int(_str(v).split()[0])


def _str(v: object) -> str:
    if not isinstance(v, str):
        raise ValueError(f"expected a string, got {v!r}")
    return v


def _int(v: object) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise ValueError(f"expected an integer, got {v!r}")
    return v


def _bool(v: object) -> bool:
    if not isinstance(v, bool):
        raise ValueError(f"expected a boolean, got {v!r}")
    return v


def _aware(v: object) -> datetime:
    dt = datetime.fromisoformat(_str(v))
    if dt.tzinfo is None:
        raise ValueError(f"expected an aware timestamp, got {v!r}")
    return dt.astimezone(UTC)
