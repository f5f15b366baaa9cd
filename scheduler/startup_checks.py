"""Refuse to serve in production with the demo's published secrets or with cookies that travel in clear text.

`serve --demo` (what `make run` starts) skips these checks; every other `serve` of the web runs them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from urllib.parse import urlsplit

import asyncpg
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from scheduler.config import Config
from scheduler.seed import kiosk_token_hash, load_demo
from scheduler.seed_sites import load_second_site

_HASHER = PasswordHasher()


class UnsafeForProduction(Exception):
    """The service must not start: each line of the message names one thing to change."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(f"- {p}" for p in problems))
        self.problems = problems


def config_problems(config: Config) -> list[str]:
    """Settings that are unsafe when clients reach the service over https."""
    if urlsplit(config.server.public_base_url).scheme == "https" and not config.security.cookie_secure:
        return [f"server.public_base_url is {config.server.public_base_url} but security.cookie_secure is false: "
                "set security.cookie_secure: true (or SCHEDULER__SECURITY__COOKIE_SECURE=true) so that session "
                "cookies are never sent over plain http"]
    return []


async def database_problems(conn: asyncpg.Connection) -> list[str]:
    """Demo passwords, demo kiosk tokens and the demo site found in the database."""
    demo, second = load_demo(), load_second_site()  # the second office of `seed-demo --sites 2` as well
    return [
        *await _demo_passwords(conn, demo["passwords"].values(),
                               [p["username"] for p in [*demo["staff"], *second["staff"]]]),
        *await _demo_kiosks(conn, [k["token"] for k in [*demo["kiosks"], *second["kiosks"]]]),
        *await _demo_site(conn, demo["site"]["code"]),
        *await _demo_site(conn, second["site"]["code"]),
    ]


async def check(config: Config, conn: asyncpg.Connection) -> None:
    """Raise UnsafeForProduction listing every problem, or return when there is none."""
    problems = config_problems(config) + await database_problems(conn)
    if problems:
        raise UnsafeForProduction(problems)


async def check_service(config: Config) -> None:
    """check() against the configured database (its URL is set by the time serve calls this)."""
    assert config.database.url
    conn = await asyncpg.connect(config.database.url)
    try:
        await check(config, conn)
    finally:
        await conn.close()


async def _demo_passwords(conn: asyncpg.Connection, passwords: Iterable[str],
                          demo_usernames: list[str]) -> list[str]:
    # Verifying every account would cost tens of milliseconds each. The seed hashes each role's password
    # once, so its hashes are shared by several accounts (a real hash has its own salt); the demo's own
    # usernames and every admin are checked as well.
    rows = await conn.fetch(
        """
        SELECT username, password_hash FROM staff s
        WHERE active AND password_hash IS NOT NULL
          AND (username = ANY($1) OR role = 'admin'
               OR (SELECT count(*) FROM staff o WHERE o.password_hash = s.password_hash) > 1)
        ORDER BY username
        """,
        demo_usernames,
    )
    candidates = sorted({row["password_hash"] for row in rows})
    demo_passwords = list(passwords)
    found = await asyncio.gather(*(asyncio.to_thread(_is_demo_hash, h, demo_passwords) for h in candidates))
    weak = {h for h, is_demo in zip(candidates, found, strict=True) if is_demo}
    names = [row["username"] for row in rows if row["password_hash"] in weak]
    if not names:
        return []
    return [f"staff account(s) {', '.join(names)} still have a demo password: set a new password "
            "(staff UI, Administration) or deactivate them"]


def _is_demo_hash(stored: str, passwords: list[str]) -> bool:
    for password in passwords:
        try:
            if _HASHER.verify(stored, password):
                return True
        except (VerificationError, InvalidHashError):
            continue
    return False


async def _demo_kiosks(conn: asyncpg.Connection, tokens: list[str]) -> list[str]:
    names = await conn.fetch(
        "SELECT name FROM kiosk_devices WHERE revoked_at IS NULL AND token_hash = ANY($1) ORDER BY name",
        [kiosk_token_hash(t) for t in tokens],
    )
    if not names:
        return []
    return [f"kiosk(s) {', '.join(repr(r['name']) for r in names)} use a demo token (demo-kiosk-…): revoke them "
            "and issue new ones (staff UI, Administration, Kiosks)"]


async def _demo_site(conn: asyncpg.Connection, code: str) -> list[str]:
    name = await conn.fetchval("SELECT name FROM sites WHERE code = $1", code)
    if name is None:
        return []
    return [f"the demo site {code!r} ({name}) is in the database, with the demo's staff, clients and links: "
            "serve production from a database without it (migrate a new one; do not run seed-demo)"]
