"""Walk-in tickets (walk_ins.py): numbering per site and day under concurrency, when the office hands them out,
and the table's own guards, against the real PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import date, datetime, time, timedelta

import asyncpg
import pytest

from scheduler import jobs, sites, walk_in_desk, walk_ins
from scheduler.keys import POOL
from tests.factories import SiteFacts
from tests.walk_in_support import OPEN_MORNING, kiosk_callback, staff_user


async def test_twenty_kiosks_at_once_get_twenty_distinct_numbers(pool: asyncpg.Pool, site: SiteFacts) -> None:
    callbacks = [await kiosk_callback(pool) for _ in range(20)]
    tickets = await asyncio.gather(*(walk_in_desk.issue_for_callback(pool, callback_id=c, now=OPEN_MORNING)
                                     for c in callbacks))
    assert all(t is not None for t in tickets)
    assert sorted(t.number for t in tickets if t) == list(range(1, 21))
    assert {t.label for t in tickets if t} == {f"N-{n:03d}" for n in range(1, 21)}
    # The next day starts again at 1.
    tomorrow = OPEN_MORNING + timedelta(days=1)
    first = await walk_in_desk.issue_for_callback(pool, callback_id=await kiosk_callback(pool, now=tomorrow),
                                                  now=tomorrow)
    assert first is not None and (first.label, first.day) == ("N-001", date(2026, 12, 4))


async def test_the_same_number_twice_a_day_is_refused_by_the_database(
        pool: asyncpg.Pool, conn: asyncpg.Connection, site: SiteFacts) -> None:
    ticket = await walk_in_desk.issue_for_callback(pool, callback_id=await kiosk_callback(pool), now=OPEN_MORNING)
    assert ticket is not None
    other = await kiosk_callback(pool)
    with pytest.raises(asyncpg.UniqueViolationError):
        await conn.execute("INSERT INTO walk_in_tickets (site_id, callback_id, day, number) VALUES ($1, $2, $3, $4)",
                           site.site_id, other, ticket.day, ticket.number)
    with pytest.raises(asyncpg.CheckViolationError):  # a closed ticket says when
        await conn.execute("UPDATE walk_in_tickets SET status = 'served' WHERE id = $1", ticket.id)


async def test_tickets_only_while_the_office_is_open_with_time_left(conn: asyncpg.Connection,
                                                                    site: SiteFacts) -> None:
    office = await sites.site_by_id(conn, site.site_id)
    berlin = office.calendar().zone
    closing = datetime(2026, 12, 3, 17, 0, tzinfo=berlin)  # Thursday: "thu": "14:00-17:00"
    assert await walk_ins.open_until(conn, office, OPEN_MORNING) == closing
    assert await walk_ins.open_until(conn, office, closing - timedelta(minutes=31)) == closing
    assert await walk_ins.open_until(conn, office, closing - timedelta(minutes=29)) is None  # the last half hour
    assert await walk_ins.open_until(conn, office, closing + timedelta(hours=1)) is None
    assert await walk_ins.open_until(conn, office, datetime(2026, 12, 5, 10, 0, tzinfo=berlin)) is None  # Saturday
    assert await walk_ins.open_until(conn, office, datetime(2026, 12, 25, 10, 0, tzinfo=berlin)) is None  # holiday
    monday = datetime(2026, 12, 7, 10, 0, tzinfo=berlin)
    assert await walk_ins.open_until(conn, office, monday) == datetime(2026, 12, 7, 12, 30, tzinfo=berlin)
    await conn.execute("INSERT INTO closures (site_id, day, reason, created_by) VALUES ($1, $2, 'Betriebsausflug', "
                       "'test')", site.site_id, date(2026, 12, 3))
    assert await walk_ins.open_until(conn, office, OPEN_MORNING) is None
    # Without opening hours, the office closes when its staff's working hours end (Thursday 16:30 in the demo).
    await conn.execute("UPDATE sites SET opening_hours = '{}' WHERE id = $1", site.site_id)
    assert await walk_ins.open_until(conn, office, monday) == datetime(2026, 12, 7, 12, 0, tzinfo=berlin)


def test_opening_hours_are_read_leniently() -> None:
    hours = {"mon-fri": "08:00-12:30", "tue": "14:00-18:00", "thu": "14:00-17:00, 17:30-19:00",
             "sat": "nonsense", "holiday": "09:00-10:00", "fri-mon": "07:00-20:00"}
    assert [walk_ins.closing_time(hours, d) for d in range(7)] == [
        time(12, 30), time(18), time(12, 30), time(19), time(12, 30), None, None]
    assert walk_ins.closing_time({}, 0) is None


async def test_no_ticket_without_a_walk_in_decision_from_the_kiosk(pool: asyncpg.Pool, conn: asyncpg.Connection,
                                                                   site: SiteFacts) -> None:
    general = await kiosk_callback(pool, concern="general")
    by_phone = await kiosk_callback(pool, channel="phone")  # the demo rule allows walk-ins at the kiosk only
    for callback_id in (general, by_phone):
        assert await walk_in_desk.issue_for_callback(pool, callback_id=callback_id, now=OPEN_MORNING) is None
    closed = await kiosk_callback(pool, now=OPEN_MORNING + timedelta(days=2))  # Saturday
    assert await walk_in_desk.issue_for_callback(pool, callback_id=closed, now=OPEN_MORNING + timedelta(days=2)) \
        is None
    assert await conn.fetchval("SELECT count(*) FROM walk_in_tickets") == 0
    assert await conn.fetchval("SELECT count(*) FROM callbacks WHERE id = ANY($1) AND status = 'open'",
                               [general, by_phone, closed]) == 3  # they stay callback requests


async def test_a_retry_gets_the_same_ticket(pool: asyncpg.Pool, conn: asyncpg.Connection, site: SiteFacts) -> None:
    callback_id = await kiosk_callback(pool)
    both = await asyncio.gather(*(walk_in_desk.issue_for_callback(pool, callback_id=callback_id, now=OPEN_MORNING)
                                  for _ in range(3)))
    assert len({t.id for t in both if t}) == 1
    assert await conn.fetchval("SELECT count(*) FROM walk_in_tickets WHERE callback_id = $1", callback_id) == 1
    assert await conn.fetchval("SELECT count(*) FROM audit_events WHERE action = 'walk_in.issued' "
                               "AND subject_id = $1", callback_id) == 1


async def test_tickets_of_earlier_weeks_are_forgotten_with_their_calls(
        pool: asyncpg.Pool, conn: asyncpg.Connection, site: SiteFacts) -> None:
    old = await walk_in_desk.issue_for_callback(pool, callback_id=await kiosk_callback(pool), now=OPEN_MORNING)
    recent = await walk_in_desk.issue_for_callback(pool, callback_id=await kiosk_callback(pool), now=OPEN_MORNING)
    assert old is not None and recent is not None
    meyer = await staff_user(conn, site, "cw.meyer")
    await walk_in_desk.call(pool, user=meyer, ticket_id=old.id, room="E.01", now=OPEN_MORNING)
    await conn.execute("UPDATE walk_in_tickets SET created_at = $2 WHERE id = $1", old.id,
                       OPEN_MORNING - timedelta(days=8))
    app = {POOL: pool}
    await jobs.purge_lobby_calls(app, OPEN_MORNING)  # type: ignore[arg-type]
    assert await conn.fetchval("SELECT array_agg(id) FROM walk_in_tickets") == [recent.id]
    assert await conn.fetchval("SELECT count(*) FROM lobby_calls WHERE walk_in_ticket_id = $1", old.id) == 0
    assert await conn.fetchval("SELECT status FROM callbacks WHERE id = $1", old.callback_id) == "open"
