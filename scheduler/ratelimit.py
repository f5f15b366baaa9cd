"""Rate limits on public endpoints: per client address, per phone number, and for the whole process.

Limits use the `limits` library with in-memory moving windows, so each process counts on its own: with N
web processes the effective global limit is N times the configured one (documented in the README).
Lookups (links, references, check-in) have a tighter limit than submissions, so codes cannot be guessed.
"""

from __future__ import annotations

import hashlib
import ipaddress
import time
from collections.abc import Iterable
from dataclasses import dataclass

from aiohttp import web
from limits import RateLimitItem, parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from scheduler.config import SecurityConfig, ServerConfig
from scheduler.errors import Handler, TooManyRequests

# What each public path counts against; everything else (staff, webhooks with signatures, ops) is exempt.
SUBMIT_PATHS = ("/api/requests", "/api/callbacks", "/request", "/callback")
LOOKUP_PREFIXES = ("/api/public/", "/r/")
# A lobby kiosk is one address serving many clients: it is counted per device, with its own limit.
KIOSK_PREFIX = "/kiosk/api/"


@dataclass(frozen=True)
class Limits:
    submit: RateLimitItem
    lookup: RateLimitItem
    kiosk: RateLimitItem
    everyone: RateLimitItem
    per_phone: RateLimitItem


class RateLimiter:
    """Moving-window counters for one process."""

    def __init__(self, security: SecurityConfig) -> None:
        self.limits = Limits(submit=parse(security.public_rate_limit), lookup=parse(security.lookup_rate_limit),
                             kiosk=parse(security.kiosk_rate_limit),
                             everyone=parse(security.global_rate_limit), per_phone=parse("10/hour"))
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    def hit(self, item: RateLimitItem, *keys: str) -> None:
        """Count one hit; TooManyRequests (with Retry-After) when the window is full."""
        if not self._limiter.hit(item, *keys):
            reset = self._limiter.get_window_stats(item, *keys).reset_time
            raise TooManyRequests(extra={"retry_after": max(1, int(reset - time.time()) + 1)})

    def hit_phone(self, phone: str) -> None:
        """Count a submission for a phone number (stops one number being flooded with SMS)."""
        self.hit(self.limits.per_phone, "phone", phone)


LIMITER = web.AppKey("rate_limiter", RateLimiter)


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
    """The aiohttp middleware that applies the per-address and global limits."""
    networks = trusted_networks(server)

    @web.middleware
    async def rate_limit(request: web.Request, handler: Handler) -> web.StreamResponse:
        address = client_address(request, networks)
        request[CLIENT_ADDRESS_KEY] = address
        path = request.path
        if request.method == "POST" and path in SUBMIT_PATHS:
            limiter.hit(limiter.limits.everyone, "global")
            limiter.hit(limiter.limits.submit, "submit", address)
        elif path.startswith(LOOKUP_PREFIXES):
            limiter.hit(limiter.limits.everyone, "global")
            limiter.hit(limiter.limits.lookup, "lookup", address)
        elif path.startswith(KIOSK_PREFIX):
            device = hashlib.sha256(request.headers.get("X-Kiosk-Token", address).encode()).hexdigest()
            limiter.hit(limiter.limits.everyone, "global")
            limiter.hit(limiter.limits.kiosk, "kiosk", device)
        return await handler(request)

    return rate_limit  # type: ignore[return-value]
