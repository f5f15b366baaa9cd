"""Open-loop intake: POST /api/requests fired at fixed rates, latency measured from each request's scheduled time.

The closed-loop generator (`bench/loadgen.py`) keeps 64 connections busy: when the service slows down, it
sends less, so a stall delays only the requests that were in flight and the ones that would have been sent
meanwhile are never measured (coordinated omission). Here request i is due at t0 + i / rate whatever
happened before: it is sent at that moment on a free or a new keep-alive connection, and its latency is
completion time minus scheduled time (failed requests count too, a client timeout at 30 s; errors are
also counted by kind). If the generator falls behind, the time a request waited to be sent
counts in its latency; the lag between schedule and send is reported separately so a slow generator shows.

Each rate gets a fresh demo database and a fresh `serve --role web` process, started as the closed-loop
intake bench starts it, and a short warm-up at a low rate that is not counted. The generator runs in its
own process and reports its own CPU, the web process's CPU, PostgreSQL's CPU (embedded server only),
the machine's busy share and its load average over the measured window. Before the intake runs, the
same generator drives the highest rate against the ceiling bench's bare aiohttp handler for a few seconds
(`generator_check`): a check that the generator and the machine, as loaded at that moment, can keep the rate.
"""

from __future__ import annotations

import asyncio
import json
import math
import multiprocessing
import os
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import aiohttp
import psutil

from bench import ceiling, intake
from bench.loadgen import BodyFactory
from bench.ports import free_port, wait_for

DEFAULT_RATES = (20.0, 100.0, 250.0, 400.0)
WARMUP_RATE = 20.0


