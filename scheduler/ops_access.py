"""Operator-only routes (metrics, API docs, OpenAPI spec) limited to configured networks."""

from __future__ import annotations

import ipaddress

from aiohttp import web

from scheduler.config import Config
from scheduler.errors import Forbidden
from scheduler.http_errors import Handler
from scheduler.ratelimit import client_address, trusted_networks

# Route names, not paths: the routes may move between modules, their names stay.
OPERATOR_ROUTES = frozenset({"metrics", "api-docs", "openapi"})


def middleware(config: Config) -> Handler:  # type: ignore[valid-type]
    """Answer 403 on operator routes to addresses outside security.ops_allowed_networks (if any are set)."""
    allowed = [ipaddress.ip_network(cidr, strict=False) for cidr in config.security.ops_allowed_networks]
    proxies = trusted_networks(config.server)

    @web.middleware
    async def operator_only(request: web.Request, handler: Handler) -> web.StreamResponse:
        if allowed and request.match_info.route.name in OPERATOR_ROUTES \
                and not _is_allowed(client_address(request, proxies), allowed):
            raise Forbidden()
        return await handler(request)

    return operator_only  # type: ignore[return-value]


def _is_allowed(address: str, allowed: list[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False  # a unix socket or unparsable peer is no configured network
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # a dual-stack socket reports IPv4 clients as ::ffff:a.b.c.d
    return any(ip in network for network in allowed)
