"""Limits on staff sign-in: attempts are counted before a password is checked, and argon2 runs bounded.

Per username, the first failures are free; after them each attempt must wait a delay that doubles with
every further failure, up to MAX_DELAY. A delay is never a hard lock: attempts refused during it are not
counted, so whoever tries once it has passed (the owner with the right password, say) is checked again,
and a stranger gets at most one guess per MAX_DELAY. Per address (bucket, as the rate limiter counts
it), failures across all usernames are capped, which limits password spraying; a success clears the
username's failures, so colleagues behind one office address who mistype and then get in leave nothing.

Each attempt is written as a failure *before* the password is checked (under advisory locks on its
address and username, in that order), so parallel attempts cannot all pass the count; a success deletes
it. argon2 needs 64 MiB per check: it runs in a pool of PasswordChecks.workers threads, and a burst
beyond `queued` waiting checks is refused at once instead of piling up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Final, TypeVar

import asyncpg
from aiohttp import web

from scheduler import ratelimit
from scheduler.errors import ServiceUnavailable, TooManyRequests
from scheduler.keys import CONFIG, POOL

log = logging.getLogger(__name__)

FREE_FAILURES: Final = 5
FIRST_DELAY: Final = timedelta(seconds=4)
MAX_DELAY: Final = timedelta(minutes=15)
FAILURE_MEMORY: Final = timedelta(hours=24)  # older failures are forgotten (and purged)
ADDRESS_FAILURES: Final = 10
ADDRESS_WINDOW: Final = timedelta(minutes=15)
_KEY_NAME: Final = "sign-in-failures"  # the name rate_limit_key() hashes addresses under

T = TypeVar("T")


def delay_after(failures: int) -> timedelta:
    """How long after the latest failure a username may try again, given its failures."""
    if failures < FREE_FAILURES:
        return timedelta(0)
    doublings = min(failures - FREE_FAILURES, 20)
    return min(MAX_DELAY, FIRST_DELAY * 2 ** doublings)


def _seconds(until: datetime, now: datetime) -> int:
    return max(1, math.ceil((until - now).total_seconds()))


async def admit(conn: asyncpg.Connection, *, username: str, address: str, site_id: int | None,
                now: datetime) -> None:
    """Count an attempt as a failure before its password is checked; TooManyRequests while delayed.

    Runs inside the caller's transaction, which must commit before the (slow) check starts.
    """
    if address:
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext('sign-in-address'), hashtext($1))", address)
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext('sign-in-user'), hashtext($1))", username)
    row = await conn.fetchrow(
        "SELECT count(*) AS failures, max(created_at) AS latest FROM sign_in_failures "
        "WHERE username = $1 AND created_at > $2", username, now - FAILURE_MEMORY)
    if row["latest"] is not None and row["latest"] + delay_after(row["failures"]) > now:
        log.warning("sign-in delayed", extra={"failures": row["failures"]})  # no typed name in logs
        raise TooManyRequests(extra={"retry_after": _seconds(row["latest"] + delay_after(row["failures"]), now)})
    if address:
        oldest_counted: datetime | None = await conn.fetchval(
            "SELECT created_at FROM sign_in_failures WHERE address_key = rate_limit_key($1, $2) AND created_at > $3 "
            "ORDER BY created_at DESC OFFSET $4 LIMIT 1", _KEY_NAME, address, now - ADDRESS_WINDOW,
            ADDRESS_FAILURES - 1)
        if oldest_counted is not None:
            log.warning("sign-in refused: too many failures from one address")
            raise TooManyRequests(extra={"retry_after": _seconds(oldest_counted + ADDRESS_WINDOW, now)})
    await conn.execute(
        "INSERT INTO sign_in_failures (site_id, username, address_key, created_at) "
        "VALUES ($1, $2, CASE WHEN $3 <> '' THEN rate_limit_key($4, $3) END, $5)",
        site_id, username, address, _KEY_NAME, now)


async def succeeded(conn: asyncpg.Connection, username: str) -> None:
    """Forget a username's failures (including the attempt that just succeeded)."""
    await conn.execute("DELETE FROM sign_in_failures WHERE username = $1", username)


async def purge_failures(pool: asyncpg.Pool, *, now: datetime) -> int:
    """Delete failures that no longer count; return how many."""
    status = await pool.execute("DELETE FROM sign_in_failures WHERE created_at < $1", now - FAILURE_MEMORY)
    return int(status.split()[-1])


class PasswordChecks:
    """argon2 work in a small thread pool; more than `queued` checks waiting are refused at once."""

    def __init__(self, *, workers: int = 2, queued: int = 16) -> None:
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="argon2")
        self._free = workers + queued

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Reserve room for one sign-in's checks; ServiceUnavailable when the queue is full."""
        if self._free <= 0:
            log.warning("sign-in refused: password checks are queued up")
            raise ServiceUnavailable(extra={"retry_after": 2})
        self._free -= 1
        try:
            yield
        finally:
            self._free += 1

    async def run(self, function: Callable[..., T], *args: object) -> T:
        """Run a hash function in the pool (within a reserved slot)."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, function, *args)

    def close(self) -> None:
        """Stop the threads; checks still queued are dropped."""
        self._executor.shutdown(wait=False, cancel_futures=True)


PASSWORD_CHECKS = web.AppKey("password_checks", PasswordChecks)


async def checks_ctx(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx: the app's pool for password checks."""
    app[PASSWORD_CHECKS] = checks = PasswordChecks()
    yield
    checks.close()


def client_bucket(request: web.Request) -> str:
    """What the request's address is counted under (IPv6 per /64), as the rate limiter sees it."""
    return ratelimit.address_bucket(request.get(ratelimit.CLIENT_ADDRESS_KEY) or request.remote or "")


async def count_attempt(request: web.Request) -> str:
    """Count a sign-in attempt against the per-address limit (before anything is checked); the bucket."""
    bucket = client_bucket(request)
    limit = ratelimit.Limit.parse("sign-in", request.app[CONFIG].security.signin_rate_limit)
    await request.app[ratelimit.LIMITER].hit(request.app[POOL], (limit, bucket))
    return bucket
