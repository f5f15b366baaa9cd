"""Many sites: 400 offices and 1,000,000 requests in one database (issue 18, "Scale").

Measures, on the data set of `bench/many_sites_fill.py` (kept between runs in the database `bench_many_sites`):
(a) the staff inbox *page* over HTTP from a `serve --role web` process, as a caseworker and as the admin of the
    largest office: first and deep pages, team and whole-office views, filters; latency percentiles of
    sequential requests and bytes per page;
(b) the site lookup by host: `site_directory.AddressBook.site_for_host` over the 400 offices' host names
    (timeit), beside the uncached statement it replaces;
(c) intake open-loop at a fixed rate against a copy of the 400-site database and against a fresh single-site
    demo database, in the same run, one right after the other (pairs, alternating which goes first);
and the sizes of the largest tables (pg_total_relation_size) for the README's capacity estimate.
"""

from __future__ import annotations

import asyncio
import importlib
import os
import statistics
import time
import timeit
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import asyncpg

from bench import intake, intake_shape, many_sites_fill, openloop
from scheduler import db
from scheduler.permissions import Role, StaffUser
from scheduler.seed import seed_demo
from scheduler.staff import auth

DATABASE = "bench_many_sites"
COPY = "bench_many_sites_intake"


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


def _pct(values: list[float], q: float) -> float:
    return round(openloop._pct(sorted(values), q), 2)


async def _marker(admin: asyncpg.Connection, name: str) -> str | None:
    return await admin.fetchval("SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1",
                                name)


async def prepare(admin_dsn: str, *, sites: int, requests: int, refill: bool) -> dict[str, Any]:
    """The kept data set: reused when its marker matches, else (re)loaded. Migrations added since are applied."""
    marker = f"{many_sites_fill.MARKER} sites={sites} requests={requests}"
    url = _with_database(admin_dsn, DATABASE)
    admin = await asyncpg.connect(admin_dsn)
    try:
        found = await _marker(admin, DATABASE)
        if found == marker and not refill:
            await db.migrate_dsn(url)
            return {"reused": True, "marker": marker}
        await admin.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{DATABASE}"')
    finally:
        await admin.close()
    started = time.perf_counter()
    await db.migrate_dsn(url)
    pool = await db.create_pool(url, max_size=2)
    try:
        await seed_demo(pool)  # the demo site takes the intake load, as in the single-site runs
    finally:
        await pool.close()
    conn = await asyncpg.connect(url)
    try:
        steps = await many_sites_fill.fill(conn, sites=sites, requests=requests)
        await conn.execute(f"COMMENT ON DATABASE \"{DATABASE}\" IS '{marker}'")
    finally:
        await conn.close()
    return {"reused": False, "marker": marker, "load_seconds": round(time.perf_counter() - started, 1),
            "load_steps": steps}


async def _shape(url: str) -> dict[str, Any]:
    conn = await asyncpg.connect(url)
    try:
        counts = dict(await conn.fetchrow("""
            SELECT (SELECT count(*) FROM sites) AS sites, (SELECT count(*) FROM staff) AS staff,
                   (SELECT count(*) FROM requests) AS requests, (SELECT count(*) FROM site_hosts) AS site_hosts,
                   (SELECT count(*) FROM requests WHERE status IN ('received', 'proposed')) AS undecided"""))
        largest = await conn.fetchrow("""
            SELECT s.id, s.code, count(*) AS requests,
                   count(*) FILTER (WHERE r.status IN ('received', 'proposed')) AS undecided
            FROM requests r JOIN sites s ON s.id = r.site_id WHERE s.code = 'ms-0' GROUP BY s.id, s.code""")
        sizes = {r["name"]: r["bytes"] for r in await conn.fetch("""
            SELECT c.relname AS name, pg_total_relation_size(c.oid) AS bytes FROM pg_class c
            JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relkind = 'r' AND n.nspname = 'public' ORDER BY bytes DESC LIMIT 8""")}
        indexes = {r["name"]: r["bytes"] for r in await conn.fetch("""
            SELECT c.relname AS name, pg_indexes_size(c.oid) AS bytes FROM pg_class c
            JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relkind = 'r' AND n.nspname = 'public' ORDER BY pg_total_relation_size(c.oid) DESC LIMIT 8""")}
        database = await conn.fetchval("SELECT pg_database_size(current_database())")
        return {"rows": counts, "largest_site": dict(largest),
                "table_mb": {t: round(v / 2**20, 1) for t, v in sizes.items()},
                "of_which_indexes_mb": {t: round(v / 2**20, 1) for t, v in indexes.items()},
                "database_mb": round(database / 2**20, 1)}
    finally:
        await conn.close()


# -- (a) the inbox page over HTTP ---------------------------------------------------------------------------

