"""Call displays under load: 200 display connections (server-sent events) open on one web process while 10 calls
per second are made; how long each call takes to reach every display, and the web process's memory.

The calls are made from this (the benchmark's) process through scheduler.lobby_calls.call on its own database
pool, as another web process would make them: they reach the display process only through PostgreSQL's
NOTIFY, the path a real multi-process installation takes. Latency runs from just before the call's transaction
starts to the moment a display connection has read the board event that lists it.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp

from bench.intake import PROJECT_DIR, drop_database, fresh_database
from bench.ports import free_port, wait_for
from scheduler import appointments, db, displays, lobby_calls
from scheduler.permissions import Role, StaffUser
from tests.factories import create_appointment, load_site_facts


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def _prepare(dsn: str, appointments_n: int) -> tuple[str, list[int], StaffUser]:
    pool = await db.create_pool(dsn, max_size=2)
    try:
        async with pool.acquire() as conn:
            site = await load_site_facts(conn)
            token = displays.new_token()
            await displays.register(conn, site_id=site.site_id, name="bench", location="", token=token,
                                    issued_by=site.staff["admin"])
            ids = []
            start = datetime.now(UTC) - timedelta(minutes=1)
            staff = [u for u in site.staff if u.startswith("cw.")]
            for n in range(appointments_n):
                # Back to back for each caseworker, all starting today (a few minutes ago at the latest).
                when = start - timedelta(minutes=10 * (n // len(staff)))
                appointment_id = await create_appointment(conn, site, staff=staff[n % len(staff)], start=when,
                                                          minutes=10)
                await conn.execute("UPDATE appointments SET room = $2 WHERE id = $1", appointment_id, f"R.{n:02d}")
                async with conn.transaction():
                    await appointments.check_in(conn, appointment_id, at=datetime.now(UTC), actor="bench")
                ids.append(appointment_id)
            admin = StaffUser(id=site.staff["admin"], site_id=site.site_id, username="admin", display_name="admin",
                              role=Role.admin, team_id=None, languages=("de",))
        return token, ids, admin
    finally:
        await pool.close()


async def _display(session: aiohttp.ClientSession, url: str, seen: dict[int, list[float]],
                   ready: asyncio.Event, counter: list[int], stop: asyncio.Event) -> int:
    """One display connection: read board events until stopped; note when each call id is first seen."""
    known: set[int] = set()
    events = 0
    async with session.get(url) as response:
        if response.status != 200:
            return -1
        event, data = None, None
        while not stop.is_set():
            raw = await response.content.readline()
            if not raw:
                break
            line = raw.decode().rstrip("\r\n")
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                data = line[6:]
            elif line == "" and event == "board" and data is not None:
                now = time.perf_counter()
                events += 1
                if events == 1:
                    counter[0] += 1
                    if counter[0] >= counter[1]:
                        ready.set()
                for call in json.loads(data)["calls"]:
                    if call["id"] not in known:
                        known.add(call["id"])
                        seen.setdefault(call["id"], []).append(now)
                event, data = None, None
    return events


async def _run(base: str, dsn: str, token: str, ids: list[int], admin: StaffUser, *, displays_n: int, rate: float,
               seconds: float, pid: int) -> dict[str, Any]:
    seen: dict[int, list[float]] = {}
    started_at: dict[int, float] = {}
    ready, stop = asyncio.Event(), asyncio.Event()
    counter = [0, displays_n]
    rss_idle = _rss_mb(pid)
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=None, sock_read=None)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        readers = [asyncio.create_task(_display(session, f"{base}/display/{token}/events", seen, ready, counter, stop))
                   for _ in range(displays_n)]
        await asyncio.wait_for(ready.wait(), 60)
        rss_open = _rss_mb(pid)
        rss_peak = rss_open
        pool = await db.create_pool(dsn, max_size=4)
        errors = 0
        calls = int(seconds * rate)
        t0 = time.perf_counter()
        for n in range(calls):
            due = t0 + n / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            before = time.perf_counter()
            try:
                made = await lobby_calls.call(pool, user=admin, appointment_id=ids[n % len(ids)], room=None,
                                              now=datetime.now(UTC))
                started_at[made.id] = before
            except Exception:  # noqa: BLE001 (counted; the run goes on)
                errors += 1
            if n % 5 == 0:
                rss_peak = max(rss_peak, _rss_mb(pid))
        achieved = calls / (time.perf_counter() - t0)
        await asyncio.sleep(3)  # let the last calls arrive
        rss_peak = max(rss_peak, _rss_mb(pid))
        stop.set()
        await pool.close()
        for task in readers:
            task.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
    latencies, missing = [], 0
    for call_id, before in started_at.items():
        arrivals = seen.get(call_id, [])
        missing += displays_n - len(arrivals)
        latencies += [(t - before) * 1000 for t in arrivals]
    latencies.sort()

    def pct(p: float) -> float:
        return round(latencies[min(len(latencies) - 1, int(p * len(latencies)))], 1) if latencies else -1.0

    return {"displays": displays_n, "calls": len(started_at), "call_errors": errors, "rate_per_s": rate,
            "achieved_per_s": round(achieved, 2), "deliveries": len(latencies),
            "deliveries_missing": missing, "p50_ms": pct(0.50), "p99_ms": pct(0.99),
            "max_ms": round(latencies[-1], 1) if latencies else -1.0,
            "mean_ms": round(statistics.fmean(latencies), 1) if latencies else -1.0,
            "rss_mb_idle": round(rss_idle, 1), "rss_mb_with_displays_open": round(rss_open, 1),
            "rss_mb_peak": round(rss_peak, 1)}


def measure(admin_dsn: str, *, displays_n: int = 200, rate: float = 10.0, seconds: float = 20.0) -> dict[str, Any]:
    """Run the display fan-out against one web process on a fresh database."""
    name, dsn = fresh_database(admin_dsn)
    try:
        token, ids, admin = asyncio.run(_prepare(dsn, 40))
        env = {**os.environ, "DATABASE_URL": dsn, "SCHEDULER__JOBS__ENABLED": "false",
               "SCHEDULER__LOGGING__LEVEL": "WARNING"}
        port = free_port()
        proc = subprocess.Popen([sys.executable, "-m", "scheduler", "serve", "--demo", "--role", "web", "--port",
                                 str(port)], cwd=PROJECT_DIR, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        try:
            wait_for(port)
            return asyncio.run(_run(f"http://127.0.0.1:{port}", dsn, token, ids, admin, displays_n=displays_n,
                                    rate=rate, seconds=seconds, pid=proc.pid))
        finally:
            proc.terminate()
            proc.wait(timeout=20)
    finally:
        drop_database(admin_dsn, name)
