"""What the slot search reads: free stretches too short for the appointment are read as busy, which changes no
proposal; and a proposal never runs into a booking just after the window."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import asyncpg
from asyncpg import Range

from scheduler import availability, clients, planning, sites
from scheduler.policy.rules import Kind
from scheduler.policy.slots import propose
from tests import factories
from tests.factories import SiteFacts


async def _plan(conn: asyncpg.Connection, site: SiteFacts, now: datetime) -> tuple[sites.Site, planning.Plan]:
    where = await sites.site_by_code(conn, "musterstadt")
    assert where is not None
    client = await clients.upsert_by_phone(conn, site_id=site.site_id, phone="+4915100000001", language="de",
                                           sms_consent=True)
    plan = await planning.make_plan(conn, site=where, kind=Kind.appointment, concern_code="general", urgent=False,
                                    channel="web", language="de", modes=("in_person",), client=client,
                                    received_at=now, now=now)
    return where, plan


async def test_short_free_stretches_read_as_busy_change_no_proposal(conn: asyncpg.Connection,
                                                                    site: SiteFacts) -> None:
    now = datetime.now(UTC)
    where, plan = await _plan(conn, site, now)
    team = [s for s, in await conn.fetch("SELECT id FROM staff WHERE team_id = $1", plan.team_id)]
    rng = random.Random(7)
    request_id = await factories.create_request(conn, site)
    for _ in range(300):  # holds of 10 to 45 minutes on a 5-minute grid, overlapping now and then
        start = now.replace(minute=0, second=0, microsecond=0) + timedelta(minutes=5 * rng.randrange(14 * 24 * 12))
        await conn.execute(
            "INSERT INTO proposals (site_id, request_id, staff_id, during, mode, room, source) "
            "VALUES ($1, $2, $3, $4, 'in_person', '1.01', 'policy')", site.site_id, request_id, rng.choice(team),
            Range(start, start + timedelta(minutes=rng.choice((10, 15, 20, 25, 30, 45)))))
    for minutes in (20, 30, 45):
        decision = replace(plan.decision, duration=timedelta(minutes=minutes), propose_count=200)
        start, end = planning.search_span(decision, now)
        answers = []
        for min_free in (None, decision.duration):
            avail = await availability.load_routed(conn, site_id=site.site_id, team_id=plan.team_id, staff_id=None,
                                                   language="de", start=start, end=end, tz=where.timezone,
                                                   min_free=min_free)
            answers.append((propose(decision, avail, client_windows=planning.client_windows({}),
                                    caps=plan.ruleset.caps, now=now, calendar=where.calendar()),
                            sum(len(cw.busy) for cw in avail)))
        (everything, ranges), (shortened, fewer) = answers
        assert shortened == everything and len(everything) > 20
        assert fewer < ranges


async def test_a_slot_at_the_end_of_the_window_does_not_run_into_a_booking_after_it(conn: asyncpg.Connection,
                                                                                   site: SiteFacts) -> None:
    now = datetime.now(UTC)
    where, plan = await _plan(conn, site, now)
    zone = where.calendar().zone
    day = (now + timedelta(days=14)).astimezone(zone).date()
    while not where.calendar().is_workday(day):
        day += timedelta(days=1)
    eleven = datetime(day.year, day.month, day.day, 11, tzinfo=zone)
    # The window ends at 11:00 and everyone in the team is away until 10:40: only a slot from 10:45 is left,
    # and it ends at 11:15. Bookings from 11:20 leave it free; bookings from 11:05 must rule it out.
    decision = replace(plan.decision, earliest_start=now, latest_start=eleven, propose_count=100)
    team = await conn.fetch("SELECT id, username FROM staff s WHERE team_id = $1 AND EXISTS "
                            "(SELECT 1 FROM working_hours w WHERE w.staff_id = s.id)", plan.team_id)
    booked = []
    for staff_id, username in team:
        await conn.execute("INSERT INTO absences (site_id, staff_id, during, reason) VALUES ($1, $2, $3, 'leave')",
                           site.site_id, staff_id, Range(now - timedelta(days=1), eleven - timedelta(minutes=20)))
        booked.append(await factories.create_appointment(conn, site, staff=username,
                                                         start=eleven + timedelta(minutes=20)))
    found = await planning.find_slots(conn, site=where, plan=plan, language="de", windows={}, now=now,
                                      decision=decision)
    assert {(s.start, s.end) for s in found} == {(eleven - timedelta(minutes=15), eleven + timedelta(minutes=15))}
    assert len(found) == len(team)
    await conn.execute("UPDATE appointments SET during = tstzrange(lower(during) - interval '15 minutes', "
                       "upper(during) - interval '15 minutes') WHERE id = ANY($1)", booked)
    assert await planning.find_slots(conn, site=where, plan=plan, language="de", windows={}, now=now,
                                     decision=decision) == []
