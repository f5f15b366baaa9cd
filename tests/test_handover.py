"""Deactivation hands a caseworker's open work to a colleague or the team; listed before it is confirmed."""

from __future__ import annotations

import secrets

import asyncpg
import pytest

from scheduler import appointments, callbacks, handover, moves
from scheduler import requests as requests_
from scheduler.errors import Forbidden, NotFound, ValidationFailed
from scheduler.permissions import Role
from scheduler.policy.rules import Channel
from tests.factories import SiteFacts, create_appointment, create_client, create_request
from tests.test_moves import NOW, booked, free_later, user

ADMIN = ("admin", Role.admin, "entrance")


async def _callback_for(conn: asyncpg.Connection, site: SiteFacts, staff: str) -> int:
    client_id = await create_client(conn, site)
    phone = await conn.fetchval("SELECT phone FROM clients WHERE id = $1", client_id)
    inserted = await callbacks.insert(
        conn, site_id=site.site_id, client_id=client_id, concern_id=site.concerns["general"], channel=Channel.phone,
        reference=secrets.token_hex(4).upper(), link_token=secrets.token_urlsafe(16), phone=phone, language="de",
        windows={}, note="", idempotency_key=None)
    assert inserted is not None
    await conn.execute("UPDATE callbacks SET staff_id = $2, team_id = $3 WHERE id = $1", inserted[0],
                       site.staff[staff], site.teams["placement"])
    return inserted[0]


async def _meyer_holds(pool: asyncpg.Pool, conn: asyncpg.Connection,
                       site: SiteFacts) -> tuple[int, int, appointments.Appointment, appointments.Appointment]:
    """An open request, an open callback and two future appointments of cw.meyer; cw.demir is busy at the
    time of the second one."""
    request_id = await create_request(conn, site, staff="cw.meyer", team="placement", status="received")
    callback_id = await _callback_for(conn, site, "cw.meyer")
    free = await booked(pool, conn, site)
    busy = await booked(pool, conn, site)
    demir_free = await free_later(conn, site, username="cw.demir", after=max(free.start, busy.start))
    await moves.move(pool, target=moves.Target(busy.id, site.staff["cw.meyer"], demir_free[0].start, busy.mode),
                     user=user(site, "cw.meyer"), now=NOW, reminder_offsets=())
    await create_appointment(conn, site, staff="cw.demir", start=demir_free[0].start)
    return request_id, callback_id, free, await appointments.get(conn, busy.id)


async def test_preview_lists_everything_and_changes_nothing(pool: asyncpg.Pool, conn: asyncpg.Connection,
                                                            site: SiteFacts) -> None:
    request_id, callback_id, free, busy = await _meyer_holds(pool, conn, site)
    held = await handover.preview(conn, user=user(site, *ADMIN), staff_id=site.staff["cw.meyer"], now=NOW)
    assert request_id in {r.id for r in held.requests}
    assert [c.id for c in held.callbacks] == [callback_id]
    assert {a.id for a in held.appointments} == {free.id, busy.id}
    assert held.active and await conn.fetchval("SELECT active FROM staff WHERE id = $1", site.staff["cw.meyer"])
    with pytest.raises(Forbidden):
        await handover.preview(conn, user=user(site, "lead.placement", Role.team_lead), staff_id=site.staff["cw.meyer"],
                               now=NOW)


async def test_handover_to_a_colleague_keeps_free_times_and_lists_the_rest(pool: asyncpg.Pool,
                                                                           conn: asyncpg.Connection,
                                                                           site: SiteFacts) -> None:
    request_id, callback_id, free, busy = await _meyer_holds(pool, conn, site)
    demir = site.staff["cw.demir"]
    result = await handover.confirm(pool, user=user(site, *ADMIN), staff_id=site.staff["cw.meyer"], to_staff_id=demir,
                                    now=NOW, reminder_offsets=())
    assert await conn.fetchval("SELECT active FROM staff WHERE id = $1", site.staff["cw.meyer"]) is False
    assert (await requests_.get(conn, request_id)).staff_id == demir
    assert (await callbacks.get(conn, callback_id)).staff_id == demir
    assert result.kept == (free.id,) and result.to_review == (busy.id,)
    kept = await appointments.get(conn, free.id)
    assert (kept.staff_id, kept.start, kept.ical_uid, kept.sequence) == (demir, free.start, free.ical_uid, 1)
    review = await moves.review(pool, source="staff", source_id=site.staff["cw.meyer"], user=user(site, *ADMIN),
                                now=NOW)
    assert [r.appointment.id for r in review] == [busy.id]
    # the deactivated person is no longer proposed; a colleague of the team is
    assert review[0].proposals and site.staff["cw.meyer"] not in {s.caseworker_id for s in review[0].proposals}


async def test_handover_to_the_team_unassigns_and_sends_every_appointment_to_review(
        pool: asyncpg.Pool, conn: asyncpg.Connection, site: SiteFacts) -> None:
    request_id, callback_id, free, busy = await _meyer_holds(pool, conn, site)
    result = await handover.confirm(pool, user=user(site, *ADMIN), staff_id=site.staff["cw.meyer"],
                                    to_staff_id=None, now=NOW, reminder_offsets=())
    request = await requests_.get(conn, request_id)
    assert (request.staff_id, request.team_id) == (None, site.teams["placement"])
    cb = await callbacks.get(conn, callback_id)
    assert (cb.staff_id, cb.team_id) == (None, site.teams["placement"])
    assert result.kept == () and set(result.to_review) == {free.id, busy.id}
    assert await conn.fetchval("SELECT count(*) FROM audit_events WHERE action = 'staff.handover'") == 1


async def test_bad_handovers_are_refused(pool: asyncpg.Pool, conn: asyncpg.Connection, site: SiteFacts) -> None:
    admin = user(site, *ADMIN)
    with pytest.raises(ValidationFailed):
        await handover.confirm(pool, user=admin, staff_id=admin.id, to_staff_id=None, now=NOW, reminder_offsets=())
    meyer = site.staff["cw.meyer"]
    with pytest.raises(ValidationFailed) as caught:
        await handover.confirm(pool, user=admin, staff_id=meyer, to_staff_id=meyer, now=NOW, reminder_offsets=())
    assert "to_staff_id" in caught.value.fields
    with pytest.raises(NotFound):
        await handover.confirm(pool, user=admin, staff_id=10**9, to_staff_id=None, now=NOW, reminder_offsets=())
    assert await conn.fetchval("SELECT active FROM staff WHERE id = $1", meyer) is True
