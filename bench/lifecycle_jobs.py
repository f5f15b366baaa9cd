"""The lifecycle jobs (expiry, passed proposals, unmarked outcomes, retention) over 1 million requests in 400 sites,
and a bulk move of 200 booked appointments with their outbox rows.

The organisation (sites, teams, staff, concerns, clients) comes from the inbox bench's builder; the requests are
filled here with a lifecycle per request, picked by a hash of its number (so every site gets every kind):

| share | what |
| --- | --- |
| 2 %   | undecided (received/proposed), decision deadline 4-30 days ago: past deadline + 3 grace working days |
| 18 %  | undecided, deadline ahead; the proposed ones hold one proposal, 0.05 % of all requests one that has passed |
| 2 %   | booked, appointment 1-20 days ago, no outcome (some flagged to the caseworker already) |
| 8 %   | booked, appointment in the next 20 days, with its pending reminder SMS |
| 10 %  | closed 181-360 days ago (retention is 180 days), not anonymised yet |
| 60 %  | closed in the last 179 days; links of cases closed more than 31 days ago already cleared |

Every request has an audit row and a sent receipt SMS; every booked or held one an appointment and its audit row.
Each job is called as jobs.py calls it (same arguments, under its advisory lock), twice. The pool's connections
time every top-level transaction on the client; a second connection samples pg_stat_activity every 20 ms for
the oldest open transaction of the database on the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from bench import inbox
from scheduler import db, expiry, moves, outcomes, retention, sites
from scheduler.config import Config
from scheduler.holds import Holds
from scheduler.permissions import Role, StaffUser
from tests import dbharness

BUDGET_S = 10.0  # the budget per run
TIMEOUT_S = 45.0  # a run still going after this is cancelled (its open transaction rolls back) and reported

# One top-level transaction's duration in ms, appended by every pool connection while `_RECORD` is a list.
_RECORD: list[list[float]] = []


class _TimedTransaction:
    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self._t0 = 0.0

    async def __aenter__(self) -> Any:
        self._t0 = time.perf_counter()
        return await self._inner.__aenter__()

    async def __aexit__(self, *exc: object) -> Any:
        try:
            return await self._inner.__aexit__(*exc)
        finally:
            if _RECORD:
                _RECORD[-1].append((time.perf_counter() - self._t0) * 1000)


class _TimedConnection(asyncpg.Connection):
    """Times each outermost `transaction()` block (BEGIN to COMMIT); savepoints inside count in it."""

    def transaction(self, **kwargs: Any) -> Any:  # type: ignore[override]
        tx = super().transaction(**kwargs)
        return tx if self.is_in_transaction() else _TimedTransaction(tx)


FILL_REQUESTS = """
WITH s AS (SELECT array_agg(id ORDER BY id) a FROM sites WHERE code LIKE 'bench-%'),
     t AS (SELECT array_agg(id ORDER BY site_id, id) a FROM teams WHERE code LIKE 'team%'),
     st AS (SELECT array_agg(id ORDER BY site_id, team_id, id) a FROM staff WHERE username LIKE 'b%'),
     c AS (SELECT array_agg(id ORDER BY site_id, id) a FROM clients WHERE site_id IN
           (SELECT id FROM sites WHERE code LIKE 'bench-%')),
     co AS (SELECT array_agg(id ORDER BY site_id) a FROM concerns WHERE site_id IN
            (SELECT id FROM sites WHERE code LIKE 'bench-%')),
     x AS (SELECT g, (hashint4(g)::bigint + 2147483648) % 1000 AS b FROM generate_series(1, {requests}) g),
     y AS (SELECT g, b,
                  CASE WHEN b < 200 THEN (ARRAY['received', 'proposed'])[1 + g % 2]
                       WHEN b < 300 THEN 'scheduled'
                       WHEN b < 400 THEN (ARRAY['done', 'done', 'done', 'withdrawn', 'no_show'])[1 + g % 5]
                       ELSE (ARRAY['done', 'done', 'done', 'done', 'done', 'done', 'withdrawn', 'declined',
                                   'expired', 'no_show'])[1 + g % 10] END AS status,
                  CASE WHEN b < 20 THEN now() - (4 + g % 27) * interval '1 day'
                       WHEN b < 200 THEN now() + (1 + g % 10) * interval '1 day' END AS deadline_at,
                  CASE WHEN b >= 300 AND b < 400 THEN now() - (181 + g % 180) * interval '1 day'
                       WHEN b >= 400 THEN now() - (g % 179) * interval '1 day' - (g % 24) * interval '1 hour'
                       END AS closed_at
           FROM x)