def _pct(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile (the value at or above a share q of the samples)."""
    if not sorted_values:
        return 0.0
    rank = math.ceil(round(q * len(sorted_values), 6))
    return sorted_values[min(len(sorted_values), max(1, rank)) - 1]


def _cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            t = psutil.Process(pid).cpu_times()
        except psutil.Error:
            continue
        total += t.user + t.system
    return total


def _pg_pids(postmaster: int | None) -> list[int]:
    if postmaster is None:
        return []
    try:
        proc = psutil.Process(postmaster)
        return [postmaster, *(child.pid for child in proc.children(recursive=True))]
    except psutil.Error:
        return []


class _Sampler:
    """CPU of the watched processes, of this process, and of the whole machine between start() and stop()."""

    def __init__(self, server_pids: list[int], postmaster: int | None) -> None:
        self.server_pids = server_pids
        self.postmaster = postmaster

    def start(self) -> None:
        self.wall = time.perf_counter()
        self.own = time.process_time()
        self.server = _cpu_seconds(self.server_pids)
        self.pg_before = {pid: _cpu_seconds([pid]) for pid in _pg_pids(self.postmaster)}
        self.machine = psutil.cpu_times()
        self.load_before = os.getloadavg()

    def stop(self) -> dict[str, Any]:
        wall = time.perf_counter() - self.wall
        machine = psutil.cpu_times()
        busy = sum(machine) - machine.idle - getattr(machine, "iowait", 0.0)
        busy_before = sum(self.machine) - self.machine.idle - getattr(self.machine, "iowait", 0.0)
        cores = psutil.cpu_count() or 1
        pg = None
        if self.postmaster is not None:
            pg = sum(_cpu_seconds([pid]) - self.pg_before.get(pid, 0.0) for pid in _pg_pids(self.postmaster))
        return {
            "window_s": round(wall, 2),
            "generator_cpu_share": round((time.process_time() - self.own) / wall, 3),
            "service_cpu_share": round((_cpu_seconds(self.server_pids) - self.server) / wall, 3),
            "postgres_cpu_share": None if pg is None else round(pg / wall, 3),
            "machine_busy_share": round((busy - busy_before) / (wall * cores), 3),
            "machine_cores": cores,
            "loadavg_1m_before": round(self.load_before[0], 2),
            "loadavg_1m_after": round(os.getloadavg()[0], 2),
        }


async def _phase(session: aiohttp.ClientSession, urls: list[str], method: str, body: BodyFactory | None,
                 rate: float, seconds: float, first: int, ok_status: tuple[int, ...]) -> dict[str, Any]:
    """Fire round(rate * seconds) requests, request i at t0 + i / rate, and wait for all of them."""
    count = max(1, round(rate * seconds))
    lags: list[float] = []
    latencies: list[float] = []
    completions: list[float] = []
    errors: dict[str, int] = {}

    def error(kind: str) -> None:
        errors[kind] = errors.get(kind, 0) + 1

    async def fire(i: int, scheduled: float) -> None:
        payload = body(first + i) if body else None
        lags.append(time.perf_counter() - scheduled)
        try:
            async with session.request(method, urls[i % len(urls)], json=payload) as resp:
                await resp.read()
                if resp.status not in ok_status:
                    error(f"HTTP {resp.status}")
        except TimeoutError:
            error("client timeout")
        except aiohttp.ClientError as exc:
            error(type(exc).__name__)
        done = time.perf_counter()
        completions.append(done)
        latencies.append(done - scheduled)

    tasks: list[asyncio.Task[None]] = []
    t0 = time.perf_counter() + 0.02
    for i in range(count):
        scheduled = t0 + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        # Behind schedule: fire at once, still timed from `scheduled` (no coordinated omission).
        tasks.append(asyncio.create_task(fire(i, scheduled)))
    await asyncio.gather(*tasks)
    latencies.sort()
    lags.sort()
    span = (max(completions) - t0) if completions else seconds
    failed = sum(errors.values())
    return {
        "rate": rate, "seconds": seconds, "sent": count, "completed": len(latencies) - failed, "errors": failed,
        "errors_by_kind": errors,
        # Successful responses per second from the first scheduled send to the last completion.
        "achieved_rps": round((len(latencies) - failed) / span, 1) if span > 0 else 0.0,
        "p50_ms": round(_pct(latencies, 0.50) * 1000, 2), "p90_ms": round(_pct(latencies, 0.90) * 1000, 2),
        "p99_ms": round(_pct(latencies, 0.99) * 1000, 2), "max_ms": round(latencies[-1] * 1000, 2),
        "send_lag_p99_ms": round(_pct(lags, 0.99) * 1000, 2), "send_lag_max_ms": round(lags[-1] * 1000, 2),
    }


async def _run(urls: list[str], method: str, body: BodyFactory | None, rate: float, seconds: float,
               warmup_s: float, server_pids: list[int], postmaster: int | None, max_connections: int,
               timeout_s: float, ok_status: tuple[int, ...]) -> dict[str, Any]:
    connector = aiohttp.TCPConnector(limit=max_connections)
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        warm = None
        if warmup_s > 0:
            warm = await _phase(session, urls, method, body, min(rate, WARMUP_RATE), warmup_s, 10_000_000, ok_status)
        sampler = _Sampler(server_pids, postmaster)
        sampler.start()
        found = await _phase(session, urls, method, body, rate, seconds, 0, ok_status)
        found["load"] = sampler.stop()
        if warm is not None:
            found["warmup"] = {"rate": warm["rate"], "seconds": warmup_s, "sent": warm["sent"],
                               "errors": warm["errors"], "p99_ms": warm["p99_ms"]}
        found["max_connections"] = max_connections
        return found


def _child(queue: Any, *args: Any) -> None:
    queue.put(json.dumps(asyncio.run(_run(*args))))


def open_load(urls: list[str], *, rate: float, seconds: float, method: str = "GET", body: BodyFactory | None = None,
              warmup_s: float = 2.0, server_pids: list[int] | None = None, postmaster: int | None = None,
              max_connections: int = 1000, timeout_s: float = 30.0,
              ok_status: tuple[int, ...] = (200, 201)) -> dict[str, Any]:
    """Drive urls open-loop at `rate` requests/s from a separate process and return what it measured."""
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(queue, urls, method, body, rate, seconds, warmup_s, server_pids or [],
                                            postmaster, max_connections, timeout_s, ok_status))
    proc.start()
    found: dict[str, Any] = json.loads(queue.get(timeout=warmup_s + seconds + 2 * timeout_s + 120))
    proc.join()
    return found


def _embedded_postmaster(dsn: str) -> int | None:
    """The postmaster's pid if dsn points at the bench's embedded PostgreSQL (for its CPU), else None."""
    pidfile = Path(__file__).resolve().parent.parent / ".data" / "bench-postgres" / "postmaster.pid"
    try:
        lines = pidfile.read_text().splitlines()
        pid, port, socket_dir = int(lines[0]), int(lines[3]), lines[4].strip()
    except (OSError, ValueError, IndexError):
        return None
    url = urlparse(dsn)
    hosts = parse_qs(url.query).get("host", [])
    return pid if url.port == port or (socket_dir and socket_dir in hosts) else None


def generator_check(admin_dsn: str, *, rate: float, seconds: float) -> dict[str, Any]:
    """The same generator at `rate` against the bare aiohttp handler of the ceiling bench.

    If this keeps up with small latency and send lag, the generator (and the machine at that moment) can
    drive the rate, and what the intake runs show beyond it is the service's.
    """
    port = free_port()
    proc = multiprocessing.get_context("spawn").Process(target=ceiling._serve, args=(admin_dsn, port), daemon=True)
    proc.start()
    try:
        wait_for(port)
        assert proc.pid is not None
        return open_load([f"http://127.0.0.1:{port}/bare"], rate=rate, seconds=seconds, warmup_s=1.0,
                         server_pids=[proc.pid])
    finally:
        proc.terminate()
        proc.join()


def measure(admin_dsn: str, *, rates: tuple[float, ...] = DEFAULT_RATES, seconds: float = 15.0,
            warmup_s: float = 2.0, processes: int = 1, check_s: float = 5.0) -> dict[str, Any]:
    """Open-loop intake at each rate for `seconds`, each on a fresh database and a fresh web process.

    Returns {"generator_check": the highest rate against a bare handler for check_s seconds (if > 0),
    "rates": one result per rate}.
    """
    postmaster = _embedded_postmaster(admin_dsn)
    check = generator_check(admin_dsn, rate=max(rates), seconds=check_s) if check_s > 0 else None
    results = []
    for rate in rates:
        name, dsn = intake.fresh_database(admin_dsn)
        try:
            with intake.web_processes(dsn, processes) as (urls, pids):
                found = open_load(urls, rate=rate, seconds=seconds, method="POST", body=intake.body,
                                  warmup_s=warmup_s, server_pids=pids, postmaster=postmaster)
        finally:
            intake.drop_database(admin_dsn, name)
        found["processes"] = processes
        results.append(found)
    return {"generator_check": check, "rates": results}
