"""Slot proposals: free appointment times that fit a decision, the caseworkers' hours and the client's wishes."""

from __future__ import annotations

import heapq
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from functools import lru_cache
from itertools import compress, islice
from operator import lt, sub
from typing import Final
from zoneinfo import ZoneInfo

from scheduler.policy.decision import Decision
from scheduler.policy.rules import Caps, Kind, Mode
from scheduler.policy.workdays import WorkCalendar

NOON: Final = time(12, 0)
# Where the free time before the first and after the last blocked range begins and ends.
_DAWN: Final = datetime.min.replace(tzinfo=UTC)
_NEVER: Final = datetime.max.replace(tzinfo=UTC)


class DayPart(StrEnum):
    morning = "morning"  # starts before 12:00 local
    afternoon = "afternoon"  # starts at or after 12:00 local


@dataclass(frozen=True, slots=True)
class WorkingHours:
    weekday: int  # 0 = Monday
    start: time  # local wall time
    end: time
    room: str | None = None
    modes: frozenset[Mode] = frozenset(Mode)

    def __post_init__(self) -> None:
        if not 0 <= self.weekday <= 6 or not self.start < self.end or not self.modes:
            raise ValueError(f"invalid working hours {self!r}")


@dataclass(frozen=True, slots=True)
class CaseworkerAvailability:
    caseworker_id: int
    hours: tuple[WorkingHours, ...]
    absences: tuple[tuple[datetime, datetime], ...] = ()
    busy: tuple[tuple[datetime, datetime], ...] = ()  # confirmed appointments
    booked_per_day: Mapping[date, int] = field(default_factory=dict)  # local date -> count


@dataclass(frozen=True, slots=True)
class ClientWindows:
    weekdays: frozenset[int] = frozenset()  # empty = any
    parts: frozenset[DayPart] = frozenset()  # empty = any
    date_from: date | None = None  # inclusive, local
    date_to: date | None = None  # inclusive, local


@dataclass(frozen=True, slots=True)
class Slot:
    caseworker_id: int
    start: datetime  # UTC
    end: datetime  # UTC
    mode: Mode
    room: str | None


def _merge(ranges: Iterable[tuple[datetime, datetime]]) -> tuple[list[datetime], list[datetime]]:
    """Sorted, disjoint (starts, ends) of the given ranges."""
    ordered = sorted(ranges)
    starts = [r[0] for r in ordered]
    ends = [r[1] for r in ordered]
    # Bookings and holds rarely touch or overlap: then the sorted ranges are the answer as they are.
    if all(map(lt, starts, ends)) and all(map(lt, ends, islice(starts, 1, None))):
        return starts, ends
    starts, ends = [], []
    for s, e in ordered:
        if e <= s:
            continue
        if ends and s <= ends[-1]:
            ends[-1] = max(ends[-1], e)
        else:
            starts.append(s)
            ends.append(e)
    return starts, ends


def _wall_instants(d: date, start: time, end: time, step: timedelta, zone: ZoneInfo) -> list[datetime]:
    """UTC instants of the wall-clock grid start, start+step, ... < end on day d.

    Nonexistent wall times (spring forward) are dropped; ambiguous ones (fall back) give both
    instants.
    """
    out: set[datetime] = set()
    w = datetime.combine(d, start)
    stop = datetime.combine(d, end)
    while w < stop:
        for fold in (0, 1):
            local = w.replace(tzinfo=zone, fold=fold)
            instant = local.astimezone(UTC)
            if instant.astimezone(zone).replace(tzinfo=None) == w:  # round trip: the wall time exists
                out.add(instant)
        w += step
    return sorted(out)


# Every slot search asks for the same few days and block edges again; the answers never change.
@lru_cache(maxsize=16_384)
def _instant(d: date, t: time, zone: ZoneInfo) -> datetime:
    """First UTC instant at which the local clock shows `t` on day `d` (or has jumped past it)."""
    w = datetime.combine(d, t)
    after = w.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if after.astimezone(zone).replace(tzinfo=None) == w:
        return after  # exists; for an ambiguous time fold=0 is the first occurrence
    # Skipped wall time: fold=1 lands before the jump, fold=0 after it. The block boundary is the
    # jump itself; bisect for it (only on DST days whose hours touch the gap).
    before = w.replace(tzinfo=zone, fold=1).astimezone(UTC)
    lo, hi = 0, int((after - before).total_seconds())
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if (before + timedelta(seconds=mid)).astimezone(zone).replace(tzinfo=None) >= w:
            hi = mid
        else:
            lo = mid
    return before + timedelta(seconds=hi)