INSERT INTO requests (site_id, client_id, concern_id, channel, status, reference, link_token, team_id,
                      staff_id, priority, created_at, updated_at, deadline_at, closed_at, sms_consent, note)
SELECT s.a[1 + g % {sites}], c.a[1 + (g % {sites}) * 200 + g % 200], co.a[1 + g % {sites}],
       (ARRAY['web','kiosk','phone','staff'])[1 + g % 4], y.status, 'B' || g,
       CASE WHEN y.closed_at IS NULL OR y.closed_at > now() - interval '31 days' THEN 'bench-token-' || g END,
       t.a[1 + (g % {sites}) * 3 + g % 3],
       CASE WHEN g % 5 = 0 THEN NULL ELSE st.a[1 + ((g % {sites}) * 3 + g % 3) * 4 + g % 4] END,
       10 + g % 80,
       coalesce(y.closed_at - interval '10 days', y.deadline_at - interval '5 days',
                now() - (1 + g % 20) * interval '1 day'),
       coalesce(y.closed_at, now() - interval '1 day'), y.deadline_at, y.closed_at, true,
       'Bitte um einen Termin wegen ' || g
FROM y, s, t, st, c, co
"""

# Appointments of booked and held requests. Confirmed ones get distinct (day, half hour) per caseworker by
# their number n among that caseworker's confirmed appointments, so the no-double-booking constraint holds.
FILL_APPOINTMENTS = """
WITH first_staff AS (SELECT team_id, min(id) AS id FROM staff WHERE username LIKE 'b%' GROUP BY team_id),
     r AS (SELECT r.id, r.site_id, r.client_id, coalesce(r.staff_id, f.id) AS staff_id, r.status, r.closed_at,
                  (hashint4(substr(r.reference, 2)::int)::bigint + 2147483648) % 1000 AS b
           FROM requests r JOIN first_staff f ON f.team_id = r.team_id
           WHERE r.status IN ('scheduled', 'done', 'no_show') AND r.reference LIKE 'B%'),
     n AS (SELECT r.*, row_number() OVER (PARTITION BY staff_id, b < 220 ORDER BY id) - 1 AS n FROM r)
INSERT INTO appointments (site_id, request_id, client_id, staff_id, during, mode, status, ical_uid, created_by,
                          created_at, outcome, outcome_at, outcome_flagged_at, cancel_reason)
SELECT site_id, id, client_id, staff_id, tstzrange(start, start + interval '30 minutes'), 'in_person',
       CASE status WHEN 'scheduled' THEN 'confirmed' WHEN 'done' THEN 'completed' ELSE 'no_show' END,
       'bench-' || id, 'policy', start - interval '7 days',
       CASE status WHEN 'done' THEN 'held' WHEN 'no_show' THEN 'no_show' END,
       CASE WHEN status <> 'scheduled' THEN closed_at END,
       CASE WHEN b < 220 AND n % 2 = 0 AND n % 20 >= 4 THEN start + interval '1 day 20 hours' END,
       CASE WHEN status = 'no_show' THEN 'Kunde krank' END
FROM (SELECT n.*,
             CASE WHEN b < 220 THEN date_trunc('day', now()) - (1 + n % 20) * interval '1 day'
                                    + interval '8 hours' + (n / 20) * interval '30 minutes'
                  WHEN status = 'scheduled' THEN date_trunc('day', now()) + (1 + n % 20) * interval '1 day'
                                    + interval '8 hours' + (n / 20) * interval '30 minutes'
                  ELSE closed_at - interval '1 hour' END AS start
      FROM n) q
