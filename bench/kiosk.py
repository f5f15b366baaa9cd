"""A kiosk burst: 100 lobby kiosk flows at the same moment (load the kiosk's texts and concerns in the
client's language, then submit an appointment or callback request and get the receipt with its QR code)."""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import time
from typing import Any

import aiohttp

from bench.intake import PROJECT_DIR, drop_database, fresh_database
from bench.ports import free_port, wait_for

LANGUAGES = ("de", "uk", "ar", "tr", "ru", "fa", "en", "de-simple")


async def _flow(session: aiohttp.ClientSession, base: str, n: int) -> tuple[float, bool]:
    started = time.perf_counter()
    lang = LANGUAGES[n % len(LANGUAGES)]
    headers = {"X-Kiosk-Token": "demo-kiosk-foyer-1" if n % 2 else "demo-kiosk-foyer-2"}
    async with session.get(f"{base}/kiosk/api/config?lang={lang}", headers=headers) as r:
        ok = r.status == 200
        await r.read()
    kind = "callbacks" if n % 3 == 0 else "requests"
    body = {"concern": "general", "phone": f"+49157{(os.getpid() * 1000 + n) % 10**8:08d}", "language": lang,
            "windows": {"parts": ["morning"]}, "sms_consent": True}
    async with session.post(f"{base}/kiosk/api/{kind}", json=body, headers=headers) as r:
        ok = ok and r.status == 201
        await r.read()
    return time.perf_counter() - started, ok


async def _burst(base: str, flows: int) -> dict[str, Any]:
    connector = aiohttp.TCPConnector(limit=flows)
    async with aiohttp.ClientSession(connector=connector) as session:
        started = time.perf_counter()
        results = await asyncio.gather(*(_flow(session, base, n) for n in range(flows)))
        total = time.perf_counter() - started
    times = sorted(t * 1000 for t, _ in results)
    return {"flows": flows, "seconds": round(total, 2), "errors": sum(1 for _, ok in results if not ok),
            "flow_median_ms": round(statistics.median(times), 1), "flow_p99_ms": round(times[int(0.99 * (flows - 1))], 1),
            "flow_max_ms": round(times[-1], 1)}


def measure(admin_dsn: str, *, flows: int = 100) -> dict[str, Any]:
    """Run one burst of concurrent kiosk flows against one web process, on a fresh database."""
    name, dsn = fresh_database(admin_dsn)
    try:
        return _measure(dsn, flows)
    finally:
        drop_database(admin_dsn, name)


def _measure(dsn: str, flows: int) -> dict[str, Any]:
    env = {**os.environ, "DATABASE_URL": dsn, "SCHEDULER__JOBS__ENABLED": "false",
           "SCHEDULER__LOGGING__LEVEL": "WARNING", "SCHEDULER__SECURITY__KIOSK_RATE_LIMIT": "100000/minute",
           "SCHEDULER__SECURITY__GLOBAL_RATE_LIMIT": "1000000/second"}
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "scheduler", "serve", "--demo", "--role", "web", "--port", str(port)],
                            cwd=PROJECT_DIR, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(port)
        return asyncio.run(_burst(f"http://127.0.0.1:{port}", flows))
    finally:
        proc.terminate()
        proc.wait(timeout=20)
