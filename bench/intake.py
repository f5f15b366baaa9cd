"""Intake of appointment requests through the JSON API, with one and with two service processes.

Each request runs the whole intake path: validation, client upsert, request row, policy decision,
availability and slot proposals, audit rows and the outbox row, in one transaction. The service runs as
`python -m scheduler serve --role web` processes (jobs off), so web processes scale apart from workers.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.loadgen import LoadResult, load
from scheduler import db
from scheduler.seed import seed_demo

PROJECT_DIR = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for(port: int) -> None:
    for _ in range(300):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("service did not start")


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


def measure(dsn: str, *, processes: int, seconds: float = 10.0, connections: int = 64) -> LoadResult:
    """Requests/s and latency of POST /api/requests against `processes` web processes."""
    asyncio.run(_prepare(dsn))
    env = {**os.environ, "DATABASE_URL": dsn, "SCHEDULER__JOBS__ENABLED": "false",
           "SCHEDULER__LOGGING__LEVEL": "WARNING", "SCHEDULER__DATABASE__POOL_MAX": "10",
           # The bench is one address hammering the API; lift the per-address and global limits for it.
           "SCHEDULER__SECURITY__PUBLIC_RATE_LIMIT": "1000000/second",
           "SCHEDULER__SECURITY__GLOBAL_RATE_LIMIT": "1000000/second"}
    ports = [_free_port() for _ in range(processes)]
    procs = [subprocess.Popen([sys.executable, "-m", "scheduler", "serve", "--role", "web", "--port", str(p)],
                              cwd=PROJECT_DIR, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for p in ports]
    try:
        for p in ports:
            _wait_for(p)
        return load(f"intake: POST /api/requests, {processes} process(es)",
                    [f"http://127.0.0.1:{p}/api/requests" for p in ports], method="POST", body=body,
                    connections=connections, seconds=seconds)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=20)
