"""A follow-up task is a to-do in the caseworker's inbox; marking it done twice is refused the second time."""

from __future__ import annotations

import asyncpg
from aiohttp.test_utils import TestClient

from scheduler import followups
from scheduler.callbacks import CallbackOutcome
from scheduler.policy.rules import Kind
from tests.staff.helpers import MEYER_CLIENT, flash, sign_in, submit


async def test_unreachable_callback_shows_a_to_do_that_can_be_done_once(client: TestClient, pool: asyncpg.Pool,
                                                                        conn: asyncpg.Connection) -> None:
    created = await submit(pool, kind=Kind.callback, phone=MEYER_CLIENT)
    csrf = await sign_in(client, "cw.meyer")
    url = client.app.router["staff-callback-attempt"].url_for(callback_id=str(created.id))
    r = await client.post(url, data={"csrf_token": csrf, "outcome": CallbackOutcome.wrong_number.value, "note": ""},
                          allow_redirects=False)
    assert await conn.fetchval("SELECT status FROM callbacks WHERE id = $1", created.id) == "unreachable", r.status
    followup_id = await conn.fetchval("SELECT id FROM followups WHERE callback_id = $1", created.id)
    html = await (await client.get("/staff/inbox")).text()
    assert f'id="followup-{followup_id}"' in html and "war telefonisch nicht erreichbar." in html
    url = client.app.router["staff-followup-done"].url_for(followup_id=str(followup_id))
    r = await client.post(url, data={"csrf_token": csrf})
    assert "Die Aufgabe ist erledigt." in flash(await r.text())
    assert (await followups.get(conn, followup_id)).status is followups.FollowUpStatus.done
    assert f'id="followup-{followup_id}"' not in await (await client.get("/staff/inbox")).text()
    r = await client.post(url, data={"csrf_token": csrf})
    assert flash(await r.text()) and "erledigt" not in flash(await r.text())


async def test_the_team_view_lists_every_open_to_do_of_the_team_with_its_holder(
        client: TestClient, pool: asyncpg.Pool, conn: asyncpg.Connection) -> None:
    """A caseworker's own inbox shows their to-dos; the team lead's team view shows the team's, and who holds each."""
    created = await submit(pool, kind=Kind.callback, phone=MEYER_CLIENT)
    csrf = await sign_in(client, "cw.meyer")
    url = client.app.router["staff-callback-attempt"].url_for(callback_id=str(created.id))
    await client.post(url, data={"csrf_token": csrf, "outcome": CallbackOutcome.wrong_number.value, "note": ""})
    followup = await conn.fetchrow("SELECT id, staff_id, team_id FROM followups WHERE callback_id = $1", created.id)
    assert followup["staff_id"] is not None  # Meyer holds it
    holder = await conn.fetchval("SELECT display_name FROM staff WHERE id = $1", followup["staff_id"])
    lead = await conn.fetchval("SELECT username FROM staff WHERE team_id = $1 AND role = 'team_lead' LIMIT 1",
                               followup["team_id"])
    client.session.cookie_jar.clear()
    await sign_in(client, lead)
    mine = await (await client.get("/staff/inbox?view=mine")).text()
    assert f'id="followup-{followup["id"]}"' not in mine  # the lead's own inbox: not the lead's task
    team = await (await client.get("/staff/inbox?view=team")).text()
    assert f'id="followup-{followup["id"]}"' in team and holder in team
