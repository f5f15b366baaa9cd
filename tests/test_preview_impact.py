"""preview_impact.py: requests of the last N weeks replayed through a draft, against their stored decisions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from scheduler.policy import store
from scheduler.policy.parse import load_yaml
from scheduler.preview_impact import preview_impact
from scheduler.preview_replay import Draft
from tests.dbharness import PROJECT_DIR
from tests.factories import SiteFacts
from tests.staff.helpers import submit

SITE_POLICY = (PROJECT_DIR / "scheduler" / "demo" / "policy-site.yaml").read_text()


async def _state(conn: asyncpg.Connection) -> tuple[object, ...]:
    return (await conn.fetchval("SELECT count(*) FROM policies"),
            await conn.fetchval("SELECT count(*) FROM audit_events"),
            await conn.fetchval("SELECT array_agg(updated_at ORDER BY id) FROM requests"))


def _site_draft(text: str) -> Draft:
    return Draft(ruleset=load_yaml(text), scope=store.Scope.site)


async def test_the_active_rules_as_draft_change_nothing(pool: asyncpg.Pool, conn: asyncpg.Connection,
                                                        site: SiteFacts) -> None:
    for concern in ("general", "no_money", "general"):
        await submit(pool, concern=concern)
    active = (await store.active(conn, site.site_id)).site
    assert active is not None
    found = await preview_impact(conn, site_id=site.site_id, draft=Draft(active.ruleset, store.Scope.site), weeks=4,
                                 now=datetime.now(UTC))
    assert found.total == 3
    assert (found.changed, found.routed, found.prioritised, found.timed) == (0, 0, 0, 0)
    assert found.teams == () and found.rows == ()
    assert found.median_days_before == found.median_days_after
    assert found.median_days_change == 0


async def test_a_higher_priority_and_a_longer_lead_time_are_counted_and_nothing_is_stored(
        pool: asyncpg.Pool, conn: asyncpg.Connection, site: SiteFacts) -> None:
    general = [await submit(pool, concern="general") for _ in range(3)]
    await submit(pool, concern="no_money")
    draft = _site_draft(SITE_POLICY.replace("defaults: {priority: 10, duration: 30m, lead_time: 1 workday,",
                                            "defaults: {priority: 55, duration: 30m, lead_time: 3 workdays,"))
    before = await _state(conn)
    found = await preview_impact(conn, site_id=site.site_id, draft=draft, weeks=4, now=datetime.now(UTC))
    assert await _state(conn) == before
    assert found.total == 4
    assert found.changed == found.prioritised == found.timed == 3  # the urgent concern has its own rule
    assert found.routed == 0 and found.teams == ()
    assert {r.request_id for r in found.rows} == {g.id for g in general}
    row = found.rows[0]
    assert (row.before_priority, row.after_priority) == (10, 55)
    assert row.after_days > row.before_days
    assert any(line.field == "priority" and line.value == "55" for line in row.after_why)
    assert any(line.field == "priority" and line.value == "10" for line in row.before_why)
    assert found.median_days_change is not None and found.median_days_change > 0


async def test_routing_elsewhere_moves_the_load_between_teams(pool: asyncpg.Pool, conn: asyncpg.Connection,
                                                              site: SiteFacts) -> None:
    await submit(pool, concern="no_money")
    await submit(pool, concern="no_money")
    draft = _site_draft(SITE_POLICY.replace("route: {team: entrance}", "route: {team: u25}", 1))
    found = await preview_impact(conn, site_id=site.site_id, draft=draft, weeks=4, now=datetime.now(UTC))
    assert found.routed == 2
    loads = {t.team_id: (t.before, t.after) for t in found.teams}
    assert loads[site.teams["entrance"]] == (2, 0)
    assert loads[site.teams["u25"]] == (0, 2)
    assert all(r.before_team == site.teams["entrance"] and r.after_team == site.teams["u25"] for r in found.rows)


async def test_only_the_weeks_asked_for_and_the_drafts_team(pool: asyncpg.Pool, conn: asyncpg.Connection,
                                                            site: SiteFacts) -> None:
    old = await submit(pool, concern="general")
    await conn.execute("UPDATE requests SET created_at = now() - interval '3 weeks' WHERE id = $1", old.id)
    await submit(pool, concern="general")
    urgent = await submit(pool, concern="no_money")
    now = datetime.now(UTC)
    draft = _site_draft(SITE_POLICY)
    assert (await preview_impact(conn, site_id=site.site_id, draft=draft, weeks=2, now=now)).total == 2
    assert (await preview_impact(conn, site_id=site.site_id, draft=draft, weeks=4, now=now)).total == 3
    team_draft = Draft(load_yaml("rules:\n  - {id: fast, when: {concern: [no_money]}, then: {priority: 99}}\n"),
                       store.Scope.team, team_id=site.teams["entrance"])
    found = await preview_impact(conn, site_id=site.site_id, draft=team_draft, weeks=2, now=now)
    in_team = await conn.fetchval("SELECT count(*) FROM requests WHERE team_id = $1 AND created_at > $2",
                                  site.teams["entrance"], now - timedelta(weeks=2))
    assert found.total == in_team < 3  # only the requests routed to the team
    assert [(r.request_id, r.before_priority, r.after_priority) for r in found.rows] == [(urgent.id, 90, 99)]
    assert any(line.rule_id == "entrance:fast" for line in found.rows[0].after_why)
    with pytest.raises(ValueError):
        await preview_impact(conn, site_id=site.site_id, draft=draft, weeks=13, now=now)
