"""Group sessions against the real database: creating, booking to full (and 100 clients for 20 seats at the
same moment), giving a seat back, cancelling with SMS, attendance, and a caseworker's invitation list."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from scheduler import batch_lists, db, group_session_invites, group_session_seats, group_sessions, seed
from scheduler.errors import Forbidden, InvalidTransition, ValidationFailed
from scheduler.group_session_invites import LineState
from scheduler.group_session_seats import Attendance, SessionClosed, SessionFull
from scheduler.group_sessions import NewSession, SessionStatus
from scheduler.notify import group_session_texts, messages
from scheduler.sites import site_by_id
from tests.factories import SiteFacts
from tests.group_session_support import make_session, phone, staff_user


async def _book(pool: asyncpg.Pool, site: SiteFacts, session_id: int, n: int, *, language: str = "de",
                now: datetime | None = None) -> group_session_seats.Booked:
    return await group_session_seats.book_on_web(pool, session_id=session_id, site_id=site.site_id, phone=phone(n),
                                                 language=language, sms_consent=True, now=now or datetime.now(UTC))


async def test_create_checks_every_field_and_the_team(pool: asyncpg.Pool, site: SiteFacts) -> None:
    lead = staff_user(site, "lead.entrance")
    with pytest.raises(ValidationFailed) as e:
        await group_sessions.create(pool, user=lead, new=NewSession(
            team_id=site.teams["entrance"], topic="", room="x" * 41, start=datetime.now(UTC) - timedelta(hours=1),
            minutes=5, seats=500, hosts=()), now=datetime.now(UTC))
    assert set(e.value.fields) == {"topic", "room", "start", "minutes", "seats", "hosts"}
    # A caseworker of another team may not create a session for this one.
    with pytest.raises(Forbidden):
        await group_sessions.create(pool, user=staff_user(site, "cw.meyer"), new=NewSession(
            team_id=site.teams["entrance"], topic="T", room="R", start=datetime.now(UTC) + timedelta(days=1),
            minutes=60, seats=5, hosts=(site.staff["cw.meyer"],)), now=datetime.now(UTC))
    session = await make_session(pool, site, by="cw.yilmaz", seats=12)
    assert (session.seats, session.taken, session.free, session.hosts) == (12, 0, 12, (site.staff["cw.yilmaz"],))


async def test_booking_to_full_then_full_with_the_next_session_of_the_topic(
        pool: asyncpg.Pool, conn: asyncpg.Connection, site: SiteFacts) -> None:
    session = await make_session(pool, site, seats=2)
    later = await make_session(pool, site, seats=5, topic="BEWERBUNGSTRAINING",
                               start=datetime.now(UTC) + timedelta(days=14))
    first = await _book(pool, site, session.id, 1, language="tr")
    again = await _book(pool, site, session.id, 1)
    assert first.new and not again.new and again.seat.id == first.seat.id  # the same seat, not a second one
    await _book(pool, site, session.id, 2)
    with pytest.raises(SessionFull):
        await _book(pool, site, session.id, 3)
    full = await group_sessions.get(conn, session.id)
    assert (full.taken, full.free) == (2, 0)
    assert await conn.fetchval("SELECT count(*) FROM clients WHERE phone = $1", phone(3)) == 0
    following = await group_sessions.next_of_topic(conn, full, now=datetime.now(UTC))
    assert following is not None and following.id == later.id
    # The confirmation: a receipt-like SMS in the client's language with reference and link.
    row = await conn.fetchrow("SELECT * FROM outbox WHERE idempotency_key = $1", f"group-seat:{first.seat.id}:booked")
    assert row["kind"] == "sms.group_seat_booked" and row["language"] == "tr"
    rendered = await messages.render(conn, site=await site_by_id(conn, site.site_id), kind=row["kind"],
                                     payload=row["payload"], language="tr", now=datetime.now(UTC))
    assert rendered is not None and first.seat.reference in rendered.body and "/g/" in rendered.body
    assert "oda E.10" in rendered.body


async def test_a_seat_cannot_be_booked_after_the_start_or_when_cancelled(pool: asyncpg.Pool,
                                                                         site: SiteFacts) -> None:
    session = await make_session(pool, site, seats=3)
    with pytest.raises(SessionClosed):
        await _book(pool, site, session.id, 1, now=session.start + timedelta(minutes=1))
    with pytest.raises(ValidationFailed):
        await group_session_seats.book_on_web(pool, session_id=session.id, site_id=site.site_id, phone=phone(1),
                                              language="de", sms_consent=False, now=datetime.now(UTC))
    await group_session_seats.cancel_session(pool, user=staff_user(site, "admin"), session_id=session.id,
                                             now=datetime.now(UTC))
    with pytest.raises(SessionClosed):
        await _book(pool, site, session.id, 1)


async def test_the_database_refuses_more_seats_than_the_session_has(conn: asyncpg.Connection,
                                                                    pool: asyncpg.Pool, site: SiteFacts) -> None:
    session = await make_session(pool, site, seats=1)
    with pytest.raises(asyncpg.CheckViolationError):
        await conn.execute("UPDATE group_sessions SET taken = 2 WHERE id = $1", session.id)


async def test_100_clients_for_20_seats_at_the_same_moment(config, site: SiteFacts) -> None:  # type: ignore[no-untyped-def]
    big = await db.create_pool(config.database.url, max_size=40)
    try:
        session = await make_session(big, site, seats=20)
        results = await asyncio.gather(*(_book(big, site, session.id, n) for n in range(100)),
                                       return_exceptions=True)
        booked = [r for r in results if isinstance(r, group_session_seats.Booked)]
        full = [r for r in results if isinstance(r, SessionFull)]
        assert len(booked) == 20 and len(full) == 80, [r for r in results if isinstance(r, BaseException)
                                                       and not isinstance(r, SessionFull)][:3]
        async with big.acquire() as conn:
            assert await conn.fetchval("SELECT taken FROM group_sessions WHERE id = $1", session.id) == 20
            assert await conn.fetchval("SELECT count(*) FROM group_session_seats WHERE session_id = $1",
                                       session.id) == 20
            # No half-written rows: the 80 refused left neither a client nor a message behind.
            assert await conn.fetchval("SELECT count(*) FROM clients WHERE phone = ANY($1)",
                                       [phone(n) for n in range(100)]) == 20
            assert await conn.fetchval("SELECT count(*) FROM outbox WHERE kind = 'sms.group_seat_booked'") == 20
    finally:
        await big.close()


async def test_a_client_gives_the_seat_back_and_it_is_free_again(pool: asyncpg.Pool, conn: asyncpg.Connection,
                                                                 site: SiteFacts) -> None:
    session = await make_session(pool, site, seats=1)
    booked = await _book(pool, site, session.id, 1)
    assert booked.seat.link_token
    await group_session_seats.cancel_by_client(pool, token=booked.seat.link_token, now=datetime.now(UTC))
    with pytest.raises(InvalidTransition):
        await group_session_seats.cancel_by_client(pool, token=booked.seat.link_token, now=datetime.now(UTC))
    assert (await group_sessions.get(conn, session.id)).taken == 0
    await _book(pool, site, session.id, 2)  # the freed seat goes to the next client
    # The confirmation of the given-back seat is no longer sent.
    row = await conn.fetchrow("SELECT * FROM outbox WHERE idempotency_key = $1", f"group-seat:{booked.seat.id}:booked")
    assert await group_session_texts.render(conn, site=await site_by_id(conn, site.site_id), kind=row["kind"],
                                            payload=row["payload"], language="de", now=datetime.now(UTC)) is None


async def test_cancelling_a_session_tells_each_participant_once(pool: asyncpg.Pool, conn: asyncpg.Connection,
                                                                site: SiteFacts) -> None:
    session = await make_session(pool, site, seats=5)
    for n in range(3):
        await _book(pool, site, session.id, n)
    await conn.execute("UPDATE clients SET sms_consent = true WHERE phone = ANY($1)", [phone(n) for n in range(2)])
    with pytest.raises(Forbidden):
        await group_session_seats.cancel_session(pool, user=staff_user(site, "cw.meyer"), session_id=session.id,
                                                 now=datetime.now(UTC))
    cancelled, told = await group_session_seats.cancel_session(pool, user=staff_user(site, "cw.yilmaz"),
                                                               session_id=session.id, now=datetime.now(UTC))
    # Two numbers confirmed SMS themselves; the third typed on the web got only its receipt.
    assert cancelled.status is SessionStatus.cancelled and told == 2
    with pytest.raises(InvalidTransition):
        await group_session_seats.cancel_session(pool, user=staff_user(site, "lead.entrance"), session_id=session.id,
                                                 now=datetime.now(UTC))
    assert await conn.fetchval("SELECT count(*) FROM outbox WHERE kind = 'sms.group_session_cancelled'") == 2
    assert await conn.fetchval("SELECT count(*) FROM audit_events WHERE action = 'group_session.cancelled' "
                               "AND subject_id = $1", session.id) == 1


async def test_attendance_once_after_the_start(pool: asyncpg.Pool, conn: asyncpg.Connection, site: SiteFacts) -> None:
    session = await make_session(pool, site, seats=5)
    held = await _book(pool, site, session.id, 1)
    missed = await _book(pool, site, session.id, 2)
    host = staff_user(site, "cw.yilmaz")
    with pytest.raises(ValidationFailed):
        await group_session_seats.record_attendance(pool, user=host, seat_id=held.seat.id, outcome=Attendance.held,
                                                    now=datetime.now(UTC))
    after = session.start + timedelta(minutes=30)
    await group_session_seats.record_attendance(pool, user=host, seat_id=held.seat.id, outcome=Attendance.held,
                                                now=after)
    await group_session_seats.record_attendance(pool, user=host, seat_id=missed.seat.id,
                                                outcome=Attendance.no_show, now=after)
    with pytest.raises(InvalidTransition):
        await group_session_seats.record_attendance(pool, user=host, seat_id=held.seat.id,
                                                    outcome=Attendance.no_show, now=after)
    with pytest.raises(Forbidden):
        await group_session_seats.record_attendance(pool, user=staff_user(site, "cw.rahimi"), seat_id=held.seat.id,
                                                    outcome=Attendance.held, now=after)
    people = await group_session_seats.participants(conn, session.id)
    assert [(p.seat_id, p.outcome) for p in people] == [(held.seat.id, Attendance.held),
                                                        (missed.seat.id, Attendance.no_show)]


async def test_an_invitation_list_is_reviewed_then_each_line_takes_a_seat(
        pool: asyncpg.Pool, conn: asyncpg.Connection, site: SiteFacts) -> None:
    session = await make_session(pool, site, seats=3)
    await _book(pool, site, session.id, 1)  # already has a seat through the web
    listed = "phone;name;language\n" + "\n".join(
        [f"0151 {70000000 + n:08d};Person {n};tr" for n in (1, 2, 3, 4)] + ["12345;Bad;de"])
    rows = batch_lists.parse_list(listed)
    review = await group_session_invites.review(conn, await group_sessions.get(conn, session.id), rows)
    assert [line.state for line in review] == [LineState.already, LineState.seat, LineState.seat, LineState.no_seat,
                                               LineState.bad]
    assert await conn.fetchval("SELECT taken FROM group_sessions WHERE id = $1", session.id) == 1  # nothing written
    sent = await group_session_invites.send(pool, user=staff_user(site, "lead.entrance"), session_id=session.id,
                                            rows=rows, now=datetime.now(UTC))
    assert [line.state for line in sent] == [LineState.already, LineState.seat, LineState.seat, LineState.no_seat,
                                             LineState.bad]
    assert all(line.reference for line in sent[:3])
    assert await conn.fetchval("SELECT taken FROM group_sessions WHERE id = $1", session.id) == 3
    assert await conn.fetchval("SELECT language FROM clients WHERE phone = $1", phone(2)) == "tr"
    with pytest.raises(Forbidden):
        await group_session_invites.send(pool, user=staff_user(site, "cw.meyer"), session_id=session.id, rows=rows,
                                         now=datetime.now(UTC))
    await group_sessions.cancel(conn, user=staff_user(site, "admin"), session_id=session.id, now=datetime.now(UTC))
    with pytest.raises(SessionClosed):
        await group_session_invites.send(pool, user=staff_user(site, "lead.entrance"), session_id=session.id,
                                         rows=batch_lists.parse_list("phone\n0151 79999999"), now=datetime.now(UTC))


async def test_the_demo_site_gets_upcoming_sessions(pool: asyncpg.Pool, conn: asyncpg.Connection,
                                                    site: SiteFacts) -> None:
    # Like the demo's requests, the demo's sessions are not part of the tests' reference snapshot: made here.
    await seed.create_demo_group_sessions(pool, seed.load_demo())
    found = await group_sessions.upcoming(conn, site.site_id, now=datetime.now(UTC))
    assert {s.topic for s in found} >= {"Bürgergeld: Rechte und Pflichten", "Bewerbung und Lebenslauf (U25)"}
    assert all(s.taken == 0 and s.hosts for s in found)
