"""The addresses that choose a site: host names for the web pages, Twilio numbers for the phone line and SMS.

Owns the SQL of `site_hosts` and `site_phone_numbers` (migration 0037). Each address belongs to at most one site
(the primary key), so two offices on one deployment can never answer the same host or number.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Final

import asyncpg
import phonenumbers

from scheduler.errors import ValidationFailed
from scheduler.i18n import N_

MAX_ADDRESSES: Final = 20  # per site and kind; an office has a handful of host names and numbers
_HOST: Final = re.compile(r"^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?(:[0-9]{1,5})?$")


@dataclass(frozen=True, slots=True)
class Addresses:
    """Every site's addresses, as a process caches them: host -> site id and number -> site id."""

    by_host: dict[str, int]
    by_number: dict[str, int]


def normal_host(text: str) -> str:
    """A host name as requests carry it in `Host`: lower case, without a trailing dot; ValueError if malformed."""
    host = text.strip().lower().rstrip(".")
    if not _HOST.match(host):
        raise ValueError(host)
    return host


def normal_number(text: str) -> str:
    """A phone number in E.164 (+49…), as Twilio sends it in `To`; ValueError if it is no valid number."""
    try:
        parsed = phonenumbers.parse(text.strip(), None if text.strip().startswith("+") else "DE")
    except phonenumbers.NumberParseException as e:
        raise ValueError(text) from e
    if not phonenumbers.is_valid_number(parsed):  # a Twilio number is a full, dialable number
        raise ValueError(text)
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def parse_hosts(values: Iterable[str], *, field: str = "hosts") -> list[str]:
    """Host names from a form or file, normalised; a field error names the first bad one."""
    return _parse(values, normal_host, field, N_("“%(value)s” is not a host name (e.g. termine.jobcenter.example)."))


def parse_numbers(values: Iterable[str], *, field: str = "phone_numbers") -> list[str]:
    """Phone numbers from a form or file in E.164; a field error names the first bad one."""
    return _parse(values, normal_number, field, N_("“%(value)s” is not a phone number (e.g. +49 30 1234567)."))


def _parse(values: Iterable[str], normal: Callable[[str], str], field: str, message: str) -> list[str]:
    found: list[str] = []
    for value in (v for v in values if v.strip()):
        try:
            item = normal(value)
        except ValueError:
            raise ValidationFailed(fields={field: message}, params={"value": value.strip()[:80]}) from None
        if item not in found:
            found.append(item)
    if len(found) > MAX_ADDRESSES:
        raise ValidationFailed(fields={field: N_("At most %(limit)s entries.")}, params={"limit": MAX_ADDRESSES})
    return found


async def set_hosts(conn: asyncpg.Connection, site_id: int, hosts: Iterable[str]) -> None:
    """Make these (normalised) host names the site's; a host another site has is a field error."""
    await _replace(conn, "site_hosts", "host", site_id, list(hosts), "hosts",
                   N_("“%(value)s” already belongs to another office."))


async def set_phone_numbers(conn: asyncpg.Connection, site_id: int, numbers: Iterable[str]) -> None:
    """Make these E.164 numbers the site's Twilio numbers; a number another site has is a field error."""
    await _replace(conn, "site_phone_numbers", "number", site_id, list(numbers), "phone_numbers",
                   N_("“%(value)s” already belongs to another office."))


async def _replace(conn: asyncpg.Connection, table: str, column: str, site_id: int, values: list[str],
                   field: str, taken: str) -> None:
    # Table and column names come from the two callers above, never from input.
    owners = await conn.fetch(f"SELECT {column} AS value FROM {table} "  # nosec B608
                              f"WHERE {column} = ANY($1::text[]) AND site_id <> $2", values, site_id)
    if owners:
        raise ValidationFailed(fields={field: taken}, params={"value": owners[0]["value"]})
    async with conn.transaction():
        await conn.execute(f"DELETE FROM {table} WHERE site_id = $1 AND NOT {column} = ANY($2::text[])",  # nosec B608
                           site_id, values)
        try:
            await conn.execute(f"INSERT INTO {table} ({column}, site_id) SELECT unnest($2::text[]), $1 "  # nosec B608
                               f"ON CONFLICT ({column}) DO NOTHING", site_id, values)
        except asyncpg.CheckViolationError:
            raise ValidationFailed(fields={field: N_("Please check this entry.")}) from None
    # A concurrent claim by another site between the check and the insert left the address with it: say so.
    lost = await conn.fetchval(f"SELECT {column} FROM {table} "  # nosec B608
                               f"WHERE {column} = ANY($1::text[]) AND site_id <> $2 LIMIT 1", values, site_id)
    if lost is not None:
        raise ValidationFailed(fields={field: taken}, params={"value": lost})


async def hosts_of(conn: asyncpg.Connection, site_id: int) -> list[str]:
    """The site's host names, sorted."""
    return [r["host"] for r in await conn.fetch("SELECT host FROM site_hosts WHERE site_id = $1 ORDER BY host",
                                                site_id)]


async def numbers_of(conn: asyncpg.Connection, site_id: int) -> list[str]:
    """The site's Twilio numbers, sorted."""
    return [r["number"] for r in await conn.fetch(
        "SELECT number FROM site_phone_numbers WHERE site_id = $1 ORDER BY number", site_id)]


async def site_id_by_host(conn: asyncpg.Connection, host: str) -> int | None:
    """The site answering this (normalised) host name, if any."""
    return await conn.fetchval("SELECT site_id FROM site_hosts WHERE host = $1", host)


async def site_id_by_number(conn: asyncpg.Connection, number: str) -> int | None:
    """The site whose Twilio number this (E.164) is, if any."""
    return await conn.fetchval("SELECT site_id FROM site_phone_numbers WHERE number = $1", number)


async def all_addresses(conn: asyncpg.Connection) -> Addresses:
    """Every site's addresses at once, for a process's cache (a few per office, a few thousand in all)."""
    hosts = await conn.fetch("SELECT host, site_id FROM site_hosts")
    numbers = await conn.fetch("SELECT number, site_id FROM site_phone_numbers")
    return Addresses(by_host={r["host"]: r["site_id"] for r in hosts},
                     by_number={r["number"]: r["site_id"] for r in numbers})