"""

FILL_REST = [
    # Proposals of the proposed requests: ahead, except for bucket 20 (0.05 % of all requests) where it has passed.
    """
    WITH first_staff AS (SELECT team_id, min(id) AS id FROM staff WHERE username LIKE 'b%' GROUP BY team_id)
    INSERT INTO proposals (site_id, request_id, staff_id, during, mode)
    SELECT r.site_id, r.id, coalesce(r.staff_id, f.id),
           tstzrange(s, s + interval '30 minutes'), 'in_person'
    FROM requests r JOIN first_staff f ON f.team_id = r.team_id,
         LATERAL (SELECT CASE WHEN (hashint4(substr(r.reference, 2)::int)::bigint + 2147483648) % 1000 = 20
                              THEN now() - interval '1 hour'
                              ELSE date_trunc('day', now()) + interval '2 days 9 hours' END AS s) x
    WHERE r.status = 'proposed' AND r.reference LIKE 'B%'
    """,
    """
    INSERT INTO audit_events (site_id, actor, action, subject_type, subject_id, details, created_at)
    SELECT site_id, 'system', 'request.received', 'request', id,
           jsonb_build_object('channel', channel, 'note', note), created_at FROM requests
    """,
    """
    INSERT INTO audit_events (site_id, actor, action, subject_type, subject_id, details, created_at)
    SELECT site_id, 'policy', 'appointment.booked', 'appointment', id,
           jsonb_build_object('request_id', request_id), created_at FROM appointments
    """,
    # The receipt SMS of every request, sent; the pending reminder of every future appointment.
    """
    INSERT INTO outbox (site_id, idempotency_key, channel, kind, recipient, payload, status, due_at, sent_at,
                        request_id, created_at)
    SELECT r.site_id, 'request:' || r.id || ':received', 'sms', 'sms.request_received', c.phone,
           jsonb_build_object('reference', r.reference), 'sent', r.created_at, r.created_at, r.id, r.created_at
    FROM requests r JOIN clients c ON c.id = r.client_id
    """,
    """
    INSERT INTO outbox (site_id, idempotency_key, channel, kind, recipient, payload, due_at, request_id,
                        appointment_id)
    SELECT a.site_id, 'appointment:' || a.id || ':reminder:' || o.s || ':0', 'sms', 'sms.reminder', c.phone,
           jsonb_build_object('appointment_id', a.id), lower(a.during) - o.s * interval '1 second', a.request_id, a.id
    FROM appointments a JOIN clients c ON c.id = a.client_id, (VALUES (86400), (7200)) o(s)
    WHERE a.status = 'confirmed' AND lower(a.during) > now()
    """,
    # Working hours, Monday to Friday 8-16, for the slot searches of re-planning and moving.
    """
    INSERT INTO working_hours (site_id, staff_id, weekday, starts, ends)
    SELECT site_id, id, d, '08:00', '16:00' FROM staff, generate_series(0, 4) d WHERE username LIKE 'b%'
    """,
    "UPDATE clients SET sms_consent = true WHERE phone LIKE '+49151%'",
]


async def _fill(conn: asyncpg.Connection, n_sites: int, requests: int) -> dict[str, float]:
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    await inbox._fill(conn, n_sites, 0)  # sites, teams, staff, concerns, clients: the inbox bench's organisation
    timings["organisation"] = time.perf_counter() - t0
    steps = [("requests", FILL_REQUESTS.format(sites=n_sites, requests=requests)),
             ("appointments", FILL_APPOINTMENTS), *((f"rest {i}", sql) for i, sql in enumerate(FILL_REST))]
    for name, sql in steps:
        t0 = time.perf_counter()
        await conn.execute(sql)
        timings[name] = time.perf_counter() - t0
    t0 = time.perf_counter()
    await conn.execute("VACUUM ANALYZE")
    with contextlib.suppress(asyncpg.InsufficientPrivilegeError):
        await conn.execute("CHECKPOINT")
    timings["vacuum"] = time.perf_counter() - t0
    return {k: round(v, 1) for k, v in timings.items()}


async def _backlog(conn: asyncpg.Connection, now: datetime, grace: int, link_days: int) -> dict[str, int]:
    """What each job would still find due at `now` (all bench sites share one holiday region)."""
    site = await sites.site_by_id(conn, await conn.fetchval("SELECT min(id) FROM sites WHERE code LIKE 'bench-%'"))
    calendar = site.calendar()
    cutoff = expiry.expiry_cutoff(calendar, now, grace)
    flag_before = outcomes.unmarked_before(calendar, now, outcomes.CASEWORKER_WORKDAYS)
    escalate_before = outcomes.unmarked_before(calendar, now, outcomes.LEAD_WORKDAYS)
    seen_before = outcomes.flag_seen_before(calendar, now)  # a flag waits its working day for the lead
    row = await conn.fetchrow(
        """
        SELECT
          (SELECT count(*) FROM requests WHERE status IN ('received', 'proposed') AND deadline_at < $2) AS expiry,
          (SELECT count(DISTINCT r.id) FROM requests r JOIN proposals p ON p.request_id = r.id
           WHERE lower(p.during) <= $1 AND r.status IN ('received', 'proposed')) AS passed_proposals,
          (SELECT count(*) FROM appointments WHERE status = 'confirmed' AND outcome_escalated_at IS NULL
             AND ((outcome_flagged_at IS NULL AND lower(during) < $3)
                  OR (outcome_flagged_at < $6 AND lower(during) < $4))) AS unmarked_outcomes,
          (SELECT count(*) FROM requests r JOIN sites s ON s.id = r.site_id WHERE r.anonymised_at IS NULL
             AND r.closed_at < $1 - make_interval(days => s.retention_days)) AS retention_requests,
          (SELECT count(*) FROM requests WHERE link_token IS NOT NULL AND closed_at < $1 - $5 * interval '1 day')
             AS retention_links
        """, now, cutoff, flag_before, escalate_before, link_days, seen_before)
    return dict(row)


async def _watch(dsn: str, stop: asyncio.Event, found: list[float]) -> None:
    """The oldest open transaction of the database, sampled every 20 ms from pg_stat_activity."""
    conn = await asyncpg.connect(dsn)
    try:
        while not stop.is_set():
            age = await conn.fetchval(
                "SELECT extract(epoch FROM max(clock_timestamp() - xact_start)) * 1000 FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid() AND xact_start IS NOT NULL "
                "AND backend_type = 'client backend'")
            if age is not None:
                found.append(float(age))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.02)
    finally:
        await conn.close()


def _loadavg() -> float:
    return round(os.getloadavg()[0], 2)


async def _timed(pool: asyncpg.Pool, dsn: str, job_id: str,
                 run: Callable[[], Awaitable[object]]) -> dict[str, Any]:
    """One run of a job under its advisory lock (as jobs.run_job takes it), with its transactions timed."""
    _RECORD.append([])
    stop, server_ages = asyncio.Event(), []
    watcher = asyncio.create_task(_watch(dsn, stop, server_ages))
    await asyncio.sleep(0.05)
    load_before = _loadavg()
    async with pool.acquire() as lock_conn:
        assert await lock_conn.fetchval("SELECT pg_try_advisory_lock(hashtext('scheduler-job'), hashtext($1))", job_id)
        t0 = time.perf_counter()
        try:
            result: object = await asyncio.wait_for(run(), TIMEOUT_S)
        except TimeoutError:
            result = f"cancelled after {TIMEOUT_S:g} s"
        finally:
            seconds = time.perf_counter() - t0
            await lock_conn.execute("SELECT pg_advisory_unlock(hashtext('scheduler-job'), hashtext($1))", job_id)
    stop.set()
    await watcher
    txs = _RECORD.pop()
    if isinstance(result, outcomes.FlagCounts):
        result = {"flagged": result.flagged, "escalated": result.escalated}
    return {"handled": result, "seconds": round(seconds, 2), "within_budget": seconds < BUDGET_S,
            "timed_out": seconds >= TIMEOUT_S,
            "transactions": len(txs), "longest_transaction_ms": round(max(txs), 1) if txs else None,
            "median_transaction_ms": round(statistics.median(txs), 1) if txs else None,
            "longest_open_transaction_seen_by_server_ms": round(max(server_ages), 1) if server_ages else None,
            "loadavg_1m_before": load_before, "loadavg_1m_after": _loadavg()}


async def _retention_without_links(pool: asyncpg.Pool, now: datetime) -> dict[str, int]:
    """purge_due's loop over its steps after the links step: what the rest costs when the links step hangs."""
    done = {}
    for name, step in (("requests", retention.requests_batch), ("callbacks", retention.callbacks_batch),
                       ("inbound", retention._inbound_batch), ("clients", retention.clients_batch)):
        done[name] = 0
        for _ in range(1000):
            async with pool.acquire() as conn, conn.transaction():
                count = await step(conn, now)
            done[name] += count
            if count < retention.BATCH:
                break
    return done