@lru_cache(maxsize=4_096)
def _changes_offset(d: date, zone: ZoneInfo) -> bool:
    """True on the days the zone's UTC offset changes (daylight-saving days)."""
    day0 = datetime.combine(d, time(0), tzinfo=zone)
    day1 = datetime.combine(d + timedelta(days=1), time(0), tzinfo=zone)
    return day0.utcoffset() != day1.utcoffset()


@lru_cache(maxsize=8_192)
def _grid(d: date, start: time, end: time, step: timedelta, zone: ZoneInfo) -> tuple[datetime, ...]:
    """The UTC start instants of one working-hours block's slot grid (shared by every search that day)."""
    if not _changes_offset(d, zone):
        # No DST change today: wall clock and UTC move together, so the grid is plain arithmetic.
        first = _instant(d, start, zone)
        n = int((_instant(d, end, zone) - first) / step) + 1
        return tuple(first + k * step for k in range(n))
    return tuple(_wall_instants(d, start, end, step, zone))


@dataclass(frozen=True, slots=True)
class _Ctx:
    decision: Decision
    windows: ClientWindows
    calendar: WorkCalendar
    lo: datetime
    hi: datetime
    step: timedelta
    cap: int


def _block_slots(
    ctx: _Ctx,
    cw: CaseworkerAvailability,
    d: date,
    hours: WorkingHours,
    mode: Mode,
    blocked: tuple[list[datetime], list[datetime]],
) -> Iterator[Slot]:
    zone = ctx.calendar.zone
    dur = ctx.decision.duration
    block_start = _instant(d, hours.start, zone)
    block_end = _instant(d, hours.end, zone)
    b_starts, b_ends = blocked
    first_free = max(block_start, ctx.lo)
    i = bisect_right(b_ends, first_free)
    if i < len(b_starts) and b_starts[i] <= first_free and b_ends[i] >= block_end:
        return  # one blocked range covers the whole block: a full day costs no grid
    grid = _grid(d, hours.start, hours.end, ctx.step, zone)
    parts = ctx.windows.parts
    noon = _instant(d, NOON, zone)
    k = bisect_left(grid, ctx.lo)
    while k < len(grid):
        s = grid[k]
        e = s + dur
        if s >= ctx.hi or e > block_end:
            return
        if s < block_start:
            k += 1
            continue
        i = bisect_right(b_ends, s)  # first blocked range ending after s
        if i < len(b_starts) and b_starts[i] < e:
            k = bisect_left(grid, b_ends[i], lo=k + 1)  # skip past the blocking range
            continue
        if parts and (DayPart.morning if s < noon else DayPart.afternoon) not in parts:
            k += 1
            continue
        yield Slot(cw.caseworker_id, s, e, mode, hours.room)
        k += 1


def _day_slots(ctx: _Ctx, worker: _Worker, d: date) -> Iterator[Slot]:
    """Candidate slots of one caseworker on one local day, ascending by start, no duplicate starts."""
    streams = [
        _block_slots(ctx, worker.cw, d, hours, mode, worker.blocked) for hours, mode in worker.week[d.weekday()]
    ]
    if len(streams) == 1:
        return streams[0]  # one block's grid is strictly ascending: nothing to merge or drop
    return _distinct_starts(heapq.merge(*streams, key=_by_start))


def _distinct_starts(slots: Iterator[Slot]) -> Iterator[Slot]:
    last: datetime | None = None
    for slot in slots:
        if slot.start != last:
            last = slot.start
            yield slot


def _may_have_room(worker: _Worker, blocks: _Blocks, d: date, zone: ZoneInfo, lo: datetime, dur: timedelta) -> bool:
    """False when no working block of the day has a free stretch as long as the appointment.

    A bisect into the caseworker's long enough gaps, so a day that held proposals or bookings have filled
    costs no slot streams; True does not promise a slot (the grid and the client's wishes decide that).
    """
    g_starts, g_ends = worker.gaps
    for hours, _ in blocks:
        free_from = _instant(d, hours.start, zone)
        if free_from < lo:
            free_from = lo
        latest = _instant(d, hours.end, zone) - dur  # the last start that still fits the block
        j = bisect_right(g_ends, free_from)  # the first gap ending after free_from; the last gap never ends
        while True:
            start = g_starts[j] if g_starts[j] > free_from else free_from
            if start > latest:
                break
            if start + dur <= g_ends[j]:
                return True
            j += 1
    return False


