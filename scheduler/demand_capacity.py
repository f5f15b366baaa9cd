"""Demand against capacity, the arithmetic: pure functions of counts, free slots and the calendar (no database).

The forecast is a seasonal average with a weekly season: each coming week expects, per concern and channel, the
mean of the last HISTORY_WEEKS full weeks (summing the average of each weekday over the week gives the same);
the current week counts from today on, its share by working days. Capacity is the free appointment slots of the
team's active caseworkers (working hours minus absences, closure and holiday days and bookings, in slots of the
rule set's default duration), each day bounded by the rule set's cap of appointments per caseworker less that
day's bookings; per mode, the slots of hours that offer it. Expected days to appointment: requests are served
first come, first served from today's open backlog on, day by day; a request arriving mid-week waits until the
capacity reaches its place in the queue, at least the lead time, in working days (`queue_waits`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Final

HISTORY_WEEKS: Final = 12
HORIZON_WEEKS: Final = 6
MODES: Final = ("in_person", "phone", "video")


@dataclass(frozen=True, slots=True)
class StaffDay:
    """One caseworker's day: free slots inside their hours (per mode offered) and appointments already booked."""

    staff_id: int
    team_id: int
    day: date
    slots: int
    slots_by_mode: Mapping[str, int]
    booked: int


@dataclass(frozen=True, slots=True)
class Week:
    """One coming week of a team or office."""

    monday: date
    workdays: tuple[date, ...]          # the days of this week that count (working days, from today on)
    demand: float                       # expected new requests
    capacity: int                       # free appointment slots
    capacity_by_mode: Mapping[str, int]
    days_to_appointment: float | None   # working days, for a request arriving mid-week; None: not in sight
    within: int                         # the policy's "within", in working days
    over: bool                          # demand exceeds capacity
    late: bool                          # expected days to appointment beyond "within"


@dataclass(frozen=True, slots=True)
class Outlook:
    """The coming weeks of one team (or the office's sum), and what they rest on."""

    weeks: tuple[Week, ...]
    backlog: int                                      # open requests today
    per_week: Mapping[tuple[int, str], float] = field(default_factory=dict)  # (concern, channel) -> mean per week


def history_window(today: date, weeks: int = HISTORY_WEEKS) -> tuple[date, date]:
    """The full weeks the forecast reads: from the Monday `weeks` weeks before this week's Monday up to it."""
    monday = today - timedelta(days=today.weekday())
    return monday - timedelta(weeks=weeks), monday


def horizon(today: date, is_workday: Callable[[date], bool],
            weeks: int = HORIZON_WEEKS) -> list[tuple[date, tuple[date, ...]]]:
    """The coming weeks (this one first) as (Monday, working days from today on)."""
    monday = today - timedelta(days=today.weekday())
    out = []
    for w in range(weeks):
        start = monday + timedelta(weeks=w)
        days = tuple(d for d in (start + timedelta(days=i) for i in range(7)) if d >= today and is_workday(d))
        out.append((start, days))
    return out


def mean_per_week(counts: Iterable[tuple[int, str, int]], weeks: int = HISTORY_WEEKS) -> dict[tuple[int, str], float]:
    """(concern, channel, requests in the history window) -> expected requests per week, the seasonal average."""
    found: dict[tuple[int, str], float] = {}
    for concern_id, channel, n in counts:
        found[(concern_id, channel)] = found.get((concern_id, channel), 0.0) + n / weeks
    return found


def week_demand(per_week: float, workdays: int, full_week_workdays: int) -> float:
    """Expected requests of a (possibly partial) week: the week's mean, by the share of its working days left."""
    if full_week_workdays <= 0:
        return 0.0
    return per_week * min(workdays, full_week_workdays) / full_week_workdays


def day_capacity(staff_day: StaffDay, cap: int) -> tuple[int, dict[str, int]]:
    """Free slots of one caseworker's day within the daily cap (less what is booked), in total and per mode."""
    room = max(0, cap - staff_day.booked)
    return (min(staff_day.slots, room),
            {mode: min(staff_day.slots_by_mode.get(mode, 0), room) for mode in MODES})


def daily_capacity(staff_days: Iterable[StaffDay], cap: int) -> dict[date, tuple[int, dict[str, int]]]:
    """Free slots per day of several caseworkers, each day bounded by the per-caseworker cap."""
    per_day: dict[date, tuple[int, dict[str, int]]] = {}
    for sd in staff_days:
        total, by_mode = day_capacity(sd, cap)
        before, modes = per_day.get(sd.day, (0, dict.fromkeys(MODES, 0)))
        per_day[sd.day] = (before + total, {m: modes[m] + by_mode[m] for m in MODES})
    return per_day