async def _bulk_move(pool: asyncpg.Pool, now: datetime, config: Config, count: int) -> dict[str, Any]:
    """Time moves.bulk_move of `count` future appointments of one site to slots the policy proposes."""
    if not hasattr(moves, "bulk_move"):
        return {"missing": "scheduler/moves.py has no bulk_move"}
    async with pool.acquire() as conn:
        site_id = await conn.fetchval(
            "SELECT site_id FROM appointments WHERE status = 'confirmed' AND lower(during) > $1 "
            "GROUP BY site_id ORDER BY count(*) DESC LIMIT 1", now)
        ids = [r["id"] for r in await conn.fetch(
            "SELECT id FROM appointments WHERE site_id = $1 AND status = 'confirmed' AND lower(during) > $2 "
            "ORDER BY lower(during) LIMIT $3", site_id, now, count)]
        lead = await conn.fetchrow("SELECT id, team_id, username FROM staff WHERE site_id = $1 ORDER BY id LIMIT 1",
                                   site_id)
        user = StaffUser(id=lead["id"], site_id=site_id, username=lead["username"], display_name="Bench",
                         role=Role.admin, team_id=lead["team_id"], languages=("de",))
        t0 = time.perf_counter()
        targets = []
        with Holds().transaction() as scope:  # as review() does: the batch's proposals do not overlap
            for appointment_id in ids:
                appointment = await moves.appointments.get(conn, appointment_id)
                request = await moves.requests_.get(conn, appointment.request_id)
                slots = await moves.propose(conn, appointment=appointment, request=request, now=now, count=1,
                                            hold=scope)
                if slots:
                    targets.append(moves.Target(appointment_id, slots[0].caseworker_id, slots[0].start,
                                                slots[0].mode.value))
        propose_s = time.perf_counter() - t0
        outbox_before = await conn.fetchval("SELECT count(*) FROM outbox WHERE appointment_id = ANY($1)", ids)
    load_before = _loadavg()
    _RECORD.append([])
    t0 = time.perf_counter()
    result = await moves.bulk_move(pool, targets=targets, user=user, now=now,
                                   reminder_offsets=config.reminder_offsets)
    seconds = time.perf_counter() - t0
    txs = _RECORD.pop()
    async with pool.acquire() as conn:
        outbox_after = await conn.fetchval("SELECT count(*) FROM outbox WHERE appointment_id = ANY($1)", ids)
        cancelled = await conn.fetchval("SELECT count(*) FROM outbox WHERE appointment_id = ANY($1) "
                                        "AND status = 'cancelled'", ids)
    return {"site_appointments_picked": len(ids), "targets": len(targets), "proposing_seconds": round(propose_s, 1),
            "moved": len(result.moved), "conflicts": len(result.conflicts),
            "conflict_codes": sorted({code for _, code in result.conflicts}),
            "outbox_rows_added": outbox_after - outbox_before, "outbox_rows_cancelled": cancelled,
            "seconds": round(seconds, 2), "transactions": len(txs),
            "transaction_ms": round(max(txs), 1) if txs else None, "within_2s": seconds < 2.0,
            "loadavg_1m_before": load_before, "loadavg_1m_after": _loadavg()}


