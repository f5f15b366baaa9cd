"""Every periodic job, registered in one place and run by APScheduler (3.x, in-memory store).

Jobs are thin: they decide and enqueue, or hand claimed work to a worker function; durable state lives
in our tables. Jobs that may run in every process (the outbox dispatcher: SKIP LOCKED keeps them apart)
are plain; jobs that must run once at a time across processes are `singleton` and guarded by a
PostgreSQL advisory lock. Reminders need no job of their own: they are outbox rows with a future due_at.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from aiohttp import web
from apscheduler.executors.asyncio import AsyncIOExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from scheduler import (
    approvals,
    escalation_summary,
    expiry,
    lobby_calls,
    ops_gauges,
    outcomes,
    password_resets,
    ratelimit,
    retention,
    slot_offers,
    walk_ins,
)
from scheduler.keys import CONFIG, POOL, SENDERS
from scheduler.metrics import JOB_RUNS
from scheduler.notify import dispatch, webhook_reach, webhook_send
from scheduler.staff import auth, signin_limits

log = logging.getLogger(__name__)

JobFunction = Callable[[web.Application, datetime], Awaitable[object]]
# Singleton jobs of one process that may run at once: each holds a pooled connection for its lock, so with
# the pool's 10 connections, 2 leave room for their work and for sending.
SINGLETON_SLOTS = 2


@dataclass(frozen=True, slots=True)
class Job:
    id: str
    function: JobFunction
    interval: str            # name of the JobsConfig attribute holding the interval in seconds
    singleton: bool = False  # at most one run across all processes (advisory lock)


# How long one run of the dispatcher keeps taking full batches before it lets the next run start.
DRAIN_SECONDS = 30.0


async def dispatch_outbox(app: web.Application, now: datetime) -> object:
    """Send due outbox messages: batch after batch while the batches come back full.

    A reminder wave of thousands is sent at the speed of the provider, not one batch per interval. Each
    batch claims with the clock moved on by the time already spent, so its lease is measured from then.
    """
    senders = app[SENDERS]
    started = time.monotonic()
    total = dispatch.Stats()
    while True:
        elapsed = time.monotonic() - started
        stats = await dispatch.dispatch_due(app[POOL], senders, now=now + timedelta(seconds=elapsed))
        total.add(stats)
        if stats.claimed < senders.settings.batch or time.monotonic() - started >= DRAIN_SECONDS:
            return total


async def sweep_outbox(app: web.Application, now: datetime) -> object:
    """Re-queue outbox rows whose lease expired."""
    return await dispatch.sweep(app[POOL], now=now, max_attempts=app[SENDERS].settings.max_attempts)


async def flag_overdue(app: web.Application, now: datetime) -> object:
    """Mark requests and callbacks past their decision deadline for the team lead."""
    return await approvals.flag_overdue(app[POOL], now=now)


async def summarise_escalations(app: web.Application, now: datetime) -> object:
    """Once per team and working day: the team lead's summary of escalated requests (mail, or on the page)."""
    settings = app[CONFIG].escalation
    return await escalation_summary.send_due(app[POOL], now=now, start=settings.summary_from,
                                             workdays_only=settings.summary_days == "workdays",
                                             public_base_url=app[CONFIG].server.public_base_url)


async def flag_unmarked_outcomes(app: web.Application, now: datetime) -> object:
    """Flag appointments without an outcome to their caseworker, a working day later to the team lead."""
    return await outcomes.flag_unmarked(app[POOL], now=now)


async def apply_retention(app: web.Application, now: datetime) -> object:
    """Expire links of ended cases; anonymise closed cases past each site's retention period."""
    return await retention.purge_due(app[POOL], now=now, link_days=app[CONFIG].privacy.link_token_days_after_case)


async def purge_rate_limits(app: web.Application, now: datetime) -> object:
    """Delete rate-limit counters of windows that no longer count."""
    return await ratelimit.purge_expired(app[POOL], now=now)


async def purge_sign_in(app: web.Application, now: datetime) -> object:
    """Delete staff sessions that can no longer be used, sign-in failures that no longer count and old password
    links."""
    idle = app[CONFIG].security.session_idle_minutes
    return (await auth.purge_sessions(app[POOL], now=now, idle_minutes=idle),
            await signin_limits.purge_failures(app[POOL], now=now), await password_resets.purge(app[POOL], now=now))


async def expire_requests(app: web.Application, now: datetime) -> object:
    """Expire requests nobody decided by their deadline plus the grace working days; the clients are told."""
    return await expiry.expire_due(app[POOL], now=now, grace_workdays=app[CONFIG].lifecycle.expiry_grace_workdays)


async def replan_passed_proposals(app: web.Application, now: datetime) -> object:
    """Drop proposals whose start has come without approval and plan those requests anew."""
    return await expiry.replan_passed(app[POOL], now=now, reminder_offsets=app[CONFIG].reminder_offsets)


