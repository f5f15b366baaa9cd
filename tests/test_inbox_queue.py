"""The inbox's one queue (inbox.merge, inbox.load_queue): requests and callbacks in one policy order, a callback
not due yet held back until it is, a filter by kind, and pages."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

import asyncpg

from scheduler import inbox, sites
from scheduler.policy.rules import Ordering
from scheduler.policy.workdays import epoch_us
from tests import factories
from tests.factories import SiteFacts

NOW = datetime(2026, 11, 18, 10, 0, tzinfo=UTC)  # a Wednesday
CALENDAR = sites._calendar("Europe/Berlin", "DE-NI")


def _key(item_id: int, priority: int, days_ago: float, rank: float | None = None) -> tuple[int, int, int, float | None]:
    return (item_id, priority, epoch_us(NOW - timedelta(days=days_ago)), rank)


def test_both_kinds_share_one_order_by_score_with_pins_first() -> None:
    requests = [_key(1, 10, 0.1), _key(2, 90, 0.1), _key(3, 10, 0.2, rank=2.0)]
    callbacks = [_key(1, 50, 0.1), _key(2, 10, 0.15, rank=1.0), _key(3, 10, 0.3)]
    merged = inbox.merge(requests, callbacks, {}, Ordering(), now=NOW, calendar=CALENDAR)
    assert [(e.kind, e.id) for e in merged] == [
        ("callback", 2), ("request", 3),  # pinned, by rank, whatever their kind
        ("request", 2), ("callback", 1),  # then by score: 90, 50
        ("callback", 3), ("request", 1),  # equal scores: the older first
    ]
    assert [e.score for e in merged][2:] == [90, 50, 10, 10]


def test_waiting_counts_for_callbacks_as_for_requests() -> None:
    # A callback received three working days ago with priority 10 gains 3 x 5 = 15: above a new request of 20.
    merged = inbox.merge([_key(1, 20, 0)], [_key(7, 10, 2)], {}, Ordering(aging_per_workday=5), now=NOW,
                         calendar=CALENDAR)
    assert [(e.kind, e.score) for e in merged] == [("callback", 20), ("request", 20)]  # tie: the older first
    merged = inbox.merge([_key(1, 21, 0)], [_key(7, 10, 2)], {}, Ordering(aging_per_workday=5), now=NOW,
                         calendar=CALENDAR)
    assert [e.kind for e in merged] == ["request", "callback"]


def test_a_callback_not_due_yet_waits_at_the_end_soonest_due_first_unless_pinned() -> None:
    later, sooner = epoch_us(NOW + timedelta(hours=2)), epoch_us(NOW + timedelta(minutes=30))
    callbacks = [_key(1, 90, 5), _key(2, 90, 5), _key(3, 10, 0), _key(4, 90, 5, rank=1.0)]
    merged = inbox.merge([_key(9, 10, 0)], callbacks, {1: later, 2: sooner, 4: later}, Ordering(), now=NOW,
                         calendar=CALENDAR)
    assert [(e.kind, e.id) for e in merged] == [("callback", 4), ("callback", 3), ("request", 9), ("callback", 2),
                                                ("callback", 1)]
    assert [e.held_until_us for e in merged] == [None, None, None, sooner, later]
    assert merged[-1].score > merged[1].score  # held back despite the higher score


async def _callback(conn: asyncpg.Connection, site: SiteFacts, *, priority: int, staff: str = "cw.meyer",
                    next_attempt_at: datetime | None = None, created_at: datetime | None = None) -> int:
    client = await factories.create_client(conn, site)
    callback_id: int = await conn.fetchval(
        """
        INSERT INTO callbacks (site_id, client_id, concern_id, channel, status, reference, link_token, staff_id,
                               team_id, priority, created_at, phone, next_attempt_at, attempts)
        VALUES ($1, $2, $3, 'phone', 'open', $4, $5, $6, $7, $8, coalesce($9, now()), '+4915100000000', $10,
                CASE WHEN $10::timestamptz IS NULL THEN 0 ELSE 1 END)
        RETURNING id
        """,
        site.site_id, client, site.concerns["general"], secrets.token_hex(6).upper(), secrets.token_urlsafe(24),
        site.staff[staff], site.teams["placement"], priority, created_at, next_attempt_at)
    return callback_id


async def test_load_queue_merges_filters_holds_back_and_pages(conn: asyncpg.Connection, site: SiteFacts) -> None:
    now = datetime.now(UTC)
    low = await factories.create_request(conn, site, staff="cw.meyer", priority=10)
    high = await factories.create_request(conn, site, staff="cw.meyer", priority=80)
    middle = await _callback(conn, site, priority=50)
    retry = await _callback(conn, site, priority=95, next_attempt_at=now + timedelta(hours=2))
    filt = inbox.InboxFilter(site_id=site.site_id, staff_id=site.staff["cw.meyer"])
    team = site.teams["placement"]

    queue = await inbox.load_queue(conn, filt, team_of_staff=team, now=now)
    assert [(i.kind, i.id) for i in queue.items] == [("request", high), ("callback", middle), ("request", low),
                                                      ("callback", retry)]
    assert queue.total == 4 and queue.pages == 1
    assert queue.items[3].attempts == 1 and queue.items[3].max_attempts == 3

    only = await inbox.load_queue(conn, filt, team_of_staff=team, now=now, show=inbox.Show.callbacks)
    assert [(i.kind, i.id) for i in only.items] == [("callback", middle), ("callback", retry)]
    only = await inbox.load_queue(conn, filt, team_of_staff=team, now=now, show=inbox.Show.appointments)
    assert [i.id for i in only.items] == [high, low] and {i.kind for i in only.items} == {"request"}

    second = await inbox.load_queue(conn, filt, team_of_staff=team, now=now, page=2, per_page=3)
    assert (second.page, second.pages, second.offset, second.total) == (2, 2, 3, 4)
    assert [(i.kind, i.id) for i in second.items] == [("callback", retry)]
    beyond = await inbox.load_queue(conn, filt, team_of_staff=team, now=now, page=99, per_page=3)
    assert beyond.page == 2

    # Once due, the retry is back at its place by score.
    due = await inbox.load_queue(conn, filt, team_of_staff=team, now=now + timedelta(hours=3))
    assert [(i.kind, i.id) for i in due.items][0] == ("callback", retry)


async def test_the_old_two_lists_still_agree_with_the_one_queue(conn: asyncpg.Connection, site: SiteFacts) -> None:
    now = datetime.now(UTC)
    for priority in (10, 30, 70):
        await factories.create_request(conn, site, staff="cw.meyer", priority=priority)
        await _callback(conn, site, priority=priority + 5)
    filt = inbox.InboxFilter(site_id=site.site_id, staff_id=site.staff["cw.meyer"])
    requests, callbacks = await inbox.load(conn, filt, team_of_staff=site.teams["placement"], now=now)
    queue = await inbox.load_queue(conn, filt, team_of_staff=site.teams["placement"], now=now)
    assert [i.id for i in queue.items if i.kind == "request"] == [i.id for i in requests]
    assert [i.id for i in queue.items if i.kind == "callback"] == [i.id for i in callbacks]
    assert [i.priority for i in queue.items] == [75, 70, 35, 30, 15, 10]
