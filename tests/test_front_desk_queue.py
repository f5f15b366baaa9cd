"""The front desk queue (front_desk_queue.py): walk-in tickets and the day's due callbacks in one list, in the
policy's order (priority plus aging per workday, pinned first), each callback once."""

from __future__ import annotations

from datetime import date, timedelta

import asyncpg

from scheduler import front_desk_queue, sites, walk_in_desk
from scheduler.walk_ins import WalkInStatus
from tests.factories import SiteFacts
from tests.walk_in_support import OPEN_MORNING, kiosk_callback, staff_user

TODAY = date(2026, 12, 3)


async def _queue(conn: asyncpg.Connection, site: SiteFacts) -> list[front_desk_queue.QueueEntry]:
    office = await sites.site_by_id(conn, site.site_id)
    day_end = office.calendar().day_start(TODAY + timedelta(days=1))
    return await front_desk_queue.load(conn, office, day=TODAY, day_end=day_end, now=OPEN_MORNING)


async def test_tickets_and_due_callbacks_in_policy_order(pool: asyncpg.Pool, conn: asyncpg.Connection,
                                                         site: SiteFacts) -> None:
    ticket = await walk_in_desk.issue_for_callback(pool, callback_id=await kiosk_callback(pool), now=OPEN_MORNING)
    assert ticket is not None
    fresh = await kiosk_callback(pool, concern="general")
    old = await kiosk_callback(pool, concern="general")
    pinned = await kiosk_callback(pool, concern="general")
    later = await kiosk_callback(pool, concern="general")
    closed = await kiosk_callback(pool, concern="general")
    # Waiting 25 workdays lifts priority 10 by 5 a workday (the demo's aging) past the ticket's 90.
    await conn.execute("UPDATE callbacks SET created_at = $2 WHERE id = $1", old, OPEN_MORNING - timedelta(days=35))
    await conn.execute("UPDATE callbacks SET manual_rank = 1 WHERE id = $1", pinned)
    await conn.execute("UPDATE callbacks SET next_attempt_at = $2 WHERE id = $1", later,
                       OPEN_MORNING + timedelta(days=1))
    await conn.execute("UPDATE callbacks SET status = 'cancelled', closed_at = now() WHERE id = $1", closed)
    mine = {("ticket", ticket.id), ("callback", fresh), ("callback", old), ("callback", pinned),
            ("callback", later), ("callback", closed), ("callback", ticket.callback_id)}

    queue = [e for e in await _queue(conn, site) if (e.kind, e.id) in mine]
    assert [(e.kind, e.id) for e in queue] == [("callback", pinned), ("callback", old), ("ticket", ticket.id),
                                               ("callback", fresh)]
    by_id = {e.id: e for e in queue}
    assert (by_id[ticket.id].label, by_id[ticket.id].priority, by_id[ticket.id].score) == ("N-001", 90, 90)
    assert by_id[old].score > 90 and by_id[fresh].score == 10
    assert by_id[ticket.id].callback_id == ticket.callback_id and by_id[fresh].label == by_id[fresh].reference

    # A client who left is a callback again; a served ticket leaves the queue.
    meyer = await staff_user(conn, site, "cw.meyer")
    await walk_in_desk.finish(pool, user=meyer, ticket_id=ticket.id, to=WalkInStatus.left)
    after = {(e.kind, e.id) for e in await _queue(conn, site)}
    assert ("ticket", ticket.id) not in after and ("callback", ticket.callback_id) in after


async def test_the_fingerprint_follows_status_and_calls(pool: asyncpg.Pool, conn: asyncpg.Connection,
                                                        site: SiteFacts) -> None:
    ticket = await walk_in_desk.issue_for_callback(pool, callback_id=await kiosk_callback(pool), now=OPEN_MORNING)
    assert ticket is not None
    before = front_desk_queue.stamp(await _queue(conn, site))
    meyer = await staff_user(conn, site, "cw.meyer")
    await walk_in_desk.take(pool, user=meyer, ticket_id=ticket.id)
    taken = front_desk_queue.stamp(await _queue(conn, site))
    await walk_in_desk.call(pool, user=meyer, ticket_id=ticket.id, room="E.01", now=OPEN_MORNING)
    called = front_desk_queue.stamp(await _queue(conn, site))
    assert len({before, taken, called}) == 3
    assert front_desk_queue.stamp(await _queue(conn, site)) == called
