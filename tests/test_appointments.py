"""appointments.py called directly: booking, cancelling, finishing, check-in and their guards."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from scheduler import appointments
from scheduler.appointments import AppointmentStatus
from scheduler.errors import InvalidTransition, SlotTaken
from tests.factories import SiteFacts, create_appointment, create_request

START = (datetime.now(UTC) + timedelta(days=14)).replace(hour=8, minute=0, second=0, microsecond=0)


async def _audit(conn: asyncpg.Connection, appointment_id: int) -> list[str]:
    rows = await conn.fetch("SELECT action FROM audit_events WHERE subject_type = 'appointment' AND subject_id = $1 "
                            "ORDER BY id", appointment_id)
    return [r["action"] for r in rows]


async def _book(conn: asyncpg.Connection, site: SiteFacts, request_id: int, *, start: datetime = START,
                staff: str = "cw.meyer") -> appointments.Appointment:
    client_id = await conn.fetchval("SELECT client_id FROM requests WHERE id = $1", request_id)
    return await appointments.book(conn, site_id=site.site_id, request_id=request_id, client_id=client_id,
                                   staff_id=site.staff[staff], start=start, end=start + timedelta(minutes=30),
                                   mode="in_person", room="A 1.12", actor="test")


async def test_book_writes_a_confirmed_appointment_and_an_audit_row(conn: asyncpg.Connection, site: SiteFacts) -> None:
    request_id = await create_request(conn, site, status="proposed", staff="cw.meyer")
    booked = await _book(conn, site, request_id)
    assert booked.status is AppointmentStatus.confirmed
    assert (booked.start, booked.end) == (START, START + timedelta(minutes=30))
    assert booked.sequence == 0 and booked.room == "A 1.12"
    assert await _audit(conn, booked.id) == ["appointment.book"]
    assert (await appointments.latest_for_request(conn, request_id)) == booked


async def test_book_refuses_a_second_live_appointment_and_a_double_booking(conn: asyncpg.Connection,
                                                                           site: SiteFacts) -> None:
    request_id = await create_request(conn, site, status="proposed", staff="cw.meyer")
    await _book(conn, site, request_id)
    # Same request, another time: one confirmed appointment per request.
    with pytest.raises(InvalidTransition):
        await _book(conn, site, request_id, start=START + timedelta(hours=2))
    # Another request, overlapping time of the same caseworker: the exclusion constraint says no.
    other = await create_request(conn, site, status="proposed", staff="cw.meyer")
    async with conn.transaction():
        with pytest.raises(SlotTaken):
            await _book(conn, site, other, start=START + timedelta(minutes=15))
        # The savepoint kept the caller's transaction usable.
        assert await conn.fetchval("SELECT count(*) FROM appointments WHERE request_id = $1", other) == 0
    assert await conn.fetchval("SELECT count(*) FROM appointments") == 1


async def test_cancel_bumps_the_sequence_once_and_refuses_a_second_cancel(conn: asyncpg.Connection,
                                                                          site: SiteFacts) -> None:
    appointment_id = await create_appointment(conn, site, start=START)
    cancelled = await appointments.cancel(conn, appointment_id, actor="client", reason="ill")
    assert cancelled.status is AppointmentStatus.cancelled and cancelled.sequence == 1
    assert await conn.fetchval("SELECT cancel_reason FROM appointments WHERE id = $1", appointment_id) == "ill"
    with pytest.raises(InvalidTransition):
        await appointments.cancel(conn, appointment_id, actor="client", reason="again")
    with pytest.raises(InvalidTransition):
        await appointments.finish(conn, appointment_id, to=AppointmentStatus.completed, actor="cw")
    assert (await appointments.get(conn, appointment_id)).sequence == 1
    assert await _audit(conn, appointment_id) == ["appointment.cancel"]
    # The time is free again for the same caseworker.
    request_id = await create_request(conn, site, status="proposed", staff="cw.meyer")
    assert (await _book(conn, site, request_id)).status is AppointmentStatus.confirmed


async def test_finish_only_to_completed_or_no_show_and_only_once(conn: asyncpg.Connection, site: SiteFacts) -> None:
    appointment_id = await create_appointment(conn, site, start=START)
    with pytest.raises(ValueError):
        await appointments.finish(conn, appointment_id, to=AppointmentStatus.cancelled, actor="cw")
    done = await appointments.finish(conn, appointment_id, to=AppointmentStatus.no_show, actor="cw")
    assert done.status is AppointmentStatus.no_show
    with pytest.raises(InvalidTransition):
        await appointments.finish(conn, appointment_id, to=AppointmentStatus.completed, actor="cw")
    assert await _audit(conn, appointment_id) == ["appointment.no_show"]


async def test_check_in_keeps_the_first_arrival_and_refuses_a_cancelled_appointment(conn: asyncpg.Connection,
                                                                                    site: SiteFacts) -> None:
    appointment_id = await create_appointment(conn, site, start=START)
    first = START - timedelta(minutes=10)
    assert (await appointments.check_in(conn, appointment_id, at=first, actor="kiosk")).arrived_at == first
    again = await appointments.check_in(conn, appointment_id, at=first + timedelta(minutes=5), actor="kiosk")
    assert again.arrived_at == first
    await appointments.cancel(conn, appointment_id, actor="cw", reason="x")
    with pytest.raises(InvalidTransition):
        await appointments.check_in(conn, appointment_id, at=first, actor="kiosk")


async def test_two_connections_cancelling_at_once_exactly_one_wins(pool: asyncpg.Pool, site: SiteFacts) -> None:
    async with pool.acquire() as conn:
        appointment_id = await create_appointment(conn, site, start=START)

    async def cancel() -> str:
        async with pool.acquire() as c, c.transaction():
            try:
                await appointments.cancel(c, appointment_id, actor="race", reason="r")
            except InvalidTransition:
                return "refused"
            return "won"

    results = await asyncio.gather(cancel(), cancel())
    assert sorted(results) == ["refused", "won"]
    async with pool.acquire() as conn:
        assert (await appointments.get(conn, appointment_id)).sequence == 1
        assert await _audit(conn, appointment_id) == ["appointment.cancel"]


async def test_two_requests_racing_for_one_slot_exactly_one_is_booked(pool: asyncpg.Pool, site: SiteFacts) -> None:
    async with pool.acquire() as conn:
        first = await create_request(conn, site, status="proposed", staff="cw.meyer")
        second = await create_request(conn, site, status="proposed", staff="cw.meyer")

    async def book(request_id: int) -> str:
        async with pool.acquire() as c, c.transaction():
            try:
                await _book(c, site, request_id)
            except SlotTaken:
                return "taken"
            return "booked"

    assert sorted(await asyncio.gather(book(first), book(second))) == ["booked", "taken"]
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM appointments WHERE status = 'confirmed'") == 1
