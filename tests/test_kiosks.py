"""kiosks.py called directly: device tokens (register, authenticate, revoke) and arrival check-in."""

from __future__ import annotations

import secrets
from datetime import UTC, date, datetime, timedelta

import asyncpg
import pytest

from scheduler import kiosks, references, sites
from scheduler.errors import TooManyRequests, ValidationFailed
from scheduler.kiosks import CheckinEntry
from tests.factories import SiteFacts, create_appointment, create_client, create_request

BIRTH = date(1990, 5, 17)


async def _device(conn: asyncpg.Connection, site: SiteFacts) -> tuple[kiosks.KioskDevice, str]:
    token = secrets.token_urlsafe(32)
    await kiosks.register(conn, site_id=site.site_id, name="Foyer", location="EG", token=token,
                          issued_by=site.staff["admin"])
    device = await kiosks.authenticate(conn, token, now=datetime.now(UTC))
    assert device is not None
    return device, token


async def _ten_o_clock(conn: asyncpg.Connection, site: SiteFacts) -> datetime:
    """10:00 local time on a day a week ahead: 'now' for the kiosk."""
    calendar = (await sites.site_by_id(conn, site.site_id)).calendar()
    return calendar.day_start(calendar.local_date(datetime.now(UTC)) + timedelta(days=7)) + timedelta(hours=10)


async def _appointment_at(conn: asyncpg.Connection, site: SiteFacts, start: datetime) -> tuple[int, str, str]:
    """An appointment at `start`: (id, its request's reference, its client's phone)."""
    client_id = await create_client(conn, site)
    await conn.execute("UPDATE clients SET birth_date = $2 WHERE id = $1", client_id, BIRTH)
    request_id = await create_request(conn, site, client_id=client_id, status="scheduled", staff="cw.meyer")
    reference = references.new_reference()
    await conn.execute("UPDATE requests SET reference = $2 WHERE id = $1", request_id, reference)
    appointment_id = await create_appointment(conn, site, start=start, request_id=request_id)
    phone = await conn.fetchval("SELECT phone FROM clients WHERE id = $1", client_id)
    return appointment_id, reference, phone


async def test_a_device_authenticates_until_revoked(conn: asyncpg.Connection, site: SiteFacts) -> None:
    device, token = await _device(conn, site)
    assert (device.site_id, device.name) == (site.site_id, "Foyer")
    assert await conn.fetchval("SELECT last_seen_at IS NOT NULL FROM kiosk_devices WHERE id = $1", device.id)
    assert await kiosks.authenticate(conn, token + "x", now=datetime.now(UTC)) is None
    assert await kiosks.authenticate(conn, "", now=datetime.now(UTC)) is None
    # Only an admin of the device's own site can revoke it.
    assert not await kiosks.revoke(conn, device.id, site_id=site.site_id + 1000, now=datetime.now(UTC))
    assert await kiosks.revoke(conn, device.id, site_id=site.site_id, now=datetime.now(UTC))
    assert not await kiosks.revoke(conn, device.id, site_id=site.site_id, now=datetime.now(UTC))
    assert await kiosks.authenticate(conn, token, now=datetime.now(UTC)) is None
    # The token itself is never stored.
    assert await conn.fetchval("SELECT count(*) FROM kiosk_devices WHERE token_hash = $1", token) == 0


async def test_check_in_by_reference_marks_todays_appointment_once(pool: asyncpg.Pool, conn: asyncpg.Connection,
                                                                   site: SiteFacts) -> None:
    device, _ = await _device(conn, site)
    now = await _ten_o_clock(conn, site)
    appointment_id, reference, _ = await _appointment_at(conn, site, now + timedelta(minutes=20))
    typed = reference.lower().replace("-", " ")
    assert await kiosks.check_in(pool, device=device, entry=CheckinEntry(reference=typed), now=now)
    assert await conn.fetchval("SELECT arrived_at FROM appointments WHERE id = $1", appointment_id) == now
    later = now + timedelta(minutes=3)
    assert await kiosks.check_in(pool, device=device, entry=CheckinEntry(reference=reference), now=later)
    assert await conn.fetchval("SELECT arrived_at FROM appointments WHERE id = $1", appointment_id) == now
    actors = {r["actor"] for r in await conn.fetch(
        "SELECT actor FROM audit_events WHERE action = 'appointment.check_in' AND subject_id = $1", appointment_id)}
    assert actors == {f"kiosk:{device.id}"}


