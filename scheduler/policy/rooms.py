"""Needs in the slot search: rooms with step-free access or a hearing loop, and more time.

A client who needs step-free access or a hearing loop is offered in-person times only in rooms that have it
(a room is known by its name in the working hours). Hours in any other room keep their phone and video
times, so such a client is offered those instead, and the decision's explanation says why. "More time"
lengthens the appointment by `MORE_TIME` unless a rule that matches on that need set the length itself.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Final

from scheduler.policy.decision import Decision, ExplanationLine
from scheduler.policy.rules import Mode, Need, RuleSet, format_duration
from scheduler.policy.slots import CaseworkerAvailability

ROOM_NEEDS: Final = (Need.step_free, Need.hearing_loop)
MORE_TIME: Final = timedelta(minutes=15)
SOURCE: Final = "needs"  # the explanation's source for what needs changed (a rule id elsewhere)
NO_ROOM: Final = "-"


@dataclass(frozen=True, slots=True)
class Room:
    name: str
    step_free: bool = False
    hearing_loop: bool = False

    def offers(self, needs: Collection[str]) -> bool:
        """Whether the room has everything of `needs` that a room can offer."""
        return (Need.step_free not in needs or self.step_free) and \
            (Need.hearing_loop not in needs or self.hearing_loop)


def room_needs(needs: Collection[str]) -> tuple[Need, ...]:
    """The needs a room must meet."""
    return tuple(n for n in ROOM_NEEDS if n in needs)


def suitable(rooms: Iterable[Room], needs: Collection[str]) -> frozenset[str]:
    """Names of the rooms that meet the room needs."""
    return frozenset(r.name for r in rooms if r.offers(needs))


def restrict(availability: Sequence[CaseworkerAvailability],
             rooms: frozenset[str]) -> list[CaseworkerAvailability]:
    """The availability with in-person times only in `rooms`: other hours keep their other modes
    (hours with nothing left go)."""
    out: list[CaseworkerAvailability] = []
    for cw in availability:
        hours = []
        for h in cw.hours:
            if Mode.in_person not in h.modes or h.room in rooms:
                hours.append(h)
            elif len(h.modes) > 1:
                hours.append(replace(h, modes=h.modes - {Mode.in_person}))
        out.append(replace(cw, hours=tuple(hours)))
    return out


def _rule_sets_it(ruleset: RuleSet, rule_id: str) -> bool:
    rule = next((r for r in ruleset.rules if r.id == rule_id), None)
    return rule is not None and rule.when.needs is not None and Need.more_time in rule.when.needs


def adjust(decision: Decision, ruleset: RuleSet, needs: Collection[str],
           rooms: frozenset[str] | None) -> Decision:
    """The decision with more time added (unless a rule on that need chose the length) and, when the room
    needs narrow the search (`rooms` the suitable ones), a line that says so: the room names, or "-" when no
    room qualifies (then only phone and video are offered, or nothing if the client wants neither)."""
    lines = list(decision.explanation)
    duration = decision.duration
    if Need.more_time in needs:
        source = next((line.rule_id for line in lines if line.field == "duration"), "")
        if not _rule_sets_it(ruleset, source):
            duration += MORE_TIME
            lines = [ExplanationLine("duration", SOURCE, format_duration(duration)) if line.field == "duration"
                     else line for line in lines]
    if rooms is not None and Mode.in_person in decision.modes:
        lines.append(ExplanationLine("room", SOURCE, ", ".join(sorted(rooms)) or NO_ROOM))
    if duration == decision.duration and lines == list(decision.explanation):
        return decision
    return replace(decision, duration=duration, explanation=tuple(lines))
