"""Server-rendered staff pages through the real app: roles, CSRF, forms and redirects, no state change by GET."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from scheduler import approvals, dashboard_numbers, seed
from scheduler.policy.rules import Kind
from scheduler.staff.inbox_pages import rank_moves
from tests.factories import SiteFacts, create_appointment
from tests.staff.helpers import MEYER_CLIENT, flash, sign_in, signin_token, submit

BERLIN = ZoneInfo("Europe/Berlin")

CASEWORKER_PAGES = ["/staff/inbox", "/staff/callbacks", "/staff/calendar", "/staff/calendar?view=week",
                    "/staff/invite"]
LEAD_PAGES = ["/staff/rules", "/staff/dashboard"]
ADMIN_PAGES = ["/staff/admin/staff", "/staff/admin/organisation", "/staff/admin/kiosks"]


async def test_a_sign_in_posted_from_elsewhere_opens_no_session(client: TestClient, conn: asyncpg.Connection) -> None:
    # Login CSRF: another site's form can post the right password of an account it controls, but it has
    # neither the form's token nor the cookie that goes with it.
    sessions = await conn.fetchval("SELECT count(*) FROM staff_sessions")
    for token in (None, "forged-token"):
        data = {"username": "cw.meyer", "password": "demo-caseworker"} | ({"signin_token": token} if token else {})
        r = await client.post("/staff/sign-in?lang=en", data=data, allow_redirects=False)
        assert r.status == 403 and "sign-in form had expired" in await r.text()
        assert "staff_session" not in r.cookies
    assert await conn.fetchval("SELECT count(*) FROM staff_sessions") == sessions
    # The page it answers with carries a fresh token, so the person can simply sign in again.
    r = await client.post("/staff/sign-in", data={"username": "cw.meyer", "password": "demo-caseworker",
                                                  "signin_token": await signin_token(client)},
                          allow_redirects=False)
    assert r.status == 303


async def test_sign_in_form_then_inbox_then_sign_out(client: TestClient) -> None:
    r = await client.get("/staff/inbox", allow_redirects=False)
    assert r.status == 303 and r.headers["Location"].startswith("/staff/sign-in?next=")
    r = await client.post("/staff/sign-in", data={"username": "cw.meyer", "password": "wrong",
                                                  "signin_token": await signin_token(client)})
    assert r.status == 401 and "Benutzername oder Passwort" in await r.text()
    r = await client.post("/staff/sign-in", data={"username": "cw.meyer", "password": "demo-caseworker",
                                                  "next": "https://evil.example/",
                                                  "signin_token": await signin_token(client)},
                          allow_redirects=False)
    assert r.status == 303 and r.headers["Location"] == "/staff/inbox"
    assert "HttpOnly" in r.headers["Set-Cookie"]
    page = await client.get("/staff/inbox")
    assert page.status == 200 and "Thomas Meyer" in await page.text()
    csrf = (await (await client.get("/api/staff/session")).json())["csrf_token"]
    r = await client.post("/staff/sign-out", data={"csrf_token": csrf}, allow_redirects=False)
    assert r.status == 303
    assert (await client.get("/staff/inbox", allow_redirects=False)).status == 303


@pytest.mark.parametrize(("username", "allowed", "refused"), [
    ("cw.meyer", CASEWORKER_PAGES, LEAD_PAGES + ADMIN_PAGES),
    ("lead.entrance", CASEWORKER_PAGES + LEAD_PAGES, ADMIN_PAGES),
    ("admin", CASEWORKER_PAGES + LEAD_PAGES + ADMIN_PAGES, []),
])
async def test_each_page_renders_for_its_roles_only(client: TestClient, username: str, allowed: list[str],
                                                    refused: list[str]) -> None:
    await sign_in(client, username)
    for path in allowed:
        r = await client.get(path)
        assert r.status == 200, (path, await r.text())
        assert r.headers["Cache-Control"] == "no-store"
    for path in refused:
        r = await client.get(path)
        assert r.status == 403, path
        assert "nicht berechtigt" in await r.text()


async def test_ui_language_german_by_default_english_on_request(client: TestClient) -> None:
    await sign_in(client, "cw.meyer")
    assert "<h1>Posteingang</h1>" in await (await client.get("/staff/inbox")).text()
    assert "<h1>Inbox</h1>" in await (await client.get("/staff/inbox?lang=en")).text()
    assert "<h1>Inbox</h1>" in await (await client.get("/staff/inbox")).text()  # the choice is remembered


async def test_request_page_records_the_view_and_approve_by_form(client: TestClient, pool: asyncpg.Pool,
                                                                  conn: asyncpg.Connection) -> None:
    created = await submit(pool, phone=MEYER_CLIENT)
    csrf = await sign_in(client, "cw.meyer")
    page = await client.get(f"/staff/requests/{created.id}")
    html = await page.text()
    assert page.status == 200 and created.reference in html and "Sabine Krüger" in html
    assert await conn.fetchval("SELECT count(*) FROM audit_events WHERE action = 'client.view' AND subject_id = "
                               "(SELECT client_id FROM requests WHERE id = $1)", created.id) == 1
    proposal_id = await conn.fetchval("SELECT min(id) FROM proposals WHERE request_id = $1", created.id)
    r = await client.post(f"/staff/requests/{created.id}/approve",
                          data={"proposal_id": str(proposal_id), "csrf_token": csrf}, allow_redirects=False)
    assert r.status == 303 and r.headers["Location"] == f"/staff/requests/{created.id}"
    assert await conn.fetchval("SELECT status FROM requests WHERE id = $1", created.id) == "scheduled"
    after = await client.get(r.headers["Location"])
    assert "Der Termin ist gebucht" in flash(await after.text())
    messages = await (await client.get(f"/staff/requests/{created.id}")).text()
    assert "Termin bestätigt" in messages  # the confirmation SMS with its delivery status
    # Approving again is refused with a message on the page, never a 500.
    r = await client.post(f"/staff/requests/{created.id}/approve",
                          data={"proposal_id": str(proposal_id), "csrf_token": csrf})
    assert r.status == 200 and flash(await r.text())


async def test_a_message_that_did_not_arrive_says_why_in_the_staff_language(client: TestClient, pool: asyncpg.Pool,
                                                                            conn: asyncpg.Connection) -> None:
    created = await submit(pool, phone=MEYER_CLIENT)
    await conn.execute(
        "UPDATE outbox SET status = 'undelivered', error_code = '30006', "
        "last_error = '30006: landline or unreachable carrier: please call instead' WHERE request_id = $1",
        created.id)
    await sign_in(client, "cw.meyer")
    html = await (await client.get(f"/staff/requests/{created.id}?lang=de")).text()
    assert "Festnetz oder nicht erreichbarer Netzbetreiber: bitte stattdessen anrufen." in html
    assert "landline" not in html


async def test_pick_another_free_slot_and_book_it(client: TestClient, pool: asyncpg.Pool, conn: asyncpg.Connection,
                                                  site: SiteFacts) -> None:
    created = await submit(pool, phone=MEYER_CLIENT)
    csrf = await sign_in(client, "cw.meyer")
    day = datetime.now(UTC).date() + timedelta(days=7)
    while day.weekday() != 1:  # a Tuesday: working hours morning and afternoon
        day += timedelta(days=1)
    html = await (await client.get(f"/staff/requests/{created.id}?day={day}&staff={site.staff['cw.demir']}")).text()
    starts = re.findall(r'name="start" value="([^"]+)"', html)
    assert len(starts) > 5
    r = await client.post(f"/staff/requests/{created.id}/book", data={
        "staff_id": str(site.staff["cw.demir"]), "start": starts[-1], "mode": "phone", "csrf_token": csrf},
        allow_redirects=False)
    assert r.status == 303
    row = await conn.fetchrow("SELECT staff_id, mode, lower(during) AS start FROM appointments WHERE request_id = $1",
                              created.id)
    assert row["staff_id"] == site.staff["cw.demir"] and row["mode"] == "phone"
    assert row["start"] == datetime.fromisoformat(starts[-1])


async def test_csrf_missing_or_wrong_is_403_and_changes_nothing(client: TestClient, pool: asyncpg.Pool,
                                                                conn: asyncpg.Connection) -> None:
    created = await submit(pool, phone=MEYER_CLIENT)
    await sign_in(client, "cw.meyer")
    proposal_id = await conn.fetchval("SELECT min(id) FROM proposals WHERE request_id = $1", created.id)
    for data in ({"proposal_id": str(proposal_id)}, {"proposal_id": str(proposal_id), "csrf_token": "forged"}):
        r = await client.post(f"/staff/requests/{created.id}/approve", data=data)
        assert r.status == 403
    r = await client.post(f"/staff/requests/{created.id}/decline", data={"reason": "x"})
    assert r.status == 403
    assert await conn.fetchval("SELECT status FROM requests WHERE id = $1", created.id) in ("received", "proposed")


async def test_state_changes_by_get_are_impossible(client: TestClient, pool: asyncpg.Pool, app_pool: asyncpg.Pool,
                                                   conn: asyncpg.Connection) -> None:
    created = await submit(pool, phone=MEYER_CLIENT)
    await sign_in(client, "admin")
    state_changing = [r for r in client.app.router.routes()
                      if r.method == "POST" and str(r.resource.canonical).startswith("/staff/")]
    assert len(state_changing) >= 15
    for path in (f"/staff/requests/{created.id}/approve", f"/staff/requests/{created.id}/decline",
                 f"/staff/requests/{created.id}/withdraw", "/staff/inbox/rank", "/staff/callbacks/1/claim",
                 "/staff/rules/1/activate", "/staff/admin/kiosks/1/revoke", "/staff/sign-out"):
        r = await client.get(path, allow_redirects=False)
        assert r.status == 405, path
    assert await conn.fetchval("SELECT status FROM requests WHERE id = $1", created.id) in ("received", "proposed")


async def test_caseworker_cannot_open_another_caseworkers_request(client: TestClient, pool: asyncpg.Pool) -> None:
    created = await submit(pool, phone="+4915123456703")  # assigned to cw.demir
    await sign_in(client, "cw.yilmaz")
    assert (await client.get(f"/staff/requests/{created.id}")).status == 403


async def test_decline_needs_a_reason_shown_as_message(client: TestClient, pool: asyncpg.Pool,
                                                       conn: asyncpg.Connection) -> None:
    created = await submit(pool, phone=MEYER_CLIENT)
    csrf = await sign_in(client, "cw.meyer")
    r = await client.post(f"/staff/requests/{created.id}/decline", data={"reason": " ", "csrf_token": csrf})
    assert r.status == 200 and "kurze Begründung" in flash(await r.text())
    r = await client.post(f"/staff/requests/{created.id}/decline", data={"reason": "Zuständig ist die Familienkasse",
                                                                        "csrf_token": csrf})
    assert r.status == 200
    assert await conn.fetchval("SELECT status FROM requests WHERE id = $1", created.id) == "declined"


def test_rank_moves_lie_between_neighbours() -> None:
    ranks = [1.0, 2.0, 3.0, 4.0]
    assert rank_moves(ranks, 0).up is None and rank_moves(ranks, 0).top is None
    assert rank_moves(ranks, 2).up == 1.5 and rank_moves(ranks, 1).up == 0.5
    assert rank_moves(ranks, 1).down == 3.5 and rank_moves(ranks, 2).down == 4.5
    assert rank_moves(ranks, 3).down is None and rank_moves(ranks, 3).top == 0.0


async def _inbox_order(client: TestClient) -> list[str]:
    html = await (await client.get("/staff/inbox")).text()
    section = html.split('id="q-queue"')[1].split("</table>")[0]
    return re.findall(r'<tr id="request-(\d+)"', section)


async def _rank_value(client: TestClient, item_id: str, move: str) -> str:
    html = await (await client.get("/staff/inbox")).text()
    row = html.split(f'<tr id="request-{item_id}"')[1].split("</tr>")[0]
    form = next(f for f in row.split("<form")[1:] if f'data-move="{move}"' in f)
    found = re.search(r'name="rank" value="([^"]*)"', form)
    assert found
    return found.group(1)


async def test_reorder_the_inbox_up_down_top_and_unpin(client: TestClient, pool: asyncpg.Pool) -> None:
    for concern in ("general", "job_offer", "documents"):
        await submit(pool, phone=MEYER_CLIENT, concern=concern)
    csrf = await sign_in(client, "cw.meyer")
    first = await _inbox_order(client)
    assert len(first) == 3

    async def move(item: str, how: str) -> None:
        rank = await _rank_value(client, item, how) if how != "unpin" else ""
        r = await client.post("/staff/inbox/rank", data={"kind": "request", "item_id": item, "rank": rank,
                                                          "csrf_token": csrf, "view": "mine"}, allow_redirects=False)
        assert r.status == 303 and r.headers["Location"].startswith("/staff/inbox")

    await move(first[2], "up")
    assert await _inbox_order(client) == [first[0], first[2], first[1]]
    await move(first[0], "down")
    assert await _inbox_order(client) == [first[2], first[0], first[1]]
    await move(first[1], "top")
    assert await _inbox_order(client) == [first[1], first[2], first[0]]
    await move(first[1], "unpin")
    assert (await _inbox_order(client))[-1] == first[1]


async def test_work_a_callback_claim_no_answer_then_reached(client: TestClient, pool: asyncpg.Pool,
                                                            conn: asyncpg.Connection) -> None:
    created = await submit(pool, kind=Kind.callback, phone=MEYER_CLIENT, channel="kiosk")
    csrf = await sign_in(client, "cw.meyer")
    html = await (await client.get("/staff/callbacks")).text()
    assert f'id="callback-{created.id}"' in html and f'href="tel:{MEYER_CLIENT}"' in html
    r = await client.post(f"/staff/callbacks/{created.id}/claim", data={"csrf_token": csrf}, allow_redirects=False)
    assert r.status == 303
    assert await conn.fetchval("SELECT claimed_by FROM callbacks WHERE id = $1", created.id) is not None
    r = await client.post(f"/staff/callbacks/{created.id}/attempt",
                          data={"outcome": "no_answer", "note": "Mailbox", "csrf_token": csrf})
    html = await r.text()
    assert r.status == 200 and "Der Anruf wurde festgehalten" in flash(html)
    assert "nächster Versuch ab" in html and "Mailbox" in html
    r = await client.post(f"/staff/callbacks/{created.id}/attempt", data={"outcome": "bogus", "csrf_token": csrf})
    assert r.status == 200 and flash(await r.text())
    r = await client.post(f"/staff/callbacks/{created.id}/attempt",
                          data={"outcome": "reached", "note": "", "csrf_token": csrf})
    assert await conn.fetchval("SELECT status FROM callbacks WHERE id = $1", created.id) == "reached"


async def test_callback_becomes_an_appointment_request(client: TestClient, pool: asyncpg.Pool,
                                                       conn: asyncpg.Connection) -> None:
    created = await submit(pool, kind=Kind.callback, phone=MEYER_CLIENT)
    csrf = await sign_in(client, "cw.meyer")
    r = await client.post(f"/staff/callbacks/{created.id}/convert", data={"csrf_token": csrf}, allow_redirects=False)
    assert r.status == 303 and r.headers["Location"].startswith("/staff/requests/")
    assert await conn.fetchval("SELECT converted_request_id FROM callbacks WHERE id = $1", created.id) is not None


async def test_invitation_form_creates_a_request(client: TestClient, conn: asyncpg.Connection,
                                                 site: SiteFacts) -> None:
    # Issue 15: the form picks a notice template (the version used is kept) instead of a free-text notice.
    await seed.insert_notice_templates(conn, site.site_id, site.staff["admin"])
    template_id = await conn.fetchval("SELECT id FROM notice_templates WHERE kind = 'mandatory'")
    csrf = await sign_in(client, "cw.meyer")
    r = await client.post("/staff/invite", data={"phone": "0151 22334455", "concern": "job_offer", "language": "de",
                                                 "template": "", "csrf_token": csrf})
    assert r.status == 200 and "Vorlage für den Hinweistext" in flash(await r.text())
    r = await client.post("/staff/invite", data={"phone": "0151 22334455", "concern": "job_offer", "language": "de",
                                                 "template": str(template_id), "bring": "Ausweis",
                                                 "csrf_token": csrf}, allow_redirects=False)
    assert r.status == 303
    request_id = int(r.headers["Location"].rsplit("/", 1)[1])
    row = await conn.fetchrow("SELECT invitation, channel FROM requests WHERE id = $1", request_id)
    assert tuple(row) == ("mandatory", "staff")
    notice = await conn.fetchrow("SELECT template_id, version, bring FROM invitation_notices WHERE request_id = $1",
                                 request_id)
    assert tuple(notice) == (template_id, 1, "Ausweis")


async def test_calendar_shows_appointments_arrivals_and_feed(client: TestClient, conn: asyncpg.Connection,
                                                             site: SiteFacts) -> None:
    # 09:00 of the office's today (Berlin): the calendar opens on the local day, which by night is not UTC's.
    start = datetime.now(BERLIN).replace(hour=9, minute=0, second=0, microsecond=0).astimezone(UTC)
    appointment_id = await create_appointment(conn, site, staff="cw.meyer", start=start)
    await conn.execute("UPDATE appointments SET arrived_at = $2 WHERE id = $1", appointment_id,
                       start - timedelta(minutes=5))
    await sign_in(client, "cw.meyer")
    html = await (await client.get("/staff/calendar")).text()
    assert "angekommen" in html
    token = await conn.fetchval("SELECT feed_token FROM staff WHERE id = $1", site.staff["cw.meyer"])
    assert f"webcal://localhost:8080/staff/feed/{token}.ics" in html
    assert f"http://localhost:8080/staff/feed/{token}.ics" in html


BROKEN_RULES = """
rules:
  - id: fast
    when: {concern: no_money}
    then: {priority: 900, duration: 7x}