async def _run(admin_dsn: str, n_sites: int, requests: int, move_count: int, keep: bool) -> dict[str, Any]:
    name, url = await dbharness.create_database(admin_dsn, prefix="bench_jobs")
    try:
        await db.migrate_dsn(url)
        filler = await asyncpg.connect(url)
        fill = await _fill(filler, n_sites, requests)
        counts = dict(await filler.fetchrow(
            "SELECT (SELECT count(*) FROM requests) AS requests, (SELECT count(*) FROM appointments) AS appointments, "
            "(SELECT count(*) FROM outbox) AS outbox, (SELECT count(*) FROM audit_events) AS audit_events, "
            "(SELECT count(*) FROM proposals) AS proposals"))
        await filler.close()
        config = Config()
        grace, link_days = config.lifecycle.expiry_grace_workdays, config.privacy.link_token_days_after_case
        pool = await asyncpg.create_pool(url, min_size=2, max_size=4, init=db._init_connection, reset=db._after_use,
                                         command_timeout=120, connection_class=_TimedConnection,
                                         server_settings={"application_name": "scheduler"})
        assert pool is not None
        jobs: list[tuple[str, Callable[[datetime], Awaitable[object]]]] = [
            ("expiry", lambda now: expiry.expire_due(pool, now=now, grace_workdays=grace)),
            ("passed-proposals", lambda now: expiry.replan_passed(pool, now=now,
                                                                  reminder_offsets=config.reminder_offsets)),
            ("unmarked-outcomes", lambda now: outcomes.flag_unmarked(pool, now=now)),
            ("retention", lambda now: retention.purge_due(pool, now=now, link_days=link_days)),
        ]
        report: dict[str, Any] = {"sites": n_sites, "fill_seconds": fill, "rows": counts, "jobs": {}}
        async with pool.acquire() as conn:
            report["due_before"] = await _backlog(conn, datetime.now(UTC), grace, link_days)
        for job_id, job in jobs:
            runs = []
            for _ in range(2):
                now = datetime.now(UTC)
                found = await _timed(pool, url, job_id, lambda job=job, now=now: job(now))
                async with pool.acquire() as conn:
                    backlog = await _backlog(conn, now, grace, link_days)
                key = "retention_requests" if job_id == "retention" else job_id.replace("-", "_")
                found["still_due_after"] = backlog[key] + (backlog["retention_links"] if job_id == "retention" else 0)
                runs.append(found)
            report["jobs"][job_id] = runs
            if job_id == "retention" and runs[0]["timed_out"]:
                now = datetime.now(UTC)
                found = await _timed(pool, url, "retention", lambda now=now: _retention_without_links(pool, now))
                async with pool.acquire() as conn:
                    found["still_due_after"] = (await _backlog(conn, now, grace, link_days))["retention_requests"]
                report["jobs"]["retention-without-links-step"] = [found]
        report["bulk_move"] = await _bulk_move(pool, datetime.now(UTC) + timedelta(seconds=1), config, move_count)
        await pool.close()
        return report
    finally:
        if not keep:
            await dbharness.drop_database(admin_dsn, name)


def measure(admin_dsn: str, *, sites: int = 400, requests: int = 1_000_000, move_count: int = 200,
            keep: bool = False) -> dict[str, Any]:
    """Fill a fresh database, run each lifecycle job twice and a bulk move once; see the module docstring."""
    return asyncio.run(_run(admin_dsn, sites, requests, move_count, keep))
