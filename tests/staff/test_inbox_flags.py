""""Outcome missing" in the inbox: a flagged appointment shows to its caseworker, an escalated one to the lead of
its caseworker's team, and neither to another team."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from scheduler import outcomes
from tests.factories import SiteFacts, create_appointment
from tests.staff import helpers
from tests.staff.helpers import sign_in


def _last_monday_at(hour: int) -> datetime:
    day = date.today() - timedelta(days=date.today().weekday() + 7)
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


async def _inbox_as(client: TestClient, username: str) -> str:
    client.session.cookie_jar.clear()
    await sign_in(client, username)
    r = await client.get("/staff/inbox")
    assert r.status == 200, await r.text()
    return await r.text()


async def test_flagged_to_the_caseworker_escalated_to_their_lead_not_to_another_team(
        client: TestClient, pool: asyncpg.Pool, conn: asyncpg.Connection, site: SiteFacts,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(helpers.PASSWORDS, "lead.placement", "demo-lead")  # lead of cw.meyer's and cw.demir's team
    meyers = await create_appointment(conn, site, start=_last_monday_at(9))                    # team placement
    yilmaz = await create_appointment(conn, site, staff="cw.yilmaz", start=_last_monday_at(10))  # team entrance
    request_id = await conn.fetchval("SELECT request_id FROM appointments WHERE id = $1", meyers)
    now = datetime.now(UTC)
    assert (await outcomes.flag_unmarked(pool, now=now)).flagged == 2

    html = await _inbox_as(client, "cw.meyer")
    assert 'id="outcomes-missing"' in html and "Ergebnis fehlt" in html
    assert f'id="outcome-missing-{meyers}"' in html and f'id="outcome-missing-{yilmaz}"' not in html
    assert f'/staff/requests/{request_id}#h-appt' in html   # the request page holds the one-click outcome
    # A colleague of the same team and the lead see nothing while it is only flagged to the caseworker.
    assert 'id="outcomes-missing"' not in await _inbox_as(client, "cw.demir")
    assert 'id="outcomes-missing"' not in await _inbox_as(client, "lead.placement")

    # A working day after the caseworker was told (a week covers weekends and holidays), the lead is.
    assert (await outcomes.flag_unmarked(pool, now=now + timedelta(days=7))).escalated == 2
    lead = await _inbox_as(client, "lead.placement")
    assert f'id="outcome-missing-{meyers}" data-appointment="{meyers}" data-escalated' in lead
    assert f'id="outcome-missing-{yilmaz}"' not in lead and "Teamleitung informiert" in lead
    other_lead = await _inbox_as(client, "lead.entrance")
    assert f'id="outcome-missing-{yilmaz}"' in other_lead and f'id="outcome-missing-{meyers}"' not in other_lead
    assert f'id="outcome-missing-{meyers}"' in await _inbox_as(client, "cw.meyer")   # still the caseworker's too

    # Once the outcome is recorded (one click on the request page) it leaves every inbox.
    client.session.cookie_jar.clear()
    csrf = await sign_in(client, "cw.meyer")
    r = await client.post(f"/staff/appointments/{meyers}/outcome", allow_redirects=False,
                          data={"csrf_token": csrf, "outcome": "held", "back": f"/staff/requests/{request_id}"})
    assert r.status == 303, await r.text()
    assert f'id="outcome-missing-{meyers}"' not in await _inbox_as(client, "lead.placement")
