"""serve without --demo refuses the demo's published secrets and clear-text cookies on an https site."""

from __future__ import annotations

import dataclasses
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import asyncpg
import pytest
from argon2 import PasswordHasher

from scheduler.config import Config
from scheduler.startup_checks import UnsafeForProduction, check, config_problems, database_problems
from tests import dbharness

# Cheap parameters: these tests hash a few real-looking passwords, not guard anything.
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


async def make_production_ready(conn: asyncpg.Connection) -> None:
    """What an operator does to a database that once held the demo: own passwords, own kiosks, own site."""
    for staff_id in await conn.fetch("SELECT id FROM staff"):
        await conn.execute("UPDATE staff SET password_hash = $2 WHERE id = $1",
                           staff_id["id"], FAST_HASHER.hash(f"own-password-{staff_id['id']}"))
    await conn.execute("UPDATE kiosk_devices SET revoked_at = now()")
    await conn.execute("UPDATE sites SET code = 'jc-real', name = 'Jobcenter Echtstadt' WHERE code = 'musterstadt'")


async def test_demo_database_is_refused_and_every_fix_is_named(pool: asyncpg.Pool, conn: asyncpg.Connection) -> None:
    problems = "\n".join(await database_problems(conn))
    for account in ("admin", "lead.entrance", "cw.yilmaz", "cw.popescu"):
        assert account in problems
    assert "'Foyer links'" in problems and "'Foyer rechts'" in problems
    assert "'musterstadt'" in problems
    assert "set a new password" in problems and "revoke" in problems


async def test_a_cleaned_up_database_passes(pool: asyncpg.Pool, conn: asyncpg.Connection, config: Config) -> None:
    await make_production_ready(conn)
    assert await database_problems(conn) == []
    await check(config, conn)


async def test_a_renamed_demo_account_is_still_found(pool: asyncpg.Pool, conn: asyncpg.Connection) -> None:
    await make_production_ready(conn)
    demo_hash = PasswordHasher().hash("demo-caseworker")
    for username in ("cw.schulz", "cw.meyer"):
        await conn.execute("UPDATE staff SET password_hash = $2, username = $1 || '.renamed' WHERE username = $1",
                           username, demo_hash)
    problems = await database_problems(conn)
    assert len(problems) == 1 and "cw.meyer.renamed, cw.schulz.renamed" in problems[0]


async def test_an_admin_with_the_demo_password_is_found(pool: asyncpg.Pool, conn: asyncpg.Connection) -> None:
    await make_production_ready(conn)
    await conn.execute("UPDATE staff SET username = 'chefin', password_hash = $1 WHERE username = 'admin'",
                       PasswordHasher().hash("demo-admin"))
    assert ["chefin" in p for p in await database_problems(conn)] == [True]


async def test_inactive_accounts_and_revoked_kiosks_do_not_count(pool: asyncpg.Pool, conn: asyncpg.Connection) -> None:
    demo_hashes = await conn.fetch("SELECT id, password_hash FROM staff")
    await make_production_ready(conn)
    await conn.execute("UPDATE staff SET active = false, password_hash = $2 WHERE id = $1",
                       demo_hashes[0]["id"], demo_hashes[0]["password_hash"])
    assert await database_problems(conn) == []


def with_site(config: Config, url: str, *, secure: bool) -> Config:
    return dataclasses.replace(
        config, server=dataclasses.replace(config.server, public_base_url=url),
        security=dataclasses.replace(config.security, cookie_secure=secure))


def test_https_without_secure_cookies_is_refused(config: Config) -> None:
    problems = config_problems(with_site(config, "https://termine.jobcenter.example", secure=False))
    assert len(problems) == 1 and "security.cookie_secure: true" in problems[0]
    assert config_problems(with_site(config, "https://termine.jobcenter.example", secure=True)) == []
    assert config_problems(with_site(config, "http://localhost:8080", secure=False)) == []


async def test_check_lists_config_and_data_together(pool: asyncpg.Pool, conn: asyncpg.Connection,
                                                    config: Config) -> None:
    with pytest.raises(UnsafeForProduction) as refused:
        await check(with_site(config, "https://termine.jobcenter.example", secure=False), conn)
    assert len(refused.value.problems) == 4


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(project_dir: Path, url: str, *extra: str) -> tuple[subprocess.Popen[str], int]:
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": url, "SCHEDULER__JOBS__ENABLED": "false",
           "SCHEDULER__LOGGING__LEVEL": "WARNING"}
    proc = subprocess.Popen([sys.executable, "-m", "scheduler", "serve", *extra, "--role", "web", "--port", str(port)],
                            cwd=project_dir, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    return proc, port


async def test_serve_without_demo_exits_and_names_the_fix(pool: asyncpg.Pool, project_dir: Path,
                                                          test_database: dbharness.TestDatabase) -> None:
    proc, _ = _serve(project_dir, test_database.url)
    try:
        _, stderr = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail("serve started on a database with the demo's passwords and kiosk tokens")
    assert proc.returncode == 2
    assert "refusing to serve" in stderr and "admin" in stderr and "Foyer links" in stderr


async def test_serve_with_demo_starts(pool: asyncpg.Pool, project_dir: Path,
                                      test_database: dbharness.TestDatabase) -> None:
    proc, port = _serve(project_dir, test_database.url, "--demo")
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert proc.poll() is None, proc.communicate()[1]
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as answer:  # noqa: S310
                    assert answer.status == 200
                    return
            except OSError:
                time.sleep(0.2)
        pytest.fail("serve --demo did not answer /healthz")
    finally:
        proc.terminate()
        proc.communicate(timeout=20)
