"""The backlog gauges behind ops/alerts.yml: oldest due message, overdue decisions, open requests per site."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
from aiohttp import web
from prometheus_client import REGISTRY

from scheduler import jobs, ops_gauges
from scheduler.keys import POOL
from tests.factories import SiteFacts, create_request


def sample(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


async def open_counts(conn: asyncpg.Connection, site: SiteFacts) -> tuple[int, int]:
    open_ = await conn.fetchval("SELECT count(*) FROM requests WHERE site_id = $1 AND status IN "
                                "('received', 'proposed')", site.site_id)
    return open_, await conn.fetchval("SELECT count(*) FROM requests WHERE site_id = $1 AND status IN "
                                      "('received', 'proposed') AND deadline_at < now()", site.site_id)


async def test_gauges_show_the_backlog(pool: asyncpg.Pool, conn: asyncpg.Connection, site: SiteFacts) -> None:
    now = datetime.now(UTC)
    late = await create_request(conn, site)
    await conn.execute("UPDATE requests SET deadline_at = $2 WHERE id = $1", late, now - timedelta(hours=3))
    await create_request(conn, site, status="declined")  # closed: neither open nor overdue
    await conn.execute("UPDATE outbox SET status = 'sent' WHERE status = 'pending'")
    await conn.execute(
        "INSERT INTO outbox (site_id, idempotency_key, channel, kind, recipient, language, payload, due_at) "
        "VALUES ($1, 'gauge-test-1', 'sms', 'receipt', '+4915112345678', 'de', '{}', $2), "
        "       ($1, 'gauge-test-2', 'sms', 'receipt', '+4915112345678', 'de', '{}', $3)",
        site.site_id, now - timedelta(minutes=12), now + timedelta(hours=1))  # the second is not due yet
    open_, overdue = await open_counts(conn, site)

    age = await ops_gauges.refresh(pool, now=now)

    assert 12 * 60 - 1 < age < 12 * 60 + 1
    assert sample("scheduler_outbox_oldest_due_seconds") == age
    assert sample("scheduler_open_requests", site="musterstadt", kind="request") == open_
    assert sample("scheduler_decisions_overdue", site="musterstadt", kind="request") == overdue >= 1
    assert sample("scheduler_ops_gauges_updated_timestamp_seconds") == now.timestamp()


async def test_a_closed_backlog_drops_to_zero(pool: asyncpg.Pool, conn: asyncpg.Connection, site: SiteFacts) -> None:
    request_id = await create_request(conn, site)
    await ops_gauges.refresh(pool, now=datetime.now(UTC))
    assert sample("scheduler_open_requests", site="musterstadt", kind="request")
    await conn.execute("UPDATE requests SET status = 'declined', closed_at = now() WHERE status IN "
                       "('received', 'proposed')")
    await conn.execute("UPDATE callbacks SET status = 'cancelled', closed_at = now() WHERE status IN "
                       "('open', 'in_progress')")
    await conn.execute("UPDATE outbox SET status = 'sent' WHERE status = 'pending'")
    assert await ops_gauges.refresh(pool, now=datetime.now(UTC)) == 0.0
    assert request_id
    # a site whose last open request closed reports nothing rather than its old count
    assert sample("scheduler_open_requests", site="musterstadt", kind="request") is None
    assert sample("scheduler_decisions_overdue", site="musterstadt", kind="callback") is None


async def test_the_job_runs_in_every_process(pool: asyncpg.Pool) -> None:
    job = next(j for j in jobs.JOBS if j.id == "ops-gauges")
    assert not job.singleton  # each process's /metrics carries the gauges, so none reports a stale value
    app = web.Application()
    app[POOL] = pool
    assert await jobs.run_job(app, job)
    assert sample("scheduler_job_runs_total", job="ops-gauges", result="ok")
