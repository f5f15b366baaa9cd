"""Kiosk devices (lobby terminals bound to an admin-issued token) and arrival check-in at a kiosk."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from scheduler import appointments, availability, clients, phones, references
from scheduler import requests as requests_
from scheduler.errors import ValidationFailed
from scheduler.seed import kiosk_token_hash


@dataclass(frozen=True, slots=True)
class KioskDevice:
    id: int
    site_id: int
    site_code: str
    name: str


async def authenticate(conn: asyncpg.Connection, token: str, *, now: datetime) -> KioskDevice | None:
    """The device for a token unless unknown or revoked; notes that the device was seen."""
    if not token or len(token) > 200:
        return None
    row = await conn.fetchrow(
        """
        UPDATE kiosk_devices k SET last_seen_at = $2
        FROM sites s
        WHERE k.token_hash = $1 AND k.revoked_at IS NULL AND s.id = k.site_id
        RETURNING k.id, k.site_id, s.code AS site_code, k.name
        """,
        kiosk_token_hash(token), now,
    )
    return KioskDevice(**row) if row else None


async def check_in(pool: asyncpg.Pool, *, device: KioskDevice, entered: str, now: datetime) -> bool:
    """Mark arrival for today's confirmed appointment found by reference or phone; True when one matched.

    What was entered is never echoed and no personal data is returned, whatever matched.
    """
    async with pool.acquire() as conn, conn.transaction():
        site = await availability.site_by_id(conn, device.site_id)
        calendar = site.calendar()
        today = calendar.local_date(now)
        start = calendar.day_start(today)
        end = calendar.day_start(today + timedelta(days=1))
        appointment = await _today(conn, site_id=site.id, entered=entered, start=start, end=end)
        if appointment is None:
            return False
        await appointments.check_in(conn, appointment.id, at=now, actor=f"kiosk:{device.id}")
        return True


async def _today(conn: asyncpg.Connection, *, site_id: int, entered: str, start: datetime,
                 end: datetime) -> appointments.Appointment | None:
    reference = references.normalise_reference(entered)
    if reference is not None:
        request = await requests_.find_by_reference(conn, site_id, reference)
        if request is None:
            return None
        found = await appointments.latest_for_request(conn, request.id)
        if found is None or found.status is not appointments.AppointmentStatus.confirmed \
                or not start <= found.start < end:
            return None
        return found
    try:
        phone = phones.normalise(entered, landline_ok=True)
    except ValidationFailed:
        return None
    client = await clients.find_by_phone(conn, site_id=site_id, phone=phone)
    if client is None:
        return None
    return await appointments.confirmed_for_client_between(conn, site_id=site_id, client_id=client.id,
                                                           start=start, end=end)
