"""The fast queue order (cumulative workday index, integer keys) against the straightforward computation."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from scheduler.policy.engine import QueueItem, order
from scheduler.policy.ordering import order_keys
from scheduler.policy.rules import Ordering, TieBreak
from scheduler.policy.workdays import INDEX_YEARS, WorkCalendar, epoch_us, from_epoch_us

# Whole-hour offsets with DST (Berlin), DST at midnight (Cairo), half-hour offsets (Kolkata, St. John's, with
# DST), a half-hour DST shift (Lord Howe), and a Friday/Saturday weekend region (the calendar still counts
# Mon-Fri, but the holidays differ).
CALENDAR_SETTINGS = [
    ("Europe/Berlin", "DE-NI"),
    ("Africa/Cairo", "EG"),
    ("Asia/Kolkata", "IN"),
    ("America/St_Johns", "CA-NL"),
    ("Australia/Lord_Howe", "AU-NSW"),
    ("Asia/Jerusalem", "IL"),
]
CALENDARS = {key: WorkCalendar(tz=key[0], holiday_region=key[1]) for key in CALENDAR_SETTINGS}


def counted(calendar: WorkCalendar, a: datetime, b: datetime) -> int:
    """Workdays in (a's local day, b's local day], day by day; negative if b's day is before a's."""
    da, db = calendar.local_date(a), calendar.local_date(b)
    lo, hi = min(da, db), max(da, db)
    n = sum(calendar.is_workday(lo + timedelta(days=i)) for i in range(1, (hi - lo).days + 1))
    return n if db >= da else -n


def reference_order(
    items: list[QueueItem], ordering: Ordering, *, now: datetime, calendar: WorkCalendar
) -> list[QueueItem]:
    """engine.order() as it was written before the fast path, with workdays counted day by day."""

    def score(i: QueueItem) -> int:
        return i.priority + ordering.aging_per_workday * max(0, counted(calendar, i.received_at, now))

    pinned = sorted((i for i in items if i.manual_rank is not None),
                    key=lambda i: (i.manual_rank, i.received_at, i.id))
    sign = 1 if ordering.tie_break is TieBreak.oldest_first else -1
    rest = sorted((i for i in items if i.manual_rank is None),
                  key=lambda i: (-score(i), sign * i.received_at.timestamp(), i.id))
    return pinned + rest


instants = st.datetimes(datetime(2025, 1, 1), datetime(2028, 12, 31), timezones=st.just(UTC))


@st.composite
def queues(draw: st.DrawFn) -> tuple[list[QueueItem], datetime]:
    now = draw(instants)
    # Few distinct values, so that equal scores, equal times and equal ranks happen often.
    times = draw(st.lists(
        instants | st.integers(-200 * 24, 2 * 24).map(lambda h: now + timedelta(hours=h)),
        min_size=1, max_size=8,
    ))
    ranks = draw(st.lists(st.floats(-5, 5, allow_nan=False), min_size=1, max_size=3))
    items = draw(st.lists(
        st.builds(
            QueueItem,
            id=st.integers(1, 30),  # duplicates too: they keep their input order
            priority=st.integers(0, 4) | st.integers(-100, 100),
            received_at=st.sampled_from(times),
            manual_rank=st.none() | st.none() | st.sampled_from(ranks),
        ),
        max_size=40,
    ))
    return items, now


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(CALENDAR_SETTINGS),
    queues(),
    st.integers(0, 12),
    st.sampled_from(list(TieBreak)),
)
def test_order_matches_the_straightforward_computation(
    key: tuple[str, str], queue: tuple[list[QueueItem], datetime], aging: int, tie_break: TieBreak
) -> None:
    calendar = CALENDARS[key]
    items, now = queue
    ordering = Ordering(aging_per_workday=aging, tie_break=tie_break)
    expected = reference_order(items, ordering, now=now, calendar=calendar)
    # Same objects in the same order (identity, so duplicates must land where they did).
    assert [id(i) for i in order(items, ordering, now=now, calendar=calendar)] == [id(i) for i in expected]
    keys = [(i.id, i.priority, epoch_us(i.received_at), i.manual_rank) for i in items]
    fast = order_keys(keys, ordering, now=now, calendar=calendar)
    assert [items[pos] for pos, _ in fast] == expected
    assert [s for _, s in fast] == [
        i.priority + aging * max(0, counted(calendar, i.received_at, now)) for i in expected
    ]


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


def test_outside_the_index_days_are_counted() -> None:
    calendar = WorkCalendar()
    assert calendar.workday_index(date(INDEX_YEARS[0] - 1, 12, 31)) is None
    assert calendar.workday_index(date(INDEX_YEARS[1] + 1, 1, 1)) is None
    pairs = [
        (datetime(INDEX_YEARS[0] - 1, 12, 20, 12, tzinfo=UTC), datetime(INDEX_YEARS[0], 1, 10, 12, tzinfo=UTC)),
        (datetime(INDEX_YEARS[1], 12, 20, 12, tzinfo=UTC), datetime(INDEX_YEARS[1] + 1, 1, 10, 12, tzinfo=UTC)),
    ]
    for a, b in pairs:
        assert calendar.workdays_between(a, b) == counted(calendar, a, b)
        assert calendar.workdays_between(b, a) == -counted(calendar, a, b)
    items = [QueueItem(1, 10, pairs[0][0]), QueueItem(2, 50, pairs[0][1])]
    ordering = Ordering(aging_per_workday=5)
    now = pairs[0][1] + timedelta(days=3)
    assert order(items, ordering, now=now, calendar=calendar) == reference_order(
        items, ordering, now=now, calendar=calendar)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(CALENDAR_SETTINGS), instants, st.integers(0, 400))
def test_add_workdays_lands_on_the_nth_workday(key: tuple[str, str], start: datetime, n: int) -> None:
    calendar = CALENDARS[key]
    result = calendar.add_workdays(start, n)
    assert result == calendar.day_start(calendar.local_date(result))
    assert counted(calendar, start, result) == n
    assume(n > 0)
    assert calendar.is_workday(calendar.local_date(result))
