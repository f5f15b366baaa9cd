"""preview.py called directly: a draft rule set is compared over recent requests and nothing is kept."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg

from scheduler import preview
from scheduler.policy import store
from scheduler.policy.parse import load_yaml
from tests.dbharness import PROJECT_DIR
from tests.factories import SiteFacts, create_request

NOW = datetime.now(UTC)
SITE_POLICY = (PROJECT_DIR / "scheduler" / "demo" / "policy-site.yaml").read_text()


async def _state(conn: asyncpg.Connection) -> tuple[object, ...]:
    return (
        await conn.fetchval("SELECT count(*) FROM policies"),
        await conn.fetchval("SELECT array_agg(id ORDER BY id) FROM policies WHERE status = 'active'"),
        await conn.fetchval("SELECT count(*) FROM audit_events"),
        await conn.fetchval("SELECT count(*) FROM proposals"),
        await conn.fetchval("SELECT array_agg(config_stamp ORDER BY id) FROM sites"),
    )


async def test_a_draft_with_another_priority_shows_the_change_and_keeps_nothing(
        pool: asyncpg.Pool, conn: asyncpg.Connection, site: SiteFacts) -> None:
    ids = [await create_request(conn, site, concern="general") for _ in range(3)]
    draft = load_yaml(SITE_POLICY.replace("defaults: {priority: 10,", "defaults: {priority: 55,"))
    before = await _state(conn)
    rows = await preview.preview(pool, site_id=site.site_id, scope=store.Scope.site, team_id=None, staff_id=None,
                                 ruleset=draft, owner_id=site.staff["admin"], last_n=10, now=NOW)
    assert {r.request_id for r in rows} == set(ids)
    assert {(r.before_priority, r.after_priority) for r in rows} == {(10, 55)}
    assert all(r.changed for r in rows)
    assert all(r.before_route == r.after_route for r in rows)
    assert await _state(conn) == before


async def test_an_identical_draft_changes_nothing(pool: asyncpg.Pool, conn: asyncpg.Connection,
                                                  site: SiteFacts) -> None:
    await create_request(conn, site, concern="general")
    await create_request(conn, site, concern="no_money")
    rows = await preview.preview(pool, site_id=site.site_id, scope=store.Scope.site, team_id=None, staff_id=None,
                                 ruleset=load_yaml(SITE_POLICY), owner_id=site.staff["admin"], last_n=10, now=NOW)
    assert len(rows) == 2
    assert not any(r.changed for r in rows)
    urgent = next(r for r in rows if r.concern == "no_money")
    assert urgent.before_priority == 90 and urgent.before_position == 1
    assert preview.row_json(urgent)["changed"] is False


async def test_last_n_and_scope_limit_the_requests_compared(pool: asyncpg.Pool, conn: asyncpg.Connection,
                                                           site: SiteFacts) -> None:
    for _ in range(3):
        await create_request(conn, site, concern="general", team="placement")
    other = await create_request(conn, site, concern="general", team="u25")
    rows = await preview.preview(pool, site_id=site.site_id, scope=store.Scope.team, team_id=site.teams["u25"],
                                 staff_id=None, ruleset=load_yaml(SITE_POLICY), owner_id=site.staff["admin"],
                                 last_n=10, now=NOW)
    assert [r.request_id for r in rows] == [other]
    rows = await preview.preview(pool, site_id=site.site_id, scope=store.Scope.site, team_id=None, staff_id=None,
                                 ruleset=load_yaml(SITE_POLICY), owner_id=site.staff["admin"], last_n=2, now=NOW)
    assert len(rows) == 2
