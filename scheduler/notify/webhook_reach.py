"""Which addresses outgoing webhooks may reach: public ones, and the private networks the operator names.

An office's admin enters the webhook URL. On a deployment that hosts many offices, the sending worker sits inside
the provider's network, so without a check an admin could make it POST to internal services (SSRF). The check
runs on the addresses a host name resolves to, inside the connection (aiohttp's resolver), so a name that
resolves to a public address when entered and to an internal one when sent (DNS rebinding) is refused too.
Loopback, private, link-local, multicast and reserved addresses are refused unless they lie in
`security.webhook_private_networks` (for example the office's case-management network).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from aiohttp import TCPConnector
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class AddressRefused(OSError):
    """The webhook's host is (or resolves only to) an address webhooks may not reach."""


class Reach:
    """The rule: public addresses, plus these private networks."""

    def __init__(self, private_networks: Iterable[str] = ()) -> None:
        self.allowed: tuple[Network, ...] = tuple(ipaddress.ip_network(n, strict=False) for n in private_networks)

    def permits(self, address: Address) -> bool:
        """Whether a webhook may be sent to this address."""
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if any(address in network for network in self.allowed):
            return True
        return address.is_global and not (address.is_multicast or address.is_reserved)

    def check_url(self, url: str) -> None:
        """Refuse a URL whose host is an IP address outside the rule (names are checked when resolved)."""
        host = urlsplit(url).hostname or ""
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return  # a name: GuardedResolver checks what it resolves to
        if not self.permits(address):
            raise AddressRefused(f"address {host} is not allowed for webhooks")


class GuardedResolver(AbstractResolver):
    """aiohttp resolver that drops the addresses `reach` does not permit (all dropped: AddressRefused)."""

    def __init__(self, reach: Reach, inner: AbstractResolver | None = None) -> None:
        self.reach = reach
        self.inner = inner or DefaultResolver()

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET,
                      ) -> list[ResolveResult]:
        found = await self.inner.resolve(host, port, family)
        kept = [info for info in found if self.reach.permits(ipaddress.ip_address(info["host"]))]
        if not kept:
            raise AddressRefused(f"{host} resolves only to addresses not allowed for webhooks")
        return kept

    async def close(self) -> None:
        await self.inner.close()


def connector(reach: Reach, **kwargs: Any) -> TCPConnector:
    """A TCPConnector whose connections only reach what `reach` permits."""
    return TCPConnector(resolver=GuardedResolver(reach), **kwargs)
