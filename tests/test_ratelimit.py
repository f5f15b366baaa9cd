"""Public endpoints are rate limited per address, per phone number and globally; proxies are trusted
only when configured. The counts live in PostgreSQL, so processes on one database share them."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
from datetime import UTC, datetime

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from scheduler import db, ratelimit
from scheduler.app import create_app
from scheduler.config import Config, SecurityConfig
from scheduler.errors import TooManyRequests
from scheduler.ratelimit import Limit, RateLimiter
from tests.api.helpers import appointment_body

# A fixed moment 10 s into a minute (and into an hour): tests that set the clock never meet a boundary.
T0 = datetime(2030, 3, 4, 9, 0, 10, tzinfo=UTC).timestamp()


async def _client(aiohttp_client, config: Config, **security: str) -> TestClient:  # type: ignore[no-untyped-def]
    config = dataclasses.replace(config, security=dataclasses.replace(config.security, **security))
    return await aiohttp_client(create_app(config))


async def test_lookups_are_limited_with_identical_answers(aiohttp_client, config: Config, pool) -> None:  # type: ignore[no-untyped-def]
    client = await _client(aiohttp_client, config, lookup_rate_limit="3/minute")
    answers = [await client.get("/api/public/" + "A" * 40 + str(i)) for i in range(4)]
    assert [r.status for r in answers] == [404, 404, 404, 429]
    bodies = [{k: v for k, v in (await r.json()).items() if k != "request_id"} for r in answers[:3]]
    assert bodies[0] == bodies[1] == bodies[2]
    assert int(answers[3].headers["Retry-After"]) >= 1


async def test_submissions_per_phone_number(aiohttp_client, config: Config, pool) -> None:  # type: ignore[no-untyped-def]
    client = await _client(aiohttp_client, config, public_rate_limit="100/minute")
    body = appointment_body(phone="+4915199887766")
    statuses = [(await client.post("/api/requests", json=body)).status for _ in range(11)]
    assert statuses[:10] == [201] * 10 and statuses[10] == 429


async def test_spoofed_forwarded_for_is_ignored_unless_from_a_trusted_proxy(aiohttp_client, config: Config,
                                                                           pool) -> None:  # type: ignore[no-untyped-def]
    client = await _client(aiohttp_client, config, lookup_rate_limit="2/minute")
    url = "/api/public/" + "B" * 40
    for n in range(2):
        await client.get(url, headers={"X-Forwarded-For": f"10.0.0.{n}"})
    assert (await client.get(url, headers={"X-Forwarded-For": "10.0.0.9"})).status == 429

    trusting = dataclasses.replace(config, server=dataclasses.replace(config.server, trusted_proxies=("127.0.0.1/32",)))
    client = await _client(aiohttp_client, trusting, lookup_rate_limit="2/minute")
    for n in range(3):
        assert (await client.get(url, headers={"X-Forwarded-For": f"10.0.0.{n}"})).status == 404


async def test_a_limited_client_page_is_a_page_in_the_clients_language(aiohttp_client, config: Config,
                                                                       pool) -> None:  # type: ignore[no-untyped-def]
    client = await _client(aiohttp_client, config, lookup_rate_limit="1/minute")
    browser = {"Accept": "text/html,application/xhtml+xml"}
    await client.get("/r/" + "C" * 40 + "?lang=uk", headers=browser)
    r = await client.get("/r/" + "C" * 40 + "?lang=uk", headers=browser)
    assert r.status == 429 and r.content_type == "text/html" and r.headers["Retry-After"]
    page = await r.text()
    assert 'lang="uk"' in page and "спробуйте" in page


async def test_a_kiosk_is_counted_per_device(aiohttp_client, config: Config, pool) -> None:  # type: ignore[no-untyped-def]
    client = await _client(aiohttp_client, config, lookup_rate_limit="1/minute", kiosk_rate_limit="3/minute")
    statuses = [(await client.get("/kiosk/api/config", headers={"X-Kiosk-Token": "demo-kiosk-foyer-1"})).status
                for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    assert (await client.get("/kiosk/api/config", headers={"X-Kiosk-Token": "demo-kiosk-foyer-2"})).status == 200


# -- shared by every process ----------------------------------------------------------------------

async def test_two_app_instances_share_one_limit(aiohttp_client, config: Config, pool) -> None:  # type: ignore[no-untyped-def]
    # Two apps, each with its own pool, like two web processes behind a load balancer.
    first = await _client(aiohttp_client, config, lookup_rate_limit="4/minute")
    second = await _client(aiohttp_client, config, lookup_rate_limit="4/minute")
    assert first.app[ratelimit.LIMITER] is not second.app[ratelimit.LIMITER]
    for c in (first, second):
        c.app[ratelimit.LIMITER].clock = lambda: T0
    url = "/api/public/" + "D" * 40
    statuses = [(await c.get(url)).status for c in (first, second, first, second, first, second)]
    assert statuses == [404, 404, 404, 404, 429, 429]


async def test_two_app_instances_share_the_phone_limit(aiohttp_client, config: Config, pool) -> None:  # type: ignore[no-untyped-def]
    first = await _client(aiohttp_client, config, public_rate_limit="100/minute")
    second = await _client(aiohttp_client, config, public_rate_limit="100/minute")
    body = appointment_body(phone="+4915199887755")
    statuses = [(await c.post("/api/requests", json=body)).status for _ in range(6) for c in (first, second)]
    assert statuses[:10] == [201] * 10 and statuses[10:] == [429, 429]


async def test_concurrent_hits_from_two_pools_never_pass_the_limit(config: Config, pool: asyncpg.Pool) -> None:
    assert config.database.url
    other = await db.create_pool(config.database.url, max_size=10)
    try:
        limiter = RateLimiter(config.security, clock=lambda: T0)
        limit = Limit("lookup", 15, 60)

        async def attempt(p: asyncpg.Pool) -> bool:
            try:
                await limiter.hit(p, (limiter.limits.everyone, "global"), (limit, "203.0.113.7"))
            except TooManyRequests:
                return False
            return True

        admitted = await asyncio.gather(*(attempt(p) for _ in range(20) for p in (pool, other)))
    finally:
        await other.close()
    assert sum(admitted) == 15
    hits = await pool.fetchval("SELECT hits FROM rate_limits WHERE name = 'lookup'")
    assert hits == 15


async def test_concurrent_checks_of_one_process_are_counted_in_one_statement(config: Config, pool: asyncpg.Pool) -> None:
    assert config.database.url
    counted: list[str] = []
    single = await db.create_pool(config.database.url, min_size=1, max_size=1)
    try:
        async with single.acquire() as conn:
            conn.add_query_logger(lambda q: counted.append(q.query) if "rate_limit_hit" in q.query else None)
        limiter = RateLimiter(config.security, clock=lambda: T0)
        lookup = Limit("lookup", 12, 60)

        async def attempt(address: str) -> int | None:
            try:
                await limiter.hit(single, (limiter.limits.everyone, "global"), (lookup, address))
            except TooManyRequests as e:
                return int(e.extra["retry_after"])
            return None

        crowd = await asyncio.gather(*(attempt(f"203.0.113.{n % 3}") for n in range(30)))
        more = await asyncio.gather(*(attempt("203.0.113.0") for _ in range(5)))
        counts = sorted(r["hits"] for r in await pool.fetch("SELECT hits FROM rate_limits"))
    finally:
        await single.close()
    # The 30 checks made at one moment went out as one statement, the 5 after them as a second one, and
    # a key that appears many times in one statement is counted once per check.
    assert len(counted) == 2
    assert crowd == [None] * 30
    assert more[:2] == [None, None]
    assert len(set(more[2:])) == 1 and more[2] is not None and more[2] >= 1
    assert counts == [10, 10, 12, 32]  # two addresses, the full one, and everyone (only what was admitted)


# -- the window --------------------------------------------------------------------------------------

async def test_retry_after_is_enough_and_a_second_less_is_not(pool: asyncpg.Pool) -> None:
    now = [T0]
    limiter = RateLimiter(SecurityConfig(lookup_rate_limit="3/minute"), clock=lambda: now[0])
    lookup = limiter.limits.lookup
    for _ in range(3):
        await limiter.hit(pool, (lookup, "198.51.100.1"))
    with pytest.raises(TooManyRequests) as refused:
        await limiter.hit(pool, (lookup, "198.51.100.1"))
    wait = refused.value.extra["retry_after"]
    # The three hits of this minute weigh on the next one until a third of it has passed: 50 s + 20 s.
    assert wait == 70
    now[0] = T0 + wait - 1
    with pytest.raises(TooManyRequests):
        await limiter.hit(pool, (lookup, "198.51.100.1"))
    now[0] = T0 + wait
    await limiter.hit(pool, (lookup, "198.51.100.1"))
    await limiter.hit(pool, (lookup, "198.51.100.2"))  # another address was never limited


async def test_a_burst_at_the_window_boundary_does_not_pass_twice_the_limit(pool: asyncpg.Pool) -> None:
    now = [T0 + 49.5]  # half a second before the minute ends
    limiter = RateLimiter(SecurityConfig(lookup_rate_limit="3/minute"), clock=lambda: now[0])
    lookup = limiter.limits.lookup
    for _ in range(3):
        await limiter.hit(pool, (lookup, "198.51.100.3"))
    now[0] = T0 + 50.5  # half a second into the next minute
    with pytest.raises(TooManyRequests):
        await limiter.hit(pool, (lookup, "198.51.100.3"))


def test_retry_after_arithmetic() -> None:
    limit = Limit("lookup", 10, 60)
    start = T0 - 10  # T0 is 10 s into its minute
    # Full in this window: wait for the next one, until this one weighs 9 hits or less.
    assert ratelimit.retry_after(limit, now=start, previous=0, hits=10) == 60 + 6
    # Room in this window, but the previous one still weighs too much: until it weighs 9 - 5 = 4 of 8.
    assert ratelimit.retry_after(limit, now=start, previous=8, hits=5) == 30
    assert ratelimit.retry_after(Limit("phone", 1, 3600), now=start, previous=0, hits=1) == 7200
    assert ratelimit.retry_after(limit, now=start, previous=0, hits=3) == 1


def test_limits_are_read_from_the_configuration() -> None:
    limits = RateLimiter(SecurityConfig(public_rate_limit="5 per 2 hours")).limits
    assert limits.submit == Limit("submit", 5, 7200)
    assert limits.everyone == Limit("global", 300, 1)
    assert limits.per_phone == Limit("phone", 10, 3600)
    assert RateLimiter(SecurityConfig(phone_rate_limit="3/day")).limits.per_phone == Limit("phone", 3, 86400)


# -- no personal data, cleanup, outages ----------------------------------------------------------

async def test_counters_hold_no_address_or_phone_number(aiohttp_client, config: Config, pool) -> None:  # type: ignore[no-untyped-def]
    client = await _client(aiohttp_client, config)
    phone = "+4915199887744"
    assert (await client.post("/api/requests", json=appointment_body(phone=phone))).status == 201
    rows = await pool.fetch("SELECT name, key FROM rate_limits ORDER BY name")
    assert [r["name"] for r in rows] == ["global", "phone", "submit"]
    plain = {hashlib.sha256(v.encode()).digest() for v in (phone, "phone:" + phone, "127.0.0.1", "submit:127.0.0.1")}
    for r in rows:
        assert len(r["key"]) == 32 and r["key"] not in plain
        assert phone.encode() not in r["key"] and b"127.0.0.1" not in r["key"]


async def test_expired_windows_are_deleted(pool: asyncpg.Pool) -> None:
    limiter = RateLimiter(SecurityConfig(), clock=lambda: T0)
    await limiter.hit(pool, (limiter.limits.everyone, "global"), (limiter.limits.lookup, "198.51.100.4"))
    # The one-second global window stops counting after two seconds, the minute of lookups after two minutes.
    assert await ratelimit.purge_expired(pool, now=datetime.fromtimestamp(T0 + 5, UTC)) == 1
    assert await ratelimit.purge_expired(pool, now=datetime.fromtimestamp(T0 + 5, UTC)) == 0
    assert await ratelimit.purge_expired(pool, now=datetime.fromtimestamp(T0 + 120, UTC)) == 1
    assert await pool.fetchval("SELECT count(*) FROM rate_limits") == 0


async def test_without_the_database_the_limit_lets_requests_through(aiohttp_client, config: Config, pool,
                                                                   caplog: pytest.LogCaptureFixture) -> None:  # type: ignore[no-untyped-def]
    gone = dataclasses.replace(config, database=dataclasses.replace(
        config.database, url="postgresql://postgres@127.0.0.1:1/nowhere", command_timeout=2))
    client = await _client(aiohttp_client, gone, lookup_rate_limit="1/minute")
    with caplog.at_level(logging.WARNING, logger="scheduler.ratelimit"):
        statuses = [(await client.get("/api/public/" + "E" * 40)).status for _ in range(3)]
    # The lookup itself needs the database: 503 (retry soon), never 500, and never 429 for lack of a count.
    assert statuses == [503, 503, 503]
    assert caplog.text.count("rate limit not checked") == 3


# -- nobody can flip the global limit (issue 13, item 4) -----------------------------------------

def _behind_proxy(config: Config) -> Config:
    return dataclasses.replace(config, server=dataclasses.replace(config.server, trusted_proxies=("127.0.0.1/32",)))


async def test_random_kiosk_tokens_do_not_exhaust_the_global_limit(aiohttp_client, config: Config, pool) -> None:  # type: ignore[no-untyped-def]
    client = await _client(aiohttp_client, _behind_proxy(config), global_rate_limit="10/minute",
                           lookup_rate_limit="5/minute")
    attacker = {"X-Forwarded-For": "198.51.100.66"}
    statuses = [(await client.get("/kiosk/api/config", headers={**attacker, "X-Kiosk-Token": f"guess-{n}"})).status
                for n in range(30)]
    # Refused as unknown, and once the sender's own allowance is spent, slowed down.
    assert statuses[:5] == [401] * 5 and set(statuses[5:]) == {429}
    assert await pool.fetchval("SELECT count(*) FROM rate_limits WHERE name IN ('global', 'kiosk')") == 0
    victim = {"X-Forwarded-For": "198.51.100.7"}
    assert (await client.get("/api/public/" + "F" * 40, headers=victim)).status == 404
    assert (await client.get("/kiosk/api/config", headers={**victim, "X-Kiosk-Token": "demo-kiosk-foyer-1"})).status == 200


async def test_one_address_cannot_use_up_the_global_limit(aiohttp_client, config: Config, pool) -> None:  # type: ignore[no-untyped-def]
    client = await _client(aiohttp_client, _behind_proxy(config), global_rate_limit="10/minute",
                           lookup_rate_limit="5/minute")
    url = "/api/public/" + "G" * 40
    statuses = [(await client.get(url, headers={"X-Forwarded-For": "198.51.100.66"})).status for _ in range(30)]
    assert statuses[:5] == [404] * 5 and set(statuses[5:]) == {429}
    # Only the hits the sender's own limit admitted weigh on everyone's.
    assert await pool.fetchval("SELECT sum(hits) FROM rate_limits WHERE name = 'global'") == 5
    assert (await client.get(url, headers={"X-Forwarded-For": "198.51.100.7"})).status == 404


async def test_ipv6_clients_are_counted_per_64(aiohttp_client, config: Config, pool) -> None:  # type: ignore[no-untyped-def]
    client = await _client(aiohttp_client, _behind_proxy(config), lookup_rate_limit="2/minute")
    url = "/api/public/" + "H" * 40

    async def status(address: str) -> int:
        return (await client.get(url, headers={"X-Forwarded-For": address})).status

    assert await status("2001:db8:1:2::1") == 404
    assert await status("2001:db8:1:2:ffff:ffff:ffff:fffe") == 404
    assert await status("2001:db8:1:2:abcd::9") == 429  # same /64: one client
    assert await status("2001:db8:1:3::1") == 404       # the next /64 is another client
    assert await status("192.0.2.1") == 404             # IPv4 stays per address
    assert await status("192.0.2.2") == 404


def test_address_buckets() -> None:
    assert ratelimit.address_bucket("2001:db8:1:2:3:4:5:6") == "2001:db8:1:2::/64"
    assert ratelimit.address_bucket("::ffff:192.0.2.1") == "192.0.2.1"
    assert ratelimit.address_bucket("192.0.2.1") == "192.0.2.1"
    assert ratelimit.address_bucket("not an address") == "not an address"
