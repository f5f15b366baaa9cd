"""The inbox query with 1 million requests across 400 sites in the database."""

from __future__ import annotations

import asyncio
import contextlib
import random
import statistics
import time
from datetime import UTC, datetime

import asyncpg

from scheduler import db
from scheduler.inbox import InboxFilter, load
from tests import dbharness

WARM_UP = 20

FILL = """
INSERT INTO sites (code, name) SELECT 'bench-' || g, 'Bench ' || g FROM generate_series(1, $1) g;
"""


async def _fill(conn: asyncpg.Connection, sites: int, requests: int) -> None:
    await conn.execute(FILL.replace("$1", str(sites)))
    await conn.execute("""
        INSERT INTO teams (site_id, code, name) SELECT id, 'team' || t, 'Team ' || t FROM sites, generate_series(1, 3) t
        WHERE code LIKE 'bench-%'""")
    await conn.execute("""
        INSERT INTO staff (site_id, team_id, username, display_name, role)
        SELECT t.site_id, t.id, 'b' || t.id || '-' || g, 'Bench', 'caseworker' FROM teams t, generate_series(1, 4) g
        WHERE t.code LIKE 'team%'""")
    await conn.execute("""
        INSERT INTO concerns (site_id, code, labels) SELECT id, 'general', '{"de": "Sonstiges"}' FROM sites
        WHERE code LIKE 'bench-%'""")
    await conn.execute("""
        INSERT INTO clients (site_id, phone)
        SELECT s.id, '+49151' || lpad((s.id * 10000 + g)::text, 8, '0') FROM sites s, generate_series(1, 200) g
        WHERE s.code LIKE 'bench-%'""")
    # Requests spread over sites, teams and staff; most closed, as in a real office's history. Ids are picked
    # by position in arrays ordered by site, so no per-row lookups are needed.
    await conn.execute(f"""
        WITH s AS (SELECT array_agg(id ORDER BY id) a FROM sites WHERE code LIKE 'bench-%'),
             t AS (SELECT array_agg(id ORDER BY site_id, id) a FROM teams WHERE code LIKE 'team%'),
             st AS (SELECT array_agg(id ORDER BY site_id, team_id, id) a FROM staff WHERE username LIKE 'b%'),
             c AS (SELECT array_agg(id ORDER BY site_id, id) a FROM clients WHERE site_id IN
                   (SELECT id FROM sites WHERE code LIKE 'bench-%')),
             co AS (SELECT array_agg(id ORDER BY site_id) a FROM concerns WHERE site_id IN
                    (SELECT id FROM sites WHERE code LIKE 'bench-%'))
        INSERT INTO requests (site_id, client_id, concern_id, channel, status, reference, link_token, team_id,
                              staff_id, priority, created_at)
        SELECT s.a[1 + g % {sites}], c.a[1 + (g % {sites}) * 200 + g % 200], co.a[1 + g % {sites}],
               (ARRAY['web','kiosk','phone','staff'])[1 + g % 4],
               (ARRAY['received','proposed','scheduled','done','done','done','withdrawn','done'])[1 + g % 8],
               'B' || g, 'bench-token-' || g, t.a[1 + (g % {sites}) * 3 + g % 3],
               CASE WHEN g % 5 = 0 THEN NULL ELSE st.a[1 + ((g % {sites}) * 3 + g % 3) * 4 + g % 4] END,
               10 + g % 80, now() - (g % 90) * interval '1 day'
        FROM generate_series(1, {requests}) g, s, t, st, c, co
    """)
    # Measure the steady state, not autovacuum catching up with a million fresh rows.
    await conn.execute("VACUUM ANALYZE")
    with contextlib.suppress(asyncpg.InsufficientPrivilegeError):  # an external database may not allow it
        await conn.execute("CHECKPOINT")  # flush the fill now rather than in the middle of the timings


async def _run(admin_dsn: str, sites: int, requests: int, queries: int, page: int) -> dict[str, float]:
    name, url = await dbharness.create_database(admin_dsn, prefix="bench_inbox")
    try:
        await db.migrate_dsn(url)
        filler = await asyncpg.connect(url)  # no command timeout: filling takes a while
        started = time.perf_counter()
        await _fill(filler, sites, requests)
        fill_s = time.perf_counter() - started
        await filler.close()
        pool = await db.create_pool(url, max_size=2)
        async with pool.acquire() as conn:
            staff = await conn.fetch("SELECT id, site_id, team_id FROM staff WHERE username LIKE 'b%' LIMIT 2000")
            samples = []
            now = datetime.now(UTC)
            for s in staff[:WARM_UP]:  # prepared statements and the holiday tables, once per process
                await load(conn, InboxFilter(site_id=s["site_id"], staff_id=s["id"]), team_of_staff=s["team_id"],
                           now=now)
            for _ in range(queries):
                s = random.choice(staff)
                t0 = time.perf_counter()
                await load(conn, InboxFilter(site_id=s["site_id"], staff_id=s["id"], limit=page),
                           team_of_staff=s["team_id"], now=now)
                samples.append((time.perf_counter() - t0) * 1000)
        await pool.close()
        samples.sort()
        return {"requests": requests, "sites": sites, "page": page, "fill_seconds": round(fill_s, 1), "queries": queries,
                "median_ms": round(statistics.median(samples), 2), "p99_ms": round(samples[int(0.99 * (queries - 1))], 2)}
    finally:
        await dbharness.drop_database(admin_dsn, name)


def measure(admin_dsn: str, *, sites: int = 400, requests: int = 1_000_000, queries: int = 500,
            page: int = 100) -> dict[str, float]:
    """Fill a fresh database and time the inbox (first page, as the API serves it) for random caseworkers."""
    return asyncio.run(_run(admin_dsn, sites, requests, queries, page))
