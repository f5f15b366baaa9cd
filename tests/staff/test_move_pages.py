"""The staff pages of moves: the move form from the request page, the bulk-move review after a closure day
or an absence, and the deactivation handover; CSRF, roles and audit rows."""

from __future__ import annotations

import re
from datetime import timedelta

import asyncpg
from aiohttp.test_utils import TestClient

from scheduler import appointments, sites
from tests.factories import SiteFacts
from tests.staff.helpers import flash, sign_in
from tests.test_moves import NOW, booked, free_later


async def test_move_form_moves_the_appointment_and_audits_the_view(client: TestClient, app_pool: asyncpg.Pool,
                                                                   conn: asyncpg.Connection, site: SiteFacts) -> None:
    before = await booked(app_pool, conn, site)
    csrf = await sign_in(client, "cw.meyer")
    page = await (await client.get(f"/staff/requests/{before.request_id}")).text()
    assert f"/staff/appointments/{before.id}/move" in page
    target = (await free_later(conn, site, username="cw.meyer", after=before.start))[0]
    day = target.start.astimezone((await sites.site_by_id(conn, site.site_id)).calendar().zone).date()
    r = await client.get(f"/staff/appointments/{before.id}/move", params={"day": day.isoformat()})
    html = await r.text()
    assert r.status == 200 and f'data-move="{target.start.isoformat()}"' in html
    assert await conn.fetchval("SELECT count(*) FROM audit_events WHERE action = 'client.view' "
                               "AND details->>'appointment_id' = $1", str(before.id)) == 1
    form = {"staff_id": str(target.caseworker_id), "start": target.start.isoformat(), "mode": "phone"}
    refused = await client.post(f"/staff/appointments/{before.id}/move", data=form, allow_redirects=False)
    assert refused.status == 403  # no CSRF token
    r = await client.post(f"/staff/appointments/{before.id}/move", data={**form, "csrf_token": csrf},
                          allow_redirects=False)
    assert r.status == 303 and r.headers["Location"] == f"/staff/requests/{before.request_id}"
    moved = await appointments.get(conn, before.id)
    assert (moved.start, moved.sequence, moved.mode) == (target.start, 1, "phone")
    # the same time again is taken now (by itself): refused with a message in German, nothing changes
    r = await client.post(f"/staff/appointments/{before.id}/move", data={**form, "csrf_token": csrf})
    assert "vergeben" in flash(await r.text()) or "geändert" in flash(await r.text())
    assert (await appointments.get(conn, before.id)).sequence == 1


async def test_bad_move_input_is_a_field_message_not_a_500(client: TestClient, app_pool: asyncpg.Pool,
                                                           conn: asyncpg.Connection, site: SiteFacts) -> None:
    before = await booked(app_pool, conn, site)
    csrf = await sign_in(client, "cw.meyer")
    r = await client.post(f"/staff/appointments/{before.id}/move", data={
        "staff_id": str(site.staff["cw.meyer"]), "start": "tomorrow", "mode": "phone", "csrf_token": csrf})
    assert r.status == 200 and "Uhrzeit aus der Liste" in flash(await r.text())
    r = await client.post(f"/staff/appointments/{before.id}/move", data={
        "staff_id": "x", "start": NOW.isoformat(), "mode": "phone", "csrf_token": csrf}, allow_redirects=False)
    assert r.status == 400
    client.session.cookie_jar.clear()
    other = await sign_in(client, "cw.demir")
    r = await client.post(f"/staff/appointments/{before.id}/move", data={
        "staff_id": str(site.staff["cw.meyer"]), "start": NOW.isoformat(), "mode": "phone", "csrf_token": other},
        allow_redirects=False)
    assert r.status == 403
    assert (await appointments.get(conn, before.id)).sequence == 0


