"""The database itself makes overlapping confirmed appointments of one caseworker impossible."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

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
            except asyncpg.ExclusionViolationError:
                return "rejected"

    outcomes = await asyncio.gather(*(book(r) for r in request_ids))
    assert sorted(outcomes) == ["booked", "rejected"]
    async with pool.acquire() as check:
        assert await check.fetchval("SELECT count(*) FROM appointments") == 1
