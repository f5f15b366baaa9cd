"""/staff/capacity: a lead sees their team's coming weeks, an admin the office with each team; role and site checks."""

from __future__ import annotations

import re

import asyncpg
from aiohttp.test_utils import TestClient

from tests.factories import SiteFacts
from tests.staff.helpers import sign_in as first_sign_in


async def sign_in(client: TestClient, username: str) -> str:
    """Sign in afresh (a signed-in browser is sent past the sign-in form)."""
    client.session.cookie_jar.clear()
    return await first_sign_in(client, username)


def rows(html: str, table_id: str) -> list[str]:
    table = re.search(rf'<table class="numbers" id="{table_id}">(.*?)</table>', html, re.S)
    assert table, html[:2000]
    return re.findall(r"<tr[^>]*>\s*<th scope=\"row\">", table.group(1))


async def test_team_lead_sees_six_weeks_of_their_team(client: TestClient, conn: asyncpg.Connection,
                                                      site: SiteFacts) -> None:
    await sign_in(client, "lead.placement")
    r = await client.get("/staff/capacity")
    assert r.status == 200
    html = await r.text()
    assert "Bedarf und Kapazität – Arbeitsvermittlung" in html
    assert len(rows(html, "capacity-table")) == 6
    assert "saisonale Durchschnitt" in html  # the page says which forecast it uses
    assert 'id="capacity-data"' in html and "capacity.js" in html
    assert 'id="capacity-teams"' not in html and 'id="c-team"' not in html
    assert 'href="/staff/capacity" aria-current="page"' in html
    own = await client.get("/staff/capacity", params={"team": str(site.teams["placement"])})
    assert own.status == 200
    assert (await client.get("/staff/capacity", params={"team": str(site.teams["u25"])})).status == 403


async def test_admin_sees_the_office_and_each_team(client: TestClient, conn: asyncpg.Connection,
                                                   site: SiteFacts) -> None:
    await sign_in(client, "admin")
    html = await (await client.get("/staff/capacity")).text()
    assert "Bedarf und Kapazität – Ganzes Jobcenter" in html
    assert len(rows(html, "capacity-table")) == 6
    assert len(rows(html, "capacity-teams")) == len(site.teams)
    html = await (await client.get("/staff/capacity", params={"team": str(site.teams["u25"])})).text()
    assert "U25-Team" in html and 'id="capacity-teams"' not in html


async def test_roles_and_other_sites(client: TestClient, conn: asyncpg.Connection, site: SiteFacts) -> None:
    other_site = await conn.fetchval("INSERT INTO sites (code, name) VALUES ('anderswo', 'Anderswo') RETURNING id")
    other_team = await conn.fetchval("INSERT INTO teams (site_id, code, name) VALUES ($1, 'x', 'X') RETURNING id",
                                     other_site)
    await sign_in(client, "cw.meyer")
    assert (await client.get("/staff/capacity")).status == 403
    await sign_in(client, "admin")
    assert (await client.get("/staff/capacity", params={"team": str(other_team)})).status == 404
    assert (await client.get("/staff/capacity", params={"team": "abc"})).status == 400
    await sign_in(client, "lead.u25")
    assert (await client.get("/staff/capacity", params={"team": str(other_team)})).status == 404