def _days(ctx: _Ctx) -> Iterator[date]:
    first = ctx.calendar.local_date(ctx.lo)
    last = ctx.calendar.local_date(ctx.hi - timedelta(microseconds=1))
    w = ctx.windows
    if w.date_from is not None:
        first = max(first, w.date_from)
    if w.date_to is not None:
        last = min(last, w.date_to)
    d = first
    while d <= last:
        if (not w.weekdays or d.weekday() in w.weekdays) and ctx.calendar.is_workday(d):
            yield d
        d += timedelta(days=1)


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
    picker = _Picker(availability, ctx)
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
    weekday = d.weekday()
    zone, lo, dur, cap = ctx.calendar.zone, ctx.lo, ctx.decision.duration, ctx.cap
    candidates = []
    for worker in picker.workers.values():
        blocks = worker.week[weekday]
        if blocks and worker.cw.booked_per_day.get(d, 0) < cap and _may_have_room(worker, blocks, d, zone, lo, dur):
            candidates.append(worker)
    if not candidates:
        return None
    if len(candidates) == 1:
        return _day_slots(ctx, candidates[0], d)
    return heapq.merge(*(_day_slots(ctx, w, d) for w in candidates), key=_by_start_then_caseworker)


_Blocks = list[tuple[WorkingHours, Mode]]


class _Worker:
    """One caseworker prepared for a search: blocked ranges, the gaps long enough, usable hours by weekday."""

    __slots__ = ("cw", "blocked", "gaps", "week")

    def __init__(self, cw: CaseworkerAvailability, ctx: _Ctx) -> None:
        self.cw = cw
        self.blocked = _merge((*cw.absences, *cw.busy))
        self.gaps = _gaps(self.blocked, ctx.decision.duration)
        modes = ctx.decision.modes
        self.week: list[_Blocks] = [[], [], [], [], [], [], []]
        for hours in cw.hours:
            for mode in modes:
                if mode in hours.modes:
                    self.week[hours.weekday].append((hours, mode))
                    break
        for blocks in self.week:
            if len(blocks) > 1:
                blocks.sort(key=_by_clock)  # stable: blocks with the same times keep their given order


def _gaps(blocked: tuple[list[datetime], list[datetime]], dur: timedelta) -> tuple[list[datetime], list[datetime]]:
    """(starts, ends) of the free stretches around the blocked ranges that are at least `dur` long.

    The first one never starts and the last one never ends, so every instant has a gap at or after it.
    """
    starts, ends = blocked
    if not starts:
        return [_DAWN], [_NEVER]
    after = starts[1:]
    long = list(map(dur.__le__, map(sub, after, ends)))
    return [_DAWN, *compress(ends, long), ends[-1]], [starts[0], *compress(after, long), _NEVER]


class _Picker:
    """The proposals so far, and the daily caps and mutual non-overlap they must respect."""

    def __init__(self, availability: Sequence[CaseworkerAvailability], ctx: _Ctx) -> None:
        self.workers = {cw.caseworker_id: _Worker(cw, ctx) for cw in availability}
        self.cap = ctx.cap
        self.chosen: list[Slot] = []
        self.per_cw_day: dict[tuple[int, date], list[Slot]] = {}

    def take(self, stream: Iterator[Slot], d: date) -> bool:
        for slot in stream:
            key = (slot.caseworker_id, d)
            taken = self.per_cw_day.get(key)
            if taken is None:
                taken = self.per_cw_day[key] = []
            if self.workers[slot.caseworker_id].cw.booked_per_day.get(d, 0) + len(taken) >= self.cap:
                continue
            if taken and any(slot.start < t.end and t.start < slot.end for t in taken):
                continue
            self.chosen.append(slot)
            taken.append(slot)
            return True
        return False


def _by_clock(block: tuple[WorkingHours, Mode]) -> tuple[time, time]:
    return block[0].start, block[0].end


def _by_start(slot: Slot) -> datetime:
    return slot.start


def _by_start_then_caseworker(slot: Slot) -> tuple[datetime, int]:
    return slot.start, slot.caseworker_id
