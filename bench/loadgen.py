"""A small HTTP load generator in its own process: N keep-alive connections for a fixed time.

It reports requests per second and latency percentiles. The same generator measures the ceiling and
the service, so their ratio is fair even though the generator shares the machine's cores.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import aiohttp


@dataclass(frozen=True)
class LoadResult:
    name: str
    connections: int
    seconds: float
    requests: int
    errors: int
    rps: float
    p50_ms: float
    p99_ms: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


BodyFactory = Callable[[int], dict[str, Any] | None]


def _percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


async def _run(url: str | list[str], method: str, body: BodyFactory | None, connections: int, seconds: float,
               headers: dict[str, str] | None, ok_status: tuple[int, ...]) -> tuple[list[float], int]:
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    counter = 0
    connector = aiohttp.TCPConnector(limit=connections)
    urls = [url] if isinstance(url, str) else url
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:
        async def worker(target: str) -> None:
            nonlocal errors, counter
            while time.perf_counter() < deadline:
                counter += 1
                payload = body(counter) if body else None
                started = time.perf_counter()
                try:
                    async with session.request(method, target, json=payload) as resp:
                        await resp.read()
                        if resp.status not in ok_status:
                            errors += 1
                except aiohttp.ClientError:
                    errors += 1
                latencies.append(time.perf_counter() - started)

        # Connections are spread over the URLs, as a load balancer would spread them over processes.
        await asyncio.gather(*(worker(urls[i % len(urls)]) for i in range(connections)))
    return latencies, errors


def _child(queue: Any, name: str, url: str | list[str], method: str, body: BodyFactory | None, connections: int,
           seconds: float, headers: dict[str, str] | None, ok_status: tuple[int, ...]) -> None:
    latencies, errors = asyncio.run(_run(url, method, body, connections, seconds, headers, ok_status))
    latencies.sort()
    queue.put(json.dumps(LoadResult(
        name=name, connections=connections, seconds=seconds, requests=len(latencies), errors=errors,
        rps=round(len(latencies) / seconds, 1), p50_ms=round(_percentile(latencies, 0.50) * 1000, 2),
        p99_ms=round(_percentile(latencies, 0.99) * 1000, 2),
    ).as_dict()))


def load(name: str, url: str | list[str], *, method: str = "GET", body: BodyFactory | None = None, connections: int = 64,
         seconds: float = 10.0, headers: dict[str, str] | None = None,
         ok_status: tuple[int, ...] = (200, 201)) -> LoadResult:
    """Drive url from a separate process and return what it measured."""
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(queue, name, url, method, body, connections, seconds, headers, ok_status))
    proc.start()
    result = LoadResult(**json.loads(queue.get(timeout=seconds + 120)))
    proc.join()
    return result
