"""Closure days block slots; absences and closures list the appointments they hit; bulk moves with conflicts."""

from __future__ import annotations

from datetime import timedelta

import asyncpg
import pytest

from scheduler import approvals, closures, moves, sites, teams
from scheduler.errors import ValidationFailed
from scheduler.permissions import Role
from tests.factories import SiteFacts
from tests.test_moves import NOW, booked, free_later, outbox_rows, user

LEAD = ("lead.placement", Role.team_lead)


async def _close(conn: asyncpg.Connection, site: SiteFacts, day) -> closures.Closure:  # type: ignore[no-untyped-def]
    async with conn.transaction():
        return await closures.create(conn, site_id=site.site_id, day=day, reason="Betriebsausflug",
                                     actor="staff:1", today=NOW.date())


async def test_a_closure_day_blocks_every_slot_of_the_site_that_day(conn: asyncpg.Connection,
                                                                    site: SiteFacts) -> None:
    free = await free_later(conn, site, username="cw.meyer", after=NOW + timedelta(days=3))
    site_ = await sites.site_by_id(conn, site.site_id)
    day = site_.calendar().local_date(free[0].start)
    await _close(conn, site, day)
    for username in ("cw.meyer", "cw.demir", "cw.yilmaz"):
        assert await approvals.free_slots(conn, site=site_, staff_id=site.staff[username], day=day,
                                          duration=timedelta(minutes=30), now=NOW) == []
    # the day after is untouched
    assert await approvals.free_slots(conn, site=site_, staff_id=site.staff["cw.meyer"],
                                      day=day + timedelta(days=1) if day.weekday() < 4 else day + timedelta(days=3),
                                      duration=timedelta(minutes=30), now=NOW)


async def test_closure_input_is_checked(conn: asyncpg.Connection, site: SiteFacts) -> None:
    day = NOW.date() + timedelta(days=20)
    await _close(conn, site, day)
    with pytest.raises(ValidationFailed) as twice:
        await _close(conn, site, day)
    assert "day" in twice.value.fields
    with pytest.raises(ValidationFailed) as past:
        await _close(conn, site, NOW.date() - timedelta(days=1))
    assert "day" in past.value.fields
    with pytest.raises(ValidationFailed):
        closures.parse_day("31.12.2026")


async def test_closure_review_proposes_other_days_and_the_bulk_move_tells_each_client_once(
        pool: asyncpg.Pool, conn: asyncpg.Connection, site: SiteFacts) -> None:
    first = await booked(pool, conn, site)
    second = await booked(pool, conn, site, phone="+4915123456703", by="cw.demir")
    site_ = await sites.site_by_id(conn, site.site_id)
    # both onto one day, then that day is closed
    day_slots = await free_later(conn, site, username="cw.meyer", after=max(first.start, second.start))
    day = site_.calendar().local_date(day_slots[0].start)
    demir_free = await approvals.free_slots(conn, site=site_, staff_id=site.staff["cw.demir"], day=day,
                                            duration=second.end - second.start, now=NOW)
    lead = user(site, *LEAD)
    await moves.move(pool, target=moves.Target(first.id, site.staff["cw.meyer"], day_slots[0].start, first.mode),
                     user=lead, now=NOW, reminder_offsets=())
    await moves.move(pool, target=moves.Target(second.id, site.staff["cw.demir"], demir_free[0].start, second.mode),
                     user=lead, now=NOW, reminder_offsets=())
    closure = await _close(conn, site, day)
    rows = await moves.review(pool, source="closure", source_id=closure.id, user=lead, now=NOW)
    assert sorted(r.appointment.id for r in rows) == sorted([first.id, second.id])
    chosen = [r.proposals[0] for r in rows]
    assert all(site_.calendar().local_date(s.start) != day for s in chosen)
    assert len({(s.caseworker_id, s.start) for s in chosen}) == 2  # one review never proposes a time twice
    result = await moves.bulk_move(pool, targets=[
        moves.Target(r.appointment.id, r.proposals[0].caseworker_id, r.proposals[0].start, r.proposals[0].mode.value)
        for r in rows], user=lead, now=NOW, reminder_offsets=())
    assert sorted(result.moved) == sorted([first.id, second.id]) and result.conflicts == ()
    for appointment in (first, second):
        moved = [r for r in await outbox_rows(conn, appointment.id) if r["kind"] == "sms.appointment_moved"]
        assert [r["idempotency_key"] for r in moved][-1] == f"appointment:{appointment.id}:moved:2"
        assert len(moved) == 2  # one for the move onto the day, one for the bulk move
    assert await moves.review(pool, source="closure", source_id=closure.id, user=lead, now=NOW) == []


