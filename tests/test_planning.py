"""planning.py called directly: re-planning an open request, routing overrides, the one booking sequence."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import asyncpg
import pytest

from scheduler import planning, sites
from scheduler import proposals as proposals_
from scheduler import requests as requests_
from scheduler.errors import InvalidTransition, SlotTaken
from scheduler.policy.slots import ClientWindows, DayPart, Slot
from tests.factories import SiteFacts, create_request

NOW = datetime.now(UTC)
MEYER_CLIENT = "+4915123456704"  # assigned to cw.meyer in the demo data


async def _open_request(conn: asyncpg.Connection, site: SiteFacts) -> int:
    request_id = await create_request(conn, site, client_id=site.clients[MEYER_CLIENT], status="received")
    await conn.execute("UPDATE requests SET sms_consent = true WHERE id = $1", request_id)  # it asked for SMS
    return request_id


async def _plan(conn: asyncpg.Connection, request_id: int, *,
                route: tuple[int | None, int | None] | None = None) -> requests_.Status:
    async with conn.transaction():
        return await planning.plan_and_propose(conn, request_id, route=route, now=NOW, reminder_offsets=(),
                                               actor="test")


async def test_plan_and_propose_stores_the_decision_and_proposals(conn: asyncpg.Connection, site: SiteFacts) -> None:
    request_id = await _open_request(conn, site)
    assert await _plan(conn, request_id) is requests_.Status.proposed
    request = await requests_.get(conn, request_id)
    assert request.status is requests_.Status.proposed
    assert request.decision is not None and request.deadline_at is not None
    assert request.staff_id == site.staff["cw.meyer"]  # the site rule routes to the assigned caseworker
    proposals = await proposals_.list_for_request(conn, request_id)
    assert 0 < len(proposals) <= request.decision.propose_count
    assert {p.staff_id for p in proposals} == {site.staff["cw.meyer"]}
    assert all(p.start >= NOW and p.end - p.start == request.decision.duration for p in proposals)
    audit = await conn.fetch("SELECT action, details FROM audit_events WHERE subject_id = $1 "
                             "AND subject_type = 'request'", request_id)
    assert [(r["action"], r["details"]["proposals"]) for r in audit] == [("request.proposed", len(proposals))]


async def test_planning_again_replaces_the_proposals_without_duplicates(conn: asyncpg.Connection,
                                                                        site: SiteFacts) -> None:
    request_id = await _open_request(conn, site)
    await _plan(conn, request_id)
    first = await proposals_.list_for_request(conn, request_id)
    await _plan(conn, request_id)
    second = await proposals_.list_for_request(conn, request_id)
    assert [(p.start, p.staff_id) for p in second] == [(p.start, p.staff_id) for p in first]
    assert not {p.id for p in first} & {p.id for p in second}
    # Already proposed: no second transition is audited.
    assert await conn.fetchval("SELECT count(*) FROM audit_events WHERE subject_id = $1 "
                               "AND subject_type = 'request'", request_id) == 1


async def test_a_route_override_wins_over_the_policy(conn: asyncpg.Connection, site: SiteFacts) -> None:
    request_id = await _open_request(conn, site)
    demir = site.staff["cw.demir"]
    await _plan(conn, request_id, route=(None, demir))
    request = await requests_.get(conn, request_id)
    assert (request.staff_id, request.team_id) == (demir, site.teams["placement"])
    assert {p.staff_id for p in await proposals_.list_for_request(conn, request_id)} == {demir}


async def test_book_schedules_the_request_and_queues_confirmation_and_reminders(conn: asyncpg.Connection,
                                                                               site: SiteFacts) -> None:
    request_id = await _open_request(conn, site)
    await _plan(conn, request_id)
    proposal = (await proposals_.list_for_request(conn, request_id))[0]
    request = await requests_.get(conn, request_id)
    slot = Slot(proposal.staff_id, proposal.start, proposal.end, proposal.mode, proposal.room)
    too_late = proposal.start - NOW + timedelta(hours=1)  # would be due before now: skipped
    async with conn.transaction():
        appointment = await planning.book(conn, request=request, slot=slot, actor="test", now=NOW,
                                          reminder_offsets=(timedelta(hours=2), too_late))
    assert (await requests_.get(conn, request_id)).status is requests_.Status.scheduled
    assert await proposals_.list_for_request(conn, request_id) == []
    keys = {r["idempotency_key"]: r["due_at"] for r in await conn.fetch(
        "SELECT idempotency_key, due_at FROM outbox WHERE appointment_id = $1", appointment.id)}
    assert set(keys) == {f"appointment:{appointment.id}:confirmed:0",
                         f"appointment:{appointment.id}:reminder:7200:0"}
    assert keys[f"appointment:{appointment.id}:reminder:7200:0"] == appointment.start - timedelta(hours=2)
    # The same (now stale) request object cannot book a second appointment, neither at the same time (the
    # caseworker is booked then) nor at another (one live appointment per request); a fresh one is not open.
    with pytest.raises(SlotTaken):
        await planning.book(conn, request=request, slot=slot, actor="test", now=NOW, reminder_offsets=())
    later = Slot(slot.caseworker_id, slot.start + timedelta(hours=3), slot.end + timedelta(hours=3), slot.mode,
                 slot.room)
    with pytest.raises(InvalidTransition):
        await planning.book(conn, request=request, slot=later, actor="test", now=NOW, reminder_offsets=())
    with pytest.raises(InvalidTransition):
        await planning.book(conn, request=await requests_.get(conn, request_id), slot=slot, actor="test", now=NOW,
                            reminder_offsets=())
    assert await conn.fetchval("SELECT count(*) FROM appointments WHERE request_id = $1", request_id) == 1


async def test_planning_a_closed_request_is_refused_and_leaves_it_unchanged(conn: asyncpg.Connection,
                                                                            site: SiteFacts) -> None:
    request_id = await create_request(conn, site, client_id=site.clients[MEYER_CLIENT], status="declined")
    with pytest.raises(InvalidTransition):
        await _plan(conn, request_id)
    row = await conn.fetchrow("SELECT status, decision FROM requests WHERE id = $1", request_id)
    assert (row["status"], row["decision"]) == ("declined", None)
    assert await conn.fetchval("SELECT count(*) FROM proposals WHERE request_id = $1", request_id) == 0


async def test_client_windows_filter_weekdays_parts_and_dates(conn: asyncpg.Connection, site: SiteFacts) -> None:
    calendar = (await sites.site_by_id(conn, site.site_id)).calendar()
    windows = planning.client_windows({"weekdays": ["0", 2], "parts": ["afternoon"], "date_from": "2030-03-04",
                                       "date_to": "2030-03-31"})
    assert windows == ClientWindows(frozenset({0, 2}), frozenset({DayPart.afternoon}), date(2030, 3, 4),
                                    date(2030, 3, 31))

    def at(day: int, hour: int) -> datetime:
        return datetime(2030, 3, day, hour, tzinfo=calendar.zone).astimezone(UTC)

    assert planning.fits_client_windows(windows, at(4, 14), calendar)        # Monday afternoon
    assert not planning.fits_client_windows(windows, at(4, 9), calendar)     # Monday morning
    assert not planning.fits_client_windows(windows, at(5, 14), calendar)    # Tuesday
    assert not planning.fits_client_windows(windows, at(1, 14), calendar)    # before date_from (a Friday anyway)
    assert planning.fits_client_windows(ClientWindows(), at(5, 9), calendar)  # no wishes: anything fits
