"""propose() gives exactly the slots of the reference slot search, on sparse and on nearly full calendars."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from scheduler.policy.decision import Decision
from scheduler.policy.rules import Caps, Kind, Mode
from scheduler.policy.slots import CaseworkerAvailability, ClientWindows, DayPart, WorkingHours, propose
from scheduler.policy.workdays import WorkCalendar
from tests.policy import reference_propose
from tests.policy.test_slots_properties import cases

BERLIN = ZoneInfo("Europe/Berlin")
CALENDAR = WorkCalendar()
MONDAY = date(2026, 11, 23)  # three weeks ahead hold no public holiday in Lower Saxony
FIVE = timedelta(minutes=5)


@settings(max_examples=400, deadline=None)
@given(cases())
def test_same_slots_as_the_reference(case: tuple) -> None:  # type: ignore[type-arg]
    decision, availability, windows, caps, now, calendar, step = case
    args = (decision, availability)
    kwargs = {"client_windows": windows, "caps": caps, "now": now, "calendar": calendar, "step": step}
    assert propose(*args, **kwargs) == reference_propose.propose(*args, **kwargs)


def local(d: date, minutes: int) -> datetime:
    return datetime.combine(d, time(0), tzinfo=BERLIN).astimezone(UTC) + minutes * timedelta(minutes=1)


@st.composite
def busy_weeks(draw: st.DrawFn) -> tuple[Decision, list[CaseworkerAvailability], ClientWindows, Caps, datetime]:
    """The office's usual hours over three weeks, most of them taken by appointments and held proposals."""
    availability = []
    for cw_id in draw(st.lists(st.integers(1, 6), min_size=1, max_size=4, unique=True)):
        hours = [WorkingHours(d, time(8), time(12), "E.01") for d in range(5)]
        hours += [WorkingHours(d, time(13), time(16, 30), None, frozenset({Mode.phone})) for d in (1, 3)]
        if draw(st.booleans()):
            hours.append(WorkingHours(draw(st.integers(0, 4)), time(9), time(11), "E.02"))
        absent = st.tuples(st.integers(0, 20), st.integers(8 * 12, 16 * 12 + 6), st.integers(1, 12)).map(
            lambda t: (local(MONDAY + timedelta(days=t[0]), t[1] * 5), local(MONDAY + timedelta(days=t[0]), (t[1] + t[2]) * 5))
        )
        # Appointments back to back through each day, with gaps of random length (often none).
        rng = random.Random(draw(st.integers(0, 2**32)))
        gap_weights = [draw(st.integers(0, 9)) for _ in range(4)]
        busy = []
        for day in range(21):
            minute = 8 * 60 + rng.choice([0, 0, 5, 20])
            while minute < 16 * 60 + 30:
                length = rng.choice([15, 20, 30, 45])
                busy.append((local(MONDAY + timedelta(days=day), minute), local(MONDAY + timedelta(days=day), minute + length)))
                minute += length + rng.choices([0, 5, 15, 40], weights=[w + 1 for w in gap_weights])[0]
        availability.append(CaseworkerAvailability(
            caseworker_id=cw_id,
            hours=tuple(draw(st.permutations(hours))),
            absences=tuple(draw(st.lists(absent, max_size=3))),
            busy=tuple(rng.sample(busy, len(busy))),
            booked_per_day=draw(st.dictionaries(st.dates(MONDAY, MONDAY + timedelta(days=20)), st.integers(0, 8), max_size=5)),
        ))
    now = local(MONDAY, draw(st.integers(0, 24 * 12)) * 5)
    decision = Decision(
        kind=Kind.appointment, route_team="entrance", route_caseworker_id=None, priority=10,
        duration=draw(st.sampled_from([15, 20, 30, 45, 60])) * timedelta(minutes=1),
        earliest_start=local(MONDAY + timedelta(days=1), 0),
        latest_start=local(MONDAY + timedelta(days=draw(st.integers(2, 21))), 0),
        modes=tuple(draw(st.lists(st.sampled_from(list(Mode)), min_size=1, max_size=3, unique=True))),
        propose_count=draw(st.integers(1, 5)), auto_confirm=False, retry_after=timedelta(hours=2), max_attempts=3,
        explanation=(),
    )
    windows = ClientWindows(
        weekdays=draw(st.just(frozenset()) | st.frozensets(st.integers(0, 4), min_size=1, max_size=4)),
        parts=draw(st.just(frozenset()) | st.frozensets(st.sampled_from(list(DayPart)), min_size=1)),
    )
    return decision, availability, windows, Caps(draw(st.integers(1, 8)), 15), now


@settings(max_examples=300, deadline=None)
@given(busy_weeks(), st.sampled_from([timedelta(minutes=m) for m in (5, 15, 30)]))
def test_same_slots_as_the_reference_on_busy_weeks(case: tuple, step: timedelta) -> None:  # type: ignore[type-arg]
    decision, availability, windows, caps, now = case
    args = (decision, availability)
    kwargs = {"client_windows": windows, "caps": caps, "now": now, "calendar": CALENDAR, "step": step}
    assert propose(*args, **kwargs) == reference_propose.propose(*args, **kwargs)