async def test_an_absence_lists_its_hits_and_a_conflict_moves_the_rest(pool: asyncpg.Pool, conn: asyncpg.Connection,
                                                                      site: SiteFacts) -> None:
    first = await booked(pool, conn, site)
    second = await booked(pool, conn, site)
    assert first.request_id != second.request_id
    site_ = await sites.site_by_id(conn, site.site_id)
    start = min(first.start, second.start) - timedelta(minutes=1)
    end = max(first.end, second.end) + timedelta(minutes=1)
    async with conn.transaction():
        absence_id = await teams.add_absence(conn, site_id=site.site_id, staff_id=site.staff["cw.meyer"],
                                             start=start, end=end, reason="krank")
    lead = user(site, *LEAD)
    rows = await moves.review(pool, source="absence", source_id=absence_id, user=lead, now=NOW)
    assert sorted(r.appointment.id for r in rows) == sorted([first.id, second.id])
    assert all(r.proposals for r in rows)
    assert all(not (start <= r.proposals[0].start < end) or r.proposals[0].caseworker_id != site.staff["cw.meyer"]
               for r in rows)
    # someone books the first row's proposal before the batch is confirmed
    taken = rows[0].proposals[0]
    from tests.factories import create_appointment
    username = next(k for k, v in site.staff.items() if v == taken.caseworker_id)
    await create_appointment(conn, site, staff=username, start=taken.start)
    targets = [moves.Target(r.appointment.id, r.proposals[0].caseworker_id, r.proposals[0].start,
                            r.proposals[0].mode.value) for r in rows]
    result = await moves.bulk_move(pool, targets=targets, user=lead, now=NOW, reminder_offsets=())
    assert result.moved == (rows[1].appointment.id,)
    assert result.conflicts == ((rows[0].appointment.id, "slot-taken"),)
    left = await moves.review(pool, source="absence", source_id=absence_id, user=lead, now=NOW)
    assert [r.appointment.id for r in left] == [rows[0].appointment.id]
    assert site_.id == site.site_id


async def test_bulk_moves_need_a_lead_and_stay_in_their_team(pool: asyncpg.Pool, conn: asyncpg.Connection,
                                                             site: SiteFacts) -> None:
    first = await booked(pool, conn, site)
    target = (await free_later(conn, site, username="cw.meyer", after=first.start))[0]
    batch = [moves.Target(first.id, target.caseworker_id, target.start, first.mode)]
    from scheduler.errors import Forbidden
    with pytest.raises(Forbidden):
        await moves.bulk_move(pool, targets=batch, user=user(site, "cw.meyer"), now=NOW, reminder_offsets=())
    with pytest.raises(Forbidden):
        await moves.bulk_move(pool, targets=batch, user=user(site, "lead.u25", Role.team_lead, "u25"), now=NOW,
                              reminder_offsets=())
    with pytest.raises(ValidationFailed):
        await moves.bulk_move(pool, targets=[], user=user(site, *LEAD), now=NOW, reminder_offsets=())
    assert (await conn.fetchval("SELECT sequence FROM appointments WHERE id = $1", first.id)) == 0
