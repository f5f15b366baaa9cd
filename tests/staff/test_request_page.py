"""The staff request page shows why a request was declined (its category, translated) and the to-do after a
no-show of its appointment, which can be marked done there."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
from aiohttp.test_utils import TestClient

from scheduler import followups
from scheduler import requests as requests_
from tests.factories import SiteFacts, create_appointment, create_request
from tests.staff.helpers import flash, sign_in


async def test_a_declined_request_shows_its_category(client: TestClient, conn: asyncpg.Connection,
                                                     site: SiteFacts) -> None:
    request_id = await create_request(conn, site, staff="cw.meyer", team="placement")
    async with conn.transaction():
        await requests_.transition(conn, request_id, to=requests_.Status.declined, actor="test", site_id=site.site_id,
                                   decline_reason="Doppelt angelegt",
                                   decline_category=requests_.DeclineCategory.duplicate)
    assert (await requests_.get(conn, request_id)).decline_category is requests_.DeclineCategory.duplicate
    await sign_in(client, "cw.meyer")
    html = await (await client.get(f"/staff/requests/{request_id}")).text()
    assert "Abgelehnt, weil" in html
    assert '<dd data-decline-category="duplicate">Doppelt zu einer offenen Anfrage</dd>' in html
    assert "Doppelt angelegt" in html  # the note for the file, as before
    english = await (await client.get(f"/staff/requests/{request_id}", params={"lang": "en"})).text()
    assert "Declined because" in english and "Duplicate of an open request" in english


async def test_an_open_request_shows_no_category(client: TestClient, conn: asyncpg.Connection,
                                                 site: SiteFacts) -> None:
    request_id = await create_request(conn, site, staff="cw.meyer", team="placement")
    assert (await requests_.get(conn, request_id)).decline_category is None
    await sign_in(client, "cw.meyer")
    assert "data-decline-category" not in await (await client.get(f"/staff/requests/{request_id}")).text()


async def test_the_no_show_to_do_shows_on_its_request_and_is_done_there(client: TestClient, conn: asyncpg.Connection,
                                                                        site: SiteFacts) -> None:
    appointment_id = await create_appointment(conn, site, start=datetime.now(UTC) - timedelta(days=2))
    request_id, client_id = await conn.fetchrow("SELECT request_id, client_id FROM appointments WHERE id = $1",
                                                appointment_id)
    followup_id = await conn.fetchval(
        """
        INSERT INTO followups (site_id, cause, appointment_id, request_id, client_id, team_id, staff_id, action,
                               rule_id, status, created_by)
        VALUES ($1, 'no_show', $2, $3, $4, $5, $6, 'task', 'defaults', 'open', 'test') RETURNING id
        """,
        site.site_id, appointment_id, request_id, client_id, site.teams["placement"], site.staff["cw.meyer"])
    csrf = await sign_in(client, "cw.meyer")
    page = f"/staff/requests/{request_id}"
    html = await (await client.get(page)).text()
    assert f'id="followup-{followup_id}" data-followup-status="open"' in html
    assert "Die Person ist nicht zum Termin gekommen." in html
    done = client.app.router["staff-followup-done"].url_for(followup_id=str(followup_id))
    r = await client.post(done, data={"csrf_token": csrf, "back": page}, allow_redirects=False)
    assert r.status == 303 and r.headers["Location"].startswith(page)
    assert (await followups.get(conn, followup_id)).status is followups.FollowUpStatus.done
    r = await client.get(page)
    assert "Die Aufgabe ist erledigt." in flash(await r.text())
    assert f'id="followup-{followup_id}" data-followup-status="done"' in await r.text()
    # A redirect elsewhere than a staff page is not followed: back to the inbox.
    r = await client.post(done, data={"csrf_token": csrf, "back": "https://example.org/"}, allow_redirects=False)
    assert r.headers["Location"].startswith("/staff/inbox")
