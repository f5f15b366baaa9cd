"""customer_groups.py: an office's customer groups and their members (issue 16); the demo's groups; planning
reads a client's groups only when a rule tests them."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import asyncpg
import pytest

from scheduler import clients, customer_groups, planning, sites
from scheduler.policy import store
from scheduler.policy.parse import load_yaml
from scheduler.policy.rules import Channel, Kind
from tests.factories import SiteFacts, create_client

LABELS = {"de": "Wohnungslos", "en": "Homeless"}


async def _audit(conn: asyncpg.Connection, action: str) -> list[asyncpg.Record]:
    return list(await conn.fetch("SELECT subject_id, details FROM audit_events WHERE action = $1 ORDER BY id", action))


async def test_the_demo_office_has_three_groups_with_members(conn: asyncpg.Connection, site: SiteFacts) -> None:
    groups = await customer_groups.list_for_site(conn, site.site_id)
    assert [(g.code, g.label("de"), g.label("en"), g.active) for g in groups] == [
        ("alleinerziehend", "Alleinerziehend", "Single parent", True),
        ("aufstocker", "Aufstocker/in", "Employed with top-up benefits", True),
        ("reha", "Rehabilitand/in", "Rehabilitation client", True)]
    assert await customer_groups.codes_of_client(conn, site.clients["+4915123456704"]) == {"alleinerziehend"}
    assert await customer_groups.codes_of_client(conn, site.clients["+4915123456705"]) == frozenset()


async def test_add_update_and_a_taken_code(conn: asyncpg.Connection, site: SiteFacts) -> None:
    group_id = await customer_groups.add(conn, site_id=site.site_id, code="wohnungslos", labels=LABELS,
                                         staff_id=site.staff["admin"])
    with pytest.raises(customer_groups.CodeTaken):
        await customer_groups.add(conn, site_id=site.site_id, code="wohnungslos", labels=LABELS, staff_id=1)
    await customer_groups.update(conn, site_id=site.site_id, group_id=group_id,
                                 labels={"de": "Ohne Wohnung", "en": "Without a home"}, active=False,
                                 staff_id=site.staff["admin"])
    (found,) = [g for g in await customer_groups.list_for_site(conn, site.site_id) if g.id == group_id]
    assert (found.label("de"), found.label("en"), found.active) == ("Ohne Wohnung", "Without a home", False)
    assert group_id not in {g.id for g in await customer_groups.list_for_site(conn, site.site_id, active_only=True)}
    assert [r["subject_id"] for r in await _audit(conn, "customer_group.added")][-1] == group_id
    assert (await _audit(conn, "customer_group.saved"))[-1]["details"]["active"] is False


async def test_the_table_refuses_bad_codes_and_missing_labels(conn: asyncpg.Connection, site: SiteFacts) -> None:
    for code, labels in (("Groß", LABELS), ("x", LABELS), ("ok_code", {"de": "nur Deutsch"}),
                         ("ok_code", {"de": "", "en": "x"})):
        with pytest.raises(asyncpg.CheckViolationError):
            await conn.execute("INSERT INTO customer_groups (site_id, code, labels) VALUES ($1, $2, $3)",
                               site.site_id, code, labels)


async def test_a_group_rules_test_is_deactivated_not_deleted(conn: asyncpg.Connection, site: SiteFacts) -> None:
    groups = {g.code: g.id for g in await customer_groups.list_for_site(conn, site.site_id)}
    admin = site.staff["admin"]
    async with conn.transaction():
        deleted = await customer_groups.delete(conn, site_id=site.site_id, group_id=groups["reha"], staff_id=admin,
                                               codes_in_rules={"reha"})
    assert deleted is False
    (reha,) = [g for g in await customer_groups.list_for_site(conn, site.site_id) if g.code == "reha"]
    assert reha.active is False
    member = site.clients["+4915123456704"]
    async with conn.transaction():
        assert await customer_groups.delete(conn, site_id=site.site_id, group_id=groups["alleinerziehend"],
                                            staff_id=admin, codes_in_rules={"reha"}) is True
    assert "alleinerziehend" not in {g.code for g in await customer_groups.list_for_site(conn, site.site_id)}
    assert await customer_groups.codes_of_client(conn, member) == frozenset()  # memberships go with it
    assert [r["details"]["code"] for r in await _audit(conn, "customer_group.deactivated")] == ["reha"]
    assert [r["details"]["code"] for r in await _audit(conn, "customer_group.deleted")] == ["alleinerziehend"]


async def test_set_for_client_only_takes_the_offices_active_groups(conn: asyncpg.Connection,
                                                                   site: SiteFacts) -> None:
    groups = {g.code: g.id for g in await customer_groups.list_for_site(conn, site.site_id)}
    client_id = await create_client(conn, site)
    admin = site.staff["admin"]
    assert await customer_groups.set_for_client(conn, site_id=site.site_id, client_id=client_id, staff_id=admin,
                                                group_ids=[groups["reha"], groups["aufstocker"]]) == {"reha",
                                                                                                     "aufstocker"}
    other_site = await conn.fetchval("INSERT INTO sites (code, name) VALUES ('anderswo', 'Anderswo') RETURNING id")
    foreign = await customer_groups.add(conn, site_id=other_site, code="reha", labels=LABELS, staff_id=admin)
    for wrong in ([foreign], [groups["reha"], 10**12]):
        with pytest.raises(customer_groups.UnknownGroup):
            await customer_groups.set_for_client(conn, site_id=site.site_id, client_id=client_id, group_ids=wrong,
                                                 staff_id=admin)
    # Switched off: the client keeps it when already in it, but nobody new is put in it.
    await customer_groups.update(conn, site_id=site.site_id, group_id=groups["reha"], labels=LABELS, active=False,
                                 staff_id=admin)
    assert await customer_groups.set_for_client(conn, site_id=site.site_id, client_id=client_id, staff_id=admin,
                                                group_ids=[groups["reha"]]) == {"reha"}
    newcomer = await create_client(conn, site)
    with pytest.raises(customer_groups.UnknownGroup):
        await customer_groups.set_for_client(conn, site_id=site.site_id, client_id=newcomer, staff_id=admin,
                                             group_ids=[groups["reha"]])
    assert await customer_groups.codes_of_client(conn, client_id) == {"reha"}
    trail = await _audit(conn, "client.customer_groups_set")
    assert [(r["subject_id"], r["details"]) for r in trail[-2:]] == [
        (client_id, {"before": [], "after": ["aufstocker", "reha"]}),
        (client_id, {"before": ["aufstocker", "reha"], "after": ["reha"]})]  # refused changes wrote nothing


async def _plan(conn: asyncpg.Connection, site: SiteFacts, client: clients.Client) -> planning.Plan:
    row = await sites.site_by_id(conn, site.site_id)
    now = datetime.now(UTC)
    return await planning.make_plan(conn, site=row, kind=Kind.appointment, concern_code="general", urgent=False,
                                    channel=Channel.web, language="de", modes=(), client=client, received_at=now,
                                    now=now)


async def test_make_plan_reads_groups_only_when_a_rule_tests_them(conn: asyncpg.Connection,
                                                                  site: SiteFacts) -> None:
    member = await clients.get(conn, site.clients["+4915123456704"])  # alleinerziehend
    statements: list[str] = []
    conn.add_query_logger(lambda q: statements.append(q.query))
    await _plan(conn, site, member)
    await asyncio.sleep(0)  # asyncpg calls query loggers soon after the query, not during it
    assert not any("client_customer_groups" in s for s in statements)  # no rule tests groups yet
    before = (await _plan(conn, site, member)).decision.priority
    ruleset = load_yaml("rules:\n  - {id: single-parents, when: {groups: [alleinerziehend]}, "
                        "then: {priority: 97}}\n")
    async with conn.transaction():
        draft = await store.save_draft(conn, site_id=site.site_id, scope=store.Scope.site, ruleset=ruleset,
                                       source_yaml="", owner_id=site.staff["admin"])
        await store.activate(conn, draft.id, actor_id=site.staff["admin"])
    plan = await _plan(conn, site, member)
    await asyncio.sleep(0)
    assert any("client_customer_groups" in s for s in statements)
    assert plan.decision.priority == 97 != before
    stranger = await clients.get(conn, await create_client(conn, site))
    assert (await _plan(conn, site, stranger)).decision.priority != 97
