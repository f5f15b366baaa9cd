"""queue_rows computes positions and move ranks only around the page; they must equal the whole queue's."""

from __future__ import annotations

import random
from dataclasses import dataclass

from scheduler import inbox
from scheduler.staff import inbox_pages


@dataclass
class _Item:
    kind: str
    id: int


def _expected(queue: inbox.QueuePage) -> list[tuple[int, object, inbox_pages.RankMoves]]:
    ranks = inbox_pages.virtual_ranks(queue.entries)
    index = {(e.kind, e.id): i for i, e in enumerate(queue.entries)}
    return [(index[(i.kind, i.id)] + 1, i, inbox_pages.rank_moves(ranks, index[(i.kind, i.id)]))
            for i in queue.items]


def test_page_rows_match_the_whole_queue_on_every_page() -> None:
    rng = random.Random(18)
    for _ in range(300):
        n = rng.randint(0, 260)
        entries = [inbox.QueueEntry(rng.choice(("request", "callback")), i,
                                    rng.uniform(-5, 5) if rng.random() < 0.2 else None, rng.randint(0, 99))
                   for i in range(n)]
        per_page = 50
        page = rng.randint(1, max(1, -(-n // per_page)))
        shown = entries[(page - 1) * per_page:page * per_page]
        items = [_Item(e.kind, e.id) for e in shown if rng.random() < 0.95]  # some closed between the two reads
        queue = inbox.QueuePage(entries=entries, items=items, page=page, per_page=per_page)  # type: ignore[arg-type]
        assert inbox_pages.queue_rows(queue) == _expected(queue)


def test_first_page_of_one_item_has_no_moves() -> None:
    entries = [inbox.QueueEntry("request", 1, None, 10)]
    queue = inbox.QueuePage(entries=entries, items=[_Item("request", 1)], page=1, per_page=50)  # type: ignore[list-item]
    assert inbox_pages.queue_rows(queue) == [(1, _Item("request", 1), inbox_pages.RankMoves(None, None, None))]
