"""The front desk's walk-in commands (walk_in_desk.py): take, call into a room (shown on the call display by
number), served and left, with their guards, site checks and audit rows, against the real PostgreSQL."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from scheduler import audit, callbacks, lobby_calls, walk_in_desk
from scheduler.errors import InvalidTransition, NotFound, ValidationFailed
from scheduler.walk_ins import Ticket, WalkInStatus
from tests.factories import SiteFacts
from tests.walk_in_support import OPEN_MORNING, kiosk_callback, staff_user


async def _ticket(pool: asyncpg.Pool) -> Ticket:
    ticket = await walk_in_desk.issue_for_callback(pool, callback_id=await kiosk_callback(pool), now=OPEN_MORNING)
    assert ticket is not None
    return ticket


async def test_calling_shows_the_number_and_room_on_the_display_never_a_name(
        pool: asyncpg.Pool, conn: asyncpg.Connection, site: SiteFacts) -> None:
    ticket = await _ticket(pool)
    meyer = await staff_user(conn, site, "cw.meyer")
    first = await walk_in_desk.call(pool, user=meyer, ticket_id=ticket.id, room="E.01", now=datetime.now(UTC))
    again = await walk_in_desk.call(pool, user=meyer, ticket_id=ticket.id, room="E.02", now=datetime.now(UTC))
    assert (first.attempt, again.attempt, again.ticket.status, again.ticket.taken_by) == (1, 2, "called", meyer.id)
    board = await lobby_calls.board(conn, site.site_id, since=datetime.now(UTC) - timedelta(hours=1))
    assert [(c.reference, c.room, c.repeated, c.appointment_id) for c in board] == [
        ("N-001", "E.02", True, None), ("N-001", "E.01", False, None)]
    trail = await audit.list_for(conn, subject_type="callback", subject_id=ticket.callback_id)
    assert [t["action"] for t in trail if t["action"].startswith("walk_in.")] == [
        "walk_in.issued", "walk_in.called", "walk_in.called"]
    with pytest.raises(ValidationFailed) as refused:
        await walk_in_desk.call(pool, user=meyer, ticket_id=ticket.id, room="  ", now=datetime.now(UTC))
    assert "room" in refused.value.fields
    with pytest.raises(ValidationFailed):
        await walk_in_desk.call(pool, user=meyer, ticket_id=ticket.id, room="R" * 41, now=datetime.now(UTC))


async def test_a_taken_ticket_is_the_takers_unless_a_lead_takes_over(pool: asyncpg.Pool, conn: asyncpg.Connection,
                                                                     site: SiteFacts) -> None:
    ticket = await _ticket(pool)
    meyer, demir = await staff_user(conn, site, "cw.meyer"), await staff_user(conn, site, "cw.demir")
    lead = await staff_user(conn, site, "lead.entrance")
    taken = await walk_in_desk.take(pool, user=meyer, ticket_id=ticket.id)
    assert (taken.taken_by, taken.status) == (meyer.id, WalkInStatus.waiting)
    with pytest.raises(InvalidTransition):
        await walk_in_desk.take(pool, user=demir, ticket_id=ticket.id)
    with pytest.raises(InvalidTransition):
        await walk_in_desk.call(pool, user=demir, ticket_id=ticket.id, room="E.03", now=datetime.now(UTC))
    with pytest.raises(InvalidTransition):
        await walk_in_desk.finish(pool, user=demir, ticket_id=ticket.id, to=WalkInStatus.left)
    called = await walk_in_desk.call(pool, user=lead, ticket_id=ticket.id, room="E.04", now=datetime.now(UTC))
    assert called.ticket.taken_by == lead.id


async def test_served_and_left_are_final_and_guarded(pool: asyncpg.Pool, conn: asyncpg.Connection,
                                                     site: SiteFacts) -> None:
    served, left = await _ticket(pool), await _ticket(pool)
    meyer = await staff_user(conn, site, "cw.meyer")
    done = await walk_in_desk.finish(pool, user=meyer, ticket_id=served.id, to=WalkInStatus.served)
    assert done.status is WalkInStatus.served
    assert (await callbacks.get(conn, served.callback_id)).status is callbacks.CallbackStatus.reached
    gone = await walk_in_desk.finish(pool, user=meyer, ticket_id=left.id, to=WalkInStatus.left)
    assert gone.status is WalkInStatus.left
    # The client left: their callback request stays open, to be called back as any other.
    assert (await callbacks.get(conn, left.callback_id)).status is callbacks.CallbackStatus.open
    for ticket in (served, left):
        for to in (WalkInStatus.served, WalkInStatus.left):
            with pytest.raises(InvalidTransition):
                await walk_in_desk.finish(pool, user=meyer, ticket_id=ticket.id, to=to)
        with pytest.raises(InvalidTransition):
            await walk_in_desk.call(pool, user=meyer, ticket_id=ticket.id, room="E.01", now=datetime.now(UTC))
        with pytest.raises(InvalidTransition):
            await walk_in_desk.take(pool, user=meyer, ticket_id=ticket.id)
    assert await conn.fetchval("SELECT count(*) FROM lobby_calls") == 0
    with pytest.raises(ValueError):
        await walk_in_desk.finish(pool, user=meyer, ticket_id=served.id, to=WalkInStatus.called)


async def test_another_sites_ticket_is_not_found(pool: asyncpg.Pool, conn: asyncpg.Connection,
                                                 site: SiteFacts) -> None:
    ticket = await _ticket(pool)
    stranger = dataclasses.replace(await staff_user(conn, site, "admin"), site_id=site.site_id + 1000)
    with pytest.raises(NotFound):
        await walk_in_desk.take(pool, user=stranger, ticket_id=ticket.id)
    with pytest.raises(NotFound):
        await walk_in_desk.call(pool, user=stranger, ticket_id=ticket.id, room="E.01", now=datetime.now(UTC))
    with pytest.raises(NotFound):
        await walk_in_desk.finish(pool, user=stranger, ticket_id=ticket.id, to=WalkInStatus.served)
    row = await conn.fetchrow("SELECT status, taken_by FROM walk_in_tickets WHERE id = $1", ticket.id)
    assert (row["status"], row["taken_by"]) == ("waiting", None)
