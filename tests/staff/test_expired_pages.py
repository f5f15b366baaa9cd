"""/staff/expired: the team's requests that expired in the last week, with an audit row per listing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
from aiohttp.test_utils import TestClient

from tests.factories import SiteFacts, create_request
from tests.staff.helpers import sign_in

NOW = datetime.now(UTC)


async def _expired(conn: asyncpg.Connection, site: SiteFacts, *, team: str, days_ago: float) -> str:
    request_id = await create_request(conn, site, status="received", team=team)
    await conn.execute("UPDATE requests SET status = 'expired', closed_at = $2, deadline_at = $2::timestamptz - interval '4 days' "
                       "WHERE id = $1", request_id, NOW - timedelta(days=days_ago))
    reference: str = await conn.fetchval("SELECT reference FROM requests WHERE id = $1", request_id)
    return reference


async def test_team_sees_its_expired_requests_of_the_last_week(client: TestClient, conn: asyncpg.Connection,
                                                               site: SiteFacts) -> None:
    recent = await _expired(conn, site, team="placement", days_ago=2)
    old = await _expired(conn, site, team="placement", days_ago=9)
    other_team = await _expired(conn, site, team="u25", days_ago=1)
    still_open = await create_request(conn, site, status="received", team="placement")
    open_ref = await conn.fetchval("SELECT reference FROM requests WHERE id = $1", still_open)

    await sign_in(client, "cw.meyer")
    r = await client.get(client.app.router["staff-expired"].url_for())
    assert r.status == 200
    html = await r.text()
    assert recent in html
    assert old not in html and other_team not in html and open_ref not in html
    assert 'href="/staff/expired"' in html and 'aria-current="page"' in html   # in the navigation
    audit = await conn.fetchrow("SELECT actor, details FROM audit_events WHERE action = 'client.view_list' "
                                "AND subject_type = 'requests' ORDER BY id DESC LIMIT 1")
    assert audit["actor"] == f"staff:{site.staff['cw.meyer']}" and len(audit["details"]["request_ids"]) == 1


async def test_another_team_cannot_list_this_team(client: TestClient, conn: asyncpg.Connection,
                                                  site: SiteFacts) -> None:
    reference = await _expired(conn, site, team="placement", days_ago=1)
    await sign_in(client, "lead.u25")
    own = await (await client.get("/staff/expired")).text()
    assert reference not in own
    r = await client.get("/staff/expired", params={"view": "team", "team": str(site.teams["placement"])})
    assert r.status == 403 and reference not in await r.text()


async def test_admin_sees_the_whole_site_and_signed_out_is_sent_to_sign_in(client: TestClient,
                                                                          conn: asyncpg.Connection,
                                                                          site: SiteFacts) -> None:
    r = await client.get("/staff/expired", allow_redirects=False)
    assert r.status in (302, 303) and "/staff/sign-in" in r.headers["Location"]
    placement = await _expired(conn, site, team="placement", days_ago=1)
    u25 = await _expired(conn, site, team="u25", days_ago=3)
    await sign_in(client, "admin")
    html = await (await client.get("/staff/expired", params={"view": "team"})).text()
    assert placement in html and u25 in html
    bad = await client.get("/staff/expired", params={"view": "x" * 5000, "team": "abc"})
    assert bad.status == 400   # a team that is no number: a clear 4xx, never a 500
