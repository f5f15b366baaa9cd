"""Sites (Jobcenter offices): the site row, its working-day calendar and its slowly changing setup.

The setup (teams, concerns, active rule sets) is needed by every intake and changes a few times a year.
`SetupCache` keeps it per process, keyed by the site's `config_stamp`, which a trigger renews on every change
to teams, concerns or policies (migration 0006), so a process never plans with a setup older than the site row
it has just read. The app owns one cache (keys.SITE_SETUPS); without one, the setup is read from the database.
"""

from __future__ import annotations

import dataclasses
import functools
from collections import OrderedDict
from dataclasses import dataclass
from uuid import UUID

import asyncpg

from scheduler.policy import store
from scheduler.policy.workdays import WorkCalendar


@dataclass(frozen=True, slots=True)
class Site:
    id: int
    code: str
    name: str
    timezone: str
    address: str
    holiday_region: str
    languages: tuple[str, ...]
    public_base_url: str  # the office's own address for client links; "" = the deployment's (see public_url)
    email_enabled: bool
    retention_days: int
    config_stamp: UUID  # renewed on every change of teams, concerns or rule sets
    allowed_countries: tuple[str, ...] = ()  # client phone countries; () = the deployment's (see countries)

    def calendar(self) -> WorkCalendar:
        """The site's working-day calendar (time zone and public holidays)."""
        return _calendar(self.timezone, self.holiday_region)


@functools.lru_cache(maxsize=64)
def _calendar(tz: str, region: str) -> WorkCalendar:
    # WorkCalendar caches holidays per year; keep one per site setting for the process.
    return WorkCalendar(tz=tz, holiday_region=region)


SITE_COLUMNS = ("id, code, name, timezone, address, holiday_region, languages, public_base_url, "
                "email_enabled, retention_days, config_stamp, allowed_countries")


def countries(site: Site, deployment_default: tuple[str, ...]) -> tuple[str, ...]:
    """The countries whose phone numbers this office accepts: its own list, else `sms.allowed_countries`."""
    return site.allowed_countries or deployment_default


async def site_codes(conn: asyncpg.Connection) -> dict[int, str]:
    """Every site's code by id (for the address book of scheduler/site_directory.py)."""
    return {r["id"]: r["code"] for r in await conn.fetch("SELECT id, code FROM sites")}


def public_url(site: Site, deployment_url: str) -> str:
    """The address clients open for this office, without a trailing slash: the site row's own URL when it has one
    (several offices on one installation, each on its own host), else the deployment's `server.public_base_url`.

    The only place that decides it: links in SMS, mails, invites, letters, the kiosk receipt and the API answer
    all come from here (through `resolved`), so setting only `server.public_base_url` is enough for one office.
    """
    return (site.public_base_url or deployment_url).rstrip("/")


def resolved(site: Site, deployment_url: str) -> Site:
    """The site with `public_base_url` resolved by `public_url`, for code that builds client links from a Site."""
    return dataclasses.replace(site, public_base_url=public_url(site, deployment_url))


async def public_url_by_code(conn: asyncpg.Connection, code: str, deployment_url: str) -> str:
    """`public_url` of the site with this code (which must exist)."""
    own = await conn.fetchval("SELECT public_base_url FROM sites WHERE code = $1", code)
    if own is None:
        raise LookupError(f"site {code!r} does not exist")
    return (own or deployment_url).rstrip("/")


def _site(row: asyncpg.Record) -> Site:
    return Site(**{**row, "languages": tuple(row["languages"]), "allowed_countries": tuple(row["allowed_countries"])})


async def site_by_code(conn: asyncpg.Connection, code: str) -> Site | None:
    """A site by its code."""
    row = await conn.fetchrow(f"SELECT {SITE_COLUMNS} FROM sites WHERE code = $1", code)
    return _site(row) if row else None


async def site_by_id(conn: asyncpg.Connection, site_id: int) -> Site:
    """A site by id (it must exist)."""
    row = await conn.fetchrow(f"SELECT {SITE_COLUMNS} FROM sites WHERE id = $1", site_id)
    if row is None:
        raise LookupError(f"site {site_id} does not exist")
    return _site(row)


async def opening_hours(conn: asyncpg.Connection, site_id: int) -> dict[str, str]:
    """The office's public opening hours as entered, e.g. {"mon-fri": "08:00-12:30", "thu": "14:00-17:00"}."""
    hours = await conn.fetchval("SELECT opening_hours FROM sites WHERE id = $1", site_id)
    return dict(hours or {})


# -- the site's setup ---------------------------------------------------------------------------------------

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


class SetupCache:
    """Site setups by (site, config stamp), at most `limit` of them; the least recently used goes first."""

    def __init__(self, limit: int = 1_000) -> None:
        self.limit = limit
        self._entries: OrderedDict[tuple[int, UUID], SiteConfig] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, site: Site) -> SiteConfig | None:
        """The cached setup for the site row's stamp, if any."""
        key = (site.id, site.config_stamp)
        found = self._entries.get(key)
        if found is not None:
            self._entries.move_to_end(key)
        return found

    def put(self, site: Site, setup: SiteConfig) -> None:
        """Remember a setup, dropping the least recently used one beyond the bound."""
        self._entries[(site.id, site.config_stamp)] = setup
        self._entries.move_to_end((site.id, site.config_stamp))
        while len(self._entries) > self.limit:
            self._entries.popitem(last=False)


async def setup(conn: asyncpg.Connection, site: Site, cache: SetupCache | None = None) -> SiteConfig:
    """The site's setup as of the site row's stamp; read from the database only when the cache lacks it."""
    found = cache.get(site) if cache is not None else None
    if found is None:
        found = await _read(conn, site.id)
        if cache is not None:
            cache.put(site, found)
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


# -- the site's video service (issue 17; checked by video_rooms.check_template and migration 0032) -----------

async def video_url_template(conn: asyncpg.Connection, site_id: int) -> str | None:
    """The site's video service URL template with {room}, or None when it has none."""
    return await conn.fetchval("SELECT video_url_template FROM sites WHERE id = $1", site_id)


async def set_video_url_template(conn: asyncpg.Connection, site_id: int, template: str | None) -> None:
    """Set (or with None remove) the site's video service URL template."""
    await conn.execute("UPDATE sites SET video_url_template = $2 WHERE id = $1", site_id, template)
