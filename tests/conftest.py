"""Shared fixtures: one migrated PostgreSQL per run, reset between tests, the real create_app."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from scheduler import db
from scheduler.app import create_app
from scheduler.config import Config, load_config
from scheduler.keys import POOL
from tests import dbharness
from tests.factories import SiteFacts, load_site_facts


@pytest.fixture(scope="session")
def test_database() -> Iterator[dbharness.TestDatabase]:
    admin_url, data_dir = dbharness.start_server()
    name, url = asyncio.run(dbharness.create_database(admin_url))
    asyncio.run(dbharness.prepare(url))
    yield dbharness.TestDatabase(url=url, admin_url=admin_url, name=name, data_dir=data_dir)
    asyncio.run(dbharness.drop_database(admin_url, name))


@pytest.fixture(scope="session")
def base_config(test_database: dbharness.TestDatabase, tmp_path_factory: pytest.TempPathFactory) -> Config:
    config = load_config(None, env={})
    sms_log = tmp_path_factory.mktemp("sms") / "sms.jsonl"
    return dataclasses.replace(
        config,
        database=dataclasses.replace(config.database, url=test_database.url, pool_max=20),
        jobs=dataclasses.replace(config.jobs, enabled=False),  # tests run jobs explicitly
        sms=dataclasses.replace(config.sms, console_path=str(sms_log)),
    )


@pytest.fixture
def config(base_config: Config) -> Config:
    return base_config


@pytest.fixture
async def pool(config: Config) -> AsyncIterator[asyncpg.Pool]:
    assert config.database.url
    pool = await db.create_pool(config.database.url, max_size=10)
    async with pool.acquire() as conn:
        await dbharness.reset(conn)
    yield pool
    await pool.close()


@pytest.fixture
async def conn(pool: asyncpg.Pool) -> AsyncIterator[asyncpg.Connection]:
    async with pool.acquire() as connection:
        yield connection


@pytest.fixture
async def site(conn: asyncpg.Connection) -> SiteFacts:
    return await load_site_facts(conn)


@pytest.fixture
def app(config: Config, pool: asyncpg.Pool) -> web.Application:
    return create_app(config)


@pytest.fixture
async def client(aiohttp_client, app: web.Application) -> TestClient:  # type: ignore[no-untyped-def]
    return await aiohttp_client(app)


@pytest.fixture
async def app_pool(client: TestClient) -> asyncpg.Pool:
    """The pool of the application under test (for assertions through the same database)."""
    return client.app[POOL]


@pytest.fixture(scope="session")
def project_dir() -> Path:
    return dbharness.PROJECT_DIR
