"""The slot search as it was before its speed-ups: the reference that propose() must match exactly.

Only the parts that changed are kept here; the grid and day helpers they call are slots.py's own.
"""

from __future__ import annotations

import heapq
from bisect import bisect_right
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, date, datetime, timedelta

from scheduler.policy.decision import Decision
from scheduler.policy.rules import Caps, Kind
from scheduler.policy.slots import (
    CaseworkerAvailability,
    ClientWindows,
    Slot,
    _block_slots,
    _by_start,
    _by_start_then_caseworker,
    _Ctx,
    _days,
    _instant,
)
from scheduler.policy.workdays import WorkCalendar


def _merge(ranges: Iterable[tuple[datetime, datetime]]) -> tuple[list[datetime], list[datetime]]:
    """Sorted, disjoint (starts, ends) of the given ranges."""
    starts: list[datetime] = []
    ends: list[datetime] = []
    for s, e in sorted(ranges):
        if e <= s:
            continue
        if ends and s <= ends[-1]:
            ends[-1] = max(ends[-1], e)
        else:
            starts.append(s)
            ends.append(e)
    return starts, ends


def _day_slots(
    ctx: _Ctx, cw: CaseworkerAvailability, d: date, blocked: tuple[list[datetime], list[datetime]]
) -> Iterator[Slot]:
    """Candidate slots of one caseworker on one local day, ascending by start, no duplicate starts."""
    streams = []
    for hours in sorted(cw.hours, key=lambda h: (h.start, h.end)):
        if hours.weekday != d.weekday():
            continue
        mode = next((m for m in ctx.decision.modes if m in hours.modes), None)
        if mode is None:
            continue
        streams.append(_block_slots(ctx, cw, d, hours, mode, blocked))
    last: datetime | None = None
    for slot in heapq.merge(*streams, key=_by_start):
        if slot.start != last:
            last = slot.start
            yield slot


def _may_have_room(
    ctx: _Ctx, cw: CaseworkerAvailability, d: date, blocked: tuple[list[datetime], list[datetime]]
) -> bool:
    """False when no working block of the day has a free stretch as long as the appointment.

    A cheap walk over the blocked ranges, so a day that held proposals or bookings have filled costs no
    slot streams; True does not promise a slot (the grid and the client's wishes decide that).
    """
    zone = ctx.calendar.zone
    dur = ctx.decision.duration
    b_starts, b_ends = blocked
    for hours in cw.hours:
        if hours.weekday != d.weekday() or not any(m in hours.modes for m in ctx.decision.modes):
            continue
        free_from = max(_instant(d, hours.start, zone), ctx.lo)
        block_end = _instant(d, hours.end, zone)
        i = bisect_right(b_ends, free_from)  # the first blocked range ending after free_from
        while free_from + dur <= block_end:
            if i == len(b_starts) or b_starts[i] >= free_from + dur:
                return True  # free from free_from until the next blocked range (or the block's end)
            free_from = max(free_from, b_ends[i])
            i += 1
    return False


def propose(
    decision: Decision,
    availability: Sequence[CaseworkerAvailability],
    *,
    client_windows: ClientWindows,
    caps: Caps,
    now: datetime,
    calendar: WorkCalendar,
    step: timedelta = timedelta(minutes=15),
) -> list[Slot]:
    """Up to propose_count free slots fitting everything, one per day first, sorted by start."""
    if step <= timedelta(0):
        raise ValueError("step must be positive")
    cap = (
        caps.appointments_per_caseworker_per_day
        if decision.kind is Kind.appointment
        else caps.callbacks_per_caseworker_per_day
    )
    lo = max(decision.earliest_start, now).astimezone(UTC)
    hi = decision.latest_start.astimezone(UTC)
    want = decision.propose_count
    if hi <= lo or want <= 0 or not decision.modes:
        return []
    ctx = _Ctx(decision, client_windows, calendar, lo, hi, step, cap)
    picker = _Picker(availability, cap)
    # One lazy stream per day (all caseworkers merged by start, then caseworker id): the first
    # pass takes the earliest slot of each day, later passes go round the same days again.
    day_streams: list[tuple[date, Iterator[Slot]]] = []
    for d in _days(ctx):
        if len(picker.chosen) >= want:
            break
        stream = _day_stream(ctx, picker, d)
        if stream is not None and picker.take(stream, d):
            day_streams.append((d, stream))
    while len(picker.chosen) < want and day_streams:
        for entry in list(day_streams):
            if len(picker.chosen) >= want:
                break
            if not picker.take(entry[1], entry[0]):
                day_streams.remove(entry)
    return sorted(picker.chosen, key=_by_start_then_caseworker)


def _day_stream(ctx: _Ctx, picker: _Picker, d: date) -> Iterator[Slot] | None:
    """The day's candidate slots of every caseworker with room, by start then caseworker; None if nobody has room."""
    candidates = [cw for cw in picker.open_on(d) if _may_have_room(ctx, cw, d, picker.blocked[cw.caseworker_id])]
    if not candidates:
        return None
    return heapq.merge(
        *(_day_slots(ctx, cw, d, picker.blocked[cw.caseworker_id]) for cw in candidates),
        key=_by_start_then_caseworker,
    )


class _Picker:
    """The proposals so far, and the daily caps and mutual non-overlap they must respect."""

    def __init__(self, availability: Sequence[CaseworkerAvailability], cap: int) -> None:
        self.by_id = {cw.caseworker_id: cw for cw in availability}
        self.blocked = {cw.caseworker_id: _merge((*cw.absences, *cw.busy)) for cw in availability}
        self.cap = cap
        self.chosen: list[Slot] = []
        self.per_cw_day: dict[tuple[int, date], list[Slot]] = {}

    def open_on(self, d: date) -> list[CaseworkerAvailability]:
        return [cw for cw in self.by_id.values() if cw.booked_per_day.get(d, 0) < self.cap]

    def take(self, stream: Iterator[Slot], d: date) -> bool:
        for slot in stream:
            taken = self.per_cw_day.setdefault((slot.caseworker_id, d), [])
            if self.by_id[slot.caseworker_id].booked_per_day.get(d, 0) + len(taken) >= self.cap:
                continue
            if any(slot.start < t.end and t.start < slot.end for t in taken):
                continue
            self.chosen.append(slot)
            taken.append(slot)
            return True
        return False
