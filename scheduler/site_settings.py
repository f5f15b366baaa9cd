"""A site's settings as a system administrator sets them: validated, created and changed in one transaction.

The owner of writes to a `sites` row's settings (`sites.py` keeps the reads the rest of the service uses). The
settings are read here in one query of their own, so the `Site` dataclass stays the service's view. Host names
and Twilio numbers are `site_addresses`' rows; they are part of the settings and written in the same
transaction. Every change is audited with the fields that changed.
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any, Final
from urllib.parse import urlsplit

import asyncpg
import phonenumbers

from scheduler import audit, site_addresses
from scheduler.errors import ValidationFailed
from scheduler.i18n import LANGUAGES, N_

CODE_RE: Final = re.compile(r"[a-z0-9-]{2,40}")
REGION_RE: Final = re.compile(r"DE(-[A-Z]{2})?")
SENDER_RE: Final = re.compile(r"[A-Za-z0-9 ]{1,11}")  # Twilio's alphanumeric sender id
DAYS: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY_KEY: Final = re.compile(rf"({'|'.join(DAYS)})(-({'|'.join(DAYS)}))?")
_SPAN: Final = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9]-([01][0-9]|2[0-3]):[0-5][0-9]")
NAME_LIMIT: Final = 200
ADDRESS_LIMIT: Final = 300
URL_LIMIT: Final = 200
MAX_COUNTRIES: Final = 50
TIMEZONES: Final = frozenset(zoneinfo.available_timezones())
_COUNTRIES: Final = frozenset(phonenumbers.SUPPORTED_REGIONS)

BAD_CODE: Final = N_("Please enter a code of 2 to 40 lowercase letters, digits or “-”.")
BAD_NAME: Final = N_("Please enter a name of 1 to 200 characters.")
BAD_ADDRESS: Final = N_("Please enter an address of at most 300 characters.")
BAD_TIMEZONE: Final = N_("Please enter a time zone such as Europe/Berlin.")
BAD_REGION: Final = N_("Please enter DE or a federal state such as DE-NI.")
BAD_LANGUAGES: Final = N_("Please choose languages the service offers, German among them.")
BAD_HOURS: Final = N_("Please enter opening hours one per line, like “mon-fri: 08:00-12:30, 14:00-16:00”.")
BAD_SENDER: Final = N_("Please enter 1 to 11 letters, digits or spaces, at least one of them a letter.")
BAD_URL: Final = N_("Please enter an address like https://termine.jobcenter.example, without a path.")
BAD_RETENTION: Final = N_("Please enter a number of days from 1 to 3650.")
BAD_COUNTRIES: Final = N_("Please enter two-letter country codes such as DE, AT or PL.")
CODE_TAKEN: Final = N_("Another office already has this code.")

_COLUMNS: Final = ("code, name, address, timezone, holiday_region, languages, opening_hours, sms_sender, "
                   "public_base_url, email_enabled, retention_days, allowed_countries")


@dataclass(frozen=True, slots=True)
class SiteSettings:
    """Everything a system administrator sets for an office. Build it with `parse`, which checks every field."""

    code: str
    name: str
    address: str = ""
    timezone: str = "Europe/Berlin"
    holiday_region: str = "DE"
    languages: tuple[str, ...] = ("de", "en")
    opening_hours: tuple[tuple[str, str], ...] = ()  # (days, spans), as sites.opening_hours stores them
    sms_sender: str = "Jobcenter"
    phone_numbers: tuple[str, ...] = ()
    hosts: tuple[str, ...] = ()
    public_base_url: str = ""  # "" = the deployment's server.public_base_url
    email_enabled: bool = False
    retention_days: int = 180
    allowed_countries: tuple[str, ...] = ()  # () = the deployment's sms.allowed_countries

    def changes(self, other: SiteSettings) -> list[str]:
        """The names of the fields whose values differ from other's."""
        return [f.name for f in fields(self) if getattr(self, f.name) != getattr(other, f.name)]


