"""The front desk's walk-in queue and buttons through the real app: take, call, served, left; CSRF, site and
audit checks."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import asyncpg
from aiohttp.test_utils import TestClient

from tests.factories import SiteFacts
from tests.staff.helpers import flash, sign_in
from tests.walk_in_support import kiosk_callback


async def _ticket(pool: asyncpg.Pool) -> tuple[int, int]:
    """A ticket issued now (the demo office's hours do not matter here): (ticket id, callback id)."""
    callback_id = await kiosk_callback(pool, now=datetime.now(UTC))
    async with pool.acquire() as conn:
        site_id = await conn.fetchval("SELECT site_id FROM callbacks WHERE id = $1", callback_id)
        day = await conn.fetchval("SELECT (now() AT TIME ZONE 'Europe/Berlin')::date")
        ticket = await conn.fetchval(
            "INSERT INTO walk_in_tickets (site_id, callback_id, day, number) VALUES ($1, $2, $3, "
            "(SELECT coalesce(max(number), 0) + 1 FROM walk_in_tickets WHERE site_id = $1 AND day = $3)) "
            "RETURNING id", site_id, callback_id, day)
    return ticket, callback_id


async def _post(client: TestClient, path: str, csrf: str, **fields: str) -> tuple[int, str]:
    r = await client.post(path, data={"csrf_token": csrf, **fields}, headers={"Accept": "text/html"})
    return r.status, await r.text()


async def test_the_front_desk_lists_the_ticket_and_its_buttons_and_audits_the_view(
        client: TestClient, pool: asyncpg.Pool, conn: asyncpg.Connection, site: SiteFacts) -> None:
    ticket_id, callback_id = await _ticket(pool)
    await sign_in(client, "cw.demir")
    html = await (await client.get("/staff/front-desk")).text()
    assert 'data-ticket="N-001"' in html and "Notfälle ohne Termin und Rückrufe heute" in html
    for action in ("take", "call", "served", "left"):
        assert f'action="/staff/walk-ins/{ticket_id}/{action}"' in html
    assert html.index("N-001") < html.index("Ankünfte heute")
    viewed = await conn.fetchval(
        "SELECT details FROM audit_events WHERE action = 'client.view_list' AND subject_type = 'callbacks' "
        "ORDER BY id DESC LIMIT 1")
    assert callback_id in viewed["callback_ids"]
    status = await (await client.get("/staff/front-desk/status")).json()
    stamp = re.search(r'data-stamp="([0-9a-f]+)"', html)
    assert stamp and stamp.group(1) == status["stamp"] and "N-001" not in str(status)
    await conn.execute("UPDATE walk_in_tickets SET taken_by = $2 WHERE id = $1", ticket_id, site.staff["cw.meyer"])
    again = re.search(r'data-stamp="([0-9a-f]+)"', await (await client.get("/staff/front-desk")).text())
    assert again and again.group(1) != stamp.group(1)  # taking a ticket changes the list's fingerprint


async def test_take_call_and_serve_from_the_front_desk(client: TestClient, pool: asyncpg.Pool,
                                                       conn: asyncpg.Connection, site: SiteFacts) -> None:
    ticket_id, callback_id = await _ticket(pool)
    csrf = await sign_in(client, "cw.demir")
    status, html = await _post(client, f"/staff/walk-ins/{ticket_id}/take", csrf)
    assert status == 200 and flash(html) == "Sie haben die Nummer N-001 übernommen."
    status, html = await _post(client, f"/staff/walk-ins/{ticket_id}/call", csrf, room="")
    assert flash(html).endswith("Bitte geben Sie einen Raum mit höchstens 40 Zeichen ein.")
    status, html = await _post(client, f"/staff/walk-ins/{ticket_id}/call", csrf, room="E.05")
    assert flash(html) == "Aufgerufen: Nummer N-001 in Raum E.05."
    assert re.search(r'data-ticket="N-001" class="called"', html)
    status, html = await _post(client, f"/staff/walk-ins/{ticket_id}/served", csrf)
    assert flash(html) == "Nummer N-001 ist erledigt." and 'data-ticket="N-001"' not in html
    status, html = await _post(client, f"/staff/walk-ins/{ticket_id}/left", csrf)
    assert status == 200 and flash(html) and "erledigt" not in flash(html)  # refused with a message: already done
    assert await conn.fetchval("SELECT status FROM callbacks WHERE id = $1", callback_id) == "reached"
    actions = await conn.fetch("SELECT action, actor FROM audit_events WHERE subject_type = 'callback' "
                               "AND subject_id = $1 AND action LIKE 'walk_in.%' ORDER BY id", callback_id)
    assert [a["action"] for a in actions] == ["walk_in.taken", "walk_in.called", "walk_in.served"]
    assert {a["actor"] for a in actions} == {f"staff:{site.staff['cw.demir']}"}


async def test_a_colleagues_ticket_and_unknown_tickets_are_refused(client: TestClient, pool: asyncpg.Pool,
                                                                    conn: asyncpg.Connection, site: SiteFacts) -> None:
    ticket_id, _ = await _ticket(pool)
    async with pool.acquire() as c:
        meyer = await c.fetchrow("SELECT id, site_id FROM staff WHERE username = 'cw.meyer'")
    await conn.execute("UPDATE walk_in_tickets SET taken_by = $2 WHERE id = $1", ticket_id, meyer["id"])
    csrf = await sign_in(client, "cw.demir")
    status, html = await _post(client, f"/staff/walk-ins/{ticket_id}/left", csrf)
    assert status == 200 and flash(html) and "gegangen" not in flash(html)
    assert await conn.fetchval("SELECT status FROM walk_in_tickets WHERE id = $1", ticket_id) == "waiting"
    status, _html = await _post(client, f"/staff/walk-ins/{ticket_id + 999}/served", csrf)
    assert status == 404
    r = await client.post(f"/staff/walk-ins/{ticket_id}/served", data={}, headers={"Accept": "text/html"})
    assert r.status == 403  # no CSRF token
    assert await conn.fetchval("SELECT status FROM walk_in_tickets WHERE id = $1", ticket_id) == "waiting"


async def test_signed_out_people_cannot_act(client: TestClient, pool: asyncpg.Pool, conn: asyncpg.Connection,
                                            site: SiteFacts) -> None:
    ticket_id, _ = await _ticket(pool)
    r = await client.post(f"/staff/walk-ins/{ticket_id}/take", data={}, allow_redirects=False)
    assert r.status in (302, 303, 401)
    assert await conn.fetchval("SELECT taken_by FROM walk_in_tickets WHERE id = $1", ticket_id) is None
