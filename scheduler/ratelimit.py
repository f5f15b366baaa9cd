"""Rate limits on public endpoints: per client address, per phone number, per kiosk device and for everyone.

The counts live in PostgreSQL (table rate_limits, migrations/0008), so every process on the same database
shares them: with N web processes a limit is still the configured one. A check is one round trip (the
function rate_limit_hit), whatever the number of limits it counts against. Each limit keeps one counter
per fixed window and reads the previous window's counter to approximate a sliding window (the previous
window counts for the share of it that still lies within one window of now), so a burst at a window
boundary cannot pass twice the limit. Only admitted hits are counted: a client that keeps knocking still
gets its allowance once it is due, and Retry-After says when that is.

Lookups (links, references, check-in) have a tighter limit than submissions, so codes cannot be guessed.
Keys are hashed in PostgreSQL with a per-installation secret: the table holds no address or phone number.
If the database cannot be reached the check lets the request through (and logs it): the request then
meets the database itself, and the error middleware answers 503 if it is still down.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
from aiohttp import web
from limits import parse

from scheduler.config import SecurityConfig, ServerConfig
from scheduler.errors import Handler, TooManyRequests
from scheduler.keys import POOL

log = logging.getLogger(__name__)

# What each public path counts against; everything else (staff, webhooks with signatures, ops) is exempt.
SUBMIT_PATHS = ("/api/requests", "/api/callbacks", "/request", "/callback")
LOOKUP_PREFIXES = ("/api/public/", "/r/")
# A lobby kiosk is one address serving many clients: it is counted per device, with its own limit.
KIOSK_PREFIX = "/kiosk/api/"
PER_PHONE = "10/hour"

# Errors that mean "the database is not there right now" (as in the error middleware), plus any error
# of PostgreSQL itself: a rate limit is never a reason to fail a request.
DATABASE_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError)


@dataclass(frozen=True, slots=True)
class Limit:
    """At most `amount` hits per `seconds`, counted under `name` (one counter per key)."""

    name: str
    amount: int
    seconds: int

    @classmethod
    def parse(cls, name: str, text: str) -> Limit:
        """A limit from a "N/period" string ("30/minute", "5 per 2 hours"), as the `limits` library reads it."""
        item = parse(text)
        return cls(name, int(item.amount), int(item.get_expiry()))


@dataclass(frozen=True, slots=True)
class Limits:
    submit: Limit
    lookup: Limit
    kiosk: Limit
    everyone: Limit
    per_phone: Limit


# One round trip for all limits of a request: migrations/0008_rate_limits.sql explains the function.
HIT_SQL = "SELECT limit_name, previous, hits, admitted FROM rate_limit_hit($1, $2, $3, $4, $5, $6)"


def window_start(now: float, seconds: int) -> float:
    """The start of the fixed window (aligned to the epoch, so every process agrees) that holds `now`."""
    return now - now % seconds


def retry_after(limit: Limit, *, now: float, previous: int, hits: int) -> int:
    """Whole seconds until a next hit would be admitted, given the previous and current window's counts."""
    start = window_start(now, limit.seconds)
    room = limit.amount - hits - 1
    if room >= 0 and previous > 0:
        # Still in this window, once the previous window weighs little enough.
        at = start + (1 - room / previous) * limit.seconds
    elif room >= 0:
        at = now  # counted by another process a moment ago; just try again
    else:
        # In the next window, once this window (then the previous one) weighs little enough.
        at = start + limit.seconds * (2 - (limit.amount - 1) / max(hits, 1))
    return max(1, math.ceil(at - now - 1e-6))


