"""client_actions.py called directly: confirm, cancel, "another time", cancel a callback, the status view."""

from __future__ import annotations

import asyncio
import secrets
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from scheduler import callbacks, client_actions
from scheduler import requests as requests_
from scheduler.appointments import AppointmentStatus
from scheduler.callbacks import CallbackStatus
from scheduler.errors import InvalidTransition, NotFound
from scheduler.policy.rules import Channel
from tests.factories import SiteFacts, create_appointment, create_request

NOW = datetime.now(UTC)
START = (NOW + timedelta(days=10)).replace(hour=9, minute=0, second=0, microsecond=0)
MEYER_CLIENT = "+4915123456704"  # assigned to cw.meyer in the demo data


async def _scheduled(conn: asyncpg.Connection, site: SiteFacts) -> tuple[int, int]:
    request_id = await create_request(conn, site, client_id=site.clients[MEYER_CLIENT], status="scheduled",
                                      staff="cw.meyer", team="placement")
    await conn.execute("UPDATE requests SET sms_consent = true WHERE id = $1", request_id)  # it asked for SMS
    appointment_id = await create_appointment(conn, site, start=START, request_id=request_id)
    return request_id, appointment_id


async def _outbox_keys(conn: asyncpg.Connection, appointment_id: int) -> list[str]:
    rows = await conn.fetch("SELECT idempotency_key FROM outbox WHERE appointment_id = $1 ORDER BY id",
                            appointment_id)
    return [r["idempotency_key"] for r in rows]


async def test_confirm_is_recorded_only_for_a_booked_request(pool: asyncpg.Pool, conn: asyncpg.Connection,
                                                             site: SiteFacts) -> None:
    request_id, appointment_id = await _scheduled(conn, site)
    confirmed = await client_actions.confirm(pool, request_id=request_id, actor="client:web")
    assert confirmed.id == appointment_id and confirmed.status is AppointmentStatus.confirmed
    assert await conn.fetchval("SELECT count(*) FROM audit_events WHERE action = 'appointment.client_confirmed' "
                               "AND subject_id = $1", appointment_id) == 1
    waiting = await create_request(conn, site, status="received")
    with pytest.raises(InvalidTransition):
        await client_actions.confirm(pool, request_id=waiting, actor="client:web")


async def test_cancel_withdraws_the_request_and_tells_the_client_once(pool: asyncpg.Pool, conn: asyncpg.Connection,
                                                                      site: SiteFacts) -> None:
    request_id, appointment_id = await _scheduled(conn, site)
    withdrawn = await client_actions.cancel(pool, request_id=request_id, actor="client:web", now=NOW)
    assert withdrawn.status is requests_.Status.withdrawn
    row = await conn.fetchrow("SELECT status, sequence, cancel_reason FROM appointments WHERE id = $1",
                              appointment_id)
    assert (row["status"], row["sequence"], row["cancel_reason"]) == ("cancelled", 1, "client")
    assert await _outbox_keys(conn, appointment_id) == [f"appointment:{appointment_id}:cancelled:1"]
    with pytest.raises(InvalidTransition):
        await client_actions.cancel(pool, request_id=request_id, actor="client:web", now=NOW)
    assert await _outbox_keys(conn, appointment_id) == [f"appointment:{appointment_id}:cancelled:1"]
    with pytest.raises(InvalidTransition):
        await client_actions.confirm(pool, request_id=request_id, actor="client:web")


async def test_another_time_releases_the_slot_and_replans_for_the_same_caseworker(
        pool: asyncpg.Pool, conn: asyncpg.Connection, site: SiteFacts) -> None:
    request_id, appointment_id = await _scheduled(conn, site)
    again = await client_actions.another_time(pool, request_id=request_id, actor="client:web", now=NOW,
                                              reminder_offsets=())
    # Issue 14: the client keeps their time until staff pick a new one (a move, see tests/test_moves.py).
    assert again.wants_other_time and again.staff_id == site.staff["cw.meyer"]
    assert again.status is requests_.Status.scheduled
    assert await conn.fetchval("SELECT status FROM appointments WHERE id = $1", appointment_id) == "confirmed"
    assert await _outbox_keys(conn, appointment_id) == []
    await client_actions.cancel(pool, request_id=request_id, actor="client:web", now=NOW)
    with pytest.raises(InvalidTransition):
        await client_actions.another_time(pool, request_id=request_id, actor="client:web", now=NOW,
                                          reminder_offsets=())


async def test_two_cancellations_at_once_cancel_the_appointment_once(pool: asyncpg.Pool, conn: asyncpg.Connection,
                                                                    site: SiteFacts) -> None:
    request_id, appointment_id = await _scheduled(conn, site)

    async def cancel() -> str:
        try:
            await client_actions.cancel(pool, request_id=request_id, actor="client:sms", now=NOW)
        except InvalidTransition:
            return "refused"
        return "cancelled"

    assert sorted(await asyncio.gather(cancel(), cancel())) == ["cancelled", "refused"]
    assert await conn.fetchval("SELECT sequence FROM appointments WHERE id = $1", appointment_id) == 1
    assert len(await _outbox_keys(conn, appointment_id)) == 1
    assert await conn.fetchval("SELECT count(*) FROM audit_events WHERE action = 'request.withdrawn' "
                               "AND subject_id = $1", request_id) == 1


async def test_cancel_callback_only_while_open(pool: asyncpg.Pool, conn: asyncpg.Connection, site: SiteFacts) -> None:
    inserted = await callbacks.insert(
        conn, site_id=site.site_id, client_id=site.clients[MEYER_CLIENT], concern_id=site.concerns["general"],
        channel=Channel.web, reference=secrets.token_hex(4).upper(), link_token=secrets.token_urlsafe(16),
        phone=MEYER_CLIENT, language="de", windows={}, note="", idempotency_key=None)
    assert inserted is not None
    callback_id, _, token = inserted
    assert (await client_actions.status_view(conn, token, "de"))["actions"] == ["cancel"]
    closed = await client_actions.cancel_callback(pool, callback_id=callback_id, actor="client:web")
    assert closed.status is CallbackStatus.cancelled
    with pytest.raises(InvalidTransition):
        await client_actions.cancel_callback(pool, callback_id=callback_id, actor="client:web")
    view = await client_actions.status_view(conn, token, "de")
    assert (view["kind"], view["status"], view["actions"]) == ("callback", "cancelled", [])


async def test_status_view_shows_time_and_place_but_no_personal_data(conn: asyncpg.Connection,
                                                                     site: SiteFacts) -> None:
    request_id, _ = await _scheduled(conn, site)
    token = await conn.fetchval("SELECT link_token FROM requests WHERE id = $1", request_id)
    view = await client_actions.status_view(conn, token, "de")
    assert view["status"] == "scheduled"
    assert view["actions"] == ["confirm", "another_time", "cancel", "invite"]
    assert view["appointment"]["start"] == START.isoformat()
    text = repr(view)
    client = await conn.fetchrow("SELECT name, phone FROM clients WHERE id = $1", site.clients[MEYER_CLIENT])
    assert client["phone"] not in text and client["name"] not in text
    with pytest.raises(NotFound):
        await client_actions.status_view(conn, "no-such-token", "de")
