"""WorkCalendar: workdays, holidays, counting and adding workdays across DST and the year's end."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from scheduler.policy.workdays import WorkCalendar, epoch_us, from_epoch_us
from tests.policy.examples import CAL, CALENDAR_SETTINGS, CALENDARS, at, counted, instants, wall


@pytest.mark.parametrize(
    ("day", "workday"),
    [
        (date(2026, 12, 23), True),
        (date(2026, 12, 24), True),  # Christmas Eve is not a public holiday in Lower Saxony
        (date(2026, 12, 25), False),
        (date(2026, 12, 26), False),
        (date(2026, 12, 27), False),
        (date(2026, 12, 31), True),
        (date(2027, 1, 1), False),
        (date(2026, 10, 31), False),  # Reformation Day (NI), a Saturday anyway
        (date(2027, 3, 26), False),  # Good Friday
        (date(2027, 3, 29), False),  # Easter Monday
    ],
)
def test_is_workday(day: date, workday: bool) -> None:
    assert CAL.is_workday(day) is workday


@pytest.mark.parametrize(
    ("start", "n", "expected"),
    [
        (at(2026, 12, 23, 10), 0, "Wed 2026-12-23 00:00+0100"),
        (at(2026, 12, 23, 10), 1, "Thu 2026-12-24 00:00+0100"),
        (at(2026, 12, 23, 10), 2, "Mon 2026-12-28 00:00+0100"),
        (at(2026, 12, 30, 23, 30), 2, "Mon 2027-01-04 00:00+0100"),
        (at(2027, 3, 24, 10), 2, "Tue 2027-03-30 00:00+0200"),  # Good Friday, DST, Easter Monday
        (at(2026, 10, 23, 10), 1, "Mon 2026-10-26 00:00+0100"),  # over the autumn DST change
    ],
)
def test_add_workdays(start: datetime, n: int, expected: str) -> None:
    result = CAL.add_workdays(start, n)
    assert result.tzinfo is UTC
    assert wall(result) == expected
    assert CAL.workdays_between(start, result) == n


@pytest.mark.parametrize(
    ("a", "b", "n"),
    [
        (at(2026, 12, 23, 10), at(2026, 12, 23, 18), 0),
        (at(2026, 12, 23, 10), at(2026, 12, 28, 8), 2),
        (at(2026, 12, 18, 10), at(2027, 1, 8, 8), 13),
        (at(2027, 1, 8, 8), at(2026, 12, 18, 10), -13),
        (at(2026, 1, 1), at(2027, 1, 1), 254),
    ],
)
def test_workdays_between(a: datetime, b: datetime, n: int) -> None:
    assert CAL.workdays_between(a, b) == n


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(CALENDAR_SETTINGS),
    st.lists(st.datetimes(datetime(2024, 1, 1), datetime(2029, 12, 31), timezones=st.just(UTC)), max_size=20),
)
def test_workday_index_of_instants_is_that_of_their_local_day(
    key: tuple[str, str], moments: list[datetime]
) -> None:
    calendar = CALENDARS[key]
    found = calendar.workday_indexes_at([epoch_us(m) for m in moments])
    assert found == [calendar.workday_index(calendar.local_date(m)) for m in moments]


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(CALENDAR_SETTINGS), st.datetimes(datetime(2025, 1, 1), datetime(2028, 12, 31)))
def test_instants_around_offset_changes(key: tuple[str, str], local: datetime) -> None:
    # Every minute of two hours around a local wall time, so DST changes and local midnights are crossed.
    calendar = CALENDARS[key]
    start = local.replace(tzinfo=calendar.zone).astimezone(UTC)
    moments = [start + timedelta(minutes=m) for m in range(-60, 61)]
    found = calendar.workday_indexes_at([epoch_us(m) for m in moments])
    assert found == [calendar.workday_index(calendar.local_date(m)) for m in moments]


def test_epoch_microseconds_round_trip() -> None:
    moment = datetime(2027, 3, 28, 0, 59, 59, 999_999, tzinfo=UTC)
    assert from_epoch_us(epoch_us(moment)) == moment
    assert epoch_us(datetime(1970, 1, 1, 0, 0, 0, 1, tzinfo=UTC)) == 1


def test_index_values_never_change_as_it_grows() -> None:
    calendar = WorkCalendar()
    day = date(2027, 3, 10)
    first = calendar.workday_index(day)
    assert calendar.workday_index(date(1950, 6, 1)) is not None  # grows downwards
    assert calendar.workday_index(date(2150, 6, 1)) is not None  # and upwards
    assert calendar.workday_index(day) == first


@settings(max_examples=50, deadline=None)
@given(st.lists(st.dates(date(2015, 1, 1), date(2035, 12, 31)), min_size=1, max_size=6), st.dates(
    date(2015, 1, 1), date(2035, 12, 31)))
def test_index_grown_in_any_order_counts_every_day(asked: list[date], probe: date) -> None:
    calendar = WorkCalendar()
    values = {d: calendar.workday_index(d) for d in asked}  # grows the index upwards and downwards
    assert values == {d: calendar.workday_index(d) for d in asked}
    lo, hi = min(asked), max(asked)
    day, before = lo, calendar.workday_index(lo)
    while day < hi:
        day += timedelta(days=1)
        now = calendar.workday_index(day)
        assert now is not None and before is not None and now - before == calendar.is_workday(day)
        before = now
    a, b = sorted((probe, lo))
    ia, ib = calendar.workday_index(a), calendar.workday_index(b)
    assert ia is not None and ib is not None
    assert ib - ia == sum(calendar.is_workday(a + timedelta(days=i)) for i in range(1, (b - a).days + 1))


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(CALENDAR_SETTINGS), instants, st.integers(0, 400))
def test_add_workdays_lands_on_the_nth_workday(key: tuple[str, str], start: datetime, n: int) -> None:
    calendar = CALENDARS[key]
    result = calendar.add_workdays(start, n)
    assert result == calendar.day_start(calendar.local_date(result))
    assert counted(calendar, start, result) == n
    assume(n > 0)
    assert calendar.is_workday(calendar.local_date(result))
