"""The database itself makes overlapping confirmed appointments of one caseworker impossible."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from scheduler import appointments
from scheduler.errors import SlotTaken
from tests import factories
from tests.factories import SiteFacts

START = datetime(2027, 2, 1, 9, 0, tzinfo=UTC)


async def test_overlap_rejected(conn: asyncpg.Connection, site: SiteFacts) -> None:
    await factories.create_appointment(conn, site, start=START)
    with pytest.raises(asyncpg.ExclusionViolationError) as caught:
        await factories.create_appointment(conn, site, start=START + timedelta(minutes=15))
    assert caught.value.constraint_name == "no_double_booking"


async def test_adjacent_other_caseworker_and_cancelled_allowed(conn: asyncpg.Connection, site: SiteFacts) -> None:
    await factories.create_appointment(conn, site, start=START)
    await factories.create_appointment(conn, site, start=START + timedelta(minutes=30))  # touches, no overlap
    await factories.create_appointment(conn, site, start=START, staff="cw.demir")
    await factories.create_appointment(conn, site, start=START + timedelta(minutes=10), status="cancelled")
    assert await conn.fetchval("SELECT count(*) FROM appointments WHERE status = 'confirmed'") == 3


async def test_two_concurrent_connections_only_one_wins(pool: asyncpg.Pool, site: SiteFacts) -> None:
    async with pool.acquire() as setup:
        request_ids = [await factories.create_request(setup, site, status="scheduled") for _ in range(2)]
    ready = asyncio.Barrier(2)

    async def book(request_id: int) -> str:
        async with pool.acquire() as c:
            try:
                async with c.transaction():
                    await ready.wait()  # both transactions are open before either inserts
                    await factories.create_appointment(c, site, start=START, request_id=request_id)
                    await asyncio.sleep(0.05)
                return "booked"
            except (asyncpg.ExclusionViolationError, asyncpg.DeadlockDetectedError):
                # Inserted at the same moment, each may wait for the other's row: PostgreSQL then fails one
                # as a deadlock instead of an exclusion violation. Either way the database refused it.
                return "rejected"

    outcomes = await asyncio.gather(*(book(r) for r in request_ids))
    assert sorted(outcomes) == ["booked", "rejected"]
    async with pool.acquire() as check:
        assert await check.fetchval("SELECT count(*) FROM appointments") == 1


async def test_bookings_that_wait_for_each_other_leave_one_of_them_told_the_time_is_taken(
        pool: asyncpg.Pool, site: SiteFacts) -> None:
    # A holds 9:00-9:30 and asks for 9:30-10:00; B asks for 9:15-9:45 in between. Each then waits for the other's row:
    # PostgreSQL fails one of them as a deadlock, and booking reports that as a taken time, never a 500.
    async with pool.acquire() as setup:
        request_ids = [await factories.create_request(setup, site, status="scheduled") for _ in range(3)]
        client_id = await setup.fetchval("SELECT client_id FROM requests WHERE id = $1", request_ids[0])
    staff_id = site.staff["cw.meyer"]
    a_holds = asyncio.Event()
    b_waits = asyncio.Event()

    async def book(c: asyncpg.Connection, request_id: int, minutes: int) -> str:
        try:
            await appointments.book(c, site_id=site.site_id, request_id=request_id, client_id=client_id,
                                    staff_id=staff_id, start=START + timedelta(minutes=minutes),
                                    end=START + timedelta(minutes=minutes + 30), mode="in_person", room=None,
                                    actor="test")
        except SlotTaken:
            return "taken"
        return "booked"

    async def first() -> list[str]:
        async with pool.acquire() as c, c.transaction():
            outcomes = [await book(c, request_ids[0], 0)]
            a_holds.set()
            await b_waits.wait()
            outcomes.append(await book(c, request_ids[2], 30))
            return outcomes

    async def second() -> str:
        await a_holds.wait()
        async with pool.acquire() as c, c.transaction():
            waiting = asyncio.ensure_future(book(c, request_ids[1], 15))
            await asyncio.sleep(0.2)  # its insert now waits for A's row
            b_waits.set()
            return await waiting

    (a_first, a_second), b = await asyncio.gather(first(), second())
    assert a_first == "booked"
    assert sorted([a_second, b]) == ["booked", "taken"] or (a_second, b) == ("taken", "taken")