async def test_check_in_by_phone_needs_a_matching_identity_and_the_right_day(pool: asyncpg.Pool,
                                                                             conn: asyncpg.Connection,
                                                                             site: SiteFacts) -> None:
    device, _ = await _device(conn, site)
    now = await _ten_o_clock(conn, site)
    tomorrow_id, tomorrow_ref, _ = await _appointment_at(conn, site, now + timedelta(days=1))
    appointment_id, _, phone = await _appointment_at(conn, site, now + timedelta(hours=2))
    wrong = CheckinEntry(phone=phone, birth_date=date(1991, 5, 17))
    assert not await kiosks.check_in(pool, device=device, entry=wrong, now=now)
    assert not await kiosks.check_in(pool, device=device, entry=CheckinEntry(reference=tomorrow_ref), now=now)
    assert await kiosks.check_in(pool, device=device, entry=CheckinEntry(phone=phone, birth_date=BIRTH), now=now)
    assert await conn.fetchval("SELECT arrived_at FROM appointments WHERE id = $1", appointment_id) == now
    assert await conn.fetchval("SELECT arrived_at FROM appointments WHERE id = $1", tomorrow_id) is None
    assert await conn.fetchval("SELECT checkin_failures FROM kiosk_devices WHERE id = $1", device.id) == 2


async def test_too_many_wrong_tries_make_the_kiosk_wait(pool: asyncpg.Pool, conn: asyncpg.Connection,
                                                        site: SiteFacts) -> None:
    device, _ = await _device(conn, site)
    now = await _ten_o_clock(conn, site)
    appointment_id, reference, _ = await _appointment_at(conn, site, now + timedelta(hours=1))
    for _ in range(kiosks.FREE_CHECKIN_FAILURES):
        assert not await kiosks.check_in(pool, device=device, entry=CheckinEntry(reference="ZZZZ-ZZZZ"), now=now)
    with pytest.raises(TooManyRequests) as waiting:
        await kiosks.check_in(pool, device=device, entry=CheckinEntry(reference=reference), now=now)
    assert waiting.value.extra["retry_after"] == kiosks.FIRST_CHECKIN_WAIT.total_seconds()
    assert await conn.fetchval("SELECT arrived_at FROM appointments WHERE id = $1", appointment_id) is None
    after = now + kiosks.FIRST_CHECKIN_WAIT
    assert await kiosks.check_in(pool, device=device, entry=CheckinEntry(reference=reference), now=after)


def test_wait_doubles_after_the_free_tries_up_to_a_limit() -> None:
    free = kiosks.FREE_CHECKIN_FAILURES
    assert kiosks.checkin_wait(free - 1) == timedelta(0)
    assert kiosks.checkin_wait(free) == kiosks.FIRST_CHECKIN_WAIT
    assert kiosks.checkin_wait(free + 2) == kiosks.FIRST_CHECKIN_WAIT * 4
    assert kiosks.checkin_wait(free + 100) == kiosks.MAX_CHECKIN_WAIT


def test_parse_checkin_needs_a_reference_or_phone_with_identity() -> None:
    assert kiosks.parse_checkin({"reference": " k7q4-m2xd "}) == CheckinEntry(reference="k7q4-m2xd")
    assert kiosks.parse_checkin({"phone": "0151 1", "birth_date": "17.05.1990"}) == \
        CheckinEntry(phone="0151 1", birth_date=BIRTH)
    for bad in ({}, {"phone": "0151"}, {"phone": "0151", "birth_date": "31.02.1990"},
                {"phone": "0151", "customer_number": "12"}):
        with pytest.raises(ValidationFailed):
            kiosks.parse_checkin(bad)
