"""Postal addresses of clients and their consent to electronic notice (tables postal_addresses and
electronic_notice_consents): how the office may reach a client in writing.

An address is what staff took down (invitation form, request page, batch upload); it is personal data like
the rest: `privacy.export` lists it, `privacy.erase` and retention delete it (`erase_for`, `purge_batch`).
Consent to electronic notice (§ 36a SGB I) is recorded by staff with who and when; without it a mandatory
invitation also goes out as a letter (`letter_triggers`).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from scheduler.errors import ValidationFailed
from scheduler.i18n import N_

_POSTCODE = re.compile(r"^[0-9]{5}$")
LIMITS = {"recipient": 100, "street": 100, "extra": 100, "postcode": 5, "city": 60}
FIELDS = tuple(LIMITS)


@dataclass(frozen=True, slots=True)
class Address:
    recipient: str
    street: str
    postcode: str
    city: str
    extra: str = ""

    def lines(self) -> list[str]:
        """The address as printed in a letter's window (DIN 5008: name, extra, street, postcode and city)."""
        return [line for line in (self.recipient, self.extra, self.street, f"{self.postcode} {self.city}") if line]


def _clean(value: object, name: str, errors: dict[str, str]) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        errors[f"address.{name}"] = N_("Please enter text here.")
        return ""
    text = " ".join(unicodedata.normalize("NFC", value).split())
    if any(unicodedata.category(ch) in ("Cc", "Cf") for ch in text):
        errors[f"address.{name}"] = N_("This text contains characters we cannot store. Please type it again.")
        return ""
    if len(text) > LIMITS[name]:
        errors[f"address.{name}"] = N_("This text is too long.")
        return ""
    return text


def parse(data: Mapping[str, Any], *, default_recipient: str | None = None) -> Address | None:
    """An address from form fields (recipient, street, extra, postcode, city); None when all are empty.

    Field errors name `address.<field>`; a partly filled address is an error, never half stored.
    """
    errors: dict[str, str] = {}
    values = {name: _clean(data.get(name), name, errors) for name in FIELDS}
    if errors:
        raise ValidationFailed(fields=errors)
    if not any(values[name] for name in ("street", "postcode", "city", "extra")):
        return None
    if not values["recipient"] and default_recipient:
        values["recipient"] = default_recipient[:LIMITS["recipient"]]
    for name in ("recipient", "street", "city"):
        if not values[name]:
            errors[f"address.{name}"] = N_("Please fill in the whole address.")
    if values["postcode"] and not _POSTCODE.match(values["postcode"]):
        errors["address.postcode"] = N_("A postcode has five digits.")
    elif not values["postcode"]:
        errors["address.postcode"] = N_("Please fill in the whole address.")
    if errors:
        raise ValidationFailed(fields=errors)
    return Address(**values)


def _address(row: Mapping[str, Any]) -> Address:
    return Address(recipient=row["recipient"], street=row["street"], postcode=row["postcode"], city=row["city"],
                   extra=row["extra"])


async def save(conn: asyncpg.Connection, *, site_id: int, client_id: int, address: Address,
               staff_id: int | None) -> None:
    """Store (or replace) a client's address, in the caller's transaction."""
    await conn.execute(
        """
        INSERT INTO postal_addresses (client_id, site_id, recipient, street, extra, postcode, city, updated_by)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
        ON CONFLICT (client_id) DO UPDATE SET recipient = EXCLUDED.recipient, street = EXCLUDED.street,
            extra = EXCLUDED.extra, postcode = EXCLUDED.postcode, city = EXCLUDED.city,
            updated_by = EXCLUDED.updated_by, updated_at = now()
        """,
        client_id, site_id, address.recipient, address.street, address.extra, address.postcode, address.city,
        staff_id)


async def save_many(conn: asyncpg.Connection, *, site_id: int, staff_id: int | None,
                    items: list[tuple[int, Address]]) -> None:
    """Store many clients' addresses in one statement (a batch invitation); the last one per client wins."""
    if not items:
        return
    last = dict(items)
    await conn.execute(
        """
        INSERT INTO postal_addresses (client_id, site_id, recipient, street, extra, postcode, city, updated_by)
        SELECT a.client_id, $1, a.recipient, a.street, a.extra, a.postcode, a.city, $2
        FROM unnest($3::bigint[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[])
             AS a(client_id, recipient, street, extra, postcode, city)
        ON CONFLICT (client_id) DO UPDATE SET recipient = EXCLUDED.recipient, street = EXCLUDED.street,
            extra = EXCLUDED.extra, postcode = EXCLUDED.postcode, city = EXCLUDED.city,
            updated_by = EXCLUDED.updated_by, updated_at = now()
        """,
        site_id, staff_id, list(last), [a.recipient for a in last.values()], [a.street for a in last.values()],
        [a.extra for a in last.values()], [a.postcode for a in last.values()], [a.city for a in last.values()])


