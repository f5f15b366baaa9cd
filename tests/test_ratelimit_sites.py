"""Rate limits per office: one office's rush never blocks another (issue 18)."""

from __future__ import annotations

import dataclasses

import asyncpg
from aiohttp.test_utils import TestClient

from scheduler import site_addresses
from scheduler.app import create_app
from scheduler.config import Config
from tests.api.helpers import appointment_body
from tests.factories import load_site_facts
from tests.two_sites import second_site

HOST_A, HOST_B = "termine.musterstadt.example", "termine.nordstadt.example"


async def _two_hosts(pool: asyncpg.Pool) -> None:
    b = await second_site(pool)
    async with pool.acquire() as conn:
        a = await load_site_facts(conn)
        await site_addresses.set_hosts(conn, a.site_id, [HOST_A])
        await site_addresses.set_hosts(conn, b.site_id, [HOST_B])


async def _client(aiohttp_client, config: Config, **security: str) -> TestClient:  # type: ignore[no-untyped-def]
    config = dataclasses.replace(config, security=dataclasses.replace(config.security, **security))
    return await aiohttp_client(create_app(config))


async def test_a_full_global_limit_of_one_office_leaves_the_other_open(aiohttp_client, config: Config,  # type: ignore[no-untyped-def]
                                                                      pool: asyncpg.Pool) -> None:
    await _two_hosts(pool)
    client = await _client(aiohttp_client, config, global_rate_limit="5/minute", lookup_rate_limit="100/minute")
    url = "/api/public/" + "Q" * 40
    statuses = [(await client.get(url, headers={"Host": HOST_A})).status for _ in range(6)]
    assert statuses == [404] * 5 + [429]
    assert (await client.get(url, headers={"Host": HOST_B})).status == 404
    keys = {r["name"] for r in await pool.fetch("SELECT name FROM rate_limits")}
    assert keys == {"global", "lookup"}  # the key itself is hashed; the name stays


async def test_a_phone_number_is_counted_per_office(aiohttp_client, config: Config,  # type: ignore[no-untyped-def]
                                                    pool: asyncpg.Pool) -> None:
    await _two_hosts(pool)
    client = await _client(aiohttp_client, config, public_rate_limit="100/minute")
    body = appointment_body(phone="+4915199887711")
    statuses = [(await client.post("/api/requests", json=body, headers={"Host": HOST_A})).status for _ in range(11)]
    assert statuses[:10] == [201] * 10 and statuses[10] == 429
    response = await client.post("/api/requests", json={**body, "idempotency_key": "other-office-1"},
                                 headers={"Host": HOST_B})
    assert response.status == 201, await response.text()
