"""Clients: the minimum we keep about a person (phone, language, consent, assigned caseworker)."""

from __future__ import annotations

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

    @property
    def can_receive_sms(self) -> bool:
        """Consent given, not opted out, and a number to send to."""
        return bool(self.phone) and self.sms_consent and self.sms_opted_out_at is None

    def age_on(self, day: date) -> int | None:
        """Age in whole years on a day, when the birth date is known."""
        if self.birth_date is None:
            return None
        b = self.birth_date
        return day.year - b.year - ((day.month, day.day) < (b.month, b.day))


COLUMNS = "id, site_id, phone, language, sms_consent, sms_opted_out_at, assigned_staff_id, birth_date"


async def upsert_by_phone(conn: asyncpg.Connection, *, site_id: int, phone: str, language: str,
                          sms_consent: bool, customer_number: str | None, name: str | None) -> Client:
    """Find the client with this phone at the site, or create them; keep what we knew, update the wishes.

    A new request never erases a name or customer number given earlier, and never re-enables SMS after
    the client sent STOP (only START does that).
    """
    row = await conn.fetchrow(
        f"""
        INSERT INTO clients (site_id, phone, language, sms_consent, customer_number, name)
        VALUES ($1, $2, $3, $4, $5, $6)
        ON CONFLICT (site_id, phone) WHERE phone IS NOT NULL DO UPDATE SET
            language = EXCLUDED.language,
            sms_consent = clients.sms_consent OR EXCLUDED.sms_consent,
            customer_number = coalesce(EXCLUDED.customer_number, clients.customer_number),
            name = coalesce(EXCLUDED.name, clients.name),
            updated_at = now()
        RETURNING {COLUMNS}
        """,
        site_id, phone, language, sms_consent, customer_number, name,
    )
    return Client(**row)


async def get(conn: asyncpg.Connection, client_id: int) -> Client:
    """One client (must exist)."""
    row = await conn.fetchrow(f"SELECT {COLUMNS} FROM clients WHERE id = $1", client_id)
    assert row is not None
    return Client(**row)


async def find_by_phone(conn: asyncpg.Connection, *, site_id: int, phone: str) -> Client | None:
    """The client with this phone at the site, or None."""
    row = await conn.fetchrow(f"SELECT {COLUMNS} FROM clients WHERE site_id = $1 AND phone = $2", site_id, phone)
    return Client(**row) if row else None


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


async def opted_out(conn: asyncpg.Connection, *, site_id: int, phone: str) -> bool:
    """True when the client with this number has sent STOP (or withdrawn consent)."""
    row = await conn.fetchrow(
        "SELECT sms_opted_out_at IS NOT NULL OR NOT sms_consent AS blocked FROM clients "
        "WHERE site_id = $1 AND phone = $2", site_id, phone)
    return bool(row and row["blocked"])
