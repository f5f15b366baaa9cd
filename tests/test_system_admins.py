"""`site admin-link`: the first system administrator of a new installation, and their one-time password link."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg
import pytest

from scheduler import password_resets, system_admins
from scheduler.__main__ import _parser

NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


async def _issue(pool: asyncpg.Pool, username: str, site: str = "musterstadt") -> system_admins.AdminLink:
    return await system_admins.issue(pool, site_code=site, username=username, display_name="IT Betrieb",
                                     deployment_url="https://termine.example/", now=NOW)


async def test_a_new_system_administrator_gets_a_working_one_time_link(pool: asyncpg.Pool) -> None:
    made = await _issue(pool, "it.betrieb")
    assert made.created and made.link.startswith("https://termine.example/staff/password/")
    token = made.link.rsplit("/", 1)[1]
    async with pool.acquire() as conn:
        row = await conn.fetchrow("SELECT role, system_admin, password_hash FROM staff WHERE username = 'it.betrieb'")
        assert (row["role"], row["system_admin"], row["password_hash"]) == ("admin", True, None)
        assert await password_resets.find_open(conn, token, now=NOW) is not None
        assert await conn.fetchval("SELECT count(*) FROM audit_events WHERE action = 'staff.system_admin_link' "
                                   "AND actor = 'cli:admin-link'") == 1


async def test_an_existing_account_is_promoted_and_an_older_link_ends(pool: asyncpg.Pool) -> None:
    first = await _issue(pool, "lead.u25")
    second = await _issue(pool, "lead.u25")
    assert not first.created and not second.created
    async with pool.acquire() as conn:
        row = await conn.fetchrow("SELECT role, system_admin, team_id FROM staff WHERE username = 'lead.u25'")
        assert (row["role"], row["system_admin"]) == ("admin", True)
        assert await password_resets.find_open(conn, first.link.rsplit("/", 1)[1], now=NOW) is None
        assert await password_resets.find_open(conn, second.link.rsplit("/", 1)[1], now=NOW) is not None


async def test_refusals_change_nothing(pool: asyncpg.Pool) -> None:
    with pytest.raises(system_admins.AdminLinkRefused, match="no site"):
        await _issue(pool, "it.betrieb", site="nirgendwo")
    async with pool.acquire() as conn:
        await conn.execute("UPDATE staff SET sso = 'username' WHERE username = 'cw.meyer'")
    with pytest.raises(system_admins.AdminLinkRefused, match="single sign-on"):
        await _issue(pool, "cw.meyer")
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM staff WHERE system_admin") == 0
        assert await conn.fetchval("SELECT count(*) FROM staff_password_resets") == 0


def test_the_command_line_takes_username_and_site() -> None:
    args = _parser().parse_args(["site", "admin-link", "it.betrieb", "--site", "musterstadt"])
    assert (args.site_command, args.username, args.site) == ("admin-link", "it.betrieb", "musterstadt")
