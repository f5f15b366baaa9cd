"""The machine's ceiling: a bare aiohttp handler, and one doing one asyncpg transaction of two inserts.

Later benchmarks report themselves as a ratio of these numbers, measured in the same run.
"""

from __future__ import annotations

import asyncio
import multiprocessing
from typing import Any

from aiohttp import web

from bench.loadgen import LoadResult, load
from bench.ports import free_port, wait_for
from scheduler import db

CEILING_SCHEMA = """
CREATE TABLE IF NOT EXISTS bench_ceiling_a (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    payload jsonb NOT NULL, created_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE IF NOT EXISTS bench_ceiling_b (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    a_id bigint NOT NULL, kind text NOT NULL, created_at timestamptz NOT NULL DEFAULT now());
"""

POOL_KEY = web.AppKey("bench_pool", object)




async def _bare(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


async def _two_inserts(request: web.Request) -> web.Response:
    body = await request.json()
    pool: Any = request.app[POOL_KEY]
    async with pool.acquire() as conn, conn.transaction():
        a_id = await conn.fetchval("INSERT INTO bench_ceiling_a (payload) VALUES ($1) RETURNING id", body)
        await conn.execute("INSERT INTO bench_ceiling_b (a_id, kind) VALUES ($1, 'audit')", a_id)
    return web.json_response({"id": a_id}, status=201)


def _serve(dsn: str, port: int) -> None:
    async def pool_ctx(app: web.Application) -> Any:
        app[POOL_KEY] = await db.create_pool(dsn, min_size=4, max_size=10)
        yield
        await app[POOL_KEY].close()  # type: ignore[attr-defined]

    app = web.Application()
    app.cleanup_ctx.append(pool_ctx)
    app.router.add_get("/bare", _bare)
    app.router.add_post("/tx", _two_inserts)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)




def measure(dsn: str, *, seconds: float = 10.0, connections: int = 64) -> dict[str, LoadResult]:
    """Run both ceiling servers' loads and return {"bare": ..., "two_inserts": ...}."""
    asyncio.run(_schema(dsn))
    port = free_port()
    proc = multiprocessing.get_context("spawn").Process(target=_serve, args=(dsn, port), daemon=True)
    proc.start()
    try:
        wait_for(port)
        bare = load("ceiling: bare aiohttp", f"http://127.0.0.1:{port}/bare", connections=connections,
                    seconds=seconds)
        tx = load("ceiling: aiohttp + asyncpg, 1 tx of 2 inserts", f"http://127.0.0.1:{port}/tx",
                  method="POST", body=_payload, connections=connections, seconds=seconds)
    finally:
        proc.terminate()
        proc.join()
    return {"bare": bare, "two_inserts": tx}


def _payload(n: int) -> dict[str, Any]:
    return {"n": n, "concern": "general", "note": "bench"}


async def _schema(dsn: str) -> None:
    import asyncpg
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(CEILING_SCHEMA)
    finally:
        await conn.close()
