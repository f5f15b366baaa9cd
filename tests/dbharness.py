"""One PostgreSQL per test run: embedded (or DATABASE_URL), a fresh database, the real migrations.

The demo data is loaded once and copied into a ``snapshot`` schema; ``reset`` puts every table back to
that state between tests (truncate, copy back, move the identity sequences past the copied ids).
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from scheduler import db

PROJECT_DIR = Path(__file__).resolve().parent.parent

RESET_FUNCTION = """
CREATE OR REPLACE FUNCTION snapshot.reset_all() RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    t record;
    tables text;
BEGIN
    SELECT string_agg(format('public.%I', tablename), ', ') INTO tables
    FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'schema_migrations';
    EXECUTE 'TRUNCATE ' || tables || ' RESTART IDENTITY CASCADE';
    -- Copy back in foreign-key order (the list was recorded when the snapshot was taken).
    FOR t IN SELECT name FROM snapshot.copy_order ORDER BY position LOOP
        EXECUTE format('INSERT INTO public.%I OVERRIDING SYSTEM VALUE SELECT * FROM snapshot.%I', t.name, t.name);
        IF EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = 'public'
                   AND table_name = t.name AND column_name = 'id' AND is_identity = 'YES') THEN
            EXECUTE format('SELECT setval(pg_get_serial_sequence(%L, ''id''), coalesce((SELECT max(id) FROM public.%I), 0) + 1, false)',
                           'public.' || t.name, t.name);
        END IF;
    END LOOP;
END $$;
"""

SNAPSHOT_TABLES = ("sites", "teams", "staff", "working_hours", "absences", "concerns", "clients",
                   "kiosk_devices", "policies", "customer_groups", "client_customer_groups")


@dataclass
class TestDatabase:
    """The server and the database a test run uses."""

    url: str
    admin_url: str
    name: str
    data_dir: Path | None


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


def start_server() -> tuple[str, Path | None]:
    """The DSN of the server to test against: DATABASE_URL, or a new embedded one in .data/."""
    if os.environ.get("DATABASE_URL"):
        return os.environ["DATABASE_URL"], None
    base = PROJECT_DIR / ".data"
    base.mkdir(exist_ok=True)
    data_dir = Path(tempfile.mkdtemp(prefix="test-pg-", dir=base))
    data_dir.rmdir()  # get_server wants to create it
    return db.start_embedded(data_dir, cleanup_mode="delete"), data_dir


async def create_database(admin_url: str, prefix: str = "scheduler_test") -> tuple[str, str]:
    """Create an empty, uniquely named database; return (name, url)."""
    name = f"{prefix}_{secrets.token_hex(4)}"
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return name, _with_database(admin_url, name)


async def drop_database(admin_url: str, name: str) -> None:
    """Drop a test database (forcing out leftover connections)."""
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def prepare(url: str) -> None:
    """Migrate, load the demo site and take the snapshot that reset() restores."""
    from scheduler.seed import seed_demo

    await db.migrate_dsn(url)
    pool = await db.create_pool(url, max_size=2)
    try:
        await seed_demo(pool)
        async with pool.acquire() as conn:
            await conn.execute("CREATE SCHEMA snapshot")
            await conn.execute("CREATE TABLE snapshot.copy_order (position int, name text)")
            for position, table in enumerate(SNAPSHOT_TABLES):
                await conn.execute(f"CREATE TABLE snapshot.{table} AS SELECT * FROM public.{table}")
                await conn.execute("INSERT INTO snapshot.copy_order VALUES ($1, $2)", position, table)
            await conn.execute(RESET_FUNCTION)
    finally:
        await pool.close()


async def reset(conn: asyncpg.Connection) -> None:
    """Put the database back to the freshly seeded state."""
    await conn.execute("SELECT snapshot.reset_all()")


def remove_data_dir(data_dir: Path | None) -> None:
    if data_dir is not None:
        shutil.rmtree(data_dir, ignore_errors=True)
