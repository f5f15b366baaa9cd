"""Intake of appointment requests through the JSON API, with one and with two service processes.

Each request runs the whole intake path: validation, client upsert, request row, policy decision,
availability and slot proposals, audit rows and the outbox row, in one transaction. The service runs as
`python -m scheduler serve --role web` processes (jobs off), so web processes scale apart from workers.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.loadgen import LoadResult, load
from bench.ports import free_port, wait_for
from scheduler import db
from scheduler.seed import seed_demo

PROJECT_DIR = Path(__file__).resolve().parent.parent


async def _prepare(dsn: str) -> None:
    await db.migrate_dsn(dsn)
    pool = await db.create_pool(dsn, max_size=2)
    try:
        await seed_demo(pool)
    finally:
        await pool.close()


def body(n: int) -> dict[str, Any]:
    """A valid appointment request with a unique mobile number."""
    return {"concern": ("general", "no_money", "job_offer", "eservice_help")[n % 4],
            "phone": f"+49152{(os.getpid() * 1_000_000 + n) % 10**8:08d}", "language": "de",
            "modes": ["in_person"], "sms_consent": True}


def fresh_database(admin_dsn: str) -> tuple[str, str]:
    """A new, migrated database with the demo site, so runs do not inherit each other's queues."""
    from tests import dbharness

    name, url = asyncio.run(dbharness.create_database(admin_dsn, prefix="bench_intake"))
    asyncio.run(_prepare(url))
    return name, url


def drop_database(admin_dsn: str, name: str) -> None:
    """Remove a database made by fresh_database."""
    from tests import dbharness

    asyncio.run(dbharness.drop_database(admin_dsn, name))


def measure(admin_dsn: str, *, processes: int, seconds: float = 10.0, connections: int = 64) -> LoadResult:
    """Requests/s and latency of POST /api/requests against `processes` web processes, on a fresh database."""
    name, dsn = fresh_database(admin_dsn)
    try:
        return _measure(dsn, processes=processes, seconds=seconds, connections=connections)
    finally:
        drop_database(admin_dsn, name)


@contextmanager
def web_processes(dsn: str, processes: int = 1) -> Iterator[tuple[list[str], list[int]]]:
    """Start `processes` `serve --role web` processes on dsn (jobs off, rate limits lifted but counted).

    Yields the intake URLs and the processes' pids; stops the processes on exit.
    """
    env = {**os.environ, "DATABASE_URL": dsn, "SCHEDULER__JOBS__ENABLED": "false",
           "SCHEDULER__LOGGING__LEVEL": "WARNING", "SCHEDULER__DATABASE__POOL_MAX": "10",
           # The bench is one address hammering the API; lift the per-address and global limits for it.
           "SCHEDULER__SECURITY__PUBLIC_RATE_LIMIT": "1000000/second",
           "SCHEDULER__SECURITY__GLOBAL_RATE_LIMIT": "1000000/second"}
    ports = [free_port() for _ in range(processes)]
    procs = [subprocess.Popen([sys.executable, "-m", "scheduler", "serve", "--demo", "--role", "web", "--port", str(p)],
                              cwd=PROJECT_DIR, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for p in ports]
    try:
        for p in ports:
            wait_for(p)
        yield [f"http://127.0.0.1:{p}/api/requests" for p in ports], [proc.pid for proc in procs]
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                # Still draining a backlog (an overloaded open-loop run): do not wait for it.
                proc.kill()
                proc.wait(timeout=20)


def _measure(dsn: str, *, processes: int, seconds: float, connections: int) -> LoadResult:
    with web_processes(dsn, processes) as (urls, _pids):
        return load(f"intake: POST /api/requests, {processes} process(es)", urls, method="POST", body=body,
                    connections=connections, seconds=seconds)