async def test_closure_day_leads_to_a_review_that_moves_after_confirmation(
        client: TestClient, app_pool: asyncpg.Pool, conn: asyncpg.Connection, site: SiteFacts) -> None:
    before = await booked(app_pool, conn, site)
    site_ = await sites.site_by_id(conn, site.site_id)
    day = site_.calendar().local_date(before.start)
    csrf = await sign_in(client, "admin")
    r = await client.post("/staff/admin/closures", data={"day": day.isoformat(), "reason": "Betriebsversammlung",
                                                         "csrf_token": csrf}, allow_redirects=False)
    assert r.status == 303 and "/staff/moves/closure/" in r.headers["Location"]
    review = await client.get(r.headers["Location"])
    html = await review.text()
    assert review.status == 200 and f'name="move-{before.id}"' in html
    assert (await appointments.get(conn, before.id)).sequence == 0  # nothing moved yet
    chosen = re.search(rf'name="move-{before.id}">\s*<option value="([^"]+)" selected', html)
    assert chosen, html
    assert await conn.fetchval("SELECT count(*) FROM audit_events WHERE action = 'client.view_list' "
                               "AND subject_type = 'appointments'") >= 1
    r = await client.post(r.headers["Location"], data={f"move-{before.id}": chosen.group(1), "csrf_token": csrf})
    assert r.status == 200 and "1" in flash(await r.text())
    moved = await appointments.get(conn, before.id)
    assert moved.sequence == 1 and site_.calendar().local_date(moved.start) != day
    listing = await (await client.get("/staff/admin/closures")).text()
    assert "Betriebsversammlung" in listing
    # a past day is refused with a field message
    r = await client.post("/staff/admin/closures", data={"day": (NOW - timedelta(days=3)).date().isoformat(),
                                                         "csrf_token": csrf})
    assert "Vergangenheit" in flash(await r.text())


async def test_absence_with_hits_goes_to_the_review_and_caseworkers_cannot_open_it(
        client: TestClient, app_pool: asyncpg.Pool, conn: asyncpg.Connection, site: SiteFacts) -> None:
    before = await booked(app_pool, conn, site)
    site_ = await sites.site_by_id(conn, site.site_id)
    day = site_.calendar().local_date(before.start).isoformat()
    csrf = await sign_in(client, "admin")
    r = await client.post(f"/staff/admin/staff/{site.staff['cw.meyer']}/absences", data={
        "first": day, "last": day, "reason": "krank", "csrf_token": csrf}, allow_redirects=False)
    assert r.status == 303 and "/staff/moves/absence/" in r.headers["Location"]
    location = r.headers["Location"]
    client.session.cookie_jar.clear()
    await sign_in(client, "cw.demir")
    assert (await client.get(location)).status == 403


async def test_deactivation_lists_first_and_hands_over_on_confirm(client: TestClient, app_pool: asyncpg.Pool,
                                                                  conn: asyncpg.Connection, site: SiteFacts) -> None:
    before = await booked(app_pool, conn, site)
    csrf = await sign_in(client, "admin")
    meyer = site.staff["cw.meyer"]
    staff_list = await (await client.get("/staff/admin/staff")).text()
    assert f"/staff/admin/staff/{meyer}/handover" in staff_list
    page = await (await client.get(f"/staff/admin/staff/{meyer}/handover")).text()
    assert f"/staff/requests/{before.request_id}" in page
    assert await conn.fetchval("SELECT active FROM staff WHERE id = $1", meyer) is True
    r = await client.post(f"/staff/admin/staff/{meyer}/handover", data={"to_staff_id": "", "csrf_token": csrf},
                          allow_redirects=False)
    assert r.status == 303 and r.headers["Location"] == f"/staff/moves/staff/{meyer}"
    assert await conn.fetchval("SELECT active FROM staff WHERE id = $1", meyer) is False
    review = await (await client.get(r.headers["Location"])).text()
    assert f'name="move-{before.id}"' in review  # the booked time waits for a person to pick a new one
