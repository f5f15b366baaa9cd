"""Kiosk devices (lobby terminals bound to an admin-issued token) and arrival check-in at a kiosk."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Final

import asyncpg

from scheduler import appointments, clients, phones, references, sites
from scheduler import requests as requests_
from scheduler.errors import TooManyRequests, ValidationFailed
from scheduler.i18n import N_
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


FREE_CHECKIN_FAILURES: Final = 5                    # wrong tries a kiosk gets before it has to wait
FIRST_CHECKIN_WAIT: Final = timedelta(seconds=5)    # then the wait doubles with each further wrong try
MAX_CHECKIN_WAIT: Final = timedelta(minutes=5)
CHECKIN_FAILURES_FORGOTTEN: Final = timedelta(minutes=15)  # after this long without a wrong try
_CUSTOMER_NUMBER: Final = re.compile(r"^[0-9]{3}[A-Z][0-9]{6}$")
_BIRTH_DATE_FORMATS: Final = ("%Y-%m-%d", "%d.%m.%Y", "%d%m%Y")


@dataclass(frozen=True, slots=True)
class CheckinEntry:
    """What a client entered at the kiosk: a reference, or a phone with birth date or customer number."""

    reference: str | None = None
    phone: str | None = None
    birth_date: date | None = None
    customer_number: str | None = None


def parse_checkin(data: Mapping[str, Any]) -> CheckinEntry:
    """The entry from the kiosk's JSON; field errors only for what is missing or malformed, never for what is
    unknown, so the answer never depends on whose data was entered."""
    reference, phone = _text(data.get("reference"), 40), _text(data.get("phone"), 40)
    if reference:
        return CheckinEntry(reference=reference)
    if not phone:
        raise ValidationFailed(fields={"reference": N_(
            "Please enter your reference code, or your phone number with your date of birth or customer number.")})
    raw_birth, raw_customer = _text(data.get("birth_date"), 20), _text(data.get("customer_number"), 20)
    if not raw_birth and not raw_customer:
        raise ValidationFailed(fields={"birth_date": N_("Please enter your date of birth or your customer number.")})
    birth = customer = None
    if raw_birth:
        birth = _birth_date(raw_birth)
        if birth is None:
            raise ValidationFailed(fields={"birth_date": N_("Please enter your date of birth like 17.05.1990.")})
    if raw_customer:
        customer = raw_customer.replace(" ", "").upper()
        if not _CUSTOMER_NUMBER.match(customer):
            raise ValidationFailed(fields={"customer_number": N_("A customer number looks like 123A456789.")})
    return CheckinEntry(phone=phone, birth_date=birth, customer_number=customer)


def _text(value: object, limit: int) -> str:
    return value.strip()[:limit] if isinstance(value, str) else ""


def _birth_date(text: str) -> date | None:
    for form in _BIRTH_DATE_FORMATS:
        try:
            return datetime.strptime(text, form).date()  # noqa: DTZ007 (a calendar date, no time zone)
        except ValueError:
            continue
    return None


def checkin_wait(failures: int) -> timedelta:
    """How long a kiosk waits after its last wrong try, given its recent wrong tries."""
    if failures < FREE_CHECKIN_FAILURES:
        return timedelta(0)
    return min(MAX_CHECKIN_WAIT, FIRST_CHECKIN_WAIT * 2 ** min(failures - FREE_CHECKIN_FAILURES, 16))


async def check_in(pool: asyncpg.Pool, *, device: KioskDevice, entry: CheckinEntry, now: datetime) -> bool:
    """Mark arrival for today's confirmed appointment the entry identifies; True when one matched.

    What was entered is never echoed and no personal data is returned, whatever matched. A kiosk that made
    too many wrong tries gets TooManyRequests until its wait is over, whatever it enters.
    """
    async with pool.acquire() as conn, conn.transaction():
        # The device row is locked: parallel tries from one kiosk are counted one after another.
        tries = await conn.fetchrow("SELECT checkin_failures, checkin_failed_at FROM kiosk_devices WHERE id = $1 "
                                    "FOR UPDATE", device.id)
        failed_at = tries["checkin_failed_at"]
        failures = tries["checkin_failures"] if failed_at and now - failed_at < CHECKIN_FAILURES_FORGOTTEN else 0
        if failures and now < failed_at + checkin_wait(failures):
            wait = failed_at + checkin_wait(failures) - now
            raise TooManyRequests(extra={"retry_after": max(1, math.ceil(wait.total_seconds()))})
        site = await sites.site_by_id(conn, device.site_id)
        calendar = site.calendar()
        today = calendar.local_date(now)
        start = calendar.day_start(today)
        end = calendar.day_start(today + timedelta(days=1))
        appointment = await _today(conn, site_id=site.id, entry=entry, start=start, end=end)
        if appointment is None:
            await conn.execute("UPDATE kiosk_devices SET checkin_failures = $2, checkin_failed_at = $3 WHERE id = $1",
                               device.id, failures + 1, now)
            return False
        await appointments.check_in(conn, appointment.id, at=now, actor=f"kiosk:{device.id}")
        return True


async def _today(conn: asyncpg.Connection, *, site_id: int, entry: CheckinEntry, start: datetime,
                 end: datetime) -> appointments.Appointment | None:
    if entry.reference is not None:
        reference = references.normalise_reference(entry.reference)
        if reference is None:
            return None
        request = await requests_.find_by_reference(conn, site_id, reference)
        if request is None:
            return None
        found = await appointments.latest_for_request(conn, request.id)
        if found is None or found.status is not appointments.AppointmentStatus.confirmed \
                or not start <= found.start < end:
            return None
        return found
    try:
        phone = phones.normalise(entry.phone or "", landline_ok=True)
    except ValidationFailed:
        return None
    client_id = await clients.find_by_phone_and_identity(conn, site_id=site_id, phone=phone,
                                                         birth_date=entry.birth_date,
                                                         customer_number=entry.customer_number)
    if client_id is None:
        return None
    return await appointments.confirmed_for_client_between(conn, site_id=site_id, client_id=client_id,
                                                           start=start, end=end)


async def list_for_site(conn: asyncpg.Connection, site_id: int) -> list[asyncpg.Record]:
    """The site's kiosk devices with who issued them, oldest first."""
    return list(await conn.fetch(
        """
        SELECT k.id, k.name, k.location, k.issued_at, k.revoked_at, k.last_seen_at, s.display_name AS issued_by
        FROM kiosk_devices k LEFT JOIN staff s ON s.id = k.issued_by WHERE k.site_id = $1 ORDER BY k.id
        """, site_id))


async def register(conn: asyncpg.Connection, *, site_id: int, name: str, location: str, token: str,
                   issued_by: int) -> int:
    """Store a new device under its token's hash; returns its id."""
    device_id: int = await conn.fetchval(
        "INSERT INTO kiosk_devices (site_id, name, location, token_hash, issued_by) VALUES ($1, $2, $3, $4, $5) "
        "RETURNING id", site_id, name, location, kiosk_token_hash(token), issued_by)
    return device_id


async def revoke(conn: asyncpg.Connection, device_id: int, *, site_id: int, now: datetime) -> bool:
    """Revoke a device's token; False when there is no such unrevoked device at the site."""
    found = await conn.fetchval(
        "UPDATE kiosk_devices SET revoked_at = $3 WHERE id = $1 AND site_id = $2 AND revoked_at IS NULL "
        "RETURNING id", device_id, site_id, now)
    return found is not None