def queue_waits(backlog: float, weeks: Sequence[tuple[Sequence[float], Sequence[float]]],
                lead_days: int) -> list[float | None]:
    """Working days to appointment for a request arriving mid-week, per week, first come first served.

    `weeks` holds each week's (arrivals per day, capacity per day) over its working days. The request arriving
    on the week's middle day takes its place behind the backlog, everything that came before and half that day's
    arrivals; it is served on the first day the served total reaches its place. Past the horizon the last week's
    mean daily capacity goes on; None when that is zero (or a week has no working day).
    """
    arrivals = [a for arr, _ in weeks for a in arr]
    capacity = [c for _, cap in weeks for c in cap]
    served: list[float] = []
    came = float(backlog)
    done = 0.0
    for a, c in zip(arrivals, capacity, strict=True):
        came += a
        done = min(came, done + c)
        served.append(done)
    last_cap = weeks[-1][1] if weeks else []
    tail_rate = sum(last_cap) / len(last_cap) if last_cap else 0.0
    waits: list[float | None] = []
    start = 0
    for arr, _ in weeks:
        if not arr:
            waits.append(None)
            continue
        mid = start + len(arr) // 2
        place = backlog + sum(arrivals[:mid]) + arrivals[mid] / 2
        waits.append(_wait_from(mid, place, served, tail_rate, lead_days))
        start += len(arr)
    return waits


def _wait_from(day: int, place: float, served: Sequence[float], tail_rate: float, lead_days: int) -> float | None:
    for k in range(day, len(served)):
        if served[k] >= place - 1e-9:
            return float(max(k - day, lead_days))
    if tail_rate <= 0:
        return None
    extra = math.ceil((place - (served[-1] if served else 0.0)) / tail_rate - 1e-9)
    return float(max(len(served) - 1 + extra - day, lead_days))


def outlook(*, today: date, is_workday: Callable[[date], bool], counts: Iterable[tuple[int, str, int]],
            staff_days: Iterable[StaffDay], cap: int, backlog: int, within: int, lead_days: int,
            weeks: int = HORIZON_WEEKS) -> Outlook:
    """The coming weeks of one team: expected requests, free slots, expected days to appointment, marks."""
    per_week = mean_per_week(counts)
    weekly_mean = sum(per_week.values())
    per_day = daily_capacity(staff_days, cap)
    plan = horizon(today, is_workday, weeks)
    return _weeks(plan, per_day, weekly_mean, backlog, within, lead_days, is_workday, per_week)


def combine(outlooks: Sequence[Outlook], *, within: int, lead_days: int) -> Outlook:
    """The office's outlook: its teams' demand and capacity summed, served as one queue."""
    if not outlooks:
        return Outlook(weeks=(), backlog=0)
    weekly: list[float] = [0.0] * len(outlooks[0].weeks)
    per_week: dict[tuple[int, str], float] = {}
    for o in outlooks:
        for i, week in enumerate(o.weeks):
            weekly[i] += week.demand
        for key, value in o.per_week.items():
            per_week[key] = per_week.get(key, 0.0) + value
    plan = [(w.monday, w.workdays) for w in outlooks[0].weeks]
    demands = weekly
    capacities = [sum(o.weeks[i].capacity for o in outlooks) for i in range(len(plan))]
    by_mode = [{m: sum(o.weeks[i].capacity_by_mode.get(m, 0) for o in outlooks) for m in MODES}
               for i in range(len(plan))]
    backlog = sum(o.backlog for o in outlooks)
    waits = queue_waits(backlog, [(_spread(demands[i], len(days)), _spread(capacities[i], len(days)))
                                  for i, (_, days) in enumerate(plan)], lead_days)
    return Outlook(weeks=tuple(_week(monday, days, demands[i], capacities[i], by_mode[i], waits[i], within)
                               for i, (monday, days) in enumerate(plan)), backlog=backlog, per_week=per_week)


def _spread(total: float, days: int) -> list[float]:
    return [total / days] * days if days else []


def _weeks(plan: list[tuple[date, tuple[date, ...]]], per_day: Mapping[date, tuple[int, dict[str, int]]],
           weekly_mean: float, backlog: int, within: int, lead_days: int, is_workday: Callable[[date], bool],
           per_week: Mapping[tuple[int, str], float]) -> Outlook:
    demands: list[float] = []
    series: list[tuple[list[float], list[float]]] = []
    for monday, days in plan:
        full = sum(1 for i in range(7) if is_workday(monday + timedelta(days=i)))
        demand = week_demand(weekly_mean, len(days), full)
        demands.append(demand)
        series.append((_spread(demand, len(days)), [float(per_day.get(d, (0, {}))[0]) for d in days]))
    waits = queue_waits(backlog, series, lead_days)
    weeks = []
    for i, (monday, days) in enumerate(plan):
        capacity = sum(per_day.get(d, (0, {}))[0] for d in days)
        by_mode = {m: sum(per_day.get(d, (0, {m: 0}))[1].get(m, 0) for d in days) for m in MODES}
        weeks.append(_week(monday, days, demands[i], capacity, by_mode, waits[i], within))
    return Outlook(weeks=tuple(weeks), backlog=backlog, per_week=dict(per_week))


def _week(monday: date, days: tuple[date, ...], demand: float, capacity: int, by_mode: Mapping[str, int],
          wait: float | None, within: int) -> Week:
    return Week(monday=monday, workdays=days, demand=round(demand, 1), capacity=capacity,
                capacity_by_mode=dict(by_mode), days_to_appointment=wait, within=within,
                over=demand > capacity, late=(wait is None and bool(days)) or (wait is not None and wait > within))