async def _session(conn: asyncpg.Connection, username: str) -> tuple[str, StaffUser]:
    """A signed-in session of this staff member, as sign-in opens one (its audit row included)."""
    await db._init_connection(conn)  # the JSON codecs the audit row needs
    row = await conn.fetchrow("SELECT id, site_id, username, display_name, role, team_id FROM staff "
                              "WHERE username = $1", username)
    user = StaffUser(id=row["id"], site_id=row["site_id"], username=row["username"],
                     display_name=row["display_name"], role=Role(row["role"]), team_id=row["team_id"],
                     languages=("de",))
    async with conn.transaction():
        signed = await auth.open_session(conn, user, now=datetime.now(UTC), max_hours=8, details={"bench": True})
    return signed.token, user


async def _pages(base: str, url: str, repeats: int) -> dict[str, Any]:
    conn = await asyncpg.connect(url)
    try:
        # The caseworker of the largest office with the most open items of their own.
        caseworker = await conn.fetchval("""
            SELECT st.username FROM requests r JOIN staff st ON st.id = r.staff_id JOIN sites s ON s.id = r.site_id
            WHERE s.code = 'ms-0' AND r.status IN ('received', 'proposed')
            GROUP BY st.username ORDER BY count(*) DESC LIMIT 1""")
        worker_token, worker = await _session(conn, caseworker)
        admin_token, admin = await _session(conn, "ms0-admin")
        team = await conn.fetchval("SELECT id FROM teams WHERE site_id = $1 ORDER BY id LIMIT 1", admin.site_id)
    finally:
        await conn.close()
    variants = [
        ("caseworker, mine, page 1", worker_token, ""),
        ("caseworker, own team, page 1", worker_token, "?view=team"),
        ("admin, whole office, page 1", admin_token, ""),
        ("admin, whole office, page 40", admin_token, "?page=40"),
        ("admin, whole office, last page", admin_token, "?page=999999"),
        ("admin, whole office, concern filter", admin_token, "?concern=no_money"),
        ("admin, whole office, channel filter, page 5", admin_token, "?channel=phone&page=5"),
        ("admin, whole office, callbacks only", admin_token, "?show=callbacks"),
        ("admin, one team, page 1", admin_token, f"?view=team&team={team}"),
    ]
    results: dict[str, Any] = {"caseworker": caseworker, "admin": "ms0-admin"}
    async with aiohttp.ClientSession() as session:
        for label, token, query in variants:
            headers = {"Cookie": f"{auth.SESSION_COOKIE}={token}"}
            latencies, sizes, statuses = [], [], set()
            for i in range(repeats + 5):  # the first five warm the process's caches and prepared statements
                t0 = time.perf_counter()
                async with session.get(f"{base}/staff/inbox{query}", headers=headers, allow_redirects=False) as resp:
                    body = await resp.read()
                elapsed = (time.perf_counter() - t0) * 1000
                statuses.add(resp.status)
                if i >= 5:
                    latencies.append(elapsed)
                    sizes.append(len(body))
            results[label] = {"requests": repeats, "status": sorted(statuses), "p50_ms": _pct(latencies, 0.5),
                              "p95_ms": _pct(latencies, 0.95), "p99_ms": _pct(latencies, 0.99),
                              "max_ms": round(max(latencies), 2), "kb": round(statistics.median(sizes) / 1024, 1)}
    return results


def inbox_pages(url: str, *, repeats: int) -> dict[str, Any]:
    """The inbox page's latency and size, sequential GETs against one web process on the data set."""
    with intake.web_processes(url, 1) as (urls, _pids):
        base = urls[0].rsplit("/api/", 1)[0]
        return asyncio.run(_pages(base, url, repeats))


# -- (b) the site lookup by host ----------------------------------------------------------------------------