async def send_webhooks(app: web.Application, now: datetime) -> object:
    """Send due outgoing webhooks of every site (signed, retried with growing pauses; docs/webhooks.md)."""
    reach = webhook_reach.Reach(app[CONFIG].security.webhook_private_networks)
    return await webhook_send.dispatch_due(app[POOL], now=now, reach=reach)


async def expire_slot_offers(app: web.Application, now: datetime) -> object:
    """Mark freed-time offers whose time to accept has passed as expired (accepting already refuses them)."""
    async with app[POOL].acquire() as conn:
        return await slot_offers.expire_passed(conn, now=now)


async def refresh_ops_gauges(app: web.Application, now: datetime) -> object:
    """Outbox backlog, overdue decisions and open requests per site, for the alerts in ops/ (every process)."""
    return await ops_gauges.refresh(app[POOL], now=now)


async def purge_lobby_calls(app: web.Application, now: datetime) -> object:
    """Forget calls of earlier days: the displays and lists show today's; the audit trail keeps who called."""
    async with app[POOL].acquire() as conn:
        calls = await lobby_calls.delete_before(conn, before=now - lobby_calls.KEPT)
        await walk_ins.delete_before(conn, before=now - walk_ins.KEPT)  # and walk-in tickets of earlier weeks
        return calls


JOBS: tuple[Job, ...] = (
    Job("outbox-dispatch", dispatch_outbox, "outbox_interval_seconds"),
    Job("outbox-sweep", sweep_outbox, "sweep_interval_seconds", singleton=True),
    Job("ops-gauges", refresh_ops_gauges, "sweep_interval_seconds"),  # not singleton: every process reports them
    Job("deadlines", flag_overdue, "deadlines_interval_seconds", singleton=True),
    Job("unmarked-outcomes", flag_unmarked_outcomes, "deadlines_interval_seconds", singleton=True),
    Job("escalation-summary", summarise_escalations, "escalation_summary_interval_seconds", singleton=True),
    Job("retention", apply_retention, "retention_interval_seconds", singleton=True),
    Job("rate-limits", purge_rate_limits, "rate_limit_cleanup_interval_seconds", singleton=True),
    Job("sign-in-cleanup", purge_sign_in, "sign_in_cleanup_interval_seconds", singleton=True),
    Job("expiry", expire_requests, "expiry_interval_seconds", singleton=True),
    Job("passed-proposals", replan_passed_proposals, "passed_proposals_interval_seconds", singleton=True),
    Job("slot-offers", expire_slot_offers, "passed_proposals_interval_seconds", singleton=True),
    Job("lobby-calls", purge_lobby_calls, "retention_interval_seconds", singleton=True),
    Job("webhooks", send_webhooks, "webhooks_interval_seconds"),
)


async def run_job(app: web.Application, job: Job, *, now: datetime | None = None,
                  slots: asyncio.Semaphore | None = None) -> bool:
    """Run one job now; False when a singleton job is already running elsewhere. Errors are logged.

    A singleton holds a pooled connection for its lock while it runs and takes others for its work; `slots`
    (the process's, see scheduler_ctx) bounds how many do so at once, so jobs that start together can't hold
    every connection of the pool and wait for one more.
    """
    now = now or datetime.now(UTC)
    try:
        if not job.singleton:
            await job.function(app, now)
        else:
            async with slots or contextlib.nullcontext(), app[POOL].acquire() as conn:
                # Session-level lock on this connection: released below, or by PostgreSQL if we die.
                got = await conn.fetchval("SELECT pg_try_advisory_lock(hashtext('scheduler-job'), hashtext($1))",
                                          job.id)
                if not got:
                    JOB_RUNS.labels(job.id, "skipped").inc()
                    return False
                try:
                    await job.function(app, now)
                finally:
                    try:
                        await conn.execute("SELECT pg_advisory_unlock(hashtext('scheduler-job'), hashtext($1))",
                                           job.id)
                    except BaseException:
                        conn.terminate()  # the pool does not reset sessions: closing it is what releases the lock
                        raise
    except Exception:
        JOB_RUNS.labels(job.id, "error").inc()
        log.exception("job failed", extra={"job": job.id})
        return True
    JOB_RUNS.labels(job.id, "ok").inc()
    return True


async def scheduler_ctx(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx: start every registered job in this process, stop them at shutdown."""
    cfg = app[CONFIG].jobs
    sched = AsyncIOScheduler(jobstores={"default": MemoryJobStore()}, executors={"default": AsyncIOExecutor()},
                             timezone=UTC)
    slots = asyncio.Semaphore(SINGLETON_SLOTS)
    for job in JOBS:
        sched.add_job(run_job, "interval", seconds=float(getattr(cfg, job.interval)), args=[app, job],
                      kwargs={"slots": slots}, id=job.id, max_instances=1, coalesce=True, misfire_grace_time=30,
                      next_run_time=datetime.now(UTC))
    sched.start()
    log.info("periodic jobs started", extra={"jobs": [j.id for j in JOBS]})
    yield
    sched.shutdown(wait=False)
