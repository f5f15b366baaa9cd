"""/staff/escalation: the lead's list with its count in the navigation, the bulk reassignment through the form,
the admin's view of every team; role and site checks."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import asyncpg
from aiohttp.test_utils import TestClient

from scheduler import approvals
from tests.factories import SiteFacts, create_request
from tests.staff.helpers import flash
from tests.staff.helpers import sign_in as first_sign_in


async def escalated(pool: asyncpg.Pool, conn: asyncpg.Connection, site: SiteFacts, *, team: str = "placement",
                    staff: str | None = "cw.meyer") -> tuple[int, str]:
    request_id = await create_request(conn, site, team=team, staff=staff,
                                      created_at=datetime.now(UTC) - timedelta(days=3))
    await conn.execute("UPDATE requests SET deadline_at = now() - interval '5 hours' WHERE id = $1", request_id)
    await approvals.flag_overdue(pool, now=datetime.now(UTC))
    return request_id, await conn.fetchval("SELECT reference FROM requests WHERE id = $1", request_id)


async def sign_in(client: TestClient, username: str) -> str:
    """Sign in afresh (a signed-in browser is sent past the sign-in form)."""
    client.session.cookie_jar.clear()
    return await first_sign_in(client, username)


def badge(html: str) -> str | None:
    found = re.search(r'href="/staff/escalation"[^>]*>[^<]*<span class="badge">(\d+)</span>', html)
    return found.group(1) if found else None


async def test_lead_sees_the_list_and_the_count_and_reassigns_in_bulk(
        client: TestClient, app_pool: asyncpg.Pool, conn: asyncpg.Connection, site: SiteFacts) -> None:
    first, first_ref = await escalated(app_pool, conn, site)
    second, _ = await escalated(app_pool, conn, site)
    _, other_ref = await escalated(app_pool, conn, site, team="u25", staff=None)
    csrf = await sign_in(client, "lead.placement")

    html = await (await client.get("/staff/inbox")).text()
    assert badge(html) == "2"  # the count on every page, for the lead's own team
    r = await client.get("/staff/escalation")
    assert r.status == 200
    html = await r.text()
    assert first_ref in html and other_ref not in html
    assert 'name="request_ids"' in html and "Meyer" in html
    audit = await conn.fetchval("SELECT details FROM audit_events WHERE action = 'client.view_list' "
                                "AND actor = $1 ORDER BY id DESC LIMIT 1", f"staff:{site.staff['lead.placement']}")
    assert sorted(audit["request_ids"]) == sorted([first, second])

    r = await client.post("/staff/escalation/reassign", data={
        "csrf_token": csrf, "team_id": str(site.teams["placement"]), "request_ids": [str(first), str(second)],
        "staff_id": str(site.staff["cw.demir"])})
    html = await r.text()
    assert "neu zugewiesen" in flash(html)
    assert first_ref not in html and badge(html) is None
    assert {r["staff_id"] for r in await conn.fetch("SELECT staff_id FROM requests WHERE id = ANY($1)",
                                                    [first, second])} == {site.staff["cw.demir"]}


async def test_refusals_are_messages_and_change_nothing(client: TestClient, app_pool: asyncpg.Pool,
                                                        conn: asyncpg.Connection, site: SiteFacts) -> None:
    request_id, _ = await escalated(app_pool, conn, site)
    csrf = await sign_in(client, "lead.placement")
    team = str(site.teams["placement"])
    r = await client.post("/staff/escalation/reassign", data={"csrf_token": csrf, "team_id": team,
                                                              "staff_id": str(site.staff["cw.demir"])})
    assert "mindestens eine Anfrage" in flash(await r.text())
    r = await client.post("/staff/escalation/reassign", data={"csrf_token": csrf, "team_id": team,
                                                              "request_ids": str(request_id),
                                                              "staff_id": str(site.staff["cw.rahimi"])})
    assert "dieses Teams" in flash(await r.text())
    r = await client.post("/staff/escalation/reassign", data={"team_id": team, "request_ids": str(request_id),
                                                              "staff_id": str(site.staff["cw.demir"])})
    assert r.status == 403  # no CSRF token
    assert await conn.fetchval("SELECT staff_id FROM requests WHERE id = $1", request_id) == site.staff["cw.meyer"]


async def test_roles_and_sites(client: TestClient, app_pool: asyncpg.Pool, conn: asyncpg.Connection,
                               site: SiteFacts) -> None:
    request_id, reference = await escalated(app_pool, conn, site)
    _, u25_ref = await escalated(app_pool, conn, site, team="u25", staff=None)
    other_site = await conn.fetchval("INSERT INTO sites (code, name) VALUES ('anderswo', 'Anderswo') RETURNING id")
    other_team = await conn.fetchval("INSERT INTO teams (site_id, code, name) VALUES ($1, 'x', 'X') RETURNING id",
                                     other_site)

    await sign_in(client, "cw.meyer")
    assert (await client.get("/staff/escalation")).status == 403
    assert badge(await (await client.get("/staff/inbox")).text()) is None

    csrf = await sign_in(client, "lead.u25")
    html = await (await client.get("/staff/escalation")).text()
    assert u25_ref in html and reference not in html
    r = await client.post("/staff/escalation/reassign", data={
        "csrf_token": csrf, "team_id": str(site.teams["placement"]), "request_ids": str(request_id),
        "staff_id": str(site.staff["cw.demir"])})
    assert r.status == 403

    csrf = await sign_in(client, "admin")
    html = await (await client.get("/staff/escalation")).text()
    assert reference in html and u25_ref in html and badge(html) == "2"
    assert 'name="request_ids"' not in html  # all teams: choose one to reassign
    html = await (await client.get("/staff/escalation", params={"team": str(site.teams["u25"])})).text()
    assert u25_ref in html and reference not in html and 'name="request_ids"' in html
    assert (await client.get("/staff/escalation", params={"team": str(other_team)})).status == 404
    r = await client.post("/staff/escalation/reassign", data={
        "csrf_token": csrf, "team_id": str(other_team), "request_ids": str(request_id),
        "staff_id": str(site.staff["cw.demir"])})
    assert r.status == 404
