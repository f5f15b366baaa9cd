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