class RateLimiter:
    """Sliding-window counters in PostgreSQL, shared by every process on the same database."""

    def __init__(self, security: SecurityConfig, *, clock: Callable[[], float] = time.time) -> None:
        self.limits = Limits(submit=Limit.parse("submit", security.public_rate_limit),
                             lookup=Limit.parse("lookup", security.lookup_rate_limit),
                             kiosk=Limit.parse("kiosk", security.kiosk_rate_limit),
                             everyone=Limit.parse("global", security.global_rate_limit),
                             per_phone=Limit.parse("phone", PER_PHONE))
        self.clock = clock  # seconds since the epoch; tests set their own

    async def hit(self, db: asyncpg.Pool | asyncpg.Connection, *checks: tuple[Limit, str]) -> None:
        """Count one hit for each (limit, key) in one round trip; TooManyRequests (with Retry-After) when a
        limit is full. Limits that are not full count the hit even when another one is full."""
        if len({limit.name for limit, _ in checks}) != len(checks):
            raise ValueError("one key per limit and check")
        now = self.clock()
        starts = [window_start(now, limit.seconds) for limit, _ in checks]
        try:
            rows = await db.fetch(
                HIT_SQL,
                [limit.name for limit, _ in checks], [key for _, key in checks],
                [datetime.fromtimestamp(s, UTC) for s in starts], [limit.seconds for limit, _ in checks],
                [limit.amount for limit, _ in checks],
                [1 - (now - s) / limit.seconds for (limit, _), s in zip(checks, starts, strict=True)],
            )
        except DATABASE_ERRORS as e:
            # Fail open: the request goes on (and meets the database itself); only the type is logged,
            # as a message could quote the keys.
            log.warning("rate limit not checked: database error",
                        extra={"limits": [limit.name for limit, _ in checks], "error": type(e).__name__})
            return
        by_name = {limit.name: limit for limit, _ in checks}
        waits = [retry_after(by_name[r["limit_name"]], now=now, previous=r["previous"], hits=r["hits"])
                 for r in rows if not r["admitted"]]
        if waits:
            raise TooManyRequests(extra={"retry_after": max(waits)})

    async def hit_phone(self, db: asyncpg.Pool | asyncpg.Connection, phone: str) -> None:
        """Count a submission for a phone number (stops one number being flooded with SMS).

        Intake runs it inside its own transaction: only submissions that are stored count, and it costs no
        connection checkout of its own. A database error there fails the submission, not just the check.
        """
        await self.hit(db, (self.limits.per_phone, phone))


LIMITER = web.AppKey("rate_limiter", RateLimiter)


async def purge_expired(pool: asyncpg.Pool, *, now: datetime) -> int:
    """Delete counters of windows that no longer count; return how many."""
    status = await pool.execute("DELETE FROM rate_limits WHERE expires_at < $1", now)
    return int(status.split()[-1])


def client_address(request: web.Request, trusted: Iterable[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> str:
    """The client's address: X-Forwarded-For is believed only when the peer is a configured proxy."""
    peer = request.remote or ""
    networks = list(trusted)
    try:
        peer_ip = ipaddress.ip_address(peer)
    except ValueError:
        return peer
    if not any(peer_ip in net for net in networks):
        return peer
    hops = [h.strip() for h in request.headers.get("X-Forwarded-For", "").split(",") if h.strip()]
    # Walk from the nearest hop back; the first address that is not one of our proxies is the client.
    for hop in reversed(hops):
        try:
            hop_ip = ipaddress.ip_address(hop)
        except ValueError:
            return peer
        if not any(hop_ip in net for net in networks):
            return str(hop_ip)
    return peer


def trusted_networks(server: ServerConfig) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """The configured proxies as networks."""
    return [ipaddress.ip_network(p, strict=False) for p in server.trusted_proxies]


CLIENT_ADDRESS_KEY = web.RequestKey("client_address", str)


def middleware(limiter: RateLimiter, server: ServerConfig) -> Handler:  # type: ignore[valid-type]
    """The aiohttp middleware that applies the per-address, per-device and global limits."""
    networks = trusted_networks(server)
    limits = limiter.limits

    @web.middleware
    async def rate_limit(request: web.Request, handler: Handler) -> web.StreamResponse:
        address = client_address(request, networks)
        request[CLIENT_ADDRESS_KEY] = address
        path = request.path
        if request.method == "POST" and path in SUBMIT_PATHS:
            await limiter.hit(request.app[POOL], (limits.everyone, "global"), (limits.submit, address))
        elif path.startswith(LOOKUP_PREFIXES):
            await limiter.hit(request.app[POOL], (limits.everyone, "global"), (limits.lookup, address))
        elif path.startswith(KIOSK_PREFIX):
            device = hashlib.sha256(request.headers.get("X-Kiosk-Token", address).encode()).hexdigest()
            await limiter.hit(request.app[POOL], (limits.everyone, "global"), (limits.kiosk, device))
        return await handler(request)

    return rate_limit  # type: ignore[return-value]
