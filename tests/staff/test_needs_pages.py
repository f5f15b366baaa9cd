"""Needs on staff pages: the invitation form records them; inbox, request page, calendar and today list show a
label per need (the symbol hidden from screen readers); the slot search's room line is explained."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import asyncpg
from aiohttp.test_utils import TestClient

from scheduler import intake, seed
from scheduler.policy.rules import Channel, Kind
from tests.factories import SiteFacts
from tests.staff.helpers import MEYER_CLIENT, sign_in


async def test_the_invitation_form_records_needs(client: TestClient, conn: asyncpg.Connection,
                                                 site: SiteFacts) -> None:
    await seed.insert_notice_templates(conn, site.site_id, site.staff["admin"])
    template_id = await conn.fetchval("SELECT id FROM notice_templates WHERE kind = 'voluntary'")
    csrf = await sign_in(client, "cw.meyer")
    html = await (await client.get("/staff/invite?lang=de")).text()
    assert 'id="need-sign_language"' in html and '<option value="uk">Ukrainisch</option>' in html
    form = [("phone", "0151 22334477"), ("concern", "general"), ("language", "de"), ("template", str(template_id)),
            ("csrf_token", csrf), ("needs", "interpreter"), ("needs", "more_time"), ("interpreter_language", "fa")]
    r = await client.post("/staff/invite", data=form, allow_redirects=False)
    assert r.status == 303, await r.text()
    row = await conn.fetchrow("SELECT needs, interpreter_language FROM requests WHERE channel = 'staff'")
    assert (row["needs"], row["interpreter_language"]) == (["interpreter", "more_time"], "fa")
    bad = await client.post("/staff/invite?lang=en", data=[*form[:5], ("needs", "teleport")])
    assert "Please choose what you need from the list." in await bad.text()
    assert await conn.fetchval("SELECT count(*) FROM requests WHERE channel = 'staff'") == 1


async def test_inbox_request_page_calendar_and_today_show_the_needs(
        client: TestClient, pool: asyncpg.Pool, conn: asyncpg.Connection) -> None:
    submitted = await intake.submit(pool, intake.Intake(
        site="musterstadt", kind=Kind.appointment, channel=Channel.web, concern="general", phone=MEYER_CLIENT,
        language="de", sms_consent=True, needs=("interpreter", "step_free"), interpreter_language="tr"),
        now=datetime.now(UTC))
    csrf = await sign_in(client, "cw.meyer")
    inbox = await (await client.get("/staff/inbox?lang=de")).text()
    row = re.search(rf'<tr id="request-{submitted.id}".*?</tr>', inbox, re.S)
    assert row is not None
    assert '<ul class="needs" aria-label="Bedarf">' in row.group(0)
    assert re.search(r'data-need="interpreter"><span class="need-icon" aria-hidden="true">[^<]+</span> '
                     r'Dolmetschen: Türkisch</li>', row.group(0))
    page = await (await client.get(f"/staff/requests/{submitted.id}?lang=de")).text()
    assert "Stufenloser Zugang (keine Treppen)" in page
    assert "kein Raum erfüllt den Bedarf: nur Telefon oder Video" in page  # no step-free room at the demo site
    proposal = await conn.fetchval("SELECT id FROM proposals WHERE request_id = $1 ORDER BY id LIMIT 1",
                                   submitted.id)
    r = await client.post(f"/staff/requests/{submitted.id}/approve",
                          data={"csrf_token": csrf, "proposal_id": str(proposal)}, allow_redirects=False)
    assert r.status == 303, await r.text()
    start = await conn.fetchval("SELECT lower(during) FROM appointments WHERE request_id = $1", submitted.id)
    day = start.astimezone().date().isoformat()
    calendar = await (await client.get(f"/staff/calendar?lang=de&view=week&date={day}")).text()
    assert "Dolmetschen: Türkisch" in calendar
