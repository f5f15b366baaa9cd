"""webhook_deliveries.py and notify/webhook_send.py: retries with growing pauses, one delivery per row with
two dispatchers, redirects not followed, leases, deactivated endpoints and retention."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from scheduler import jobs, retention, webhook_deliveries, webhooks
from scheduler.config import Config
from scheduler.notify import webhook_send
from scheduler.webhook_deliveries import BACKOFF, MAX_ATTEMPTS, DeliveryStatus
from scheduler.webhooks import EventType
from tests.factories import SiteFacts, create_request
from tests.webhook_support import Receiver, endpoint, start_receiver

NOW = datetime.now(UTC) + timedelta(days=1)  # later than any row the tests write, however long the run


@pytest.fixture
async def receiver(aiohttp_server) -> Receiver:  # type: ignore[no-untyped-def]
    return await start_receiver(aiohttp_server)


async def _row(conn: asyncpg.Connection, delivery_id: str) -> asyncpg.Record:
    return await conn.fetchrow("SELECT * FROM webhook_deliveries WHERE id = $1", delivery_id)


async def test_a_failing_receiver_gets_the_event_again_after_a_growing_pause(
        pool: asyncpg.Pool, conn: asyncpg.Connection, site: SiteFacts, receiver: Receiver) -> None:
    _, secret = await endpoint(conn, site.site_id, receiver.url, (EventType.request_received,))
    await create_request(conn, site)
    receiver.answers = [500, 503]
    first = await webhook_send.dispatch_due(pool, now=NOW)
    assert (first.claimed, first.retrying) == (1, 1)
    delivery_id = receiver.received[0].headers["webhook-id"]
    row = await _row(conn, delivery_id)
    assert (row["status"], row["attempts"], row["last_http_status"], row["last_error"]) == ("pending", 1, 500,
                                                                                           "HTTP 500")
    assert row["next_attempt_at"] == NOW + BACKOFF[0]
    assert (await webhook_send.dispatch_due(pool, now=NOW + BACKOFF[0] - timedelta(seconds=1))).claimed == 0
    await webhook_send.dispatch_due(pool, now=NOW + BACKOFF[0])
    row = await _row(conn, delivery_id)
    assert (row["status"], row["attempts"], row["next_attempt_at"]) == ("pending", 2, NOW + BACKOFF[0] + BACKOFF[1])
    done = await webhook_send.dispatch_due(pool, now=NOW + BACKOFF[0] + BACKOFF[1])
    assert done.delivered == 1
    row = await _row(conn, delivery_id)
    assert (row["status"], row["attempts"], row["last_http_status"], row["last_error"]) == ("delivered", 3, 204,
                                                                                           None)
    assert row["delivered_at"] is not None
    # Every attempt carried the same webhook-id and a signature the reference library accepts.
    assert [r.headers["webhook-id"] for r in receiver.received] == [delivery_id] * 3
    assert len(receiver.verified(secret)) == 3


async def test_after_the_last_attempt_the_delivery_fails_and_retry_now_sends_it_once_more(
        pool: asyncpg.Pool, conn: asyncpg.Connection, site: SiteFacts, receiver: Receiver) -> None:
    endpoint_id, _ = await endpoint(conn, site.site_id, receiver.url, (EventType.request_received,))
    await create_request(conn, site)
    receiver.answers = [500] * MAX_ATTEMPTS
    at = NOW
    for attempt in range(1, MAX_ATTEMPTS + 1):
        assert (await webhook_send.dispatch_due(pool, now=at)).claimed == 1, attempt
        at += webhook_deliveries.retry_after(attempt) or timedelta(0)
    [row] = await conn.fetch("SELECT * FROM webhook_deliveries")
    assert (row["status"], row["attempts"]) == ("failed", MAX_ATTEMPTS)
    assert (await webhook_send.dispatch_due(pool, now=at + timedelta(days=30))).claimed == 0
    assert await webhook_deliveries.retry_now(conn, row["id"], endpoint_id=endpoint_id, site_id=site.site_id,
                                              now=at)
    assert (await webhook_send.dispatch_due(pool, now=at)).delivered == 1
    assert (await _row(conn, row["id"]))["status"] == "delivered"
    assert not await webhook_deliveries.retry_now(conn, row["id"], endpoint_id=endpoint_id, site_id=site.site_id,
                                                  now=at)  # only failed ones


async def test_redirects_are_not_followed(pool: asyncpg.Pool, conn: asyncpg.Connection, site: SiteFacts,
                                          receiver: Receiver) -> None:
    await endpoint(conn, site.site_id, receiver.url, (EventType.request_received,))
    await create_request(conn, site)
    receiver.answers = [302]
    assert (await webhook_send.dispatch_due(pool, now=NOW)).retrying == 1
    assert len(receiver.received) == 1  # /elsewhere was never asked
    row = await conn.fetchrow("SELECT status, last_http_status, last_error FROM webhook_deliveries")
    assert tuple(row) == ("pending", 302, "HTTP 302")


async def test_an_unreachable_receiver_is_an_error_to_retry(pool: asyncpg.Pool, conn: asyncpg.Connection,
                                                            site: SiteFacts, receiver: Receiver) -> None:
    assert receiver.server is not None
    url = receiver.url
    await receiver.server.close()
    await endpoint(conn, site.site_id, url, (EventType.request_received,))
    await create_request(conn, site)
    assert (await webhook_send.dispatch_due(pool, now=NOW)).retrying == 1
    row = await conn.fetchrow("SELECT status, last_http_status, last_error FROM webhook_deliveries")
    assert (row["status"], row["last_http_status"]) == ("pending", None) and row["last_error"]


async def test_two_dispatchers_at_once_deliver_each_row_once(pool: asyncpg.Pool, conn: asyncpg.Connection,
                                                             site: SiteFacts, receiver: Receiver) -> None:
    await endpoint(conn, site.site_id, receiver.url, (EventType.request_received,))
    for _ in range(30):
        await create_request(conn, site)
    results = await asyncio.gather(*(webhook_send.dispatch_due(pool, now=NOW, batch=20) for _ in range(2)),
                                   webhook_send.dispatch_due(pool, now=NOW, batch=20))
    assert sum(r.delivered for r in results) == 30
    ids = [r.headers["webhook-id"] for r in receiver.received]
    assert len(ids) == len(set(ids)) == 30
    assert await conn.fetchval("SELECT count(*) FROM webhook_deliveries WHERE status = 'delivered' "
                               "AND attempts = 1") == 30


async def test_an_overtaken_sender_records_nothing(pool: asyncpg.Pool, conn: asyncpg.Connection,
                                                   site: SiteFacts) -> None:
    await endpoint(conn, site.site_id, "https://fallakte.example/hooks", (EventType.request_received,))
    await create_request(conn, site)
    [slow] = await webhook_deliveries.claim_due(conn, now=NOW, limit=10)
    assert await webhook_deliveries.claim_due(conn, now=NOW, limit=10) == []  # leased
    [fast] = await webhook_deliveries.claim_due(conn, now=NOW + webhook_deliveries.LEASE, limit=10)
    assert (fast.id, fast.attempts) == (slow.id, 2)
    assert await webhook_deliveries.record(conn, fast, now=NOW, http_status=200, error=None) is (
        DeliveryStatus.delivered)
    assert await webhook_deliveries.record(conn, slow, now=NOW, http_status=500, error="HTTP 500") is None
    assert (await _row(conn, slow.id))["status"] == "delivered"


async def test_a_deactivated_endpoint_gets_nothing_more(pool: asyncpg.Pool, conn: asyncpg.Connection,
                                                        site: SiteFacts, receiver: Receiver) -> None:
    endpoint_id, _ = await endpoint(conn, site.site_id, receiver.url, (EventType.request_received,))
    await create_request(conn, site)
    [claimed] = await webhook_deliveries.claim_due(conn, now=NOW, limit=10)  # in flight while deactivated
    await create_request(conn, site)
    assert await webhooks.deactivate(conn, endpoint_id, site_id=site.site_id, now=NOW)
    assert await webhook_deliveries.give_up_pending(conn, endpoint_id, site_id=site.site_id) == 2
    await create_request(conn, site)
    assert (await webhook_send.dispatch_due(pool, now=NOW + timedelta(hours=1))).claimed == 0
    assert receiver.received == []
    assert await webhook_deliveries.record(conn, claimed, now=NOW, http_status=204, error=None) is None
    statuses = await conn.fetch("SELECT status, last_error FROM webhook_deliveries")
    assert [tuple(s) for s in statuses] == [("failed", "endpoint deactivated")] * 2


async def test_retention_deletes_finished_deliveries_past_the_sites_period(
        pool: asyncpg.Pool, conn: asyncpg.Connection, site: SiteFacts) -> None:
    await endpoint(conn, site.site_id, "https://fallakte.example/hooks", (EventType.request_received,))
    for _ in range(3):
        await create_request(conn, site)
    days = await conn.fetchval("SELECT retention_days FROM sites WHERE id = $1", site.site_id)
    old = NOW - timedelta(days=days + 1)
    ids = [r["id"] for r in await conn.fetch("SELECT id FROM webhook_deliveries ORDER BY id")]
    await conn.execute("UPDATE webhook_deliveries SET created_at = $2, status = 'delivered' WHERE id = $1", ids[0], old)
    await conn.execute("UPDATE webhook_deliveries SET created_at = $2 WHERE id = $1", ids[1], old)  # still waiting
    done = await retention.purge_due(pool, now=NOW, link_days=30)
    assert done["webhook_deliveries"] == 1
    assert sorted(r["id"] for r in await conn.fetch("SELECT id FROM webhook_deliveries")) == sorted(ids[1:])


def test_the_backoff_grows_and_ends() -> None:
    pauses = [webhook_deliveries.retry_after(n) for n in range(1, MAX_ATTEMPTS)]
    assert all(a is not None and b is not None and a < b for a, b in zip(pauses, pauses[1:], strict=False))
    assert webhook_deliveries.retry_after(MAX_ATTEMPTS) is None and MAX_ATTEMPTS == 8


@pytest.fixture
def config(base_config: Config) -> Config:
    """The test receiver listens on 127.0.0.1: a private network the operator allows (webhook_reach.py)."""
    security = dataclasses.replace(base_config.security, webhook_private_networks=("127.0.0.0/8",))
    return dataclasses.replace(base_config, security=security)


async def test_the_registered_job_sends_due_webhooks(client: TestClient, app_pool: asyncpg.Pool,
                                                     site: SiteFacts, receiver: Receiver) -> None:
    job = next(j for j in jobs.JOBS if j.id == "webhooks")
    assert not job.singleton and job.interval == "webhooks_interval_seconds"
    async with app_pool.acquire() as conn:
        _, secret = await endpoint(conn, site.site_id, receiver.url, (EventType.request_received,))
        request_id = await create_request(conn, site)
    assert await jobs.run_job(client.app, job, now=NOW)
    [payload] = receiver.verified(secret)
    assert payload["data"]["request_id"] == request_id
