"""Calls into a room (lobby_calls), the front desk list, call displays and the process's lobby feed, against the
real PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from scheduler import appointments, displays, front_desk, lobby_calls, lobby_feed, outcomes
from scheduler.appointments import Outcome
from scheduler.errors import Forbidden, NotFound, ValidationFailed
from scheduler.permissions import Role, StaffUser
from tests.factories import SiteFacts, create_appointment


async def _user(conn: asyncpg.Connection, site: SiteFacts, username: str) -> StaffUser:
    row = await conn.fetchrow("SELECT id, site_id, username, display_name, role, team_id, languages FROM staff "
                              "WHERE id = $1", site.staff[username])
    return StaffUser(id=row["id"], site_id=row["site_id"], username=row["username"],
                     display_name=row["display_name"], role=Role(row["role"]), team_id=row["team_id"],
                     languages=tuple(row["languages"]))


async def _arrived(conn: asyncpg.Connection, site: SiteFacts, *, staff: str = "cw.meyer", room: str | None = "A.03",
                   start: datetime | None = None) -> int:
    appointment_id = await create_appointment(conn, site, staff=staff,
                                              start=start or datetime.now(UTC) - timedelta(minutes=2))
    await conn.execute("UPDATE appointments SET room = $2 WHERE id = $1", appointment_id, room)
    async with conn.transaction():
        await appointments.check_in(conn, appointment_id, at=datetime.now(UTC), actor="kiosk:test")
    return appointment_id


async def _reference(conn: asyncpg.Connection, appointment_id: int) -> str:
    reference: str = await conn.fetchval(
        "SELECT r.reference FROM requests r JOIN appointments a ON a.request_id = r.id WHERE a.id = $1",
        appointment_id)
    return reference


def _day() -> tuple[datetime, datetime]:
    now = datetime.now(UTC)
    return now - timedelta(hours=20), now + timedelta(hours=20)


async def test_a_call_and_a_repeat_are_numbered_audited_and_on_the_board(
        pool: asyncpg.Pool, conn: asyncpg.Connection, site: SiteFacts) -> None:
    appointment_id = await _arrived(conn, site)
    meyer = await _user(conn, site, "cw.meyer")
    first = await lobby_calls.call(pool, user=meyer, appointment_id=appointment_id, room=None, now=datetime.now(UTC))
    again = await lobby_calls.call(pool, user=meyer, appointment_id=appointment_id, room="A.07",
                                   now=datetime.now(UTC))
    assert (first.attempt, first.repeated, first.room) == (1, False, "A.03")
    assert (again.attempt, again.repeated, again.room) == (2, True, "A.07")
    assert first.reference == await _reference(conn, appointment_id)
    board = await lobby_calls.board(conn, site.site_id, since=datetime.now(UTC) - timedelta(hours=1))
    assert [(c.attempt, c.room) for c in board] == [(2, "A.07"), (1, "A.03")]
    assert {c.reference for c in board} == {first.reference}
    audits = await conn.fetch("SELECT actor, details FROM audit_events WHERE action = 'appointment.call' "
                              "AND subject_id = $1 ORDER BY id", appointment_id)
    assert [(a["actor"], a["details"]["attempt"]) for a in audits] == [(meyer.actor, 1), (meyer.actor, 2)]
    states = await lobby_calls.states(conn, [appointment_id])
    assert states[appointment_id].calls == 2


async def test_only_arrived_open_appointments_of_today_can_be_called(
        pool: asyncpg.Pool, conn: asyncpg.Connection, site: SiteFacts) -> None:
    meyer = await _user(conn, site, "cw.meyer")
    not_arrived = await create_appointment(conn, site, start=datetime.now(UTC) - timedelta(minutes=1))
    with pytest.raises(lobby_calls.NotCallable):
        await lobby_calls.call(pool, user=meyer, appointment_id=not_arrived, room="A.03", now=datetime.now(UTC))
    tomorrow = await _arrived(conn, site, start=datetime.now(UTC) + timedelta(days=1, hours=1))
    with pytest.raises(lobby_calls.NotCallable):
        await lobby_calls.call(pool, user=meyer, appointment_id=tomorrow, room=None, now=datetime.now(UTC))
    held = await _arrived(conn, site, start=datetime.now(UTC) - timedelta(minutes=40))
    await outcomes.record(pool, appointment_id=held, entry=outcomes.OutcomeEntry(Outcome.held, None, None),
                          user=meyer, now=datetime.now(UTC), reminder_offsets=())
    with pytest.raises(lobby_calls.NotCallable):
        await lobby_calls.call(pool, user=meyer, appointment_id=held, room=None, now=datetime.now(UTC))
    with pytest.raises(NotFound):
        await lobby_calls.call(pool, user=meyer, appointment_id=10**12, room=None, now=datetime.now(UTC))
    assert await conn.fetchval("SELECT count(*) FROM lobby_calls") == 0


async def test_the_team_and_admins_may_call_other_teams_may_not(
        pool: asyncpg.Pool, conn: asyncpg.Connection, site: SiteFacts) -> None:
    appointment_id = await _arrived(conn, site, staff="cw.meyer")
    for username in ("cw.yilmaz", "lead.u25"):  # other teams
        with pytest.raises(Forbidden):
            await lobby_calls.call(pool, user=await _user(conn, site, username), appointment_id=appointment_id,
                                   room=None, now=datetime.now(UTC))
    for username in ("cw.demir", "lead.placement", "admin"):  # the same team, the team lead, an admin
        made = await lobby_calls.call(pool, user=await _user(conn, site, username), appointment_id=appointment_id,
                                      room=None, now=datetime.now(UTC))
        assert made.appointment_id == appointment_id
    other_site = StaffUser(id=site.staff["admin"], site_id=site.site_id + 1000, username="x", display_name="x",
                           role=Role.admin, team_id=None, languages=("de",))
    with pytest.raises(Forbidden):
        await lobby_calls.call(pool, user=other_site, appointment_id=appointment_id, room=None, now=datetime.now(UTC))


async def test_a_room_is_needed_and_limited(pool: asyncpg.Pool, conn: asyncpg.Connection, site: SiteFacts) -> None:
    meyer = await _user(conn, site, "cw.meyer")
    appointment_id = await _arrived(conn, site, room=None)
    with pytest.raises(ValidationFailed) as missing:
        await lobby_calls.call(pool, user=meyer, appointment_id=appointment_id, room="  ", now=datetime.now(UTC))
    assert set(missing.value.fields) == {"room"}
    with pytest.raises(ValidationFailed) as long:
        await lobby_calls.call(pool, user=meyer, appointment_id=appointment_id, room="R" * 41, now=datetime.now(UTC))
    assert set(long.value.fields) == {"room"}
    made = await lobby_calls.call(pool, user=meyer, appointment_id=appointment_id, room=" B.12 ",
                                  now=datetime.now(UTC))
    assert made.room == "B.12"


async def test_simultaneous_calls_get_distinct_numbers(pool: asyncpg.Pool, conn: asyncpg.Connection,
                                                       site: SiteFacts) -> None:
    appointment_id = await _arrived(conn, site)
    meyer = await _user(conn, site, "cw.meyer")
    made = await asyncio.gather(*(lobby_calls.call(pool, user=meyer, appointment_id=appointment_id, room=None,
                                                   now=datetime.now(UTC)) for _ in range(4)))
    assert sorted(c.attempt for c in made) == [1, 2, 3, 4]


def test_may_call_mirrors_the_command() -> None:
    user = StaffUser(id=1, site_id=1, username="a", display_name="A", role=Role.caseworker, team_id=7,
                     languages=("de",))
    now = datetime.now(UTC)
    day = _day()
    base = {"site_id": 1, "staff_id": 1, "team_id": 7, "status": "confirmed", "outcome": None, "arrived_at": now,
            "start": now, "day": day}
    assert lobby_calls.may_call(user, **base)
    assert not lobby_calls.may_call(user, **{**base, "arrived_at": None})
    assert not lobby_calls.may_call(user, **{**base, "outcome": "held"})
    assert not lobby_calls.may_call(user, **{**base, "status": "cancelled"})
    assert not lobby_calls.may_call(user, **{**base, "start": day[1]})
    assert not lobby_calls.may_call(user, **{**base, "staff_id": 2, "team_id": 8})
    assert lobby_calls.may_call(user, **{**base, "staff_id": 2})
    assert not lobby_calls.may_call(user, **{**base, "site_id": 2})


async def test_the_front_desk_lists_arrivals_with_their_calls(pool: asyncpg.Pool, conn: asyncpg.Connection,
                                                              site: SiteFacts) -> None:
    waiting = await _arrived(conn, site, staff="cw.meyer")
    called = await _arrived(conn, site, staff="cw.yilmaz", room="E.02")
    not_arrived = await create_appointment(conn, site, staff="cw.demir", start=datetime.now(UTC))
    start, end = _day()
    before = await front_desk.arrivals(conn, site.site_id, start=start, end=end)
    await lobby_calls.call(pool, user=await _user(conn, site, "cw.yilmaz"), appointment_id=called, room=None,
                           now=datetime.now(UTC))
    rows = await front_desk.arrivals(conn, site.site_id, start=start, end=end)
    by_id = {r.appointment_id: r for r in rows}
    assert set(by_id) == {waiting, called} and not_arrived not in by_id
    assert (by_id[waiting].calls, by_id[called].calls, by_id[called].last_room) == (0, 1, "E.02")
    assert by_id[called].staff_name == "Deniz Yılmaz"
    assert front_desk.stamp(rows) != front_desk.stamp(before)
    assert front_desk.stamp(rows) == front_desk.stamp(list(rows))


async def test_display_tokens_are_stored_hashed_scoped_and_revocable(conn: asyncpg.Connection,
                                                                     site: SiteFacts) -> None:
    token = displays.new_token()
    device_id = await displays.register(conn, site_id=site.site_id, name="Wartebereich", location="EG",
                                        token=token, issued_by=site.staff["admin"])
    stored = await conn.fetchval("SELECT token_hash FROM display_devices WHERE id = $1", device_id)
    assert token not in stored and stored == displays.token_hash(token)
    now = datetime.now(UTC)
    device = await displays.authenticate(conn, token, now=now)
    assert device is not None and device.site_id == site.site_id
    assert await displays.authenticate(conn, token + "x", now=now) is None
    assert await displays.authenticate(conn, "", now=now) is None
    assert await displays.authenticate(conn, "a" * 500, now=now) is None
    assert not await displays.revoke(conn, device_id, site_id=site.site_id + 1000, now=now)
    assert await displays.revoke(conn, device_id, site_id=site.site_id, now=now)
    assert await displays.authenticate(conn, token, now=now) is None
    assert not await displays.revoke(conn, device_id, site_id=site.site_id, now=now)


async def test_the_feed_hears_calls_and_arrivals_from_any_connection(
        pool: asyncpg.Pool, conn: asyncpg.Connection, site: SiteFacts, config) -> None:  # type: ignore[no-untyped-def]
    feed = lobby_feed.LobbyFeed(config.database.url)
    feed.start()
    try:
        await asyncio.wait_for(feed.connected.wait(), 10)
        calls, arrivals = (feed.version(site.site_id, lobby_feed.CALLS),
                           feed.version(site.site_id, lobby_feed.ARRIVALS))
        appointment_id = await _arrived(conn, site)  # a check-in: the front desk hears it, the displays need not
        assert await feed.wait(site.site_id, lobby_feed.ARRIVALS, arrivals, timeout=5)
        assert feed.version(site.site_id, lobby_feed.CALLS) == calls
        await lobby_calls.call(pool, user=await _user(conn, site, "cw.meyer"), appointment_id=appointment_id,
                               room=None, now=datetime.now(UTC))
        assert await feed.wait(site.site_id, lobby_feed.CALLS, calls, timeout=5)
        loads = 0

        async def load() -> int:
            nonlocal loads
            loads += 1
            await asyncio.sleep(0.01)
            return loads

        shared = await asyncio.gather(*(feed.snapshot(site.site_id, "test", load) for _ in range(50)))
        assert loads == 1 and {value for _, value in shared} == {1}
    finally:
        await feed.stop()


async def test_the_feed_ignores_bad_payloads_and_wakes_waiters_on_change() -> None:
    feed = lobby_feed.LobbyFeed(None)
    waiter = asyncio.create_task(feed.wait(3, lobby_feed.CALLS, 0, timeout=5))
    await asyncio.sleep(0)
    feed.heard("call:nonsense")
    feed.heard("call:3")
    assert await waiter is True
    assert feed.version(3, lobby_feed.ARRIVALS) == 1
    assert await feed.wait(3, lobby_feed.CALLS, 1, timeout=0.01) is False


async def test_calls_of_earlier_days_are_forgotten_by_a_job(client, pool: asyncpg.Pool,  # type: ignore[no-untyped-def]
                                                           conn: asyncpg.Connection, site: SiteFacts) -> None:
    from scheduler import jobs

    appointment_id = await _arrived(conn, site)
    await lobby_calls.call(pool, user=await _user(conn, site, "cw.meyer"), appointment_id=appointment_id, room=None,
                           now=datetime.now(UTC))
    job = next(j for j in jobs.JOBS if j.id == "lobby-calls")
    assert job.singleton
    assert await job.function(client.app, datetime.now(UTC)) == 0  # today's call stays
    assert await job.function(client.app, datetime.now(UTC) + lobby_calls.KEPT + timedelta(minutes=1)) == 1
    assert await conn.fetchval("SELECT count(*) FROM lobby_calls") == 0
