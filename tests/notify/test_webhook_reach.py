"""Outgoing webhooks reach public addresses, and private ones only where the operator allows (no SSRF)."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from scheduler.notify import webhook_send
from scheduler.notify.webhook_reach import Reach
from scheduler.webhooks import EventType
from tests.factories import SiteFacts, create_request
from tests.webhook_support import Receiver, endpoint, start_receiver

NOW = datetime.now(UTC) + timedelta(days=1)  # later than any row the tests write, however long the run


@pytest.fixture
async def receiver(aiohttp_server) -> Receiver:  # type: ignore[no-untyped-def]
    return await start_receiver(aiohttp_server)


@pytest.mark.parametrize(("address", "allowed"), [
    ("127.0.0.1", False), ("10.1.2.3", False), ("192.168.0.10", False), ("169.254.169.254", False),  # metadata
    ("::1", False), ("::ffff:127.0.0.1", False), ("fd00::1", False), ("0.0.0.0", False), ("224.0.0.1", False),
    ("8.8.8.8", True), ("2a00:1450:4001:80b::200e", True),
])
def test_only_public_addresses_by_default(address: str, allowed: bool) -> None:
    assert Reach().permits(ipaddress.ip_address(address)) is allowed


def test_the_operators_private_networks_are_allowed() -> None:
    reach = Reach(["10.20.0.0/16"])
    assert reach.permits(ipaddress.ip_address("10.20.1.1"))
    assert not reach.permits(ipaddress.ip_address("10.21.1.1"))


async def _last_error(conn: asyncpg.Connection) -> tuple[str, str]:
    row = await conn.fetchrow("SELECT status, last_error FROM webhook_deliveries ORDER BY created_at DESC LIMIT 1")
    return row["status"], row["last_error"] or ""


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])  # an address, and a name that resolves to one
async def test_an_internal_receiver_is_not_posted_to_unless_its_network_is_allowed(
        pool: asyncpg.Pool, conn: asyncpg.Connection, site: SiteFacts, receiver: Receiver, host: str) -> None:
    url = receiver.url.replace("127.0.0.1", host)
    await endpoint(conn, site.site_id, url, (EventType.request_received,))
    await create_request(conn, site)
    stats = await webhook_send.dispatch_due(pool, now=NOW, reach=Reach())
    assert (stats.claimed, stats.retrying, receiver.received) == (1, 1, [])
    status, error = await _last_error(conn)
    assert status == "pending" and "not allowed" in error
    allowed = await webhook_send.dispatch_due(pool, now=NOW + timedelta(hours=1),
                                              reach=Reach(["127.0.0.0/8", "::1/128"]))
    assert allowed.delivered == 1 and len(receiver.received) == 1
