"""What a caseworker's own settings do: narrow a decision routed to them, and shape their availability.

Blocked times and a longer notice become absences, the buffer widens every busy time, a lower personal cap
counts as days already partly booked, preferred modes narrow their working hours' modes, and a concern they
do not take keeps them out of a team's slot search. All of it only narrows: the team's rules stay the frame.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from datetime import date, datetime, timedelta

from scheduler.policy.decision import Decision, ExplanationLine
from scheduler.policy.personal import PersonalSettings
from scheduler.policy.rules import Caps, Kind, Mode, format_workdays
from scheduler.policy.slots import CaseworkerAvailability
from scheduler.policy.workdays import WorkCalendar


def source(staff_id: int) -> str:
    """The rule id explanation lines name for a caseworker's own settings."""
    return f"caseworker-{staff_id}:personal"


def _preferred(settings: PersonalSettings, concern: str, modes: Sequence[Mode]) -> tuple[Mode, ...]:
    """The decision's modes the caseworker prefers; empty when they prefer none of them (then theirs yield)."""
    preferred = settings.preferred_modes(concern)
    return tuple(m for m in modes if m in preferred) if preferred else ()


def _notice_until(settings: PersonalSettings, decision: Decision, *, urgent: bool, now: datetime,
                  calendar: WorkCalendar) -> datetime | None:
    """The later earliest start the caseworker's notice asks for, when it leaves the decision's window open."""
    if settings.lead_time is None or urgent:
        return None
    later = now if settings.lead_time == 0 else calendar.add_workdays(now, settings.lead_time)
    return later if decision.earliest_start < later < decision.latest_start else None


def narrow(decision: Decision, settings: PersonalSettings | None, *, staff_id: int, concern: str, urgent: bool,
           now: datetime, calendar: WorkCalendar) -> Decision:
    """A decision for a request routed to this caseworker, with their preferred modes and notice applied."""
    if settings is None:
        return decision
    lines = list(decision.explanation)

    def explain(name: str, value: str) -> None:
        lines[:] = [ExplanationLine(name, source(staff_id), value) if line.field == name else line
                    for line in lines]

    modes = _preferred(settings, concern, decision.modes) or decision.modes
    if modes != decision.modes:
        explain("modes", ", ".join(modes) + " (caseworker's preference)")
    earliest = _notice_until(settings, decision, urgent=urgent, now=now, calendar=calendar)
    if earliest is not None:
        explain("lead_time", format_workdays(settings.lead_time or 0) + " (caseworker's notice)")
    return dataclasses.replace(decision, modes=modes, earliest_start=earliest or decision.earliest_start,
                               explanation=tuple(lines))


def _days(start: datetime, end: datetime, calendar: WorkCalendar) -> Iterator[date]:
    d, last = calendar.local_date(start), calendar.local_date(end)
    while d <= last:
        yield d
        d += timedelta(days=1)


def _blocked_spans(settings: PersonalSettings, start: datetime, end: datetime,
                   calendar: WorkCalendar) -> list[tuple[datetime, datetime]]:
    spans = []
    for d in _days(start, end, calendar):
        for b in settings.blocked:
            if b.weekday == d.weekday():
                spans.append((datetime.combine(d, b.start, calendar.zone), datetime.combine(d, b.end, calendar.zone)))
    return spans


def _personal_cap(settings: PersonalSettings, kind: Kind) -> int | None:
    return settings.appointments_cap if kind is Kind.appointment else settings.callbacks_cap


def shape(cw: CaseworkerAvailability, settings: PersonalSettings, *, decision: Decision, concern: str,
          urgent: bool, caps: Caps, start: datetime, end: datetime, now: datetime,
          calendar: WorkCalendar) -> CaseworkerAvailability:
    """One caseworker's availability with their own settings applied (see the module's description)."""
    hours = cw.hours
    preferred = _preferred(settings, concern, decision.modes)
    if preferred:
        hours = tuple(dataclasses.replace(h, modes=h.modes & frozenset(preferred)) for h in hours
                      if h.modes & frozenset(preferred))
    absences = [*cw.absences, *_blocked_spans(settings, start, end, calendar)]
    notice = _notice_until(settings, decision, urgent=urgent, now=now, calendar=calendar)
    if notice is not None:
        absences.append((min(start, notice), notice))
    buffer = timedelta(minutes=settings.buffer_minutes)
    busy = tuple((s - buffer, e + buffer) for s, e in cw.busy) if buffer else cw.busy
    booked = cw.booked_per_day
    team_cap = caps.appointments_per_caseworker_per_day if decision.kind is Kind.appointment \
        else caps.callbacks_per_caseworker_per_day
    own_cap = _personal_cap(settings, decision.kind)
    if own_cap is not None and own_cap < team_cap:
        # The slot search has one cap for everyone: a lower personal cap counts as that many more booked.
        booked = {d: booked.get(d, 0) + team_cap - own_cap for d in _days(start, end, calendar)}
    return dataclasses.replace(cw, hours=hours, absences=tuple(absences), busy=busy, booked_per_day=booked)


def apply(availability: Sequence[CaseworkerAvailability], personal: Mapping[int, PersonalSettings], *,
          decision: Decision, concern: str, urgent: bool, team_routed: bool, caps: Caps, start: datetime,
          end: datetime, now: datetime, calendar: WorkCalendar) -> list[CaseworkerAvailability]:
    """The availability of a slot search with every caseworker's own settings applied.

    When a team's request is shared out, caseworkers who do not take its concern are left out (unless nobody
    of them takes it: then the team's request is not left without a caseworker).
    """
    if not personal:
        return list(availability)
    chosen = list(availability)
    if team_routed:
        takers = [cw for cw in chosen if cw.caseworker_id not in personal or
                  personal[cw.caseworker_id].takes(concern)]
        chosen = takers or chosen
    return [shape(cw, personal[cw.caseworker_id], decision=decision, concern=concern, urgent=urgent, caps=caps,
                  start=start, end=end, now=now, calendar=calendar) if cw.caseworker_id in personal else cw
            for cw in chosen]
