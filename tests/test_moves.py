"""moves.py with a pool: one appointment moved by staff, a client's "another time" ending in a move, races."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta

import asyncpg
import pytest

from scheduler import appointments, approvals, client_actions, intake, moves, sites
from scheduler import proposals as proposals_
from scheduler import requests as requests_
from scheduler.errors import Forbidden, InvalidTransition, SlotTaken, ValidationFailed
from scheduler.permissions import Role, StaffUser
from scheduler.policy.rules import Channel, Kind
from scheduler.policy.slots import Slot
from tests.factories import SiteFacts, create_appointment

NOW = datetime.now(UTC)
OFFSETS = (timedelta(hours=24),)
MEYER_CLIENT = "+4915123456704"  # assigned to cw.meyer in the demo data


def user(site: SiteFacts, username: str, role: Role = Role.caseworker, team: str = "placement") -> StaffUser:
    return StaffUser(id=site.staff[username], site_id=site.site_id, username=username, display_name=username,
                     role=role, team_id=site.teams[team], languages=("de",))


async def booked(pool: asyncpg.Pool, conn: asyncpg.Connection, site: SiteFacts,
                 phone: str = MEYER_CLIENT, by: str = "cw.meyer") -> appointments.Appointment:
    """A request through the real intake, booked by cw.meyer on its first proposal."""
    submitted = await intake.submit(pool, intake.Intake(
        site="musterstadt", kind=Kind.appointment, channel=Channel.web, concern="general", phone=phone, language="de",
        sms_consent=True), now=NOW)
    await conn.execute("UPDATE clients SET sms_consent = true WHERE phone = $1", phone)  # the number confirmed SMS
    proposal = (await proposals_.list_for_request(conn, submitted.id))[0]
    return await approvals.approve(pool, request_id=submitted.id, proposal_id=proposal.id,
                                   user=user(site, by), now=NOW, reminder_offsets=OFFSETS)


async def free_later(conn: asyncpg.Connection, site: SiteFacts, *, username: str, after: datetime,
                     minutes: int = 30) -> list[Slot]:
    """Free slots of a caseworker on the first working day after `after` that has some."""
    site_ = await sites.site_by_id(conn, site.site_id)
    day: date = site_.calendar().local_date(after)
    for _ in range(30):
        day += timedelta(days=1)
        free = await approvals.free_slots(conn, site=site_, staff_id=site.staff[username], day=day,
                                          duration=timedelta(minutes=minutes), now=NOW)
        if len(free) >= 2:
            return free
    raise AssertionError("no free day found")


async def outbox_rows(conn: asyncpg.Connection, appointment_id: int) -> list[asyncpg.Record]:
    return await conn.fetch("SELECT idempotency_key, kind, status FROM outbox WHERE appointment_id = $1 ORDER BY id",
                            appointment_id)


async def test_move_keeps_the_row_and_uid_grows_the_sequence_and_tells_the_client(
        pool: asyncpg.Pool, conn: asyncpg.Connection, site: SiteFacts) -> None:
    before = await booked(pool, conn, site)
    target = (await free_later(conn, site, username="cw.meyer", after=before.start))[1]
    moved = await moves.move(pool, target=moves.Target(before.id, target.caseworker_id, target.start, "phone"),
                             user=user(site, "cw.meyer"), now=NOW, reminder_offsets=OFFSETS)
    assert (moved.id, moved.ical_uid, moved.sequence) == (before.id, before.ical_uid, before.sequence + 1)
    assert (moved.start, moved.end - moved.start, moved.mode) == (target.start, before.end - before.start, "phone")
    assert await conn.fetchval("SELECT count(*) FROM appointments WHERE request_id = $1", before.request_id) == 1
    rows = {r["idempotency_key"]: r for r in await outbox_rows(conn, before.id)}
    assert rows[f"appointment:{before.id}:moved:1"]["kind"] == "sms.appointment_moved"
    # the old reminder is dropped, the new one planned for the new time
    assert all(r["status"] == "cancelled" for key, r in rows.items() if key.endswith(":reminder:86400:0"))
    assert rows[f"appointment:{before.id}:reminder:86400:1"]["status"] == "pending"
    assert "appointment.move" in [r["action"] for r in await conn.fetch(
        "SELECT action FROM audit_events WHERE subject_type = 'appointment' AND subject_id = $1", before.id)]


async def test_the_old_time_is_offered_to_a_waiting_request(pool: asyncpg.Pool, conn: asyncpg.Connection,
                                                            site: SiteFacts) -> None:
    before = await booked(pool, conn, site)
    waiting = await intake.submit(pool, intake.Intake(
        site="musterstadt", kind=Kind.appointment, channel=Channel.web, concern="general", phone=MEYER_CLIENT,
        language="de", sms_consent=True), now=NOW)
    await conn.execute("UPDATE requests SET staff_id = $2 WHERE id = $1", waiting.id, site.staff["cw.meyer"])
    target = (await free_later(conn, site, username="cw.meyer", after=before.start + timedelta(days=2)))[0]
    await moves.move(pool, target=moves.Target(before.id, target.caseworker_id, target.start, before.mode),
                     user=user(site, "cw.meyer"), now=NOW, reminder_offsets=())
    offered = await conn.fetch("SELECT lower(during) AS start FROM proposals WHERE request_id = $1 "
                               "AND source = 'freed_slot'", waiting.id)
    assert [r["start"] for r in offered] == [before.start]


async def test_move_to_a_colleague_reroutes_the_request_and_takes_their_room(
        pool: asyncpg.Pool, conn: asyncpg.Connection, site: SiteFacts) -> None:
    before = await booked(pool, conn, site)
    target = (await free_later(conn, site, username="cw.demir", after=before.start))[0]
    moved = await moves.move(pool, target=moves.Target(before.id, site.staff["cw.demir"], target.start, "in_person"),
                             user=user(site, "cw.meyer"), now=NOW, reminder_offsets=())
    assert (moved.staff_id, moved.room, moved.sequence) == (site.staff["cw.demir"], "A.02", 1)
    assert (await requests_.get(conn, before.request_id)).staff_id == site.staff["cw.demir"]


async def test_a_taken_slot_answers_409_with_fresh_proposals_and_changes_nothing(
        pool: asyncpg.Pool, conn: asyncpg.Connection, site: SiteFacts) -> None:
    before = await booked(pool, conn, site)
    target = (await free_later(conn, site, username="cw.meyer", after=before.start))[0]
    await create_appointment(conn, site, staff="cw.meyer", start=target.start)  # someone else got it first
    with pytest.raises(SlotTaken) as caught:
        await moves.move(pool, target=moves.Target(before.id, target.caseworker_id, target.start, before.mode),
                         user=user(site, "cw.meyer"), now=NOW, reminder_offsets=())
    assert caught.value.status == 409
    fresh = caught.value.extra["proposals"]
    assert fresh and all(p["start"] != target.start.isoformat() for p in fresh)  # type: ignore[index]
    again = await appointments.get(conn, before.id)
    assert (again.start, again.sequence) == (before.start, before.sequence)
    assert not [r for r in await outbox_rows(conn, before.id) if r["kind"] == "sms.appointment_moved"]


async def test_two_moves_onto_one_slot_end_with_one_winner(pool: asyncpg.Pool, conn: asyncpg.Connection,
                                                           site: SiteFacts) -> None:
    first = await booked(pool, conn, site)
    second = await booked(pool, conn, site, phone="+4915123456703", by="cw.demir")  # the lead moves both
    target = (await free_later(conn, site, username="cw.meyer", after=max(first.start, second.start)))[0]
    results = await asyncio.gather(*(
        moves.move(pool, target=moves.Target(a.id, target.caseworker_id, target.start, a.mode),
                   user=user(site, "lead.placement", Role.team_lead), now=NOW, reminder_offsets=())
        for a in (first, second)),
        return_exceptions=True)
    assert sorted(type(r).__name__ for r in results) == ["Appointment", "SlotTaken"]
    assert await conn.fetchval("SELECT count(*) FROM appointments WHERE lower(during) = $1 AND status = 'confirmed'",
                               target.start) == 1


async def test_bad_input_and_other_peoples_appointments_are_refused(pool: asyncpg.Pool, conn: asyncpg.Connection,
                                                                    site: SiteFacts) -> None:
    before = await booked(pool, conn, site)
    target = (await free_later(conn, site, username="cw.meyer", after=before.start))[0]
    with pytest.raises(Forbidden):
        await moves.move(pool, target=moves.Target(before.id, target.caseworker_id, target.start, before.mode),
                         user=user(site, "cw.demir"), now=NOW, reminder_offsets=())
    with pytest.raises(ValidationFailed) as caught:
        await moves.move(pool, target=moves.Target(before.id, target.caseworker_id, target.start, "carrier-pigeon"),
                         user=user(site, "cw.meyer"), now=NOW, reminder_offsets=())
    assert "mode" in caught.value.fields
    with pytest.raises(ValidationFailed):
        await moves.move(pool, target=moves.Target(before.id, site.staff["cw.meyer"], NOW - timedelta(days=1),
                                                   before.mode), user=user(site, "cw.meyer"), now=NOW,
                         reminder_offsets=())
    await client_actions.cancel(pool, request_id=before.request_id, actor="client:web", now=NOW)
    with pytest.raises(InvalidTransition):
        await moves.move(pool, target=moves.Target(before.id, target.caseworker_id, target.start, before.mode),
                         user=user(site, "cw.meyer"), now=NOW, reminder_offsets=())


async def test_another_time_keeps_the_booking_flags_the_request_and_the_pick_is_a_move(
        pool: asyncpg.Pool, conn: asyncpg.Connection, site: SiteFacts) -> None:
    before = await booked(pool, conn, site)
    flagged = await client_actions.another_time(pool, request_id=before.request_id, actor="client:sms", now=NOW,
                                                reminder_offsets=OFFSETS)
    assert (flagged.status, flagged.wants_other_time) == (requests_.Status.scheduled, True)
    kept = await appointments.get(conn, before.id)
    assert (kept.status, kept.start, kept.sequence) == (appointments.AppointmentStatus.confirmed, before.start, 0)
    assert not [r for r in await outbox_rows(conn, before.id) if r["kind"] == "sms.appointment_cancelled"]
    # a second "3" changes nothing more
    await client_actions.another_time(pool, request_id=before.request_id, actor="client:sms", now=NOW,
                                      reminder_offsets=OFFSETS)
    assert await conn.fetchval("SELECT count(*) FROM audit_events WHERE action = 'request.wants_other_time' "
                               "AND subject_id = $1", before.request_id) == 1
    # the inbox shows it to its caseworker
    from scheduler import inbox
    keys = await conn.fetch(inbox.keys_sql("requests", staff=True, team=False, concern=False, channel=False),
                            site.site_id, site.staff["cw.meyer"])
    assert before.request_id in {r["id"] for r in keys}
    target = (await free_later(conn, site, username="cw.meyer", after=before.start))[0]
    moved = await moves.move(pool, target=moves.Target(before.id, target.caseworker_id, target.start, before.mode),
                             user=user(site, "cw.meyer"), now=NOW, reminder_offsets=OFFSETS)
    assert (moved.id, moved.ical_uid, moved.sequence) == (before.id, before.ical_uid, 1)
    after = await requests_.get(conn, before.request_id)
    assert (after.status, after.wants_other_time) == (requests_.Status.scheduled, False)
    kinds = [r["kind"] for r in await outbox_rows(conn, before.id)]
    assert kinds.count("sms.appointment_moved") == 1 and "sms.appointment_cancelled" not in kinds
