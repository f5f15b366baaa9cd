"""Expiry: a request nobody decided ends, and proposals whose time has come make way for fresh ones.

Two sweeps over the requests' lifecycle, run as jobs (jobs.py) and safe in several processes at once: each
batch is one short transaction that locks its rows with FOR UPDATE SKIP LOCKED, and every state change is
guarded (`status IN ('received', 'proposed')`), so no request is expired or re-planned twice. The batch
statements on the `requests` table (and the staff list of expired requests) are request_expiry.py's; this
module is the job: cutoffs per site, batches within a time budget, the clients' SMS, the re-planning.

Escalation of an undecided request: at its decision deadline it is flagged overdue for the team lead
(approvals.flag_overdue); when `lifecycle.expiry_grace_workdays` more working days have ended, it expires
and the client is told by SMS (when the request asked for SMS) that they may ask again.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta
from typing import Final

import asyncpg

from scheduler import audit, clients, notices, planning, request_expiry, sites
from scheduler import proposals as proposals_
from scheduler import requests as requests_
from scheduler.policy.workdays import WorkCalendar

log = logging.getLogger(__name__)

BATCH: Final = 200          # requests expired per transaction
REPLAN_BATCH: Final = 20    # requests re-planned per transaction (each runs the policy and a slot search)
BUDGET_SECONDS: Final = 8.0  # one run stops taking new batches after this; the next run goes on


def expiry_cutoff(calendar: WorkCalendar, now: datetime, grace_workdays: int) -> datetime:
    """Requests whose deadline lies before this instant have expired at `now`: the `grace_workdays`-th working
    day after their deadline's day has ended (grace 0: the deadline itself has passed)."""
    if grace_workdays == 0:
        return now
    day = calendar.local_date(now)
    one = timedelta(days=1)
    # The latest deadline day whose last grace day is over; at most a few weeks back, each step cached.
    while calendar.day_start(calendar.local_date(calendar.add_workdays(calendar.day_start(day), grace_workdays))
                             + one) > now:
        day -= one
    return calendar.day_start(day + one)


async def _cutoffs(conn: asyncpg.Connection, *, now: datetime, grace_workdays: int) -> dict[int, datetime]:
    """The cutoff of every site that has open requests past their deadline (each site has its own holidays)."""
    cutoffs: dict[int, datetime] = {}
    for site_id in await request_expiry.sites_past_deadline(conn, now=now):
        site = await sites.site_by_id(conn, site_id)
        cutoffs[site.id] = expiry_cutoff(site.calendar(), now, grace_workdays)
    return cutoffs


async def expire_due(pool: asyncpg.Pool, *, now: datetime, grace_workdays: int, batch: int = BATCH,
                     max_batches: int = 10_000, budget_seconds: float = BUDGET_SECONDS) -> int:
    """Expire open requests past deadline plus grace, batch by batch, and queue each client's SMS in the same
    transaction; idempotent (a second run finds nothing). Returns how many expired."""
    async with pool.acquire() as conn:
        cutoffs = await _cutoffs(conn, now=now, grace_workdays=grace_workdays)
    if not cutoffs:
        return 0
    started, total = time.monotonic(), 0
    for _ in range(max_batches):
        async with pool.acquire() as conn, conn.transaction():
            rows = await request_expiry.expire_batch(conn, cutoffs=cutoffs, limit=batch, now=now)
            # The clients' SMS, each under notices' consent rule, in one read and one insert per batch.
            by_id = await clients.get_many(conn, {r.client_id for r in rows}) if rows else {}
            await notices.requests_ended(conn, [notices.Ended(client=by_id[r.client_id], request_id=r.id,
                                                              reference=r.reference, link_token=r.link_token,
                                                              consent=r.sms_consent) for r in rows], kind="expired")
        total += len(rows)
        if len(rows) < batch or time.monotonic() - started > budget_seconds:
            break
    if total:
        log.info("requests expired", extra={"expired": total})
    return total


async def _replan(conn: asyncpg.Connection, request_id: int, *, now: datetime,
                  reminder_offsets: tuple[timedelta, ...]) -> None:
    request = await requests_.get(conn, request_id)
    passed = sum(1 for p in await proposals_.list_for_request(conn, request_id) if p.start <= now)
    try:
        async with conn.transaction():  # a savepoint: a failed re-plan leaves the request as it was
            await planning.plan_and_propose(conn, request_id, route=(request.team_id, request.staff_id), now=now,
                                            reminder_offsets=reminder_offsets, actor="policy")
    except Exception:
        log.exception("re-planning failed; proposals dropped", extra={"request_id": request_id})
        await proposals_.clear(conn, request_id)
        if request.status is requests_.Status.proposed:
            await requests_.transition(conn, request_id, to=requests_.Status.received, actor="policy",
                                       site_id=request.site_id, details={"proposals": 0})
    # The system re-planned on its own: the caseworker's decision deadline (and so expiry) stays where it was.
    await requests_.keep_deadline(conn, request_id, deadline_at=request.deadline_at)
    await audit.record(conn, site_id=request.site_id, actor="system", action="request.proposals_passed",
                       subject_type="request", subject_id=request_id, details={"passed": passed})


async def replan_passed(pool: asyncpg.Pool, *, now: datetime, reminder_offsets: tuple[timedelta, ...],
                        batch: int = REPLAN_BATCH, max_batches: int = 10_000,
                        budget_seconds: float = BUDGET_SECONDS) -> int:
    """Drop proposals that reached their start without approval and plan those requests anew (fresh proposals,
    auto-booking where the owning team allows, or back to the queue). Returns how many were re-planned."""
    handled: list[int] = []
    started = time.monotonic()
    for _ in range(max_batches):
        async with pool.acquire() as conn, conn.transaction():
            ids = await request_expiry.lock_with_passed_proposals(conn, now=now, limit=batch, skip=handled)
            for request_id in ids:
                await _replan(conn, request_id, now=now, reminder_offsets=reminder_offsets)
        handled.extend(ids)  # a slot starting exactly now may be proposed again: not twice in one run
        if len(ids) < batch or time.monotonic() - started > budget_seconds:
            break
    if handled:
        log.info("passed proposals re-planned", extra={"requests": len(handled)})
    return len(handled)

