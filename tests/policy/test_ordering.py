"""The queue order: examples of order(), and the fast order_keys() against the straightforward computation."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scheduler.policy.ordering import QueueItem, order, order_keys
from scheduler.policy.rules import Ordering, TieBreak
from scheduler.policy.workdays import INDEX_YEARS, WorkCalendar, epoch_us
from tests.policy.examples import CAL, CALENDAR_SETTINGS, CALENDARS, at, counted, instants


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


# ------------------------------------------------------------------------------------------- order()

ORDERING = Ordering(aging_per_workday=5, tie_break=TieBreak.oldest_first)
TODAY = at(2027, 3, 10, 12)  # Wednesday


def ids(items: list[QueueItem], ordering: Ordering = ORDERING, now: datetime = TODAY) -> list[int]:
    return [i.id for i in order(items, ordering, now=now, calendar=CAL)]


def test_order_by_priority() -> None:
    items = [QueueItem(1, 10, TODAY, None), QueueItem(2, 90, TODAY, None), QueueItem(3, 40, TODAY, None)]
    assert ids(items) == [2, 3, 1]


@pytest.mark.parametrize(
    ("received", "expected"),
    [
        (at(2027, 3, 9, 9), [2, 1]),  # 1 workday: 10 + 5 < 20
        (at(2027, 3, 8, 9), [1, 2]),  # 2 workdays: 20 == 20, the older one first
        (at(2027, 3, 5, 9), [1, 2]),  # Friday -> Wednesday is 3 workdays: 25 > 20
    ],
)
def test_aging_overtakes_priority(received: datetime, expected: list[int]) -> None:
    items = [QueueItem(1, 10, received, None), QueueItem(2, 20, TODAY, None)]
    assert ids(items) == expected


def test_score_is_priority_plus_aging_per_workday_waited() -> None:
    friday = at(2027, 3, 5, 9)  # 3 workdays before TODAY: 10 + 3 * 5 = 25
    assert ids([QueueItem(1, 10, friday), QueueItem(2, 24, TODAY)]) == [1, 2]
    assert ids([QueueItem(1, 10, friday), QueueItem(2, 26, TODAY)]) == [2, 1]
    later = TODAY + timedelta(days=3)  # received after now: waiting counts as zero, never negative
    assert ids([QueueItem(1, 10, later), QueueItem(2, 9, TODAY)]) == [1, 2]
    assert ids([QueueItem(1, 10, later), QueueItem(2, 11, TODAY)]) == [2, 1]


@pytest.mark.parametrize(
    ("tie_break", "expected"), [(TieBreak.oldest_first, [2, 3, 1, 4]), (TieBreak.newest_first, [4, 1, 3, 2])]
)
def test_ties(tie_break: TieBreak, expected: list[int]) -> None:
    items = [
        QueueItem(1, 50, at(2027, 3, 10, 9), None),
        QueueItem(2, 50, at(2027, 3, 10, 8), None),
        QueueItem(3, 50, at(2027, 3, 10, 8, 30), None),
        QueueItem(4, 50, at(2027, 3, 10, 10), None),
    ]
    assert ids(items, Ordering(aging_per_workday=5, tie_break=tie_break)) == expected


def test_same_score_and_time_breaks_by_id() -> None:
    items = [QueueItem(9, 50, TODAY, None), QueueItem(3, 50, TODAY, None)]
    assert ids(items) == [3, 9]


def test_manual_ranks_win_and_keep_their_order() -> None:
    items = [
        QueueItem(1, 99, at(2027, 1, 4), None),
        QueueItem(2, 0, TODAY, 2.0),
        QueueItem(3, 50, TODAY, None),
        QueueItem(4, 0, TODAY, 0.5),
        QueueItem(5, 10, TODAY, 1.25),
    ]
    assert ids(items) == [4, 5, 2, 1, 3]
