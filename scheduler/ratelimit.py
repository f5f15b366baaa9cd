"""Rate limits on public endpoints: per client address, per phone number, per kiosk device and for everyone.

The counts live in PostgreSQL (table rate_limits, migrations/0008), so every process on the same database
shares them: with N web processes a limit is still the configured one. One statement (the function
rate_limit_hit) counts every limit of a request, together with the checks of all requests that arrived
while the previous statement was under way, so under load a check costs a share of a round trip. Each
limit keeps one counter per fixed window and reads the previous window's counter to approximate a sliding
window (the previous window counts for the share of it that still lies within one window of now), so a
burst at a window boundary cannot pass twice the limit. Only admitted hits are counted: a client that
keeps knocking still gets its allowance once it is due, and Retry-After says when that is.

The global limit protects the database; it must not be a switch one sender can flip to have everyone
refused. So it counts only requests that the sender's own limit admitted (one address weighs on it with
at most its own allowance), a kiosk token is checked before anything is counted (an unknown one counts
only against its sender's address), and IPv6 clients are counted per /64, the smallest network one
subscriber usually gets.

The global limit counts per office (`global:<site id>`, the site channels/site_choice.py chose), and the
per-number limit per office and number, so one office's rush never blocks another.

Lookups (links, references, check-in) have a tighter limit than submissions, so codes cannot be guessed.
Keys are hashed in PostgreSQL with a per-installation secret: the table holds no address or phone number.
If the database cannot be reached the check lets the request through (and logs it): the request then
meets the database itself, and the error middleware answers 503 if it is still down.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import math
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
from aiohttp import web
from limits import parse

from scheduler import kiosks
from scheduler.config import SecurityConfig, ServerConfig
from scheduler.errors import TooManyRequests
from scheduler.http_errors import Handler
from scheduler.keys import POOL, SITE_ID

log = logging.getLogger(__name__)

# What each public path counts against; everything else (staff, webhooks with signatures, ops) is exempt.
SUBMIT_PATHS = ("/api/requests", "/api/callbacks", "/request", "/callback")
LOOKUP_PREFIXES = ("/api/public/", "/r/", "/g/")  # /g/: a group-session seat's page (issue 17)
# A lobby kiosk is one address serving many clients: it is counted per device, with its own limit.
KIOSK_PREFIX = "/kiosk/api/"
KIOSK_TOKEN_HEADER = "X-Kiosk-Token"  # a header name, not a secret  # nosec B105

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


# One round trip for all limits of one or many requests: migrations/0008, 0011 and 0012 explain the function.
HIT_SQL = "SELECT entry, previous, hits, admitted FROM rate_limit_hit($1, $2, $3, $4, $5, $6, $7, $8)"


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


Check = tuple[Limit, str]  # a limit and the key it counts under ("global", an address, a number)

# Checks gathered into one statement at most; more wait for the next round.
MAX_GATHERED = 200


class RateLimiter:
    """Sliding-window counters in PostgreSQL, shared by every process on the same database.

    Checks that arrive while one is being counted are gathered and counted together in the
    next round: under load a process sends one statement per round, not one per request, and when it is
    idle a check goes out at once.
    """

    def __init__(self, security: SecurityConfig, *, clock: Callable[[], float] = time.time) -> None:
        self.limits = Limits(submit=Limit.parse("submit", security.public_rate_limit),
                             lookup=Limit.parse("lookup", security.lookup_rate_limit),
                             kiosk=Limit.parse("kiosk", security.kiosk_rate_limit),
                             everyone=Limit.parse("global", security.global_rate_limit),
                             per_phone=Limit.parse("phone", security.phone_rate_limit))
        self.clock = clock  # seconds since the epoch; tests set their own
        self._waiting: dict[asyncpg.Pool, list[tuple[tuple[Check, ...], asyncio.Future[list[int]]]]] = {}
        self._rounds: set[asyncio.Task[None]] = set()

    async def hit(self, pool: asyncpg.Pool, *checks: Check) -> None:
        """Count one hit for each (limit, key); TooManyRequests (with Retry-After) when a limit is full.

        Limits that are not full count the hit even when another one is full, except the global limit:
        it counts only hits that every other limit of the request admitted.
        """
        if len({limit.name for limit, _ in checks}) != len(checks):
            raise ValueError("one key per limit and check")
        waits = await self._gathered(pool, checks)
        if waits:
            raise TooManyRequests(extra={"retry_after": max(waits)})

    async def hit_phone(self, pool: asyncpg.Pool, phone: str, site_id: int | None = None) -> None:
        """Count a submission for a phone number at an office (stops one number being flooded with SMS).

        Intake runs it once a submission has been read and validated, before it opens its transaction.
        """
        await self.hit(pool, (self.limits.per_phone, phone if site_id is None else f"{site_id}:{phone}"))

    def phone_limit(self, site_id: int) -> Callable[[asyncpg.Pool, str], Awaitable[None]]:
        """`hit_phone` for one office, in the shape intake's `limit_phone` takes."""
        async def limit(pool: asyncpg.Pool, phone: str) -> None:
            await self.hit_phone(pool, phone, site_id)
        return limit

    async def _gathered(self, pool: asyncpg.Pool, checks: tuple[Check, ...]) -> list[int]:
        answer: asyncio.Future[list[int]] = asyncio.get_running_loop().create_future()
        waiting = self._waiting.get(pool)
        if waiting is None:
            self._waiting[pool] = waiting = []
            task = asyncio.create_task(self._count_rounds(pool, waiting))
            self._rounds.add(task)  # the loop keeps only a weak reference to a task
            task.add_done_callback(self._rounds.discard)
        waiting.append((checks, answer))
        return await answer

    async def _count_rounds(self, pool: asyncpg.Pool,
                            waiting: list[tuple[tuple[Check, ...], asyncio.Future[list[int]]]]) -> None:
        """Count what is waiting, round after round, until nothing is."""
        batch: list[tuple[tuple[Check, ...], asyncio.Future[list[int]]]] = []
        try:
            while waiting:
                batch = waiting[:MAX_GATHERED]
                del waiting[:MAX_GATHERED]
                try:
                    results = await self._count(pool, [checks for checks, _ in batch])
                except Exception as e:  # not a database error (those admit): each request meets it
                    for _, answer in batch:
                        if not answer.done():
                            answer.set_exception(e)
                    continue
                for (_, answer), waits in zip(batch, results, strict=True):
                    if not answer.done():  # its request may have been cancelled meanwhile
                        answer.set_result(waits)
        finally:
            del self._waiting[pool]
            for _, answer in (*batch, *waiting):  # only when cancelled (shutdown): nobody would answer them
                answer.cancel()

    async def _count(self, pool: asyncpg.Pool, requests: list[tuple[Check, ...]]) -> list[list[int]]:
        """Count every request's checks in one statement; for each request, the Retry-After of each of
        its limits that is full (none: admitted). A database error admits them all."""
        entries = [check for checks in requests for check in checks]
        now = self.clock()
        starts = [window_start(now, limit.seconds) for limit, _ in entries]
        try:
            rows = await pool.fetch(
                HIT_SQL,
                [limit.name for limit, _ in entries], [key for _, key in entries],
                [datetime.fromtimestamp(s, UTC) for s in starts], [limit.seconds for limit, _ in entries],
                [limit.amount for limit, _ in entries],
                [1 - (now - s) / limit.seconds for (limit, _), s in zip(entries, starts, strict=True)],
                [n for n, checks in enumerate(requests) for _ in checks],
                [limit.name == self.limits.everyone.name for limit, _ in entries],
            )
        except DATABASE_ERRORS as e:
            # Fail open: the requests go on (and meet the database themselves); only the type is logged,
            # as a message could quote the keys.
            log.warning("rate limit not checked: database error",
                        extra={"limits": sorted({limit.name for limit, _ in entries}), "error": type(e).__name__})
            return [[] for _ in requests]
        refused = {r["entry"] - 1: retry_after(entries[r["entry"] - 1][0], now=now, previous=r["previous"],
                                               hits=r["hits"])
                   for r in rows if not r["admitted"]}
        waits: list[list[int]] = []
        first = 0
        for checks in requests:
            waits.append([refused[i] for i in range(first, first + len(checks)) if i in refused])
            first += len(checks)
        return waits


