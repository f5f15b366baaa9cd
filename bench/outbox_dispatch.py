"""Outbox dispatch throughput: messages/s through the real twilio SDK to the fake Twilio in another process.

One and two dispatcher processes drain N queued SMS rows (claim with SKIP LOCKED + lease, render, send,
record) with the worker's own dispatcher settings from config.yaml (batch, concurrency, lease; only quiet
hours are off); the fake runs standalone (``python -m tests.fakes.twilio_server``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import multiprocessing
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.ports import free_port, wait_for
from scheduler import db
from scheduler.config import load_config
from scheduler.notify.dispatch import Senders, Settings, dispatch_due, settings_from
from scheduler.notify.sms import TwilioSms

PROJECT_DIR = Path(__file__).resolve().parent.parent
SID = "AC" + "0" * 32
TOKEN = "fake-auth-token"
FROM = "+4930123456789"


def worker_settings() -> tuple[Settings, int]:
    """The dispatcher settings and pool size a worker started with config.yaml uses; quiet hours off (the
    benchmark may run at night) and no daily SMS budget (a wave is larger than one office's day)."""
    config = load_config(PROJECT_DIR / "config.yaml")
    settings = dataclasses.replace(settings_from(config), quiet_start=datetime.min.time(),
                                   quiet_end=datetime.min.time(), daily_budget=2**31 - 1)
    return settings, config.database.pool_max


async def _prepare(dsn: str, n: int) -> None:
    from scheduler.seed import seed_demo

    await db.migrate_dsn(dsn)
    pool = await db.create_pool(dsn, min_size=1, max_size=2)
    try:
        await seed_demo(pool)
        async with pool.acquire() as conn:
            await conn.execute("DELETE FROM outbox WHERE idempotency_key LIKE 'bench:%'")
            await conn.execute("VACUUM ANALYZE outbox")  # claimed rows never vacuumed slow claiming down
            site_id = await conn.fetchval("SELECT id FROM sites ORDER BY id LIMIT 1")
            run = time.time_ns()
            await conn.executemany(
                """
                INSERT INTO outbox (site_id, idempotency_key, channel, kind, recipient, language, payload, due_at)
                VALUES ($1, $2, 'sms', 'sms.request_received', $3, 'de', $4, now() - interval '1 minute')
                """,
                [(site_id, f"bench:{run}:{i}", f"+49151{i:08d}",
                  {"reference": f"BN{i % 100:02d}-{i % 10000:04d}", "token": f"bench-token-{i:06d}"})
                 for i in range(n)],
            )
    finally:
        await pool.close()


async def _drain(dsn: str, api_base: str, start_at: float) -> tuple[int, float]:
    settings, pool_max = worker_settings()
    pool = await db.create_pool(dsn, min_size=2, max_size=pool_max)
    sms = TwilioSms(SID, TOKEN, FROM, api_base=api_base, timeout=10)
    senders = Senders(sms=sms, settings=settings)
    sent = 0
    try:
        await asyncio.sleep(max(0.0, start_at - time.time()))
        began = time.perf_counter()
        while (stats := await dispatch_due(pool, senders, now=datetime.now(UTC))).claimed:
            sent += stats.sent
        return sent, time.perf_counter() - began
    finally:
        await sms.close()
        await pool.close()


def _worker(dsn: str, api_base: str, start_at: float, out: Any) -> None:
    out.put(asyncio.run(_drain(dsn, api_base, start_at)))


async def _check(dsn: str) -> dict[str, int]:
    pool = await db.create_pool(dsn, min_size=1, max_size=1)
    try:
        row = await pool.fetchrow(
            "SELECT count(*) FILTER (WHERE status = 'sent') AS sent, count(DISTINCT provider_id) AS distinct_ids, "
            "count(*) FILTER (WHERE attempts > 1) AS retried FROM outbox WHERE idempotency_key LIKE 'bench:%'")
        return dict(row)
    finally:
        await pool.close()


def _run(dsn: str, api_base: str, *, n: int, processes: int) -> dict[str, Any]:
    asyncio.run(_prepare(dsn, n))
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    start_at = time.time() + 3.0  # every process connected and imported before the clock starts
    procs = [ctx.Process(target=_worker, args=(dsn, api_base, start_at, out)) for _ in range(processes)]
    for p in procs:
        p.start()
    results = [out.get(timeout=600) for _ in procs]
    for p in procs:
        p.join()
    elapsed = max(seconds for _, seconds in results)
    check = asyncio.run(_check(dsn))
    return {
        "processes": processes, "messages": n, "seconds": round(elapsed, 3),
        "messages_per_s": round(n / elapsed, 1) if elapsed else None,
        "per_process_sent": [sent for sent, _ in results],
        "sent_rows": check["sent"], "distinct_provider_ids": check["distinct_ids"], "retried_rows": check["retried"],
    }


def measure(dsn: str, *, n: int = 2000, processes: tuple[int, ...] = (1, 2)) -> dict[str, Any]:
    """Dispatch n SMS rows with 1 and 2 dispatcher processes against the standalone fake; msgs/s per run."""
    settings, _ = worker_settings()
    port = free_port()
    fake = subprocess.Popen([sys.executable, "-m", "tests.fakes.twilio_server", "--port", str(port)],
                            cwd=PROJECT_DIR, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(port)
        api_base = f"http://127.0.0.1:{port}"
        runs = {f"{k}_process": _run(dsn, api_base, n=n, processes=k) for k in processes}
    finally:
        fake.terminate()
        fake.wait(timeout=10)
    return {"n": n, "batch": settings.batch, "concurrency_per_process": settings.concurrency, "runs": runs}


if __name__ == "__main__":
    import json
    import os

    dsn = os.environ.get("DATABASE_URL") or db.start_embedded(PROJECT_DIR / ".data" / "bench-postgres")
    sys.stdout.write(json.dumps(measure(dsn), indent=2) + "\n")
