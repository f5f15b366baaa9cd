"""The ceiling for intake: a bare aiohttp handler that runs intake's own transaction and nothing else.

It issues the same statements in the same order as an appointment request through `intake.submit`
(site, client upsert, the routed caseworkers' availability, the one statement that stores request,
decision, proposals, audit rows and the receipt SMS), through the same data-access functions. What it
leaves out is everything the product adds on top: parsing and validation, the policy engine (decision
and slot search; it reuses one plan made at start), middlewares (rate limits, errors, languages) and
response rendering. Intake is reported as a ratio of this number.

`count_statements` runs one real intake and one shaped transaction with asyncpg's query logger, so the
bench shows that both send the same number of statements.
"""

from __future__ import annotations

import asyncio
import multiprocessing
from datetime import UTC, datetime
from typing import Any

import asyncpg
from aiohttp import web

from bench import intake as intake_bench
from bench.loadgen import LoadResult, load
from bench.ports import free_port, wait_for
from scheduler import availability, clients, db, intake, notices, planning, references, sites
from scheduler import requests as requests_
from scheduler.policy.rules import Kind
from scheduler.policy.slots import Slot

SITE = "musterstadt"
CONCERN = "general"
STATE = web.AppKey("shape_state", dict)


async def _plan(pool: asyncpg.Pool) -> dict[str, Any]:
    """One plan made once, and every free slot it allows: shaped transaction n holds the next three.

    So the ceiling's held proposals grow as the real ones do: three per request until the caseworkers'
    window is full, none after that (a real intake then proposes nothing and the request waits).
    """
    now = datetime.now(UTC)
    async with pool.acquire() as conn:
        site = await sites.site_by_code(conn, SITE)
        assert site is not None
        concern_id = await conn.fetchval("SELECT id FROM concerns WHERE site_id = $1 AND code = $2", site.id, CONCERN)
        client = await clients.upsert_by_phone(conn, site_id=site.id, phone="+4915200000000", language="de",
                                               sms_consent=True)
        plan = await planning.make_plan(conn, site=site, kind=Kind.appointment, concern_code=CONCERN, urgent=False,
                                        channel="web", language="de", modes=("in_person",), client=client,
                                        received_at=now, now=now)
        slots = await planning.find_slots(conn, site=site, plan=plan, language="de", windows={}, now=now,
                                          count=100_000)
    return {"plan": plan, "slots": slots, "concern_id": concern_id}


async def shaped_transaction(pool: asyncpg.Pool, state: dict[str, Any], n: int, phone: str) -> int:
    """Intake's transaction with the policy's results taken from `state`; returns the new request's id."""
    plan: planning.Plan = state["plan"]
    decision = plan.decision
    now = datetime.now(UTC)
    async with pool.acquire() as conn, conn.transaction():
        site = await sites.site_by_code(conn, SITE)
        assert site is not None
        client = await clients.upsert_by_phone(conn, site_id=site.id, phone=phone,
                                               language="de", sms_consent=True)
        start, end = planning.search_span(decision, now)
        await availability.load_routed(conn, site_id=site.id, team_id=plan.team_id, staff_id=plan.staff_id,
                                       language="de", start=start, end=end, tz=site.timezone,
                                       min_free=decision.duration)
        proposals = state["slots"][3 * (n - 1):3 * n]
        new = _new_request(site.id, client.id, state["concern_id"], plan, proposals)
        reference, token = references.new_reference(), references.new_link_token()
        receipt = notices.request_receipt(client, reference=reference, link_token=token, consent=True)
        stored = await requests_.insert(conn, new, reference=reference, link_token=token, receipt=receipt)
        assert stored is not None
    return stored.id


def _new_request(site_id: int, client_id: int, concern_id: int, plan: planning.Plan,
                 proposals: list[Slot]) -> requests_.NewRequest:
    return requests_.NewRequest(
        site_id=site_id, client_id=client_id, concern_id=concern_id, channel="web", language="de",
        modes=["in_person"], windows={}, note="", idempotency_key=None, invitation=None, notice_text=None,
        created_by=None, status=requests_.Status.proposed if proposals else requests_.Status.received,
        decision=plan.decision, team_id=plan.team_id, staff_id=plan.staff_id, deadline_at=plan.deadline_at,
        policy_ids=plan.policy_ids, proposals=proposals,
        events=[("client:web", "request.received", {"channel": "web", "concern": CONCERN}),
                *([("policy", "request.proposed", {"proposals": len(proposals)})] if proposals else [])])


async def _handle(request: web.Request) -> web.Response:
    body = await request.json()
    app = request.app
    state = app[STATE]
    state["n"] += 1
    request_id = await shaped_transaction(state["pool"], state, state["n"], body["phone"])
    return web.json_response({"id": request_id}, status=201)


def _serve(dsn: str, port: int) -> None:
    async def pool_ctx(app: web.Application) -> Any:
        pool = await db.create_pool(dsn, min_size=4, max_size=10)
        app[STATE] = {"pool": pool, "n": 0, **await _plan(pool)}
        yield
        await pool.close()

    app = web.Application()
    app.cleanup_ctx.append(pool_ctx)
    app.router.add_post("/shape", _handle)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


async def count_statements(dsn: str) -> dict[str, int]:
    """Statements sent by one real intake and one shaped transaction (BEGIN, COMMIT and the pool's reset
    included)."""
    pool = await db.create_pool(dsn, min_size=1, max_size=1)
    seen: list[str] = []
    try:
        async with pool.acquire() as conn:
            conn.add_query_logger(lambda q: seen.append(q.query))
        state = {"n": 0, **await _plan(pool)}
        setups = sites.SetupCache()  # as the app has one: a site's rules are read once per change, not per request
        counts: dict[str, int] = {}
        for n in (1, 2):  # the first round fills asyncpg's statement and type caches; the second is counted
            seen.clear()
            body = intake_bench.body(10**7 - n)
            await intake.submit(pool, intake.parse_intake(body, kind=Kind.appointment, channel="web",
                                                          default_site=SITE), now=datetime.now(UTC), setups=setups)
            counts["intake"] = len(seen)
            seen.clear()
            await shaped_transaction(pool, state, n, intake_bench.body(10**7 - 10 - n)["phone"])
            counts["ceiling"] = len(seen)
        return counts
    finally:
        await pool.close()


def measure(admin_dsn: str, *, seconds: float = 10.0, connections: int = 64) -> tuple[LoadResult, dict[str, int]]:
    """Requests/s of the shaped transaction on a fresh demo database, and the statement counts."""
    name, dsn = intake_bench.fresh_database(admin_dsn)
    try:
        statements = asyncio.run(count_statements(dsn))
        port = free_port()
        proc = multiprocessing.get_context("spawn").Process(target=_serve, args=(dsn, port), daemon=True)
        proc.start()
        try:
            wait_for(port)
            result = load("ceiling: aiohttp + asyncpg, intake's transaction", f"http://127.0.0.1:{port}/shape",
                          method="POST", body=intake_bench.body, connections=connections, seconds=seconds)
        finally:
            proc.terminate()
            proc.join()
        return result, statements
    finally:
        intake_bench.drop_database(admin_dsn, name)
