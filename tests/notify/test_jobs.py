"""The job registry: jobs run in the app's scheduler; singleton jobs are guarded by an advisory lock."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime

import asyncpg
from aiohttp import web
from aiohttp.test_utils import TestClient

from scheduler import jobs
from scheduler.app import create_app
from scheduler.config import Config
from scheduler.keys import POOL, SENDERS
from scheduler.notify import dispatch
from tests.factories import SiteFacts
from tests.fakes.twilio_server import FakeTwilio
from tests.notify.conftest import NOW, queue_received


async def test_singleton_job_skips_while_another_process_holds_it(twilio_client: TestClient,
                                                                  conn: asyncpg.Connection) -> None:
    ran: list[datetime] = []

    async def work(app: web.Application, now: datetime) -> None:
        ran.append(now)

    job = jobs.Job("test-singleton", work, "sweep_interval_seconds", singleton=True)
    await conn.execute("SELECT pg_advisory_lock(hashtext('scheduler-job'), hashtext('test-singleton'))")
    try:
        assert await jobs.run_job(twilio_client.app, job) is False
    finally:
        await conn.execute("SELECT pg_advisory_unlock(hashtext('scheduler-job'), hashtext('test-singleton'))")
    assert await jobs.run_job(twilio_client.app, job) is True
    assert len(ran) == 1


def test_every_job_has_a_unique_id_and_a_configured_interval() -> None:
    from scheduler.config import JobsConfig

    assert len({j.id for j in jobs.JOBS}) == len(jobs.JOBS)
    assert all(isinstance(getattr(JobsConfig(), j.interval), float) for j in jobs.JOBS)


async def test_worker_role_dispatches_on_its_own(aiohttp_client, twilio_config: Config,  # type: ignore[no-untyped-def]
                                                 pool: asyncpg.Pool, conn: asyncpg.Connection, site: SiteFacts,
                                                 fake: FakeTwilio) -> None:
    config = dataclasses.replace(twilio_config, jobs=dataclasses.replace(
        twilio_config.jobs, enabled=True, outbox_interval_seconds=0.05),
        sms=dataclasses.replace(twilio_config.sms, quiet_start=twilio_config.sms.quiet_end))  # no quiet hours
    await queue_received(conn, site, due_at=datetime.now(UTC))
    await aiohttp_client(create_app(config, role="worker"))
    for _ in range(100):
        if fake.messages:
            break
        await asyncio.sleep(0.02)
    assert len(fake.messages) == 1
    assert create_app(config, role="web").cleanup_ctx[-1] is not jobs.scheduler_ctx


async def test_one_dispatcher_run_sends_batch_after_batch_until_the_queue_is_empty(
        twilio_client: TestClient, conn: asyncpg.Connection, site: SiteFacts, fake: FakeTwilio) -> None:
    # A reminder wave must not wait one interval per batch: 2.5 batches go out in one run.
    settings = twilio_client.app[SENDERS].settings
    for _ in range(settings.batch * 5 // 2):
        await queue_received(conn, site, due_at=NOW)
    stats = await jobs.dispatch_outbox(twilio_client.app, NOW)
    assert isinstance(stats, dispatch.Stats)
    assert stats.claimed == stats.sent == settings.batch * 5 // 2
    assert len(fake.messages) == settings.batch * 5 // 2
    assert await conn.fetchval("SELECT count(*) FROM outbox WHERE status = 'pending'") == 0


async def test_singletons_starting_together_never_hold_every_connection_of_the_pool(config: Config) -> None:
    """Each singleton holds a connection for its lock and takes another for its work. More singletons than the
    pool has connections, started at once (as at a process's start), all finish: the slots bound them."""
    assert config.database.url
    pool = await asyncpg.create_pool(config.database.url, min_size=0, max_size=3)
    app = web.Application()
    app[POOL] = pool
    done: list[str] = []

    async def work(app: web.Application, now: datetime) -> None:
        async with app[POOL].acquire() as inner:
            await inner.execute("SELECT pg_sleep(0.05)")

    singletons = [jobs.Job(f"test-pool-{n}", work, "sweep_interval_seconds", singleton=True) for n in range(5)]
    slots = asyncio.Semaphore(jobs.SINGLETON_SLOTS)
    try:
        async def run(job: jobs.Job) -> None:
            if await jobs.run_job(app, job, slots=slots):
                done.append(job.id)
        # A liveness guard, not a timing check: without the slots these five wait for each other forever.
        await asyncio.wait_for(asyncio.gather(*(run(j) for j in singletons)), timeout=60)
    finally:
        await pool.close()
    assert sorted(done) == sorted(j.id for j in singletons)
