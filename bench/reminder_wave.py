"""A wave of 5,000 due SMS while the provider answers every tenth request with 429 (Retry-After: 1).

Two dispatcher processes (the worker's settings from config.yaml, quiet hours off) drain the wave through
the real twilio SDK against the standalone fake; the run ends when every row is final. Reported: wall
time, messages/s, how many rows needed a retry, and the check that matters: every row sent exactly once
(as many distinct provider ids as sent rows as queued rows).
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import subprocess
import sys
import time
from datetime import UTC, datetime
from typing import Any

from bench.outbox_dispatch import FROM, PROJECT_DIR, SID, TOKEN, _check, _prepare, worker_settings
from bench.ports import free_port, wait_for
from scheduler import db
from scheduler.notify.dispatch import Senders, dispatch_due
from scheduler.notify.sms import TwilioSms


async def _pending(pool: Any) -> int:
    count: int = await pool.fetchval(
        "SELECT count(*) FROM outbox WHERE idempotency_key LIKE 'bench:%' AND status IN ('pending', 'sending')")
    return count


async def _drain_until_final(dsn: str, api_base: str, start_at: float) -> float:
    settings, pool_max = worker_settings()
    pool = await db.create_pool(dsn, min_size=2, max_size=pool_max)
    sms = TwilioSms(SID, TOKEN, FROM, api_base=api_base, timeout=10)
    senders = Senders(sms=sms, settings=settings)
    try:
        await asyncio.sleep(max(0.0, start_at - time.time()))
        began = time.perf_counter()
        while True:
            stats = await dispatch_due(pool, senders, now=datetime.now(UTC))
            if not stats.claimed:
                if not await _pending(pool):
                    break
                await asyncio.sleep(0.1)  # only retries remain, due in a moment
        return time.perf_counter() - began
    finally:
        await sms.close()
        await pool.close()


def _worker(dsn: str, api_base: str, start_at: float, out: Any) -> None:
    # Every 429 is logged as a retry warning; in a wave of 500 retries that is noise in the bench's output.
    logging.getLogger("scheduler.notify.dispatch").setLevel(logging.ERROR)
    out.put(asyncio.run(_drain_until_final(dsn, api_base, start_at)))


def measure(dsn: str, *, n: int = 5000, processes: int = 2, every: int = 10) -> dict[str, Any]:
    """Drain n due messages with every n-th provider answer a 429; all must arrive once."""
    port = free_port()
    fake = subprocess.Popen([sys.executable, "-m", "tests.fakes.twilio_server", "--port", str(port),
                             "--rate-limit-every", str(every)], cwd=PROJECT_DIR,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(port)
        asyncio.run(_prepare(dsn, n))
        ctx = multiprocessing.get_context("spawn")
        out = ctx.Queue()
        start_at = time.time() + 3.0
        procs = [ctx.Process(target=_worker, args=(dsn, f"http://127.0.0.1:{port}", start_at, out))
                 for _ in range(processes)]
        for p in procs:
            p.start()
        elapsed = max(out.get(timeout=900) for _ in procs)
        for p in procs:
            p.join()
        check = asyncio.run(_check(dsn))
    finally:
        fake.terminate()
        fake.wait(timeout=10)
    return {"messages": n, "processes": processes, "rate_limited_share": 1 / every, "seconds": round(elapsed, 2),
            "messages_per_s": round(n / elapsed, 1), "sent_rows": check["sent"],
            "distinct_provider_ids": check["distinct_ids"], "rows_retried": check["retried"],
            "all_delivered_once": check["sent"] == n == check["distinct_ids"]}
