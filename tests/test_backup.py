"""Backup and restore: a backup taken while intake runs holds every request committed before it started, and
restores into a new, empty database that is fully migrated; restore refuses a database that has data."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from scheduler import backup, db
from scheduler.__main__ import main
from tests import dbharness
from tests.api.helpers import appointment_body


@pytest.fixture
async def empty_database(test_database: dbharness.TestDatabase) -> AsyncIterator[str]:
    """A new, empty database on the test server, dropped afterwards."""
    name, url = await dbharness.create_database(test_database.admin_url, prefix="scheduler_restore")
    yield url
    await dbharness.drop_database(test_database.admin_url, name)


async def _intake_until(client: TestClient, stop: asyncio.Event, committed: list[str]) -> None:
    """Submit requests one after another; a reference counts as committed once its 201 has arrived."""
    while not stop.is_set():
        response = await client.post("/api/requests", json=appointment_body())
        assert response.status == 201, await response.text()
        committed.append((await response.json())["reference"])


async def test_backup_under_load_restores_every_committed_request(
        client: TestClient, conn: asyncpg.Connection, test_database: dbharness.TestDatabase,
        empty_database: str, tmp_path: Path) -> None:
    committed: list[str] = []
    stop = asyncio.Event()
    load = asyncio.create_task(_intake_until(client, stop, committed))
    while len(committed) < 5:
        await asyncio.sleep(0.02)
    before = list(committed)  # answered, hence committed, before the backup starts
    file = tmp_path / "scheduler.dump"
    try:
        await backup.backup(test_database.url, file)
        during = len(committed) - len(before)
    finally:
        stop.set()
        await load
    assert during > 0, "intake went on while pg_dump ran"
    assert file.stat().st_size > 0 and not file.with_name(file.name + ".partial").exists()

    await backup.restore(empty_database, file)
    restored = await asyncpg.connect(empty_database)
    try:
        found = {r["reference"] for r in await restored.fetch(
            "SELECT reference FROM requests WHERE reference = ANY($1::text[])", before)}
        assert found == set(before)
        assert await db.pending_migrations(restored) == []
        assert await restored.fetchval("SELECT count(*) FROM requests") >= len(before)
        assert await restored.fetchval("SELECT count(*) FROM sites") == await conn.fetchval(
            "SELECT count(*) FROM sites")
    finally:
        await restored.close()


async def test_restore_refuses_a_database_with_data(test_database: dbharness.TestDatabase, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    file = tmp_path / "scheduler.dump"
    file.write_bytes(b"PGDMP")
    with pytest.raises(backup.BackupError, match="not empty"):
        await backup.restore(test_database.url, file)
    code = await asyncio.to_thread(main, ["--config", str(tmp_path / "none.yaml"), "restore", str(file),
                                          "--database-url", test_database.url])
    assert code == 1 and "not empty" in capsys.readouterr().err


async def test_missing_file_is_named(empty_database: str, tmp_path: Path) -> None:
    with pytest.raises(backup.BackupError, match="no such backup file"):
        await backup.restore(empty_database, tmp_path / "missing.dump")


def test_password_goes_to_the_environment_not_the_command_line() -> None:
    t = backup.target("postgresql://app:s%40cret@db.example:5432/scheduler?sslmode=require")
    assert t.url == "postgresql://app@db.example:5432/scheduler?sslmode=require"
    assert t.env["PGPASSWORD"] == "s@cret"
    with pytest.raises(backup.BackupError, match="postgresql://"):
        backup.target("mysql://app@db/scheduler")


def test_a_too_old_pg_dump_is_not_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backup, "candidates", lambda tool: [Path("/old/pg_dump")])
    monkeypatch.setattr(backup, "major_version", lambda binary: 12)
    with pytest.raises(backup.BackupError, match="PostgreSQL 18 or newer.*only /old/pg_dump \\(12\\)"):
        backup.find_tool("pg_dump", 18)
