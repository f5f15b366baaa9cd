"""The rules preview's impact: 10,000 requests of the last 4 weeks replayed through a draft (goal: under 1 s).

A fresh database with the demo site; 10,000 requests spread over the last four weeks, each with the decision the
active rules give it (computed the way the replay does, then stored as intake stores it), over 2,000 clients of
all ages and the demo's concerns, channels and languages. Then the whole preview_impact() call is timed: the one
query and the replay, with a draft that changes a priority, a route and a duration.
"""

from __future__ import annotations

import asyncio
import json
import random
import secrets
import statistics
import time
from datetime import UTC, date, datetime, timedelta

import asyncpg

from scheduler import db, sites
from scheduler.policy import store
from scheduler.policy.decision import RequestFacts
from scheduler.policy.parse import load_yaml
from scheduler.policy.rules import Channel, Kind, Mode
from scheduler.preview_impact import _PAST_SQL, preview_impact
from scheduler.preview_replay import Draft, SiteRules, replan
from scheduler.seed import seed_demo
from tests import dbharness
from tests.dbharness import PROJECT_DIR

SITE_POLICY = (PROJECT_DIR / "scheduler" / "demo" / "policy-site.yaml").read_text()
# Changes a priority (the urgent concerns), a route (under-25s) and a duration (eService help): some requests change.
DRAFT = (SITE_POLICY.replace("then: {priority: 90,", "then: {priority: 95,", 1)
         .replace("route: {team: u25}", "route: {team: entrance}", 1)
         .replace("then: {duration: 20m, modes: [video", "then: {duration: 25m, modes: [video", 1))
LANGUAGES = ("de", "de", "de", "en", "tr", "ar", "uk", "ru", "fa")
CHANNELS = (Channel.web, Channel.web, Channel.kiosk, Channel.phone, Channel.staff)


async def _fill(conn: asyncpg.Connection, requests: int, weeks: int, rng: random.Random) -> int:
    site_row = await conn.fetchrow("SELECT id FROM sites WHERE code = 'musterstadt'")
    site = await sites.site_by_id(conn, site_row["id"])
    setup = await sites.setup(conn, site)
    staff = await conn.fetch("SELECT id, team_id FROM staff WHERE site_id = $1", site.id)
    concerns = await conn.fetch("SELECT id, code, urgent FROM concerns WHERE site_id = $1 AND active", site.id)
    rules = SiteRules(active=setup.policies, team_by_code=setup.teams.by_code, code_by_team=setup.teams.code_by_id,
                      default_team=setup.teams.default_code, team_of_staff={s["id"]: s["team_id"] for s in staff},
                      calendar=site.calendar())
    today = date.today()
    clients = []
    for i in range(2_000):
        birth = today - timedelta(days=rng.randint(18 * 365, 70 * 365))
        assigned = rng.choice(staff)["id"] if rng.random() < 0.6 else None
        clients.append((site.id, f"+49170{i:07d}", "de", True, assigned, birth))
    await conn.executemany("INSERT INTO clients (site_id, phone, language, sms_consent, assigned_staff_id, birth_date)"
                           " VALUES ($1, $2, $3, $4, $5, $6)", clients)
    client_rows = await conn.fetch("SELECT id, assigned_staff_id, birth_date FROM clients WHERE site_id = $1",
                                   site.id)
    now = datetime.now(UTC)
    rows = []
    for i in range(requests):
        client = rng.choice(client_rows)
        concern = rng.choice(concerns)
        received = now - timedelta(seconds=rng.randint(0, weeks * 7 * 86_400 - 60))
        birth = client["birth_date"]
        facts = RequestFacts(
            kind=Kind.appointment, concern=concern["code"], channel=rng.choice(CHANNELS),
            language=rng.choice(LANGUAGES), age=(received.date() - birth).days // 365 if birth else None,
            urgent=concern["urgent"], wished_modes=frozenset(rng.sample(list(Mode), rng.randint(1, 3))),
            assigned_caseworker_id=client["assigned_staff_id"], received_at=received)
        decision = replan(facts, rules, setup.policies)
        team_id = (rules.team_of_staff.get(decision.route_caseworker_id) if decision.route_caseworker_id
                   else setup.teams.by_code.get(decision.route_team or ""))
        rows.append((site.id, client["id"], concern["id"], str(facts.channel), "done", f"P{i:07d}",
                     secrets.token_urlsafe(16), facts.language, [str(m) for m in facts.wished_modes],
                     team_id, decision.route_caseworker_id, decision.priority, json.dumps(decision.to_json()),
                     received))
    await conn.executemany(
        """INSERT INTO requests (site_id, client_id, concern_id, channel, status, reference, link_token, language,
                                 modes, team_id, staff_id, priority, decision, created_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13::text::jsonb, $14)""", rows)
    await conn.execute("VACUUM ANALYZE")
    return int(site.id)


async def _run(admin_dsn: str, requests: int, weeks: int, runs: int) -> dict[str, object]:
    name, url = await dbharness.create_database(admin_dsn, prefix="bench_preview")
    try:
        await db.migrate_dsn(url)
        pool = await db.create_pool(url, max_size=2)
        try:
            await seed_demo(pool)
            filler = await asyncpg.connect(url)  # no command timeout: filling takes a while
            for typename in ("json", "jsonb"):  # the app's codecs, for reading the site's rule sets
                await filler.set_type_codec(typename, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
            try:
                started = time.perf_counter()
                site_id = await _fill(filler, requests, weeks, random.Random(16))
                fill_s = time.perf_counter() - started
            finally:
                await filler.close()
            # A new process would start with decide()'s cache empty: clear it to time the first preview too.
            from scheduler.policy import decide as decide_module
            decide_module._fixed_part.cache_clear()
            draft = Draft(load_yaml(DRAFT), store.Scope.site)
            samples, query_ms = [], []
            found = None
            async with pool.acquire() as conn:
                for _ in range(runs):
                    now = datetime.now(UTC)
                    t0 = time.perf_counter()
                    found = await preview_impact(conn, site_id=site_id, draft=draft, weeks=weeks, now=now)
                    samples.append((time.perf_counter() - t0) * 1000)
                    t0 = time.perf_counter()
                    await conn.fetch(_PAST_SQL, site_id, now - timedelta(weeks=weeks), None, None, "Europe/Berlin")
                    query_ms.append((time.perf_counter() - t0) * 1000)
            assert found is not None
            return {
                "requests": found.total, "weeks": weeks, "fill_seconds": round(fill_s, 1), "runs": runs,
                "first_ms": round(samples[0], 1), "median_ms": round(statistics.median(samples), 1),
                "max_ms": round(max(samples), 1), "query_median_ms": round(statistics.median(query_ms), 1),
                "changed": found.changed, "routed": found.routed, "prioritised": found.prioritised,
                "timed": found.timed, "median_days": [found.median_days_before, found.median_days_after],
            }
        finally:
            await pool.close()
    finally:
        await dbharness.drop_database(admin_dsn, name)


def measure(admin_dsn: str, *, requests: int = 10_000, weeks: int = 4, runs: int = 10) -> dict[str, object]:
    """Fill a fresh database and time the impact preview over `requests` requests of the last `weeks` weeks."""
    return asyncio.run(_run(admin_dsn, requests, weeks, runs))