# ---- parsing: forms and files give text or lists; every problem is named at its field -------------------

def _items(value: object) -> list[str]:
    """A list from a YAML list or a text of lines / commas."""
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [str(v).strip() for v in value if str(v).strip()]
    return [part.strip() for part in re.split(r"[\n,]", str(value)) if part.strip()]


def parse_opening_hours(value: object) -> tuple[tuple[str, str], ...]:
    """Opening hours from a mapping ({"mon-fri": "08:00-12:30"}) or lines ("mon-fri: 08:00-12:30, 14:00-16:00")."""
    if isinstance(value, Mapping):
        pairs = [(str(k), str(v)) for k, v in value.items()]
    else:
        pairs = []
        for line in str(value or "").splitlines():
            if line.strip():
                days, sep, spans = line.partition(":")
                if not sep:
                    raise ValueError(line)
                pairs.append((days, spans))
    hours: dict[str, str] = {}
    for days, spans in pairs:
        key = days.strip().lower()
        parts = [s.replace(" ", "") for s in spans.split(",") if s.strip()]
        if not _DAY_KEY.fullmatch(key) or not parts or key in hours or len(hours) >= 14:
            raise ValueError(key)
        for span in parts:
            if not _SPAN.fullmatch(span) or span[:5] >= span[6:]:
                raise ValueError(span)
        hours[key] = ", ".join(parts)
    return ordered_hours(hours)


