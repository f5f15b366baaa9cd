"""Migrations apply in order, are idempotent, and are safe to run from several processes at once."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import asyncpg

from scheduler import db
from tests import dbharness


async def test_fresh_database_migrates_and_rerun_is_noop(test_database: dbharness.TestDatabase) -> None:
    name, url = await dbharness.create_database(test_database.admin_url, prefix="scheduler_fresh")
    try:
        first = await db.migrate_dsn(url)
        assert first == [p.name for p in db.migration_files()]
        assert await db.migrate_dsn(url) == []
        conn = await asyncpg.connect(url)
        try:
            assert await db.pending_migrations(conn) == []
        finally:
            await conn.close()
    finally:
        await dbharness.drop_database(test_database.admin_url, name)


async def test_concurrent_migrators_apply_each_file_once(test_database: dbharness.TestDatabase) -> None:
    name, url = await dbharness.create_database(test_database.admin_url, prefix="scheduler_race")
    try:
        results = await asyncio.gather(*(db.migrate_dsn(url) for _ in range(3)))
        applied = [m for result in results for m in result]
        assert sorted(applied) == [p.name for p in db.migration_files()]
    finally:
        await dbharness.drop_database(test_database.admin_url, name)


async def test_every_table_carries_site_id(conn: asyncpg.Connection) -> None:
    # rate_limits: installation-wide counters (per address, device, hashed phone), no data of a site.
    # early_receipts: a provider's delivery report waiting for its message; only the provider's id is known.
    rows = await conn.fetch(
        """
        SELECT t.tablename FROM pg_tables t
        WHERE t.schemaname = 'public' AND t.tablename NOT IN ('schema_migrations', 'sites', 'rate_limits',
                                                                  'early_receipts')
          AND NOT EXISTS (SELECT 1 FROM information_schema.columns c
                          WHERE c.table_schema = 'public' AND c.table_name = t.tablename AND c.column_name = 'site_id')
        """
    )
    assert [r["tablename"] for r in rows] == []


def test_cli_fresh_start_migrates_and_seeds(test_database: dbharness.TestDatabase, project_dir) -> None:  # type: ignore[no-untyped-def]
    name, url = asyncio.run(dbharness.create_database(test_database.admin_url, prefix="scheduler_cli"))
    try:
        env = {**os.environ, "DATABASE_URL": url}
        for _ in range(2):  # the second run finds everything in place and changes nothing
            done = subprocess.run([sys.executable, "-m", "scheduler", "seed-demo"], cwd=project_dir, env=env,
                                  capture_output=True, text=True, timeout=120)
            assert done.returncode == 0, done.stderr

        async def counts() -> dict[str, int]:
            conn = await asyncpg.connect(url)
            try:
                return {t: await conn.fetchval(f"SELECT count(*) FROM {t}")
                        for t in ("sites", "teams", "staff", "concerns", "clients", "kiosk_devices",
                                  "working_hours", "policies")}
            finally:
                await conn.close()

        found = asyncio.run(counts())
        assert found["sites"] == 1 and found["teams"] == 3 and found["concerns"] == 10
        assert found["staff"] == 13 and found["kiosk_devices"] == 2 and found["policies"] == 1
        assert found["clients"] >= 3 and found["working_hours"] == 12 * 7
    finally:
        asyncio.run(dbharness.drop_database(test_database.admin_url, name))
