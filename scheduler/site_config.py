"""A site's slowly changing setup (teams, concerns, active rule sets), cached per process.

Every intake needs it, and it changes a few times a year. The cache is keyed by the site's
`config_stamp`, which a trigger renews on every change to teams, concerns or policies (migration 0006),
so a process never plans with a setup older than the site row it has just read.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

import asyncpg

from scheduler.availability import Site
from scheduler.policy import store


@dataclass(frozen=True, slots=True)
class Teams:
    by_code: dict[str, int]
    code_by_id: dict[int, str]
    default_code: str


@dataclass(frozen=True, slots=True)
class Concern:
    id: int
    code: str
    urgent: bool
    modes: tuple[str, ...]
    channels: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SiteConfig:
    teams: Teams
    concerns: dict[str, Concern]  # active concerns by code
    policies: store.ActivePolicies


_CACHE: dict[tuple[int, UUID], SiteConfig] = {}
_CACHE_LIMIT = 1_000


async def load(conn: asyncpg.Connection, site: Site) -> SiteConfig:
    """The site's setup as of the site row's stamp; read from the database only when the stamp is new."""
    key = (site.id, site.config_stamp)
    found = _CACHE.get(key)
    if found is None:
        if len(_CACHE) >= _CACHE_LIMIT:
            _CACHE.clear()
        found = _CACHE[key] = await _read(conn, site.id)
    return found


async def _read(conn: asyncpg.Connection, site_id: int) -> SiteConfig:
    teams = await conn.fetch("SELECT id, code FROM teams WHERE site_id = $1 ORDER BY id", site_id)
    concerns = await conn.fetch(
        "SELECT id, code, urgent, modes, channels FROM concerns WHERE site_id = $1 AND active", site_id)
    by_code = {r["code"]: r["id"] for r in teams}
    return SiteConfig(
        teams=Teams(by_code=by_code, code_by_id={v: k for k, v in by_code.items()},
                    default_code=teams[0]["code"] if teams else ""),  # a site being set up has none yet
        concerns={r["code"]: Concern(id=r["id"], code=r["code"], urgent=r["urgent"], modes=tuple(r["modes"]),
                                     channels=tuple(r["channels"])) for r in concerns},
        policies=await store.active(conn, site_id),
    )
