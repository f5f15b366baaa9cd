"""The queue order: manually ranked items first, the rest by priority plus aging per workday waited.

order_keys() works on plain sort keys in one pass (the inbox's hot path); order() on QueueItems.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypeAlias

from scheduler.policy.rules import Ordering, TieBreak
from scheduler.policy.workdays import WorkCalendar, epoch_us, from_epoch_us


@dataclass(frozen=True, slots=True)
class QueueItem:
    id: int
    priority: int
    received_at: datetime
    manual_rank: float | None = None


# (id, priority, received_at as microseconds since 1970-01-01 UTC, manual_rank)
QueueKey: TypeAlias = tuple[int, int, int, float | None]


def order_keys(
    keys: Sequence[QueueKey], ordering: Ordering, *, now: datetime, calendar: WorkCalendar
) -> list[tuple[int, int]]:
    """(position in keys, score) in policy order: manually ranked items first by rank, then age, then id;
    the rest by score (priority + aging per workday waited, never negative waiting), ties by age, then id.

    Equal keys keep their input order, as in a stable sort.
    """
    aging = ordering.aging_per_workday
    sign = 1 if ordering.tie_break is TieBreak.oldest_first else -1
    today = calendar.workday_index(calendar.local_date(now))
    received = calendar.workday_indexes_at([k[2] for k in keys])
    pinned: list[tuple[float, int, int, int, int]] = []
    rest: list[tuple[int, int, int, int, int]] = []
    for pos, ((item_id, priority, at_us, rank), day) in enumerate(zip(keys, received, strict=True)):
        if today is None or day is None:  # outside the workday index: count the days
            waited = calendar.workdays_between(from_epoch_us(at_us), now)
        else:
            waited = today - day
        score = priority + aging * (waited if waited > 0 else 0)
        if rank is None:
            rest.append((-score, sign * at_us, item_id, pos, score))
        else:
            pinned.append((rank, at_us, item_id, pos, score))
    pinned.sort()
    rest.sort()
    return [(p[3], p[4]) for p in pinned] + [(r[3], r[4]) for r in rest]


def order(
    items: Iterable[QueueItem], ordering: Ordering, *, now: datetime, calendar: WorkCalendar
) -> list[QueueItem]:
    """Manually ranked items first by rank; the rest by score, ties by age; deterministic."""
    queue = list(items)
    keys = [(i.id, i.priority, epoch_us(i.received_at), i.manual_rank) for i in queue]
    return [queue[pos] for pos, _ in order_keys(keys, ordering, now=now, calendar=calendar)]
