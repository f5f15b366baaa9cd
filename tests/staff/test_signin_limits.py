"""Attacks on staff sign-in: parallel guessing, password spraying, lockouts kept up, bursts of argon2 work."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from scheduler import jobs
from scheduler.errors import ServiceUnavailable, TooManyRequests, Unauthorized
from scheduler.i18n import translate
from scheduler.staff import auth, signin_limits
from scheduler.staff.signin_limits import PasswordChecks

MAX_DELAY_SECONDS = 15 * 60


async def test_parallel_wrong_passwords_are_counted_before_verifying(client: TestClient,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    verified = 0
    original = auth._verify

    def counting(stored: str, password: str) -> bool:
        nonlocal verified
        verified += 1
        return original(stored, password)

    monkeypatch.setattr(auth, "_verify", counting)
    answers = await asyncio.gather(*(
        client.post("/api/staff/session", json={"username": "admin", "password": f"guess-{i}"}) for i in range(30)))
    statuses = sorted(r.status for r in answers)
    assert statuses.count(401) <= signin_limits.FREE_FAILURES
    # Refused before argon2: delayed (429), or beyond the bounded queue of checks (503).
    assert statuses.count(429) + statuses.count(503) >= 30 - signin_limits.FREE_FAILURES
    assert statuses.count(429) > 0
    assert verified <= signin_limits.FREE_FAILURES  # refused before argon2 ran


async def test_password_spraying_from_one_address_is_limited(client: TestClient) -> None:
    statuses = []
    for i in range(20):
        r = await client.post("/api/staff/session", json={"username": f"user{i}", "password": "Winter2025!"})
        statuses.append(r.status)
    assert statuses[:signin_limits.ADDRESS_FAILURES] == [401] * signin_limits.ADDRESS_FAILURES
    assert set(statuses[signin_limits.ADDRESS_FAILURES:]) == {429}
    # The sprayed address is refused even for an account it has not tried yet, before verifying.
    r = await client.post("/api/staff/session", json={"username": "admin", "password": "demo-admin"})
    assert r.status == 429 and int(r.headers["Retry-After"]) > 0


async def test_spraying_does_not_lock_out_other_addresses(pool: asyncpg.Pool, checks: PasswordChecks) -> None:
    now = datetime.now(UTC)
    for i in range(signin_limits.ADDRESS_FAILURES):
        with pytest.raises(Unauthorized):
            await auth.sign_in(pool, checks=checks, username=f"user{i}", password="x", now=now, address="203.0.113.9")
    with pytest.raises(TooManyRequests):
        await auth.sign_in(pool, checks=checks, username="admin", password="demo-admin", now=now, address="203.0.113.9")
    signed = await auth.sign_in(pool, checks=checks, username="admin", password="demo-admin", now=now, address="198.51.100.4")
    assert signed.user.username == "admin"


async def test_a_stranger_cannot_keep_the_owner_locked_out(pool: asyncpg.Pool, checks: PasswordChecks) -> None:
    start = now = datetime.now(UTC)
    # A stranger guesses from many addresses, as often as the delays allow, for two hours.
    guesses = 0
    while now < start + timedelta(hours=2):
        try:
            await auth.sign_in(pool, checks=checks, username="admin", password="wrong", now=now,
                               address=f"10.0.{guesses}.1")
        except Unauthorized:
            guesses += 1
        except TooManyRequests as e:
            # Knocking during the delay does not lengthen it.
            with pytest.raises(TooManyRequests) as again:
                await auth.sign_in(pool, checks=checks, username="admin", password="wrong", now=now,
                                   address="10.9.9.9")
            assert again.value.extra["retry_after"] == e.extra["retry_after"]
            now += timedelta(seconds=e.extra["retry_after"])
    assert guesses <= 25  # progressive: few guesses, then one per MAX_DELAY
    assert signin_limits.delay_after(guesses) == signin_limits.MAX_DELAY  # capped: never a hard lock
    # The owner, once the delay since the stranger's latest guess has passed, gets in.
    try:
        await auth.sign_in(pool, checks=checks, username="admin", password="demo-admin", now=now,
                           address="192.0.2.7")
    except TooManyRequests as caught:
        assert caught.extra["retry_after"] <= MAX_DELAY_SECONDS
        now += timedelta(seconds=caught.extra["retry_after"])
    signed = await auth.sign_in(pool, checks=checks, username="admin", password="demo-admin", now=now,
                                address="192.0.2.7")
    assert signed.user.username == "admin"


def test_delays_grow_and_are_capped() -> None:
    free = signin_limits.FREE_FAILURES
    assert signin_limits.delay_after(free - 1) == timedelta(0)
    delays = [signin_limits.delay_after(free + k) for k in range(20)]
    assert delays == sorted(delays) and delays[0] > timedelta(0)
    assert delays[-1] == signin_limits.MAX_DELAY == timedelta(minutes=15)


async def test_a_burst_beyond_the_queue_is_refused_not_queued() -> None:
    checks = PasswordChecks(workers=1, queued=1)
    release = threading.Event()

    async def check() -> bool:
        async with checks.slot():
            return await checks.run(release.wait, 5)

    try:
        first, second = asyncio.create_task(check()), asyncio.create_task(check())
        await asyncio.sleep(0.05)
        with pytest.raises(ServiceUnavailable) as caught:
            async with checks.slot():
                pass
        assert translate("de", caught.value.message) != caught.value.message
        release.set()
        assert await first and await second
        async with checks.slot():  # room again once they are done
            pass
    finally:
        release.set()
        checks.close()


async def test_the_app_refuses_a_burst_with_503(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    checks = client.app[signin_limits.PASSWORD_CHECKS]
    monkeypatch.setattr(checks, "_free", 0)
    r = await client.post("/api/staff/session", json={"username": "admin", "password": "demo-admin"},
                          headers={"Accept-Language": "de"})
    assert r.status == 503
    assert (await r.json())["message"] == translate("de", ServiceUnavailable.default_message)


async def test_purge_job_deletes_expired_sessions_and_old_failures(client: TestClient, pool: asyncpg.Pool,
                                                                   conn: asyncpg.Connection,
                                                                   checks: PasswordChecks) -> None:
    now = datetime.now(UTC)
    old = await auth.sign_in(pool, checks=checks, username="admin", password="demo-admin", now=now - timedelta(days=2))
    fresh = await auth.sign_in(pool, checks=checks, username="cw.meyer", password="demo-caseworker", now=now)
    await conn.execute("INSERT INTO sign_in_failures (username, created_at) VALUES ('ghost', $1), ('ghost2', $2)",
                       now - timedelta(days=3), now)
    job = next(j for j in jobs.JOBS if j.id == "sign-in-cleanup")
    assert job.singleton
    assert await jobs.run_job(client.app, job, now=now)
    assert await jobs.run_job(client.app, job, now=now)  # idempotent
    hashes = {r["token_hash"] for r in await conn.fetch("SELECT token_hash FROM staff_sessions")}
    assert hashes == {auth.token_hash(fresh.token)} and auth.token_hash(old.token) not in hashes
    assert [r["username"] for r in await conn.fetch("SELECT username FROM sign_in_failures")] == ["ghost2"]