async def get(conn: asyncpg.Connection, client_id: int) -> Address | None:
    """A client's address, or None."""
    row = await conn.fetchrow(
        "SELECT recipient, street, extra, postcode, city FROM postal_addresses WHERE client_id = $1", client_id)
    return _address(row) if row else None


async def get_many(conn: asyncpg.Connection, client_ids: list[int]) -> dict[int, Address]:
    """Addresses of many clients, by client id (those without one are left out)."""
    rows = await conn.fetch(
        "SELECT client_id, recipient, street, extra, postcode, city FROM postal_addresses "
        "WHERE client_id = ANY($1::bigint[])", client_ids)
    return {r["client_id"]: _address(r) for r in rows}


async def set_electronic_consent(conn: asyncpg.Connection, *, site_id: int, client_id: int, given: bool,
                                 staff_id: int | None, now: datetime) -> None:
    """Record that the client agreed to electronic notice (given) or withdrew it; who and when are kept."""
    if given:
        await conn.execute(
            """
            INSERT INTO electronic_notice_consents (client_id, site_id, given_at, given_by) VALUES ($1, $2, $3, $4)
            ON CONFLICT (client_id) DO UPDATE SET given_at = EXCLUDED.given_at, given_by = EXCLUDED.given_by,
                withdrawn_at = NULL, withdrawn_by = NULL
            WHERE electronic_notice_consents.withdrawn_at IS NOT NULL
            """, client_id, site_id, now, staff_id)
    else:
        await conn.execute(
            "UPDATE electronic_notice_consents SET withdrawn_at = $2, withdrawn_by = $3 "
            "WHERE client_id = $1 AND withdrawn_at IS NULL", client_id, now, staff_id)


async def has_electronic_consent(conn: asyncpg.Connection, client_id: int) -> bool:
    """Whether the client agreed to electronic notice and has not withdrawn it."""
    return bool(await conn.fetchval(
        "SELECT 1 FROM electronic_notice_consents WHERE client_id = $1 AND withdrawn_at IS NULL", client_id))


async def electronic_consents(conn: asyncpg.Connection, client_ids: list[int]) -> set[int]:
    """Which of these clients agreed to electronic notice (and have not withdrawn it)."""
    rows = await conn.fetch("SELECT client_id FROM electronic_notice_consents WHERE client_id = ANY($1::bigint[]) "
                            "AND withdrawn_at IS NULL", client_ids)
    return {r["client_id"] for r in rows}


async def export_for(conn: asyncpg.Connection, *, site_id: int, client_id: int) -> dict[str, Any]:
    """The address and consent rows of one client, for the client's data export."""
    address = await conn.fetchrow(
        "SELECT recipient, street, extra, postcode, city, created_at, updated_at FROM postal_addresses "
        "WHERE client_id = $1 AND site_id = $2", client_id, site_id)
    consent = await conn.fetchrow(
        "SELECT given_at, withdrawn_at FROM electronic_notice_consents WHERE client_id = $1 AND site_id = $2",
        client_id, site_id)
    return {"postal_address": _plain(address), "electronic_notice_consent": _plain(consent)}


def _plain(row: asyncpg.Record | None) -> dict[str, Any] | None:
    if row is None:
        return None
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in dict(row).items()}


async def erase_for(conn: asyncpg.Connection, *, site_id: int, client_id: int) -> None:
    """Delete a client's address and consent at this site (erasure)."""
    await conn.execute("DELETE FROM postal_addresses WHERE client_id = $1 AND site_id = $2", client_id, site_id)
    await conn.execute("DELETE FROM electronic_notice_consents WHERE client_id = $1 AND site_id = $2",
                       client_id, site_id)


async def purge_batch(conn: asyncpg.Connection, now: datetime, limit: int = 200) -> int:
    """Retention: delete the addresses and consents of clients that retention has anonymised; how many rows."""
    done = 0
    for table in ("postal_addresses", "electronic_notice_consents"):
        result: str = await conn.execute(
            f"""
            DELETE FROM {table} WHERE client_id IN (
                SELECT t.client_id FROM {table} t JOIN clients c ON c.id = t.client_id
                WHERE c.erased_at IS NOT NULL AND c.erased_at <= $1 LIMIT $2)
            """, now, limit)
        done += int(result.split()[-1])
    return done