"""

TEAM_RULES = """
rules:
  - id: documents-first
    when: {concern: documents}
    then: {priority: 95}
"""


async def test_rules_validate_preview_activate_and_roll_back(client: TestClient, pool: asyncpg.Pool,
                                                             conn: asyncpg.Connection, site: SiteFacts) -> None:
    await submit(pool, concern="documents", phone="+4915123456702")  # entrance team (assigned cw.kowalenko)
    csrf = await sign_in(client, "lead.entrance")
    r = await client.post("/staff/rules", data={"yaml": BROKEN_RULES, "action": "validate", "csrf_token": csrf})
    html = await r.text()
    assert r.status == 422
    problems = re.findall(r"<li>(Regel „fast“[^<]*)</li>", html)  # in the staff member's language
    assert len(problems) == 2, html  # every problem, not just the first
    r = await client.post("/staff/rules", data={"yaml": TEAM_RULES, "action": "validate", "csrf_token": csrf})
    assert r.status == 200 and 'id="rule-valid"' in await r.text()
    r = await client.post("/staff/rules", data={"yaml": TEAM_RULES, "action": "preview", "csrf_token": csrf})
    html = await r.text()
    assert r.status == 200 and 'id="preview"' in html and "<del>10</del> → <ins>95</ins>" in html
    assert await conn.fetchval("SELECT count(*) FROM policies WHERE scope = 'team'") == 0  # preview wrote nothing
    r = await client.post("/staff/rules", data={"yaml": TEAM_RULES, "action": "activate", "csrf_token": csrf},
                          allow_redirects=False)
    assert r.status == 303
    second = TEAM_RULES.replace("95", "80")
    await client.post("/staff/rules", data={"yaml": second, "action": "activate", "csrf_token": csrf})
    versions = await conn.fetch("SELECT id, version, status, owner_id FROM policies WHERE scope = 'team' "
                                "AND team_id = $1 ORDER BY version", site.teams["entrance"])
    assert [(v["version"], v["status"]) for v in versions] == [(1, "retired"), (2, "active")]
    html = await (await client.get("/staff/rules?view=advanced")).text()
    assert "Lena Leitner" in html and "priority: 80" in html
    r = await client.post(f"/staff/rules/{versions[0]['id']}/activate", data={"csrf_token": csrf})
    assert r.status == 200 and 'name="r0.then.priority" inputmode="numeric" size="6" maxlength="20" value="95"' \
        in await r.text()  # back in the rule builder
    assert await conn.fetchval("SELECT version FROM policies WHERE scope = 'team' AND status = 'active'") == 1


async def test_team_lead_cannot_activate_another_teams_rules(client: TestClient, conn: asyncpg.Connection,
                                                             site: SiteFacts) -> None:
    policy_id = await conn.fetchval("SELECT id FROM policies WHERE scope = 'site'")
    csrf = await sign_in(client, "lead.entrance")
    r = await client.post(f"/staff/rules/{policy_id}/activate", data={"csrf_token": csrf})
    assert r.status == 403


async def test_admin_issues_and_revokes_a_kiosk_token(client: TestClient, conn: asyncpg.Connection) -> None:
    csrf = await sign_in(client, "admin")
    r = await client.post("/staff/admin/kiosks", data={"name": "Foyer Mitte", "location": "EG", "csrf_token": csrf})
    html = await r.text()
    assert r.status == 201
    found = re.search(r'<code class="token">([^<]+)</code>', html)
    assert found
    token = found.group(1)
    row = await conn.fetchrow("SELECT id, token_hash, revoked_at FROM kiosk_devices WHERE name = 'Foyer Mitte'")
    assert row["token_hash"] == hashlib.sha256(token.encode()).hexdigest() and row["revoked_at"] is None
    assert token not in await (await client.get("/staff/admin/kiosks")).text()  # shown once only
    r = await client.post(f"/staff/admin/kiosks/{row['id']}/revoke", data={"csrf_token": csrf},
                          allow_redirects=False)
    assert r.status == 303
    assert await conn.fetchval("SELECT revoked_at FROM kiosk_devices WHERE id = $1", row["id"]) is not None


async def test_admin_staff_hours_absences_teams_concerns(client: TestClient, conn: asyncpg.Connection,
                                                         site: SiteFacts) -> None:
    csrf = await sign_in(client, "admin")
    meyer = site.staff["cw.meyer"]
    r = await client.post(f"/staff/admin/staff/{meyer}/hours", data={
        "weekday": "6", "starts": "09:00", "ends": "11:00", "room": "A.03", "modes": ["phone"], "csrf_token": csrf})
    assert r.status == 200
    assert await conn.fetchval("SELECT count(*) FROM working_hours WHERE staff_id = $1 AND weekday = 5", meyer) == 1
    r = await client.post(f"/staff/admin/staff/{meyer}/hours", data={
        "weekday": "1", "starts": "09:00", "ends": "10:00", "modes": ["phone"], "csrf_token": csrf})
    assert "überschneiden" in flash(await r.text())
    r = await client.post(f"/staff/admin/staff/{meyer}/absences", data={
        "first": "2031-03-03", "last": "2031-03-07", "reason": "Urlaub", "csrf_token": csrf})
    assert "Urlaub" in await r.text()
    r = await client.post("/staff/admin/teams", data={"code": "reha", "name": "Reha-Team", "csrf_token": csrf})
    assert "Reha-Team" in await r.text()
    concern = site.concerns["documents"]
    await client.post(f"/staff/admin/concerns/{concern}/active", data={"active": "false", "csrf_token": csrf})
    assert await conn.fetchval("SELECT active FROM concerns WHERE id = $1", concern) is False
    await client.post(f"/staff/admin/staff/{meyer}/active", data={"active": "false", "csrf_token": csrf})
    assert await conn.fetchval("SELECT active FROM staff WHERE id = $1", meyer) is False
    r = await client.post(f"/staff/admin/staff/{site.staff['admin']}/active",
                          data={"active": "false", "csrf_token": csrf})
    assert "nicht selbst" in flash(await r.text())


async def test_caseworker_cannot_use_admin_forms(client: TestClient, conn: asyncpg.Connection) -> None:
    csrf = await sign_in(client, "cw.meyer")
    r = await client.post("/staff/admin/kiosks", data={"name": "X", "csrf_token": csrf})
    assert r.status == 403
    assert await conn.fetchval("SELECT count(*) FROM kiosk_devices WHERE name = 'X'") == 0


async def test_dashboard_numbers(pool: asyncpg.Pool, conn: asyncpg.Connection, site: SiteFacts) -> None:
    from scheduler import sites

    for channel in ("web", "web", "kiosk", "phone"):
        await submit(pool, channel=channel)
    past = datetime.now(UTC) - timedelta(days=1)
    a = await create_appointment(conn, site, start=past, status="no_show")
    await create_appointment(conn, site, start=past - timedelta(hours=1), status="completed")
    assert a
    cb = await submit(pool, kind=Kind.callback, channel="phone")
    await conn.execute("UPDATE callbacks SET status = 'reached', closed_at = now() WHERE id = $1", cb.id)
    await conn.execute("UPDATE requests SET deadline_at = now() - interval '1 hour' WHERE channel = 'kiosk'")
    await approvals.flag_overdue(pool, now=datetime.now(UTC))
    numbers = await dashboard_numbers.compute(conn, site=await sites.site_by_id(conn, site.site_id), team_id=None,
                                              now=datetime.now(UTC))
    # The two appointments' requests came by web too: web 4, kiosk 1, phone 1 request + 1 callback.
    assert numbers.per_channel["web"][-1] == 4 and numbers.per_channel["kiosk"][-1] == 1
    assert numbers.per_channel["phone"][-1] == 2
    assert numbers.digital_share[-1] == round(100 * 5 / 7, 1)
    assert numbers.backlog_total >= 4 and numbers.overdue_open == 1 and numbers.overdue_per_week[-1] == 1
    assert 50.0 in numbers.no_show_rate and 100.0 in numbers.callback_reach_rate


async def test_the_address_the_start_banner_prints_leads_to_sign_in(client) -> None:  # type: ignore[no-untyped-def]
    r = await client.get("/staff/", allow_redirects=False)
    assert r.status == 303 and r.headers["Location"].endswith("/staff/inbox")