LIMITER = web.AppKey("rate_limiter", RateLimiter)


async def purge_expired(pool: asyncpg.Pool, *, now: datetime) -> int:
    """Delete counters of windows that no longer count; return how many."""
    status = await pool.execute("DELETE FROM rate_limits WHERE expires_at < $1", now)
    return int(status.split()[-1])


def client_address(request: web.Request, trusted: Iterable[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> str:
    """The client's address: X-Forwarded-For is believed only when the peer is a configured proxy."""
    peer = request.remote or ""
    networks = list(trusted)
    if not networks:
        return peer  # no proxy is trusted: the peer is the client
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


def address_bucket(address: str) -> str:
    """What a client address is counted under: an IPv4 address itself, an IPv6 address its /64."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        # One subscriber usually gets a whole /64 and can pick any address in it.
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def trusted_networks(server: ServerConfig) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """The configured proxies as networks."""
    return [ipaddress.ip_network(p, strict=False) for p in server.trusted_proxies]


CLIENT_ADDRESS_KEY = web.RequestKey("client_address", str)
# The kiosk device the middleware found for the request's token (None: unknown or revoked); the kiosk
# handlers use it instead of looking the token up again.
KIOSK_DEVICE: web.RequestKey[kiosks.KioskDevice | None] = web.RequestKey("kiosk_device")


def middleware(limiter: RateLimiter, server: ServerConfig) -> Handler:  # type: ignore[valid-type]
    """The aiohttp middleware that applies the per-address, per-device and global limits."""
    networks = trusted_networks(server)
    limits = limiter.limits

    @web.middleware
    async def rate_limit(request: web.Request, handler: Handler) -> web.StreamResponse:
        address = client_address(request, networks)
        request[CLIENT_ADDRESS_KEY] = address
        bucket = address_bucket(address)
        path = request.path
        pool = request.app[POOL]
        everyone = f"global:{request.get(SITE_ID, 0)}"  # per office (channels/site_choice.py ran before)
        if request.method == "POST" and path in SUBMIT_PATHS:
            await limiter.hit(pool, (limits.everyone, everyone), (limits.submit, bucket))
        elif path.startswith(LOOKUP_PREFIXES):
            await limiter.hit(pool, (limits.everyone, everyone), (limits.lookup, bucket))
        elif path.startswith(KIOSK_PREFIX):
            # The token is checked first (one lookup on its unique hash), so made-up tokens count neither
            # globally nor as a device: only against the sender's address, like guessed link codes.
            async with pool.acquire() as conn:
                device = await kiosks.authenticate(conn, request.headers.get(KIOSK_TOKEN_HEADER, ""),
                                                   now=datetime.now(UTC))
            request[KIOSK_DEVICE] = device
            if device is None:
                await limiter.hit(pool, (limits.lookup, bucket))  # the handler then answers 401
            else:
                # The device's office, whatever host it was sent to (the kiosk handlers refuse a foreign host).
                await limiter.hit(pool, (limits.everyone, f"global:{device.site_id}"), (limits.kiosk, str(device.id)))
        return await handler(request)

    return rate_limit  # type: ignore[return-value]
