"""Escalation: flagged past the decision deadline, listed and counted, reassigned in bulk (guarded, audited);
a reassigned request that misses its new deadline escalates again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from scheduler import approvals, escalation, teams
from scheduler.errors import Forbidden, NotFound, ValidationFailed
from scheduler.permissions import StaffUser
from tests.factories import SiteFacts, create_request


async def user(conn: asyncpg.Connection, staff_id: int) -> StaffUser:
    row = await conn.fetchrow("SELECT id, site_id, username, display_name, role, team_id, languages, system_admin FROM staff "
                              "WHERE id = $1", staff_id)
    return teams.staff_user(row)


async def past_deadline(conn: asyncpg.Connection, site: SiteFacts, *, team: str = "placement",
                        staff: str | None = "cw.meyer", hours: float = 2) -> int:
    """An open request of a team whose decision deadline passed `hours` ago."""
    request_id = await create_request(conn, site, team=team, staff=staff,
                                      created_at=datetime.now(UTC) - timedelta(days=2))
    await conn.execute("UPDATE requests SET deadline_at = now() - make_interval(secs => $2) WHERE id = $1",
                       request_id, hours * 3600)
    return request_id


async def test_flagged_requests_are_listed_and_counted_per_team(pool: asyncpg.Pool, conn: asyncpg.Connection,
                                                                site: SiteFacts) -> None:
    late = [await past_deadline(conn, site) for _ in range(2)]
    other_team = await past_deadline(conn, site, team="u25", staff=None)
    not_yet = await create_request(conn, site, team="placement")
    await conn.execute("UPDATE requests SET deadline_at = now() + interval '1 hour' WHERE id = $1", not_yet)

    assert await escalation.count(conn, site_id=site.site_id, team_id=site.teams["placement"]) == 0  # not flagged yet
    assert await approvals.flag_overdue(pool, now=datetime.now(UTC)) >= 3
    assert await approvals.flag_overdue(pool, now=datetime.now(UTC)) == 0  # idempotent

    placement = await escalation.list_escalated(conn, site_id=site.site_id, team_id=site.teams["placement"])
    assert {i.id for i in placement} == set(late)
    assert placement[0].staff_name and placement[0].deadline_at < placement[0].escalated_at
    assert await escalation.count(conn, site_id=site.site_id, team_id=site.teams["placement"]) == 2
    everyone = await escalation.list_escalated(conn, site_id=site.site_id, team_id=None)
    assert {i.id for i in everyone} >= {*late, other_team}
    assert not_yet not in {i.id for i in everyone}


async def test_bulk_reassign_plans_anew_audits_and_ends_the_escalation(pool: asyncpg.Pool, conn: asyncpg.Connection,
                                                                       site: SiteFacts) -> None:
    ids = [await past_deadline(conn, site) for _ in range(3)]
    await approvals.flag_overdue(pool, now=datetime.now(UTC))
    lead = await user(conn, site.staff["lead.placement"])

    moved = await escalation.reassign(pool, user=lead, team_id=site.teams["placement"], request_ids=ids[:2],
                                      staff_id=site.staff["cw.demir"], now=datetime.now(UTC))

    assert moved == 2
    rows = await conn.fetch("SELECT id, staff_id, deadline_at > now() AS fresh FROM requests WHERE id = ANY($1) "
                            "ORDER BY id", ids)
    assert [(r["staff_id"], r["fresh"]) for r in rows[:2]] == [(site.staff["cw.demir"], True)] * 2
    assert rows[2]["staff_id"] == site.staff["cw.meyer"]
    left = await escalation.list_escalated(conn, site_id=site.site_id, team_id=site.teams["placement"])
    assert [i.id for i in left] == [ids[2]]
    audited = await conn.fetch("SELECT subject_id, actor, details FROM audit_events WHERE action = 'request.reassign' "
                               "AND subject_id = ANY($1)", ids)
    assert sorted(r["subject_id"] for r in audited) == sorted(ids[:2])
    assert {r["actor"] for r in audited} == {lead.actor}
    batch = await conn.fetchval("SELECT details FROM audit_events WHERE action = 'escalation.reassign'")
    assert batch["request_ids"] == sorted(ids[:2]) and batch["staff_id"] == site.staff["cw.demir"]

    # Missing the new deadline escalates it again, once.
    await conn.execute("UPDATE requests SET deadline_at = now() WHERE id = $1", ids[0])  # later than its first flag
    later = datetime.now(UTC) + timedelta(minutes=1)
    assert await approvals.flag_overdue(pool, now=later) == 1
    assert await approvals.flag_overdue(pool, now=later + timedelta(minutes=1)) == 0
    again = await escalation.list_escalated(conn, site_id=site.site_id, team_id=site.teams["placement"])
    assert {i.id for i in again} == {ids[0], ids[2]}


async def test_reassign_is_all_or_nothing_and_guarded(pool: asyncpg.Pool, conn: asyncpg.Connection,
                                                      site: SiteFacts) -> None:
    mine = await past_deadline(conn, site)
    theirs = await past_deadline(conn, site, team="u25", staff=None)
    decided = await past_deadline(conn, site)
    await approvals.flag_overdue(pool, now=datetime.now(UTC))
    await conn.execute("UPDATE requests SET status = 'declined', closed_at = now() WHERE id = $1", decided)
    lead = await user(conn, site.staff["lead.placement"])
    team = site.teams["placement"]
    now = datetime.now(UTC)

    for ids in ([mine, theirs], [mine, decided]):  # another team's, or no longer open: nothing changes
        with pytest.raises(ValidationFailed):
            await escalation.reassign(pool, user=lead, team_id=team, request_ids=ids, staff_id=site.staff["cw.demir"],
                                      now=now)
    assert await conn.fetchval("SELECT staff_id FROM requests WHERE id = $1", mine) == site.staff["cw.meyer"]
    with pytest.raises(ValidationFailed) as refused:  # a caseworker of another team
        await escalation.reassign(pool, user=lead, team_id=team, request_ids=[mine], staff_id=site.staff["cw.rahimi"],
                                  now=now)
    assert "staff_id" in refused.value.fields
    with pytest.raises(ValidationFailed) as refused:
        await escalation.reassign(pool, user=lead, team_id=team, request_ids=[], staff_id=site.staff["cw.demir"],
                                  now=now)
    assert "request_ids" in refused.value.fields
    with pytest.raises(ValidationFailed):
        await escalation.reassign(pool, user=lead, team_id=team, request_ids=list(range(1, escalation.BATCH_LIMIT + 2)),
                                  staff_id=site.staff["cw.demir"], now=now)
    with pytest.raises(Forbidden):  # a lead of another team
        await escalation.reassign(pool, user=await user(conn, site.staff["lead.u25"]), team_id=team,
                                  request_ids=[mine], staff_id=site.staff["cw.demir"], now=now)
    with pytest.raises(Forbidden):  # a caseworker
        await escalation.reassign(pool, user=await user(conn, site.staff["cw.meyer"]), team_id=team,
                                  request_ids=[mine], staff_id=site.staff["cw.demir"], now=now)
    other_site = await conn.fetchval("INSERT INTO sites (code, name) VALUES ('anderswo', 'Anderswo') RETURNING id")
    other_team = await conn.fetchval("INSERT INTO teams (site_id, code, name) VALUES ($1, 'x', 'X') RETURNING id",
                                     other_site)
    with pytest.raises(NotFound):  # even an admin: another site's team is not found
        await escalation.reassign(pool, user=await user(conn, site.staff["admin"]), team_id=other_team,
                                  request_ids=[mine], staff_id=site.staff["cw.demir"], now=now)
    assert await conn.fetchval("SELECT count(*) FROM audit_events WHERE action LIKE '%reassign'") == 0
