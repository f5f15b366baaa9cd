"""Demand against capacity from the database: the history counted per team, concern and channel; free slots from
working hours minus absences, closure days and bookings, within the cap; hand-computed for one caseworker."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import asyncpg
from asyncpg.types import Range

from scheduler import demand_capacity_queries as dcq
from scheduler import sites
from tests.factories import SiteFacts, create_appointment, create_request

NOW = datetime(2027, 3, 1, 6, 0, tzinfo=UTC)  # Monday 07:00 in Musterstadt
BERLIN_OFFSET = timedelta(hours=1)


def local(day: date, hour: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC) - BERLIN_OFFSET


async def one_caseworker_team(conn: asyncpg.Connection, site: SiteFacts) -> tuple[int, int]:
    team_id = await conn.fetchval("INSERT INTO teams (site_id, code, name) VALUES ($1, 'cap', 'Kapazität') "
                                  "RETURNING id", site.site_id)
    staff_id = await conn.fetchval(
        "INSERT INTO staff (site_id, team_id, username, display_name, role) "
        "VALUES ($1, $2, 'cw.cap', 'Cap', 'caseworker') RETURNING id", site.site_id, team_id)
    for weekday in range(5):
        await conn.execute("INSERT INTO working_hours (site_id, staff_id, weekday, starts, ends, modes) "
                           "VALUES ($1, $2, $3, '08:00', '12:00', ARRAY['in_person', 'phone'])",
                           site.site_id, staff_id, weekday)
    await conn.execute("INSERT INTO working_hours (site_id, staff_id, weekday, starts, ends, modes) "
                       "VALUES ($1, $2, 1, '13:00', '15:00', ARRAY['video'])", site.site_id, staff_id)
    return team_id, staff_id


async def test_one_caseworkers_week_by_hand(conn: asyncpg.Connection, site: SiteFacts) -> None:
    team_id, staff_id = await one_caseworker_team(conn, site)
    site.staff["cw.cap"] = staff_id
    site.teams["cap"] = team_id
    wednesday, thursday, friday = date(2027, 3, 3), date(2027, 3, 4), date(2027, 3, 5)
    await conn.execute("INSERT INTO absences (site_id, staff_id, during) VALUES ($1, $2, $3)", site.site_id,
                       staff_id, Range(local(wednesday, 0), local(wednesday, 23)))
    await create_appointment(conn, site, staff="cw.cap", start=local(thursday, 9), minutes=60)
    await conn.execute("INSERT INTO closures (site_id, day, reason, created_by) VALUES ($1, $2, 'Ausflug', 'test')",
                       site.site_id, friday)
    # History: 24 web and 12 phone requests in the 12 weeks before, decided; one older, one of another team.
    for i in range(36):
        await create_request(conn, site, team="cap", status="done", channel="web" if i < 24 else "phone",
                             created_at=NOW - timedelta(days=2 + i * 2))
    await create_request(conn, site, team="cap", status="done", created_at=NOW - timedelta(weeks=13))
    await create_request(conn, site, team="placement", status="done", created_at=NOW - timedelta(days=3))
    for _ in range(2):  # open today: the backlog
        await create_request(conn, site, team="cap", created_at=NOW)

    report = await dcq.compute(conn, site=await sites.site_by_id(conn, site.site_id), team_ids=[team_id], now=NOW)

    outlook = report.teams[team_id]
    assert report.office is None and report.today == date(2027, 3, 1)
    assert outlook.backlog == 2
    assert outlook.per_week == {(site.concerns["general"], "web"): 2.0, (site.concerns["general"], "phone"): 1.0}
    first = outlook.weeks[0]
    assert first.workdays == (date(2027, 3, 1), date(2027, 3, 2), wednesday, thursday)  # Friday is closed
    assert first.demand == 3.0
    # Mon 8; Tue 8 + 4 video, capped at 8; Wed absent; Thu 8 less the booked hour = 6 (room 8 - 1 = 7).
    assert first.capacity == 22
    assert first.capacity_by_mode == {"in_person": 22, "phone": 22, "video": 4}
    assert (first.within, first.over, first.days_to_appointment, first.late) == (15, False, 1.0, False)
    assert len(outlook.weeks) == 6 and outlook.weeks[1].capacity == 5 * 8  # a full week: 8 a day, capped at 8
    assert report.rules[team_id] == dcq.TeamRules(cap=8, slot_minutes=30, within=15, lead_days=1)


async def test_office_sums_its_teams(conn: asyncpg.Connection, site: SiteFacts) -> None:
    team_id, _ = await one_caseworker_team(conn, site)
    teams = [team_id, site.teams["placement"], site.teams["u25"]]
    report = await dcq.compute(conn, site=await sites.site_by_id(conn, site.site_id), team_ids=teams, now=NOW)
    assert report.office is not None and set(report.teams) == set(teams)
    for i, week in enumerate(report.office.weeks):
        assert week.capacity == sum(report.teams[t].weeks[i].capacity for t in teams)
        assert week.demand == round(sum(report.teams[t].weeks[i].demand for t in teams), 1)
    assert report.teams[site.teams["placement"]].weeks[1].capacity > 0  # the demo caseworkers' hours