def ordered_hours(hours: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """Opening hours in one order (by first day, single days after spans), whatever order they were stored in."""
    return tuple(sorted(((str(k), str(v)) for k, v in hours.items()),
                        key=lambda kv: (DAYS.index(kv[0][:3]) if kv[0][:3] in DAYS else 7, -len(kv[0]), kv[0])))


def _url(value: str) -> str:
    url = value.strip().rstrip("/")
    if not url:
        return ""
    parts = urlsplit(url)
    if (len(url) > URL_LIMIT or parts.scheme not in ("http", "https") or not parts.hostname or parts.path
            or parts.query or parts.fragment or parts.username or parts.password):
        raise ValueError(url)
    return url


def _retention(value: object) -> int:
    if isinstance(value, bool):
        raise ValueError(value)
    days = int(str(value).strip())
    if not 1 <= days <= 3650:
        raise ValueError(days)
    return days


def _flag(value: object) -> bool:
    if isinstance(value, bool):
        return value
    return str(value or "").strip().lower() in ("1", "true", "yes", "on")


def _text(raw: Mapping[str, Any], name: str, limit: int) -> str:
    value = str(raw.get(name) or "").strip()
    if len(value) > limit or not value.isprintable():
        raise ValueError(name)
    return value


def _nonempty(raw: Mapping[str, Any], name: str, limit: int) -> str:
    value = _text(raw, name, limit)
    if not value:
        raise ValueError(name)
    return value


def _matching(raw: Mapping[str, Any], name: str, pattern: re.Pattern[str], default: str) -> str:
    value = str(raw.get(name) or default).strip()
    if not pattern.fullmatch(value):
        raise ValueError(value)
    return value


def parse(raw: Mapping[str, Any]) -> SiteSettings:
    """Settings from a form or a file's mapping; ValidationFailed names every wrong field at once.

    Field names are SiteSettings' own; lists may be lists or texts of lines or commas."""
    readers: dict[str, tuple[str, Callable[[], object]]] = {
        "code": (BAD_CODE, lambda: _matching(raw, "code", CODE_RE, "")),
        "name": (BAD_NAME, lambda: _nonempty(raw, "name", NAME_LIMIT)),
        "address": (BAD_ADDRESS, lambda: _text(raw, "address", ADDRESS_LIMIT)),
        "timezone": (BAD_TIMEZONE, lambda: _member(str(raw.get("timezone") or "Europe/Berlin").strip(), TIMEZONES)),
        "holiday_region": (BAD_REGION, lambda: _matching(raw, "holiday_region", REGION_RE, "DE")),
        # A form always sends `languages` (no box ticked: none); a file that leaves it out gets the default.
        "languages": (BAD_LANGUAGES, lambda: _languages(_items(raw["languages"]) if "languages" in raw
                                                        else ["de", "en"])),
        "opening_hours": (BAD_HOURS, lambda: parse_opening_hours(raw.get("opening_hours"))),
        "sms_sender": (BAD_SENDER, lambda: _sender(str(raw.get("sms_sender") or "Jobcenter").strip())),
        "public_base_url": (BAD_URL, lambda: _url(str(raw.get("public_base_url") or ""))),
        "retention_days": (BAD_RETENTION, lambda: _retention(raw.get("retention_days", 180))),
        "allowed_countries": (BAD_COUNTRIES, lambda: _countries(_items(raw.get("allowed_countries")))),
        "hosts": ("", lambda: tuple(site_addresses.parse_hosts(_items(raw.get("hosts"))))),
        "phone_numbers": ("", lambda: tuple(site_addresses.parse_numbers(_items(raw.get("phone_numbers"))))),
    }
    problems: dict[str, str] = {}
    params: dict[str, object] = {}
    values: dict[str, Any] = {"email_enabled": _flag(raw.get("email_enabled"))}
    for name, (message, read_value) in readers.items():
        try:
            values[name] = read_value()
        except (ValueError, TypeError):
            problems[name] = message
        except ValidationFailed as e:  # the address parsers name their own field and value
            problems.update(e.fields)
            params.update(e.params)
    if problems:
        raise ValidationFailed(fields=problems, params=params)
    return SiteSettings(**values)


def _member(value: str, known: frozenset[str]) -> str:
    if value not in known:
        raise ValueError(value)
    return value


def _languages(codes: list[str]) -> tuple[str, ...]:
    chosen = [c.lower().replace("_", "-") for c in codes]
    if "de" not in chosen or not set(chosen) <= set(LANGUAGES):
        raise ValueError(codes)
    return tuple(lang for lang in LANGUAGES if lang in chosen)  # the order the pages offer them in


def _sender(value: str) -> str:
    if not SENDER_RE.fullmatch(value) or not re.search(r"[A-Za-z]", value):
        raise ValueError(value)
    return value


def _countries(codes: Iterable[str]) -> tuple[str, ...]:
    found = tuple(dict.fromkeys(c.upper() for c in codes))
    if len(found) > MAX_COUNTRIES or not set(found) <= _COUNTRIES:
        raise ValueError(found)
    return found


def as_form(settings: SiteSettings) -> dict[str, str]:
    """The settings as a form shows them (lists one per line, opening hours "days: spans" per line)."""
    shown = {k: v for k, v in asdict(settings).items()}
    shown["opening_hours"] = "\n".join(f"{days}: {spans}" for days, spans in settings.opening_hours)
    for name in ("hosts", "phone_numbers"):
        shown[name] = "\n".join(getattr(settings, name))
    shown["allowed_countries"] = ", ".join(settings.allowed_countries)
    shown["languages"] = list(settings.languages)
    return shown


# ---- reading and writing ----------------------------------------------------------------------------

async def read(conn: asyncpg.Connection, site_id: int) -> SiteSettings | None:
    """A site's settings with its host names and numbers; None for an unknown site."""
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM sites WHERE id = $1", site_id)  # nosec B608
    if row is None:
        return None
    return SiteSettings(
        code=row["code"], name=row["name"], address=row["address"], timezone=row["timezone"],
        holiday_region=row["holiday_region"], languages=tuple(row["languages"]),
        opening_hours=ordered_hours(dict(row["opening_hours"] or {})),
        sms_sender=row["sms_sender"], phone_numbers=tuple(await site_addresses.numbers_of(conn, site_id)),
        hosts=tuple(await site_addresses.hosts_of(conn, site_id)), public_base_url=row["public_base_url"],
        email_enabled=row["email_enabled"], retention_days=row["retention_days"],
        allowed_countries=tuple(row["allowed_countries"]))


async def site_id_by_code(conn: asyncpg.Connection, code: str) -> int | None:
    """The id of the site with this code, if any."""
    return await conn.fetchval("SELECT id FROM sites WHERE code = $1", code)


async def site_code(conn: asyncpg.Connection, site_id: int) -> str | None:
    """The code of the site with this id, if any."""
    return await conn.fetchval("SELECT code FROM sites WHERE id = $1", site_id)


@dataclass(frozen=True, slots=True)
class SiteSummary:
    id: int
    code: str
    name: str


async def list_sites(conn: asyncpg.Connection) -> list[SiteSummary]:
    """Every site of the deployment, by code (a few hundred at most)."""
    return [SiteSummary(r["id"], r["code"], r["name"]) for r in await conn.fetch(
        "SELECT id, code, name FROM sites ORDER BY code")]


def _row_values(s: SiteSettings) -> tuple[object, ...]:
    return (s.code, s.name, s.address, s.timezone, s.holiday_region, list(s.languages), dict(s.opening_hours),
            s.sms_sender, s.public_base_url, s.email_enabled, s.retention_days, list(s.allowed_countries))


async def create_site(conn: asyncpg.Connection, settings: SiteSettings, *, actor: str) -> int:
    """Store a new site with its addresses, audited, in one transaction; a taken code is a field error."""
    async with conn.transaction():
        try:
            site_id: int = await conn.fetchval(
                f"INSERT INTO sites ({_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) "  # nosec B608
                "ON CONFLICT (code) DO NOTHING RETURNING id", *_row_values(settings))
        except asyncpg.CheckViolationError:
            raise ValidationFailed() from None  # parse checks more than the table does; a race-free backstop
        if site_id is None:
            raise ValidationFailed(fields={"code": CODE_TAKEN})
        await site_addresses.set_hosts(conn, site_id, settings.hosts)
        await site_addresses.set_phone_numbers(conn, site_id, settings.phone_numbers)
        await audit.record(conn, site_id=site_id, actor=actor, action="site.create", subject_type="site",
                           subject_id=site_id, details={"code": settings.code})
    return site_id


async def update_site(conn: asyncpg.Connection, site_id: int, settings: SiteSettings, *, actor: str) -> list[str]:
    """Change a site's settings, audited, in one transaction; returns the fields that changed ([] = unchanged).

    The site's code never changes (files and links name sites by it); a different one is a field error."""
    async with conn.transaction():
        current = await read(conn, site_id)
        if current is None:
            raise LookupError(f"site {site_id} does not exist")
        if settings.code != current.code:
            raise ValidationFailed(fields={"code": BAD_CODE})
        changed = current.changes(settings)
        if not changed:
            return []
        # A new stamp: caches keyed by it (the site's setup, a process's site rows) read the row again.
        await conn.execute(
            "UPDATE sites SET name = $2, address = $3, timezone = $4, holiday_region = $5, languages = $6, "
            "opening_hours = $7, sms_sender = $8, public_base_url = $9, email_enabled = $10, retention_days = $11, "
            "allowed_countries = $12, config_stamp = gen_random_uuid() WHERE id = $1",
            site_id, *_row_values(settings)[1:])
        if "hosts" in changed:
            await site_addresses.set_hosts(conn, site_id, settings.hosts)
        if "phone_numbers" in changed:
            await site_addresses.set_phone_numbers(conn, site_id, settings.phone_numbers)
        await audit.record(conn, site_id=site_id, actor=actor, action="site.update", subject_type="site",
                           subject_id=site_id, details={"changed": changed})
    return changed
