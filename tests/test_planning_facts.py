"""planning.make_plan fills the request facts the policy matches on: invitation and earlier no-shows."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg

from scheduler import appointments, clients, planning, sites
from scheduler.policy import store
from scheduler.policy.parse import load_yaml
from scheduler.policy.rules import Channel, Kind
from tests.factories import SiteFacts, create_appointment, create_client, create_request

NOW = datetime.now(UTC)

RULES = """
rules:
  - id: often-absent
    when: {no_shows: {gte: 2}}
    then: {priority: 77, walk_in: true}
  - id: invited
    when: {invitation: true}
    then: {priority: 66}
"""


async def _activate(conn: asyncpg.Connection, site: SiteFacts) -> None:
    active = (await store.active(conn, site.site_id)).site
    assert active is not None
    ruleset = load_yaml(RULES)
    ruleset = type(ruleset)(rules=ruleset.rules + active.ruleset.rules, defaults=active.ruleset.defaults)
    draft = await store.save_draft(conn, site_id=site.site_id, scope=store.Scope.site, ruleset=ruleset,
                                   source_yaml="", owner_id=site.staff["admin"])
    await store.activate(conn, draft.id, actor_id=site.staff["admin"])


async def _no_show(conn: asyncpg.Connection, site: SiteFacts, client_id: int, start: datetime) -> None:
    request_id = await create_request(conn, site, client_id=client_id, status="no_show", staff="cw.meyer")
    appointment_id = await create_appointment(conn, site, start=start, request_id=request_id, status="no_show")
    await conn.execute("UPDATE appointments SET outcome = 'no_show', outcome_at = $2 WHERE id = $1",
                       appointment_id, start + timedelta(hours=1))


async def _plan(conn: asyncpg.Connection, site: SiteFacts, client_id: int, *, invitation: bool) -> planning.Plan:
    return await planning.make_plan(
        conn, site=await sites.site_by_id(conn, site.site_id), kind=Kind.appointment, concern_code="general",
        urgent=False, channel=Channel.web, language="de", modes=(), client=await clients.get(conn, client_id),
        received_at=NOW, now=NOW, invitation=invitation)


async def test_no_shows_of_the_last_twelve_months_count(conn: asyncpg.Connection, site: SiteFacts) -> None:
    await _activate(conn, site)
    client_id = await create_client(conn, site)
    await _no_show(conn, site, client_id, NOW - timedelta(days=400))  # too long ago
    await _no_show(conn, site, client_id, NOW - timedelta(days=30))
    assert await appointments.no_shows_since(conn, client_id=client_id, since=NOW - timedelta(days=365)) == 1
    once = await _plan(conn, site, client_id, invitation=False)
    assert (once.decision.priority, once.decision.walk_in) != (77, True)
    await _no_show(conn, site, client_id, NOW - timedelta(days=3))
    twice = await _plan(conn, site, client_id, invitation=False)
    assert (twice.decision.priority, twice.decision.walk_in) == (77, True)
    assert ("priority", "often-absent") in {(e.field, e.rule_id) for e in twice.decision.explanation}


async def test_an_invitation_is_told_apart(conn: asyncpg.Connection, site: SiteFacts) -> None:
    await _activate(conn, site)
    client_id = await create_client(conn, site)
    invited = await _plan(conn, site, client_id, invitation=True)
    asked = await _plan(conn, site, client_id, invitation=False)
    assert invited.decision.priority == 66
    assert asked.decision.priority != 66


async def test_no_shows_are_read_only_when_a_rule_tests_them(conn: asyncpg.Connection, site: SiteFacts) -> None:
    # Intake plans every request: without a no-show rule it must not pay a query for the count.
    client_id = await create_client(conn, site)
    statements: list[str] = []
    conn.add_query_logger(lambda q: statements.append(q.query))
    await _plan(conn, site, client_id, invitation=False)
    await asyncio.sleep(0)  # asyncpg calls query loggers soon after the query, not during it
    assert not any("no_show" in s for s in statements)
    await _activate(conn, site)
    await _plan(conn, site, client_id, invitation=False)
    await asyncio.sleep(0)
    assert any("no_show" in s for s in statements)
