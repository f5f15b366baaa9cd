"""The demand/capacity page's queries for an office of 12 teams, with 1 million requests across 400 sites.

The measured office has 12 teams of 5 caseworkers (working hours Monday to Friday, longer on Tuesday and
Thursday), 4 % of all requests (about 40,000, spread over the last 90 days), 3,000 booked appointments and a few
absences in the coming six weeks; the 399 other sites have 3 teams of 4 caseworkers and share the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
from datetime import UTC, datetime
from typing import Any

import asyncpg

from scheduler import db, sites
from scheduler import demand_capacity_queries as dcq
from tests import dbharness

OFFICE = "bench-office"


async def _fill(conn: asyncpg.Connection, n_sites: int, requests: int) -> None:
    await conn.execute("INSERT INTO sites (code, name) VALUES ($1, 'Bench office')", OFFICE)
    await conn.execute(f"INSERT INTO sites (code, name) SELECT 'bench-' || g, 'Bench ' || g "
                       f"FROM generate_series(2, {n_sites}) g")
    await conn.execute("""
        INSERT INTO teams (site_id, code, name)
        SELECT s.id, 'team' || t, 'Team ' || t FROM sites s,
               generate_series(1, CASE WHEN s.code = 'bench-office' THEN 12 ELSE 3 END) t
        WHERE s.code LIKE 'bench-%'""")
    await conn.execute("""
        INSERT INTO staff (site_id, team_id, username, display_name, role)
        SELECT t.site_id, t.id, 'b' || t.id || '-' || g, 'Bench', 'caseworker' FROM teams t JOIN sites s ON s.id = t.site_id,
               generate_series(1, CASE WHEN s.code = 'bench-office' THEN 5 ELSE 4 END) g
        WHERE s.code LIKE 'bench-%'""")
    await conn.execute("""
        INSERT INTO working_hours (site_id, staff_id, weekday, starts, ends)
        SELECT s.site_id, s.id, d, '08:00', '12:00' FROM staff s, generate_series(0, 4) d WHERE s.username LIKE 'b%'""")
    await conn.execute("""
        INSERT INTO working_hours (site_id, staff_id, weekday, starts, ends, modes)
        SELECT s.site_id, s.id, d, '13:00', '16:00', ARRAY['phone', 'video'] FROM staff s, generate_series(1, 3, 2) d
        WHERE s.username LIKE 'b%'""")
    await conn.execute("""
        INSERT INTO concerns (site_id, code, labels)
        SELECT s.id, c, jsonb_build_object('de', c) FROM sites s, unnest(ARRAY['general', 'money', 'documents']) c
        WHERE s.code LIKE 'bench-%'""")
    await conn.execute("""
        INSERT INTO clients (site_id, phone)
        SELECT s.id, '+49151' || lpad((s.id * 10000 + g)::text, 8, '0') FROM sites s, generate_series(1, 200) g
        WHERE s.code LIKE 'bench-%'""")
    # Every 25th request is the office's (4 %), the rest spread over the other sites; ids picked by position in
    # arrays ordered by site, so no per-row lookups. Most are closed, as in a real office's history.
    await conn.execute(f"""
        WITH o AS (SELECT id FROM sites WHERE code = '{OFFICE}'),
             s AS (SELECT array_agg(id ORDER BY id) a FROM sites WHERE code LIKE 'bench-%' AND code <> '{OFFICE}'),
             t AS (SELECT array_agg(id ORDER BY site_id, id) a FROM teams
                   WHERE site_id <> (SELECT id FROM o)),
             ot AS (SELECT array_agg(id ORDER BY id) a FROM teams WHERE site_id = (SELECT id FROM o)),
             c AS (SELECT array_agg(id ORDER BY site_id, id) a FROM clients),
             oc AS (SELECT array_agg(id ORDER BY id) a FROM clients WHERE site_id = (SELECT id FROM o)),
             co AS (SELECT array_agg(id ORDER BY site_id, id) a FROM concerns),
             oco AS (SELECT array_agg(id ORDER BY id) a FROM concerns WHERE site_id = (SELECT id FROM o)),
             n AS (SELECT cardinality(a) AS sites FROM s),
             rows AS (SELECT g, g % 25 = 0 AS office, (g / 25) % (SELECT sites FROM n) AS k
                      FROM generate_series(1, {requests}) g)
        INSERT INTO requests (site_id, client_id, concern_id, channel, status, reference, link_token, team_id,
                              priority, created_at)
        SELECT CASE WHEN r.office THEN (SELECT id FROM o) ELSE s.a[1 + r.k] END,
               CASE WHEN r.office THEN oc.a[1 + g % 200] ELSE c.a[1 + (r.k + 1) * 200 + g % 200] END,
               CASE WHEN r.office THEN oco.a[1 + g % 3] ELSE co.a[1 + (r.k + 1) * 3 + g % 3] END,
               (ARRAY['web','kiosk','phone','staff'])[1 + g % 4],
               (ARRAY['received','proposed','scheduled','done','done','done','withdrawn','done'])[1 + g % 8],
               'B' || g, 'bench-token-' || g,
               CASE WHEN r.office THEN ot.a[1 + g % 12] ELSE t.a[1 + r.k * 3 + g % 3] END,
               10 + g % 80, now() - (g % 90) * interval '1 day' - (g % 600) * interval '1 minute'
        FROM rows r, s, t, ot, c, oc, co, oco
    """)
    # Bookings and absences of the office's caseworkers in the coming weeks.
    await conn.execute(f"""
        WITH st AS (SELECT array_agg(id ORDER BY id) a FROM staff WHERE site_id = (SELECT id FROM sites WHERE code = '{OFFICE}')),
             rq AS (SELECT array_agg(id ORDER BY id) a FROM requests
                    WHERE site_id = (SELECT id FROM sites WHERE code = '{OFFICE}') AND status = 'scheduled')
        INSERT INTO appointments (site_id, request_id, client_id, staff_id, during, mode, status, ical_uid, created_by)
        SELECT (SELECT id FROM sites WHERE code = '{OFFICE}'), rq.a[g], (SELECT client_id FROM requests WHERE id = rq.a[g]),
               st.a[1 + g % 60],
               tstzrange(date_trunc('day', now()) + ((g / 60) % 42) * interval '1 day' + interval '7 hours'
                         + (g % 8) * interval '30 minutes',
                         date_trunc('day', now()) + ((g / 60) % 42) * interval '1 day' + interval '7 hours'
                         + (g % 8 + 1) * interval '30 minutes'),
               'in_person', 'confirmed', 'bench-' || g, 'bench'
        FROM st, rq, generate_series(1, least(3000, cardinality(rq.a))) g ON CONFLICT DO NOTHING
    """)
    await conn.execute(f"""
        INSERT INTO absences (site_id, staff_id, during)
        SELECT site_id, id, tstzrange(now() + (id % 30) * interval '1 day', now() + (id % 30 + 3) * interval '1 day')
        FROM staff WHERE site_id = (SELECT id FROM sites WHERE code = '{OFFICE}') AND id % 4 = 0
    """)
    await conn.execute("VACUUM ANALYZE")
    with contextlib.suppress(asyncpg.InsufficientPrivilegeError):
        await conn.execute("CHECKPOINT")


def _stats(samples: list[float]) -> dict[str, float]:
    samples = sorted(samples)
    return {"median_ms": round(statistics.median(samples), 2), "p99_ms": round(samples[int(0.99 * (len(samples) - 1))], 2),
            "max_ms": round(samples[-1], 2)}


async def _run(admin_dsn: str, n_sites: int, requests: int, repeats: int) -> dict[str, Any]:
    name, url = await dbharness.create_database(admin_dsn, prefix="bench_capacity")
    try:
        await db.migrate_dsn(url)
        filler = await asyncpg.connect(url)  # no command timeout: filling takes a while
        started = time.perf_counter()
        await _fill(filler, n_sites, requests)
        fill_s = time.perf_counter() - started
        await filler.close()
        pool = await db.create_pool(url, max_size=2)
        async with pool.acquire() as conn:
            site = await sites.site_by_code(conn, OFFICE)
            assert site is not None
            team_ids = [r["id"] for r in await conn.fetch("SELECT id FROM teams WHERE site_id = $1 ORDER BY id", site.id)]
            office_requests = await conn.fetchval("SELECT count(*) FROM requests WHERE site_id = $1", site.id)
            now = datetime.now(UTC)
            setups = sites.SetupCache()
            for _ in range(3):  # prepared statements, the holiday tables and the site's setup, as a warm process has
                report = await dcq.compute(conn, site=site, team_ids=team_ids, now=now, setups=setups)
            office, team = [], []
            for _ in range(repeats):
                t0 = time.perf_counter()
                report = await dcq.compute(conn, site=site, team_ids=team_ids, now=now, setups=setups)
                office.append((time.perf_counter() - t0) * 1000)
                t0 = time.perf_counter()
                await dcq.compute(conn, site=site, team_ids=team_ids[:1], now=now, setups=setups)
                team.append((time.perf_counter() - t0) * 1000)
            assert report.office is not None
            first = report.office.weeks[1]
        await pool.close()
        return {"requests": requests, "sites": n_sites, "office_teams": len(team_ids), "office_requests": office_requests,
                "fill_seconds": round(fill_s, 1), "repeats": repeats,
                "office_page_queries": _stats(office), "team_page_queries": _stats(team),
                "sample_week": {"demand": first.demand, "capacity": first.capacity,
                                "days_to_appointment": first.days_to_appointment}}
    finally:
        await dbharness.drop_database(admin_dsn, name)


def measure(admin_dsn: str, *, n_sites: int = 400, requests: int = 1_000_000, repeats: int = 50) -> dict[str, Any]:
    """Fill a fresh database and time the demand/capacity read model for the 12-team office and for one team."""
    return asyncio.run(_run(admin_dsn, n_sites, requests, repeats))
