"""Team checks everywhere (issue 13, item 8): the JSON API refuses what the pages refuse, and every answer
that shows a client's personal data leaves a view audit row."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
from aiohttp.test_utils import TestClient

from scheduler.policy.rules import Kind
from tests import factories
from tests.api.helpers import staff_headers
from tests.factories import SiteFacts
from tests.staff.helpers import sign_in, submit


async def _entrance_request(conn: asyncpg.Connection, site: SiteFacts) -> int:
    """An open request of the entrance team, not assigned to anyone (cw.meyer works in placement)."""
    return await factories.create_request(conn, site, team="entrance")


async def test_json_request_view_of_another_team_is_refused(client: TestClient, conn: asyncpg.Connection,
                                                            site: SiteFacts) -> None:
    request_id = await _entrance_request(conn, site)
    meyer = await staff_headers(client)
    r = await client.get(f"/api/staff/requests/{request_id}", headers=meyer)
    assert r.status == 403, await r.text()
    assert await conn.fetchval("SELECT count(*) FROM audit_events WHERE action = 'client.view'") == 0
    yilmaz = await staff_headers(client, "cw.yilmaz", "demo-caseworker")  # entrance: may see it
    assert (await client.get(f"/api/staff/requests/{request_id}", headers=yilmaz)).status == 200
    row = await conn.fetchrow("SELECT subject_type, subject_id, details FROM audit_events WHERE action = 'client.view'")
    client_id = await conn.fetchval("SELECT client_id FROM requests WHERE id = $1", request_id)
    assert row["subject_type"] == "client" and row["subject_id"] == client_id
    assert row["details"]["request_id"] == request_id


async def test_slots_of_another_teams_request_are_refused(client: TestClient, conn: asyncpg.Connection,
                                                          site: SiteFacts) -> None:
    request_id = await _entrance_request(conn, site)
    meyer = await staff_headers(client)
    r = await client.get(f"/api/staff/requests/{request_id}/slots", headers=meyer)
    assert r.status == 403, await r.text()


async def test_slots_of_another_sites_caseworker_are_refused(client: TestClient, conn: asyncpg.Connection,
                                                             site: SiteFacts) -> None:
    other_site = await conn.fetchval("INSERT INTO sites (code, name) VALUES ('elsewhere', 'Elsewhere') RETURNING id")
    stranger = await conn.fetchval("INSERT INTO staff (site_id, username, display_name, role) "
                                   "VALUES ($1, 'cw.elsewhere', 'Else Where', 'caseworker') RETURNING id", other_site)
    request_id = await factories.create_request(conn, site, staff="cw.meyer")
    meyer = await staff_headers(client)
    r = await client.get(f"/api/staff/requests/{request_id}/slots?staff_id={stranger}", headers=meyer)
    assert r.status == 422, await r.text()
    assert "staff_id" in (await r.json())["fields"]


async def test_team_lists_of_another_team_are_refused(client: TestClient, conn: asyncpg.Connection,
                                                      site: SiteFacts, app_pool: asyncpg.Pool) -> None:
    await submit(app_pool, kind=Kind.callback, concern="no_money")  # routed to the entrance team
    entrance = site.teams["entrance"]
    meyer = await staff_headers(client)
    r = await client.get(f"/api/staff/inbox?team={entrance}", headers=meyer)
    assert r.status == 403, await r.text()
    assert (await client.get(f"/api/staff/inbox?team={site.teams['placement']}", headers=meyer)).status == 200
    admin = await staff_headers(client, "admin", "demo-admin")
    assert (await client.get(f"/api/staff/inbox?team={entrance}", headers=admin)).status == 200
    await sign_in(client, "cw.meyer")
    page = await client.get(f"/staff/callbacks?view=team&team={entrance}")
    assert page.status == 403, await page.text()
    page = await client.get(f"/staff/inbox?view=team&team={entrance}")
    assert page.status == 403


async def test_invitation_answer_is_checked_and_audited(client: TestClient, conn: asyncpg.Connection) -> None:
    meyer = await staff_headers(client)
    r = await client.post("/api/staff/invitations", headers=meyer, json={
        "phone": "015100007777", "concern": "general", "language": "de", "invitation": "voluntary"})
    assert r.status == 201, await r.text()
    created = await r.json()
    assert created["staff_id"] is not None


async def test_callbacks_list_writes_one_view_row_with_the_clients_shown(
        client: TestClient, conn: asyncpg.Connection, app_pool: asyncpg.Pool) -> None:
    shown = await submit(app_pool, kind=Kind.callback, concern="no_money")
    await sign_in(client, "lead.entrance")
    page = await client.get("/staff/callbacks?view=team")
    assert page.status == 200
    rows = await conn.fetch("SELECT subject_type, subject_id, details FROM audit_events "
                            "WHERE action = 'client.view_list'")
    assert len(rows) == 1 and rows[0]["subject_type"] == "callbacks"
    client_id = await conn.fetchval("SELECT client_id FROM callbacks WHERE id = $1", shown.id)
    assert shown.id in rows[0]["details"]["callback_ids"] and client_id in rows[0]["details"]["client_ids"]


async def test_calendar_writes_a_view_row_when_it_shows_clients(client: TestClient, conn: asyncpg.Connection,
                                                                site: SiteFacts) -> None:
    await sign_in(client, "cw.meyer")
    assert (await client.get("/staff/calendar")).status == 200
    # An empty calendar shows nobody: nothing to record.
    assert await conn.fetchval("SELECT count(*) FROM audit_events WHERE action = 'client.view_list'") == 0
    start = datetime.now(UTC).replace(hour=10, minute=0, second=0, microsecond=0) + timedelta(days=1)
    appointment_id = await factories.create_appointment(conn, site, start=start)
    assert (await client.get(f"/staff/calendar?date={start.date().isoformat()}")).status == 200
    row = await conn.fetchrow("SELECT subject_type, details FROM audit_events WHERE action = 'client.view_list'")
    assert row["subject_type"] == "appointments" and appointment_id in row["details"]["appointment_ids"]
