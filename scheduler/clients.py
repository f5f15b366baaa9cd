"""Clients: the minimum we keep about a person (phone, language, consent, assigned caseworker).

Name and customer number here are only ever what staff verified; `sms_consent` is the number's own
consent (given by staff, or confirmed from the number by a reply); each request carries its own.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime

import asyncpg


@dataclass(frozen=True, slots=True)
class Client:
    id: int
    site_id: int
    phone: str | None
    language: str
    sms_consent: bool
    sms_opted_out_at: datetime | None
    assigned_staff_id: int | None
    birth_date: date | None

    def age_on(self, day: date) -> int | None:
        """Age in whole years on a day, when the birth date is known."""
        if self.birth_date is None:
            return None
        b = self.birth_date
        return day.year - b.year - ((day.month, day.day) < (b.month, b.day))


COLUMNS = "id, site_id, phone, language, sms_consent, sms_opted_out_at, assigned_staff_id, birth_date"


async def upsert_by_phone(conn: asyncpg.Connection, *, site_id: int, phone: str, language: str,
                          staff: bool = False, sms_consent: bool = False) -> Client:
    """Find the client with this phone at the site, or create one with phone and language only.

    Name and customer number are never written here: what an unauthenticated channel says about a person
    stays with its request, unverified. Its language replaces the client's only while no staff member set
    one. `staff` (an authenticated channel) sets the language as verified and may confirm the number's SMS
    consent; STOP is never undone here (only START does that).
    """
    row = await conn.fetchrow(
        f"""
        INSERT INTO clients (site_id, phone, language, language_verified, sms_consent)
        VALUES ($1, $2, $3, $4, $4 AND $5)
        ON CONFLICT (site_id, phone) WHERE phone IS NOT NULL DO UPDATE SET
            language = CASE WHEN clients.language_verified AND NOT $4 THEN clients.language
                            ELSE EXCLUDED.language END,
            language_verified = clients.language_verified OR $4,
            sms_consent = clients.sms_consent OR EXCLUDED.sms_consent,
            updated_at = now()
        RETURNING {COLUMNS}
        """,
        site_id, phone, language, staff, sms_consent,
    )
    return Client(**row)


async def upsert_by_customer_number(conn: asyncpg.Connection, *, site_id: int, customer_number: str,
                                    name: str | None, language: str) -> Client:
    """Find the client with this customer number at the site, or create one without a phone (staff only).

    Only staff call this (an invitation of a client without a mobile number): customer number, name and
    language count as verified. Concurrent calls for the same number wait for each other (advisory lock), so
    one client is created, not two.
    """
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext('client-customer-number'), hashtext($1))",
                       f"{site_id}:{customer_number}")
    row = await conn.fetchrow(
        f"""
        UPDATE clients SET name = coalesce($3, name), language = $4, language_verified = true, updated_at = now()
        WHERE id = (SELECT id FROM clients WHERE site_id = $1 AND customer_number = $2 AND erased_at IS NULL
                    ORDER BY id LIMIT 1)
        RETURNING {COLUMNS}
        """, site_id, customer_number, name, language)
    if row is None:
        row = await conn.fetchrow(
            f"""
            INSERT INTO clients (site_id, customer_number, name, language, language_verified)
            VALUES ($1, $2, $3, $4, true) RETURNING {COLUMNS}
            """, site_id, customer_number, name, language)
    return Client(**row)


async def confirm_sms(conn: asyncpg.Connection, *, site_id: int, phone: str) -> bool:
    """The number itself agreed to SMS (it answered); True when it had not before."""
    result: str = await conn.execute(
        "UPDATE clients SET sms_consent = true, updated_at = now() "
        "WHERE site_id = $1 AND phone = $2 AND NOT sms_consent AND sms_opted_out_at IS NULL", site_id, phone)
    return result.split()[-1] != "0"


async def get(conn: asyncpg.Connection, client_id: int) -> Client:
    """One client (must exist)."""
    row = await conn.fetchrow(f"SELECT {COLUMNS} FROM clients WHERE id = $1", client_id)
    assert row is not None
    return Client(**row)


async def get_many(conn: asyncpg.Connection, client_ids: Collection[int]) -> dict[int, Client]:
    """Many clients by id, in one statement (a job's batch)."""
    rows = await conn.fetch(f"SELECT {COLUMNS} FROM clients WHERE id = ANY($1::bigint[])", list(client_ids))
    return {r["id"]: Client(**r) for r in rows}


async def find_by_phone(conn: asyncpg.Connection, *, site_id: int, phone: str) -> Client | None:
    """The client with this phone at the site, or None."""
    row = await conn.fetchrow(f"SELECT {COLUMNS} FROM clients WHERE site_id = $1 AND phone = $2", site_id, phone)
    return Client(**row) if row else None


async def find_by_phone_and_identity(conn: asyncpg.Connection, *, site_id: int, phone: str, birth_date: date | None,
                                     customer_number: str | None) -> int | None:
    """The id of the client with this phone whose stored birth date or customer number matches, or None."""
    client_id: int | None = await conn.fetchval(
        "SELECT id FROM clients WHERE site_id = $1 AND phone = $2 AND (birth_date = $3 OR customer_number = $4)",
        site_id, phone, birth_date, customer_number)
    return client_id


async def set_sms_opt_out(conn: asyncpg.Connection, *, phone: str, at: datetime | None) -> int:
    """STOP (at = when) or START (at = None) for every client with this number, at every site.

    The number is what Twilio knows, not the site, so an opt-out covers all sites; START also counts as
    consent again.
    """
    result: str = await conn.execute(
        """
        UPDATE clients SET sms_opted_out_at = $2, sms_consent = sms_consent OR $2::timestamptz IS NULL,
               updated_at = now()
        WHERE phone = $1
        """,
        phone, at,
    )
    return int(result.split()[-1])


async def opted_out(conn: asyncpg.Connection, *, site_id: int, phone: str, receipt: bool = False) -> bool:
    """True when the number sent STOP, or (unless this is a receipt) has not confirmed SMS itself."""
    row = await conn.fetchrow(
        "SELECT sms_opted_out_at IS NOT NULL OR NOT (sms_consent OR $3) AS blocked FROM clients "
        "WHERE site_id = $1 AND phone = $2", site_id, phone, receipt)
    return bool(row and row["blocked"])


@dataclass(frozen=True, slots=True)
class StaffFacts:
    """What staff see of a client on a request page."""

    id: int
    name: str | None
    phone: str | None
    customer_number: str | None
    language: str
    sms_consent: bool
    sms_opted_out_at: datetime | None
    erased_at: datetime | None


async def staff_facts(conn: asyncpg.Connection, client_id: int) -> StaffFacts:
    """A client's name, phone, customer number, language and consent, for staff (the client must exist)."""
    row = await conn.fetchrow(
        """
        SELECT id, name, phone, customer_number, language, sms_consent, sms_opted_out_at, erased_at
        FROM clients WHERE id = $1
        """, client_id)
    assert row is not None
    return StaffFacts(**row)
