"""Caseworker actions through the staff JSON API: each a guarded change plus an audit row."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg
from aiohttp.test_utils import TestClient

from scheduler import approvals
from tests.api.helpers import appointment_body, staff_headers
from tests.factories import SiteFacts

MEYER_CLIENT = "+4915123456704"  # assigned to cw.meyer in the demo data


async def _request_for_meyer(client: TestClient, **overrides: object) -> dict:  # type: ignore[type-arg]
    r = await client.post("/api/requests", json=appointment_body(phone=MEYER_CLIENT, **overrides))
    assert r.status == 201, await r.text()
    return await r.json()


async def _request_id(conn: asyncpg.Connection, reference: str) -> int:
    return await conn.fetchval("SELECT id FROM requests WHERE reference = $1", reference)


async def test_inbox_shows_explained_items_with_proposals(client: TestClient) -> None:
    created = await _request_for_meyer(client)
    headers = await staff_headers(client)
    inbox = await (await client.get("/api/staff/inbox", headers=headers)).json()
    item = next(i for i in inbox["requests"] if i["reference"] == created["reference"])
    assert item["why"] and item["proposals"] and item["concern_label"]["de"]


async def test_approve_books_and_queues_confirmation(client: TestClient, conn: asyncpg.Connection) -> None:
    created = await _request_for_meyer(client)
    headers = await staff_headers(client)
    request_id = await _request_id(conn, created["reference"])
    detail = await (await client.get(f"/api/staff/requests/{request_id}", headers=headers)).json()
    proposal = detail["proposals"][0]
    r = await client.post(f"/api/staff/requests/{request_id}/approve", json={"proposal_id": proposal["id"]},
                          headers=headers)
    assert r.status == 201, await r.text()
    appointment = await r.json()
    assert appointment["start"] == proposal["start"] and appointment["status"] == "confirmed"
    assert await conn.fetchval("SELECT status FROM requests WHERE id = $1", request_id) == "scheduled"
    assert await conn.fetchval("SELECT count(*) FROM proposals WHERE request_id = $1", request_id) == 0
    kinds = {r["kind"] for r in await conn.fetch("SELECT kind FROM outbox WHERE request_id = $1", request_id)}
    assert {"sms.request_received", "sms.appointment_confirmed", "sms.reminder"} <= kinds
    assert await conn.fetchval("SELECT count(*) FROM audit_events WHERE action = 'client.view'") == 1
    again = await client.post(f"/api/staff/requests/{request_id}/approve", json={"proposal_id": proposal["id"]},
                              headers=headers)
    assert again.status == 409


async def test_two_caseworkers_approving_the_same_slot_one_wins(client: TestClient, conn: asyncpg.Connection,
                                                                 site: SiteFacts) -> None:
    a = await _request_for_meyer(client)
    b = await _request_for_meyer(client, concern="job_offer")
    id_a, id_b = await _request_id(conn, a["reference"]), await _request_id(conn, b["reference"])
    # Force both requests to hold the same proposal, as if two queues had offered the same time.
    slot = await conn.fetchrow("SELECT staff_id, during, mode FROM proposals WHERE request_id = $1 LIMIT 1", id_a)
    await conn.execute("DELETE FROM proposals WHERE request_id = $1", id_b)
    pid_b = await conn.fetchval(
        "INSERT INTO proposals (site_id, request_id, staff_id, during, mode) VALUES ($1, $2, $3, $4, $5) RETURNING id",
        site.site_id, id_b, slot["staff_id"], slot["during"], slot["mode"])
    pid_a = await conn.fetchval("SELECT id FROM proposals WHERE request_id = $1 AND during = $2", id_a, slot["during"])
    meyer = await staff_headers(client)
    lead = await staff_headers(client, "admin", "demo-admin")
    results = await asyncio.gather(
        client.post(f"/api/staff/requests/{id_a}/approve", json={"proposal_id": pid_a}, headers=meyer),
        client.post(f"/api/staff/requests/{id_b}/approve", json={"proposal_id": pid_b}, headers=lead))
    statuses = sorted(r.status for r in results)
    assert statuses == [201, 409]
    loser = next(r for r in results if r.status == 409)
    body = await loser.json()
    assert body["error"] == "slot-taken" and body["proposals"]
    assert all(p["start"] != slot["during"].lower.isoformat() for p in body["proposals"])
    assert await conn.fetchval("SELECT count(*) FROM appointments WHERE status = 'confirmed'") == 1


async def test_pick_another_free_slot(client: TestClient, conn: asyncpg.Connection, site: SiteFacts) -> None:
    created = await _request_for_meyer(client)
    request_id = await _request_id(conn, created["reference"])
    headers = await staff_headers(client)
    day = (datetime.now(UTC) + timedelta(days=7)).date()
    while day.weekday() != 1:  # a Tuesday: morning and afternoon hours
        day += timedelta(days=1)
    free = await (await client.get(f"/api/staff/requests/{request_id}/slots?date={day}", headers=headers)).json()
    assert free["slots"]
    pick = free["slots"][-1]
    r = await client.post(f"/api/staff/requests/{request_id}/book", headers=headers,
                          json={"staff_id": pick["staff_id"], "start": pick["start"], "mode": "phone"})
    assert r.status == 201, await r.text()
    assert (await r.json())["mode"] == "phone"
    assert await conn.fetchval("SELECT count(*) FROM audit_events WHERE action = 'request.override_slot'") == 1
    # A time outside working hours is refused.
    other = await _request_for_meyer(client, concern="job_offer")
    other_id = await _request_id(conn, other["reference"])
    night = datetime.fromisoformat(pick["start"]).replace(hour=2)
    r = await client.post(f"/api/staff/requests/{other_id}/book", headers=headers,
                          json={"staff_id": pick["staff_id"], "start": night.isoformat(), "mode": "phone"})
    assert r.status == 409


async def test_reassign_decline_withdraw_and_invalid_transitions(client: TestClient, conn: asyncpg.Connection,
                                                                 site: SiteFacts) -> None:
    headers = await staff_headers(client)
    one = await _request_id(conn, (await _request_for_meyer(client))["reference"])
    r = await client.post(f"/api/staff/requests/{one}/reassign", json={"team_id": site.teams["u25"]}, headers=headers)
    assert r.status == 200 and (await r.json())["team_id"] == site.teams["u25"]
    assert (await client.post(f"/api/staff/requests/{one}/decline", json={"reason": "x"}, headers=headers)).status == 403

    two = await _request_id(conn, (await _request_for_meyer(client))["reference"])
    assert (await client.post(f"/api/staff/requests/{two}/decline", json={"reason": ""}, headers=headers)).status == 422
    r = await client.post(f"/api/staff/requests/{two}/decline", json={"reason": "Bitte schriftlich"}, headers=headers)
    assert (await r.json())["status"] == "declined"
    assert (await client.post(f"/api/staff/requests/{two}/withdraw", headers=headers)).status == 409

    three = await _request_id(conn, (await _request_for_meyer(client))["reference"])
    r = await client.post(f"/api/staff/requests/{three}/withdraw", headers=headers)
    assert (await r.json())["status"] == "withdrawn"


async def test_pin_wins_over_priority(client: TestClient, conn: asyncpg.Connection) -> None:
    headers = await staff_headers(client)
    low = await _request_id(conn, (await _request_for_meyer(client))["reference"])
    await _request_for_meyer(client, concern="eservice_help")
    await client.post(f"/api/staff/requests/{low}/rank", json={"rank": 1}, headers=headers)
    inbox = await (await client.get("/api/staff/inbox", headers=headers)).json()
    assert inbox["requests"][0]["id"] == low
    assert (await client.post(f"/api/staff/requests/{low}/rank", json={"rank": "top"}, headers=headers)).status == 422


async def test_callback_retry_plan_then_unreachable(client: TestClient, conn: asyncpg.Connection) -> None:
    r = await client.post("/api/callbacks", json=appointment_body(phone=MEYER_CLIENT))
    callback_id = await conn.fetchval("SELECT id FROM callbacks WHERE reference = $1", (await r.json())["reference"])
    headers = await staff_headers(client)
    for attempt in range(1, 4):
        assert (await client.post(f"/api/staff/callbacks/{callback_id}/claim", headers=headers)).status == 200
        r = await client.post(f"/api/staff/callbacks/{callback_id}/attempt", json={"outcome": "no_answer"},
                              headers=headers)
        body = await r.json()
        assert body["attempts"] == attempt
        assert body["status"] == ("open" if attempt < 3 else "unreachable")
    assert await conn.fetchval("SELECT count(*) FROM outbox WHERE kind = 'sms.callback_missed'") == 3
    assert (await client.post(f"/api/staff/callbacks/{callback_id}/claim", headers=headers)).status == 409
    bad = await client.post(f"/api/staff/callbacks/{callback_id}/attempt", json={"outcome": "maybe"}, headers=headers)
    assert bad.status == 422


async def test_callback_becomes_an_appointment_request(client: TestClient, conn: asyncpg.Connection,
                                                       site: SiteFacts) -> None:
    r = await client.post("/api/callbacks", json=appointment_body(phone=MEYER_CLIENT))
    callback_id = await conn.fetchval("SELECT id FROM callbacks WHERE reference = $1", (await r.json())["reference"])
    headers = await staff_headers(client)
    r = await client.post(f"/api/staff/callbacks/{callback_id}/convert", headers=headers)
    assert r.status == 201, await r.text()
    created = await r.json()
    assert created["staff_id"] == site.staff["cw.meyer"] and created["channel"] == "staff"
    row = await conn.fetchrow("SELECT status, converted_request_id FROM callbacks WHERE id = $1", callback_id)
    assert row["status"] == "reached" and row["converted_request_id"] == created["id"]


async def test_invitation_goes_straight_to_slot_choice(client: TestClient, conn: asyncpg.Connection) -> None:
    headers = await staff_headers(client)
    r = await client.post("/api/staff/invitations", headers=headers, json={
        "phone": "+4915123456703", "concern": "job_offer", "language": "tr", "invitation": "mandatory"})
    assert r.status == 422 and "notice_text" in (await r.json())["fields"]
    r = await client.post("/api/staff/invitations", headers=headers, json={
        "phone": "+4915123456703", "concern": "job_offer", "language": "tr", "invitation": "mandatory",
        "notice_text": "Einladung nach § 59 SGB II"})
    assert r.status == 201, await r.text()
    body = await r.json()
    assert body["invitation"] == "mandatory" and body["proposals"] and body["channel"] == "staff"
    assert await conn.fetchval("SELECT count(*) FROM outbox WHERE kind = 'sms.request_received'") == 0


async def test_auth_and_roles(client: TestClient) -> None:
    assert (await client.get("/api/staff/inbox")).status == 401
    headers = await staff_headers(client)
    r = await client.post("/api/staff/policies/check", json={"yaml": "rules: []"}, headers=headers)
    assert r.status == 403


async def test_policy_check_preview_activate_rollback(client: TestClient, conn: asyncpg.Connection) -> None:
    for _ in range(3):
        await client.post("/api/requests", json=appointment_body(concern="job_offer"))
    lead = await staff_headers(client, "lead.entrance", "demo-lead")
    bad = await client.post("/api/staff/policies/check", headers=lead, json={
        "yaml": "rules:\n  - id: x\n    when: {concern: job_offer}\n    then: {priority: 900, duration: 9h}\n"})
    problems = (await bad.json())["problems"]
    assert bad.status == 422 and {p["code"] for p in problems} == {"out-of-range"} and len(problems) == 2
    draft = ("rules:\n  - id: jobs-first\n    when: {concern: job_offer}\n    then: {priority: 70}\n"
             "defaults: {route: {team: entrance}}\n")
    r = await client.post("/api/staff/policies/preview", headers=lead, json={"yaml": draft, "last_n": 10})
    assert r.status == 200, await r.text()
    preview = await r.json()
    assert preview["changed"] >= 1 and all(row["after"]["priority"] == 70 for row in preview["rows"])
    assert await conn.fetchval("SELECT count(*) FROM policies") == 1  # nothing stored by the preview
    saved = await (await client.post("/api/staff/policies", headers=lead, json={"yaml": draft})).json()
    assert saved["status"] == "draft" and saved["version"] == 1
    activated = await (await client.post(f"/api/staff/policies/{saved['id']}/activate", headers=lead)).json()
    assert activated["status"] == "active"
    new = await (await client.post("/api/requests", json=appointment_body(concern="job_offer"))).json()
    assert await conn.fetchval("SELECT priority FROM requests WHERE reference = $1", new["reference"]) == 70
    second = await (await client.post("/api/staff/policies", headers=lead, json={"yaml": draft})).json()
    await client.post(f"/api/staff/policies/{second['id']}/activate", headers=lead)
    rollback = await client.post(f"/api/staff/policies/{saved['id']}/activate", headers=lead)
    assert (await rollback.json())["status"] == "active"
    history = await (await client.get("/api/staff/policies", headers=lead)).json()
    assert [v["status"] for v in history["versions"]] == ["retired", "active"]


async def test_team_rule_can_auto_confirm_site_rule_cannot(client: TestClient, conn: asyncpg.Connection,
                                                            pool: asyncpg.Pool) -> None:
    lead = await staff_headers(client, "lead.entrance", "demo-lead")
    team_rules = "rules:\n  - id: quick\n    when: {concern: documents}\n    then: {auto_confirm: true}\n"
    saved = await (await client.post("/api/staff/policies", headers=lead, json={"yaml": team_rules})).json()
    await client.post(f"/api/staff/policies/{saved['id']}/activate", headers=lead)
    # Routed to the entrance team (no assigned caseworker): the team's own rule books at once.
    created = await (await client.post("/api/requests", json=appointment_body(concern="documents"))).json()
    assert created["status"] == "scheduled"
    assert await conn.fetchval("SELECT count(*) FROM appointments WHERE created_by = 'policy:auto-confirm'") == 1


async def test_overdue_requests_are_flagged_once(client: TestClient, pool: asyncpg.Pool, conn: asyncpg.Connection) -> None:
    await client.post("/api/requests", json=appointment_body())
    later = datetime.now(UTC) + timedelta(days=5)
    assert await approvals.flag_overdue(pool, now=later) == 1
    assert await approvals.flag_overdue(pool, now=later) == 0
    headers = await staff_headers(client, "lead.entrance", "demo-lead")
    inbox = await (await client.get("/api/staff/inbox?team=1", headers=headers)).json()
    assert inbox["requests"][0]["overdue"] is True


async def test_cancelled_time_is_offered_to_the_next_waiting_request(client: TestClient,
                                                                     conn: asyncpg.Connection) -> None:
    headers = await staff_headers(client)
    first = await _request_for_meyer(client)
    first_id = await _request_id(conn, first["reference"])
    proposal = (await (await client.get(f"/api/staff/requests/{first_id}", headers=headers)).json())["proposals"][0]
    await client.post(f"/api/staff/requests/{first_id}/approve", json={"proposal_id": proposal["id"]}, headers=headers)
    waiting = await _request_id(conn, (await _request_for_meyer(client, concern="job_offer"))["reference"])
    assert await conn.fetchval(
        "SELECT count(*) FROM proposals WHERE request_id = $1 AND lower(during) = $2", waiting,
        datetime.fromisoformat(proposal["start"])) == 0
    r = await client.post(f"/api/public/{first['token']}/cancel")
    assert (await r.json())["status"] == "withdrawn"
    offered = await conn.fetchrow("SELECT lower(during) AS start, source FROM proposals WHERE request_id = $1 "
                                  "AND source = 'freed_slot'", waiting)
    assert offered is not None and offered["start"] == datetime.fromisoformat(proposal["start"])
    assert await conn.fetchval("SELECT status FROM requests WHERE id = $1", waiting) == "proposed"


async def test_another_time_goes_back_to_the_caseworker_marked(client: TestClient, conn: asyncpg.Connection) -> None:
    headers = await staff_headers(client)
    created = await _request_for_meyer(client)
    request_id = await _request_id(conn, created["reference"])
    proposal = (await (await client.get(f"/api/staff/requests/{request_id}", headers=headers)).json())["proposals"][0]
    await client.post(f"/api/staff/requests/{request_id}/approve", json={"proposal_id": proposal["id"]},
                      headers=headers)
    r = await client.post(f"/api/public/{created['token']}/another-time")
    assert r.status == 200, await r.text()
    row = await conn.fetchrow("SELECT status, wants_other_time FROM requests WHERE id = $1", request_id)
    # Issue 14: the client keeps their time until staff pick a new one; the pick is a move.
    assert row["wants_other_time"] is True and row["status"] == "scheduled"
    assert await conn.fetchval("SELECT status FROM appointments WHERE request_id = $1", request_id) == "confirmed"
    inbox = await (await client.get("/api/staff/inbox", headers=headers)).json()
    assert next(i for i in inbox["requests"] if i["id"] == request_id)["wants_other_time"] is True


async def test_inbox_order_covers_the_whole_queue_and_pages(client: TestClient, conn: asyncpg.Connection,
                                                            site: SiteFacts) -> None:
    from tests import factories

    # An old low-priority request has aged past newer higher-priority ones: it must come first even when
    # the page is smaller than the queue.
    old = await factories.create_request(conn, site, staff="cw.meyer", priority=10,
                                         created_at=datetime.now(UTC) - timedelta(days=30))
    for _ in range(5):
        await factories.create_request(conn, site, staff="cw.meyer", priority=60)
    headers = await staff_headers(client)
    page = await (await client.get("/api/staff/inbox?limit=2", headers=headers)).json()
    assert len(page["requests"]) == 2 and page["requests"][0]["id"] == old
    assert (await client.get("/api/staff/inbox?limit=0", headers=headers)).status == 422