async def _lookup(url: str, calls: int) -> dict[str, Any]:
    conn = await asyncpg.connect(url)
    try:
        hosts = [r["host"] for r in await conn.fetch("SELECT host FROM site_hosts ORDER BY host")]
        found: dict[str, Any] = {"hosts": len(hosts)}
        # The uncached statement, per request (what a lookup costs without a cache).
        t0 = time.perf_counter()
        for i in range(500):
            await conn.fetchval("SELECT site_id FROM site_hosts WHERE host = $1", hosts[i % len(hosts)])
        found["sql_per_lookup_ms"] = round((time.perf_counter() - t0) * 1000 / 500, 4)
        try:
            directory = importlib.import_module("scheduler.site_directory")
        except ImportError:
            found["address_book"] = "scheduler/site_directory.py does not exist yet"
            return found
        book = directory.AddressBook()
        t0 = time.perf_counter()
        await book.refresh(conn)
        found["refresh_ms"] = round((time.perf_counter() - t0) * 1000, 2)
        unknown = "unknown.example"
        assert all(book.site_for_host(h) is not None for h in hosts), "a loaded host was not found"
        assert book.site_for_host(unknown) is None
        per_call = {}
        for label, probe in (("known host", hosts), ("unknown host", [unknown])):
            cycle = (probe * (calls // len(probe) + 1))[:calls]

            def lookups(cycle: list[str] = cycle) -> None:
                for host in cycle:
                    book.site_for_host(host)

            timer = timeit.Timer(lookups)
            best = min(timer.repeat(repeat=5, number=1))
            per_call[label] = round(best / calls * 1000, 6)
        found["site_for_host_ms"] = per_call
        found["goal_met"] = max(per_call.values()) < 0.1
        return found
    finally:
        await conn.close()


# -- (c) intake open-loop, 400 sites against one ------------------------------------------------------------

async def _copy(admin_dsn: str) -> str:
    admin = await asyncpg.connect(admin_dsn)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{COPY}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{COPY}" TEMPLATE "{DATABASE}"')
    finally:
        await admin.close()
    return _with_database(admin_dsn, COPY)


def _open_loop(dsn: str, rate: float, seconds: float, postmaster: int | None) -> dict[str, Any]:
    with intake.web_processes(dsn, 1) as (urls, pids):
        return openloop.open_load(urls, rate=rate, seconds=seconds, method="POST", body=intake.body, warmup_s=2.0,
                                  server_pids=pids, postmaster=postmaster)


def intake_pairs(admin_dsn: str, *, rate: float, seconds: float, pairs: int) -> dict[str, Any]:
    """Open-loop intake at `rate` on a copy of the 400-site database and on a fresh demo database, alternating."""
    postmaster = openloop._embedded_postmaster(admin_dsn)
    runs: dict[str, list[dict[str, Any]]] = {"single_site": [], "many_sites": []}
    statements = None
    for pair in range(pairs):
        order = ("single_site", "many_sites") if pair % 2 == 0 else ("many_sites", "single_site")
        for which in order:
            if which == "single_site":
                name, dsn = intake.fresh_database(admin_dsn)
            else:
                name, dsn = COPY, asyncio.run(_copy(admin_dsn))
                if statements is None:
                    statements = asyncio.run(intake_shape.count_statements(dsn))
            try:
                runs[which].append(_open_loop(dsn, rate, seconds, postmaster))
            finally:
                intake.drop_database(admin_dsn, name)
    return {"rate": rate, "seconds": seconds, "statements_per_intake_on_400_sites": statements, **runs}


def measure(admin_dsn: str, *, sites: int = 400, requests: int = 1_000_000, refill: bool = False,
            repeats: int = 200, lookups: int = 100_000, rate: float = 50.0, seconds: float = 15.0,
            pairs: int = 2) -> dict[str, Any]:
    """Load (or reuse) the data set, then measure (a) inbox pages, (b) site lookup, (c) intake open-loop."""
    report: dict[str, Any] = {"data_set": asyncio.run(prepare(admin_dsn, sites=sites, requests=requests,
                                                              refill=refill))}
    url = _with_database(admin_dsn, DATABASE)
    report["data_set"].update(asyncio.run(_shape(url)))
    report["loadavg_1m_before"] = round(os.getloadavg()[0], 2)
    report["inbox_pages"] = inbox_pages(url, repeats=repeats)
    report["site_lookup"] = asyncio.run(_lookup(url, lookups))
    if pairs > 0:
        report["intake_open_loop"] = intake_pairs(admin_dsn, rate=rate, seconds=seconds, pairs=pairs)
    report["loadavg_1m_after"] = round(os.getloadavg()[0], 2)
    return report


def print_report(found: dict[str, Any], line: Any) -> None:
    """The report's main numbers, one line each."""
    data = found["data_set"]
    line(f"{'many sites: data set':55s} {data['rows']['sites']} sites, {data['rows']['requests']} requests, "
         f"{'reused' if data['reused'] else 'loaded in ' + str(data['load_seconds']) + ' s'}, "
         f"{data['database_mb']} MB")
    for label, run in found["inbox_pages"].items():
        if isinstance(run, dict):
            line(f"{'inbox page, ' + label:55s} p50 {run['p50_ms']} ms  p95 {run['p95_ms']} ms  p99 {run['p99_ms']} ms"
                 f"  {run['kb']} KB  status {run['status']}")
    lookup = found["site_lookup"]
    line(f"{'site lookup by host, ' + str(lookup['hosts']) + ' hosts':55s} "
         f"{lookup.get('site_for_host_ms', lookup.get('address_book'))}  (SQL per lookup {lookup['sql_per_lookup_ms']} ms)")
    loop = found.get("intake_open_loop")
    if loop:
        for which in ("single_site", "many_sites"):
            for run in loop[which]:
                line(f"{'intake open-loop ' + format(loop['rate'], 'g') + '/s, ' + which.replace('_', ' '):55s} "
                     f"ok {run['completed']}  errors {run['errors']}  p50 {run['p50_ms']} ms  p90 {run['p90_ms']} ms  "
                     f"p99 {run['p99_ms']} ms  load avg {run['load']['loadavg_1m_before']}")
