"""Property tests: propose() against a brute-force oracle, on days with and without DST changes."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from scheduler.policy.decision import Decision
from scheduler.policy.rules import Caps, Kind, Mode
from scheduler.policy.slots import CaseworkerAvailability, ClientWindows, DayPart, Slot, WorkingHours, propose
from scheduler.policy.workdays import WorkCalendar

# (zone, holiday region, a date near which to test); the last two change DST on a weekday.
SCENARIOS = [
    ("Europe/Berlin", "DE-NI", date(2027, 2, 1)),
    ("Europe/Berlin", "DE-NI", date(2026, 10, 22)),
    ("Europe/Berlin", "DE-NI", date(2027, 3, 24)),
    ("Asia/Jerusalem", "IL", date(2027, 3, 24)),
    ("Africa/Cairo", "EG", date(2026, 10, 27)),
]
CALENDARS = {(tz, region): WorkCalendar(tz=tz, holiday_region=region) for tz, region, _ in SCENARIOS}
FIVE = timedelta(minutes=5)


@st.composite
def working_hours(draw: st.DrawFn, dst_weekday: int) -> WorkingHours:
    # Biased towards the small hours and late evening, where the DST changes happen.
    hour = draw(st.sampled_from([0, 1, 2, 3, 7, 8, 9, 11, 12, 14, 20, 21, 22, 23]) | st.integers(6, 16))
    start = min(hour * 60 + draw(st.integers(0, 11)) * 5, 23 * 60 + 50)
    end = min(start + draw(st.integers(1, 8 * 12)) * 5, 23 * 60 + 55)
    modes = draw(st.sets(st.sampled_from(list(Mode)), min_size=1))
    return WorkingHours(
        weekday=draw(st.just(dst_weekday) | st.integers(0, 4) | st.integers(0, 6)),
        start=time(start // 60, start % 60),
        end=time(end // 60, end % 60),
        room=draw(st.sampled_from([None, "A1", "B2"])),
        modes=frozenset(modes),
    )


def ranges(base: datetime) -> st.SearchStrategy[tuple[tuple[datetime, datetime], ...]]:
    one = st.tuples(st.integers(0, 9 * 24 * 12), st.integers(1, 3 * 12)).map(
        lambda p: (base + p[0] * FIVE, base + (p[0] + p[1]) * FIVE)
    )
    return st.lists(one, max_size=8).map(tuple)


@st.composite
def cases(
    draw: st.DrawFn,
) -> tuple[Decision, list[CaseworkerAvailability], ClientWindows, Caps, datetime, WorkCalendar, timedelta]:
    tz, region, near = draw(st.sampled_from(SCENARIOS))
    dst_day = near + timedelta(days=2)
    calendar = CALENDARS[(tz, region)]
    zone = ZoneInfo(tz)
    base = datetime.combine(near - timedelta(days=2), time(0), tzinfo=zone).astimezone(UTC)
    availability = []
    for cw_id in draw(st.sets(st.integers(1, 4), min_size=1, max_size=3)):
        booked = draw(
            st.dictionaries(
                st.dates(near - timedelta(days=2), near + timedelta(days=7)), st.integers(0, 4), max_size=4
            )
        )
        availability.append(
            CaseworkerAvailability(
                caseworker_id=cw_id,
                hours=tuple(draw(st.lists(working_hours(dst_day.weekday()), min_size=2, max_size=8))),
                absences=draw(ranges(base)),
                busy=draw(ranges(base)),
                booked_per_day=booked,
            )
        )
    earliest = base + draw(st.integers(0, 2 * 24 * 12)) * FIVE
    latest = earliest + draw(st.integers(4 * 24 * 12, 8 * 24 * 12) | st.integers(0, 8 * 24 * 12)) * FIVE
    modes = draw(st.lists(st.sampled_from(list(Mode)), min_size=1, max_size=3, unique=True))
    decision = Decision(
        kind=draw(st.sampled_from(list(Kind))),
        route_team="t",
        route_caseworker_id=None,
        priority=10,
        duration=draw(st.integers(1, 24) | st.integers(1, 48)) * FIVE,
        earliest_start=earliest,
        latest_start=latest,
        modes=tuple(modes),
        propose_count=draw(st.integers(1, 10)),
        auto_confirm=False,
        retry_after=timedelta(hours=2),
        max_attempts=3,
        explanation=(),
    )
    date_from = draw(st.none() | st.dates(near - timedelta(days=2), near + timedelta(days=6)))
    windows = ClientWindows(
        weekdays=draw(st.just(frozenset()) | st.frozensets(st.integers(0, 6), min_size=1, max_size=5)),
        parts=draw(st.just(frozenset()) | st.frozensets(st.sampled_from(list(DayPart)), min_size=1)),
        date_from=date_from,
        date_to=draw(st.none() | st.dates(date_from or near, near + timedelta(days=9))),
    )
    caps = Caps(draw(st.integers(1, 6)), draw(st.integers(1, 6)))
    now = draw(st.just(base) | st.integers(0, 2 * 24 * 12).map(lambda k: base + k * FIVE))
    step = draw(st.sampled_from([5, 10, 15, 30, 60])) * timedelta(minutes=1)
    return decision, availability, windows, caps, now, calendar, step


def wall(instant: datetime, zone: ZoneInfo) -> datetime:
    return instant.astimezone(zone).replace(tzinfo=None)


def block_interval(d: date, h: WorkingHours, zone: ZoneInfo) -> tuple[datetime, datetime] | None:
    """Brute force: from the first 5-minute instant the clock shows >= start on day d, to the first
    after that at which it shows >= end (or the day is over)."""
    t = datetime.combine(d, time(0), tzinfo=zone).astimezone(UTC) - timedelta(hours=3)
    lo = None
    for _ in range(32 * 12):
        w = wall(t, zone)
        if lo is None and w.date() == d and w.time() >= h.start:
            lo = t
        if lo is not None and (w.date() != d or w.time() >= h.end):
            return lo, t
        t += FIVE
    return None


def oracle(  # noqa: C901 - a deliberately naive brute force
    decision: Decision,
    availability: list[CaseworkerAvailability],
    windows: ClientWindows,
    caps: Caps,
    now: datetime,
    calendar: WorkCalendar,
    step: timedelta,
) -> list[Slot]:
    """Every slot on the wall-clock grid that satisfies every constraint on its own."""
    zone = calendar.zone
    cap = (
        caps.appointments_per_caseworker_per_day
        if decision.kind is Kind.appointment
        else caps.callbacks_per_caseworker_per_day
    )
    lo = max(decision.earliest_start, now)
    out = []
    first = calendar.local_date(lo) - timedelta(days=1)
    for cw in availability:
        for i in range(12):
            d = first + timedelta(days=i)
            if not calendar.is_workday(d) or cw.booked_per_day.get(d, 0) >= cap:
                continue
            if windows.weekdays and d.weekday() not in windows.weekdays:
                continue
            if (windows.date_from and d < windows.date_from) or (windows.date_to and d > windows.date_to):
                continue
            for h in cw.hours:
                mode = next((m for m in decision.modes if m in h.modes), None)
                interval = block_interval(d, h, zone) if h.weekday == d.weekday() else None
                if mode is None or interval is None:
                    continue
                w = datetime.combine(d, h.start)
                while w.time() < h.end and w.date() == d:
                    for fold in (0, 1):
                        s = w.replace(tzinfo=zone, fold=fold).astimezone(UTC)
                        e = s + decision.duration
                        if wall(s, zone) != w or not (interval[0] <= s and e <= interval[1]):
                            continue
                        if not lo <= s < decision.latest_start:
                            continue
                        if any(a < e and s < b for a, b in (*cw.absences, *cw.busy)):
                            continue
                        part = DayPart.morning if w.time() < time(12) else DayPart.afternoon
                        if windows.parts and part not in windows.parts:
                            continue
                        out.append(Slot(cw.caseworker_id, s, e, mode, h.room))
                    w += step
    return out


@settings(max_examples=300, deadline=None)
@given(cases())
def test_proposals_fit_every_constraint(case: tuple) -> None:  # type: ignore[type-arg]
    decision, availability, windows, caps, now, calendar, step = case
    zone = calendar.zone
    result = propose(
        decision, availability, client_windows=windows, caps=caps, now=now, calendar=calendar, step=step
    )
    valid = oracle(decision, availability, windows, caps, now, calendar, step)
    valid_keys = {(s.caseworker_id, s.start) for s in valid}

    assert len(result) <= decision.propose_count
    assert result == sorted(result, key=lambda s: (s.start, s.caseworker_id))
    assert len({(s.caseworker_id, s.start) for s in result}) == len(result)  # no duplicates
    by_id = {cw.caseworker_id: cw for cw in availability}
    for s in result:
        cw = by_id[s.caseworker_id]
        assert s.start.tzinfo is UTC and s.end - s.start == decision.duration
        assert (s.caseworker_id, s.start) in valid_keys  # inside hours, free, in bounds and windows
        assert not any(a < s.end and s.start < b for a, b in (*cw.absences, *cw.busy))
        # the wall time exists and lies on the block's grid
        local = s.start.astimezone(zone)
        assert local.replace(tzinfo=None).replace(tzinfo=zone, fold=local.fold).astimezone(UTC) == s.start
        assert s.mode in decision.modes
    for a in result:  # alternatives for the same caseworker never overlap each other
        for b in result:
            if a is not b and a.caseworker_id == b.caseworker_id:
                assert a.end <= b.start or b.end <= a.start
    cap = (
        caps.appointments_per_caseworker_per_day
        if decision.kind is Kind.appointment
        else caps.callbacks_per_caseworker_per_day
    )
    for cw in availability:
        for d in {calendar.local_date(s.start) for s in result}:
            mine = [
                s for s in result if s.caseworker_id == cw.caseworker_id and calendar.local_date(s.start) == d
            ]
            assert not mine or cw.booked_per_day.get(d, 0) + len(mine) <= cap

    # complete and spread: the earliest valid slot comes first, and as many distinct days as possible
    if valid:
        # Compared by who and when: overlapping blocks may offer the same time in two rooms.
        first = min(valid, key=lambda s: (s.start, s.caseworker_id))
        assert (result[0].caseworker_id, result[0].start) == (first.caseworker_id, first.start)
        valid_days = sorted({calendar.local_date(s.start) for s in valid})
        result_days = sorted({calendar.local_date(s.start) for s in result})
        assert result_days == valid_days[: len(result_days)]
        assert len(result_days) == min(decision.propose_count, len(valid_days))
    else:
        assert result == []


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(sorted(CALENDARS)),
    st.datetimes(datetime(2025, 1, 1), datetime(2028, 12, 31), timezones=st.just(UTC)),
    st.integers(0, 80),
    st.integers(-40, 400),
)
def test_workday_arithmetic_agrees_with_counting(
    key: tuple[str, str], start: datetime, n: int, days: int
) -> None:
    calendar = CALENDARS[key]
    later = calendar.add_workdays(start, n)
    # The start of a local day: midnight, or the first instant after it where midnight does not exist
    # (Cairo moves its clocks at 00:00).
    assert later.tzinfo is not None and later == calendar.day_start(calendar.local_date(later))
    assert calendar.workdays_between(start, later) == n
    assert n == 0 or calendar.is_workday(calendar.local_date(later))
    other = start + timedelta(days=days)
    a, b = sorted((calendar.local_date(start), calendar.local_date(other)))
    counted = sum(calendar.is_workday(a + timedelta(days=i)) for i in range(1, (b - a).days + 1))
    assert calendar.workdays_between(start, other) == (counted if other >= start else -counted)
