"""`seed-demo --sites 2`: the second demo office beside the first, once, with its own host name and number."""

from __future__ import annotations

import asyncpg

from scheduler import site_addresses
from scheduler.__main__ import _parser
from scheduler.seed_sites import seed_second_site
from scheduler.startup_checks import database_problems


async def test_the_second_office_is_loaded_once_with_its_addresses(pool: asyncpg.Pool) -> None:
    assert await seed_second_site(pool) is True
    assert await seed_second_site(pool) is False  # idempotent like seed-demo
    async with pool.acquire() as conn:
        site_id = await conn.fetchval("SELECT id FROM sites WHERE code = 'nordstadt'")
        assert await site_addresses.hosts_of(conn, site_id) == ["nordstadt.localhost"]
        assert await site_addresses.numbers_of(conn, site_id) == ["+4923199990000"]
        roles = {r["role"] for r in await conn.fetch("SELECT role FROM staff WHERE site_id = $1", site_id)}
        assert roles == {"admin", "team_lead", "caseworker"}
        assert await conn.fetchval("SELECT holiday_region FROM sites WHERE id = $1", site_id) == "DE-NW"
        # its requests went through the real intake into its own site, none into the first one
        assert await conn.fetchval("SELECT count(*) FROM requests WHERE site_id = $1", site_id) == 3
        assert await conn.fetchval("SELECT count(*) FROM callbacks WHERE site_id = $1", site_id) == 2
        assert await conn.fetchval("SELECT count(*) FROM requests r JOIN clients c ON c.id = r.client_id "
                                   "WHERE r.site_id <> c.site_id") == 0
        assert await conn.fetchval("SELECT count(*) FROM group_sessions WHERE site_id = $1", site_id) == 1


def test_seed_demo_takes_the_number_of_sites() -> None:
    assert _parser().parse_args(["seed-demo", "--sites", "2"]).sites == 2
    assert _parser().parse_args(["seed-demo"]).sites == 1  # make run and serve --demo keep one site


async def test_production_refuses_the_second_office_too(pool: asyncpg.Pool) -> None:
    await seed_second_site(pool)
    async with pool.acquire() as conn:
        problems = "\n".join(await database_problems(conn))
    assert "nord.admin" in problems and "nord.cw1" in problems
    assert "'Eingang'" in problems  # its demo kiosk token
    assert "'nordstadt' (Jobcenter Nordstadt)" in problems
