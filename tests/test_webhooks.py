"""webhooks.py and the event triggers of migration 0040: the six case events, written in the transaction of
the real domain action, delivered to a real HTTP receiver, signed (checked by the `standardwebhooks` library)."""

from __future__ import annotations

import base64
from datetime import UTC, date, datetime, timedelta

import asyncpg
import pytest

from scheduler import approvals, client_actions, intake, moves, outcomes, sites, teams, webhooks
from scheduler import proposals as proposals_
from scheduler.appointments import Appointment, Outcome
from scheduler.notify import webhook_send
from scheduler.permissions import StaffUser
from scheduler.policy.rules import Channel, Kind
from scheduler.policy.slots import Slot
from scheduler.webhooks import EventType
from tests.factories import SiteFacts, create_appointment, create_request
from tests.webhook_support import Receiver, endpoint, start_receiver

NOW = datetime.now(UTC)
OFFSETS = (timedelta(hours=24),)
PHONE = "+4915123456704"  # assigned to cw.meyer in the demo data
PERSONAL = ("+49", "4915123456704", "Meyer", "@")  # no phone number, name or e-mail in any payload


@pytest.fixture
async def receiver(aiohttp_server) -> Receiver:  # type: ignore[no-untyped-def]
    return await start_receiver(aiohttp_server)


async def _user(conn: asyncpg.Connection, username: str) -> StaffUser:
    row = await conn.fetchrow(f"SELECT {teams.STAFF_USER_COLUMNS} FROM staff st WHERE st.username = $1", username)
    return teams.staff_user(row)


async def _submit(pool: asyncpg.Pool, kind: Kind = Kind.appointment) -> intake.Submitted:
    return await intake.submit(pool, intake.Intake(site="musterstadt", kind=kind, channel=Channel.web,
                                                   concern="general", phone=PHONE, language="de",
                                                   sms_consent=True), now=NOW)


async def _book(pool: asyncpg.Pool, conn: asyncpg.Connection, request_id: int) -> Appointment:
    proposal = (await proposals_.list_for_request(conn, request_id))[0]
    return await approvals.approve(pool, request_id=request_id, proposal_id=proposal.id,
                                   user=await _user(conn, "cw.meyer"), now=NOW, reminder_offsets=OFFSETS)


async def _free_slot(conn: asyncpg.Connection, site: SiteFacts, after: datetime) -> Slot:
    site_ = await sites.site_by_id(conn, site.site_id)
    day: date = site_.calendar().local_date(after)
    for _ in range(30):
        day += timedelta(days=1)
        free = await approvals.free_slots(conn, site=site_, staff_id=site.staff["cw.meyer"], day=day,
                                          duration=timedelta(minutes=30), now=NOW)
        if free:
            return free[0]
    raise AssertionError("no free day found")


async def _deliver(pool: asyncpg.Pool) -> webhook_send.Stats:
    return await webhook_send.dispatch_due(pool, now=datetime.now(UTC))


def _without_personal_data(receiver: Receiver) -> None:
    for item in receiver.received:
        for text in PERSONAL:
            assert text not in item.body.decode(), item.body


async def test_request_received_booked_moved_and_cancelled_reach_the_receiver_signed(
        pool: asyncpg.Pool, conn: asyncpg.Connection, site: SiteFacts, receiver: Receiver) -> None:
    _, secret = await endpoint(conn, site.site_id, receiver.url)
    submitted = await _submit(pool)
    booked = await _book(pool, conn, submitted.id)
    slot = await _free_slot(conn, site, booked.start)
    moved = await moves.move(pool, target=moves.Target(booked.id, site.staff["cw.meyer"], slot.start, "phone"),
                             user=await _user(conn, "cw.meyer"), now=NOW, reminder_offsets=OFFSETS)
    await client_actions.cancel(pool, request_id=submitted.id, actor="client:web", now=NOW)

    stats = await _deliver(pool)
    assert (stats.claimed, stats.delivered) == (4, 4)
    payloads = {p["type"]: p for p in receiver.verified(secret)}
    assert list(payloads) == ["request.received", "appointment.booked", "appointment.moved",
                              "appointment.cancelled"]
    received = payloads["request.received"]["data"]
    assert received == {**received, "kind": "appointment", "request_id": submitted.id,
                        "reference": submitted.reference, "site": "musterstadt", "concern": "general",
                        "channel": "web", "status": submitted.status}
    assert received["team"] and received["created_at"].endswith("Z")
    assert payloads["appointment.booked"]["data"] == {
        **payloads["appointment.booked"]["data"], "appointment_id": booked.id, "request_id": submitted.id,
        "reference": submitted.reference, "site": "musterstadt", "mode": booked.mode, "status": "confirmed",
        "starts_at": booked.start.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "sequence": 0}
    moved_data = payloads["appointment.moved"]["data"]
    assert (moved_data["mode"], moved_data["sequence"], moved_data["status"]) == ("phone", moved.sequence,
                                                                                  "confirmed")
    assert moved_data["starts_at"] == slot.start.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert payloads["appointment.cancelled"]["data"]["status"] == "cancelled"
    # Standard Webhooks: the id is the message's, the timestamp seconds; every id differs.
    ids = [item.headers["webhook-id"] for item in receiver.received]
    assert len(set(ids)) == 4 and all(i.startswith("msg_") for i in ids)
    assert all(item.headers["content-type"] == "application/json" for item in receiver.received)
    _without_personal_data(receiver)
    assert await conn.fetchval("SELECT count(*) FROM webhook_deliveries WHERE status = 'delivered'") == 4


async def test_attended_and_no_show_are_sent_from_the_recorded_outcome(
        pool: asyncpg.Pool, conn: asyncpg.Connection, site: SiteFacts, receiver: Receiver) -> None:
    _, secret = await endpoint(conn, site.site_id, receiver.url,
                               (EventType.appointment_attended, EventType.appointment_no_show))
    meyer = await _user(conn, "cw.meyer")
    held = await create_appointment(conn, site, start=NOW - timedelta(hours=2))
    missed = await create_appointment(conn, site, start=NOW - timedelta(hours=1))
    for appointment_id, outcome in ((held, Outcome.held), (missed, Outcome.no_show)):
        await outcomes.record(pool, appointment_id=appointment_id, entry=outcomes.OutcomeEntry(outcome),
                              user=meyer, now=datetime.now(UTC), reminder_offsets=OFFSETS)
    assert (await _deliver(pool)).delivered == 2  # the bookings themselves were not subscribed
    data = {p["type"]: p["data"] for p in receiver.verified(secret)}
    assert data["appointment.attended"] == {**data["appointment.attended"], "appointment_id": held,
                                            "status": "completed", "outcome": "held"}
    assert data["appointment.no_show"] == {**data["appointment.no_show"], "appointment_id": missed,
                                           "status": "no_show", "outcome": "no_show"}
    _without_personal_data(receiver)


async def test_a_callback_request_is_received_with_its_team(pool: asyncpg.Pool, conn: asyncpg.Connection,
                                                            site: SiteFacts, receiver: Receiver) -> None:
    _, secret = await endpoint(conn, site.site_id, receiver.url, (EventType.request_received,))
    submitted = await _submit(pool, Kind.callback)
    await _deliver(pool)
    [payload] = receiver.verified(secret)
    assert payload["data"] == {**payload["data"], "kind": "callback", "callback_id": submitted.id,
                               "reference": submitted.reference, "channel": "web"}
    assert payload["data"]["team"]  # written at commit, after intake routed it
    _without_personal_data(receiver)


async def test_only_active_subscribed_endpoints_of_the_site_get_events(
        pool: asyncpg.Pool, conn: asyncpg.Connection, site: SiteFacts) -> None:
    booked_only, _ = await endpoint(conn, site.site_id, "https://fallakte.example/hooks",
                                    (EventType.appointment_booked,))
    gone, _ = await endpoint(conn, site.site_id, "https://old.example/hooks")
    assert await webhooks.deactivate(conn, gone, site_id=site.site_id, now=NOW)
    other_site = await conn.fetchval("INSERT INTO sites (code, name) VALUES ('anderstadt', 'JC Anderstadt') "
                                     "RETURNING id")
    theirs, _ = await endpoint(conn, other_site, "https://anderstadt.example/hooks")
    request_id = await create_request(conn, site)
    appointment_id = await create_appointment(conn, site, start=NOW + timedelta(days=2))
    rows = await conn.fetch("SELECT endpoint_id, event_type, event_key FROM webhook_deliveries ORDER BY created_at")
    assert [(r["endpoint_id"], r["event_type"], r["event_key"]) for r in rows] == [
        (booked_only, "appointment.booked", f"appointment:{appointment_id}:booked")]
    assert request_id and not await conn.fetchval("SELECT count(*) FROM webhook_deliveries WHERE endpoint_id = ANY($1)",
                                                  [gone, theirs])


async def test_other_updates_emit_nothing_and_a_site_without_endpoints_pays_nothing(
        pool: asyncpg.Pool, conn: asyncpg.Connection, site: SiteFacts) -> None:
    appointment_id = await create_appointment(conn, site, start=NOW + timedelta(days=2))  # before any endpoint
    await endpoint(conn, site.site_id, "https://fallakte.example/hooks")
    await conn.execute("UPDATE appointments SET arrived_at = now(), outcome_flagged_at = now() WHERE id = $1",
                       appointment_id)
    assert await conn.fetchval("SELECT count(*) FROM webhook_deliveries") == 0
    # One move with the same sequence number (repeated by a retried statement) is one event.
    for _ in range(2):
        await conn.execute("UPDATE appointments SET during = tstzrange(lower(during) + interval '1 hour', "
                           "upper(during) + interval '1 hour') WHERE id = $1", appointment_id)
    assert await conn.fetchval("SELECT count(*) FROM webhook_deliveries WHERE event_type = 'appointment.moved'") == 1


async def test_a_bulk_insert_writes_one_event_per_row(pool: asyncpg.Pool, conn: asyncpg.Connection,
                                                      site: SiteFacts) -> None:
    endpoint_id, _ = await endpoint(conn, site.site_id, "https://fallakte.example/hooks",
                                    (EventType.request_received,))
    client_id = await conn.fetchval("SELECT id FROM clients WHERE site_id = $1 LIMIT 1", site.site_id)
    await conn.execute(
        "INSERT INTO requests (site_id, client_id, concern_id, channel, reference, link_token) "
        "SELECT $1, $2, $3, 'staff', 'BULK' || g, 'tok' || g FROM generate_series(1, 25) g",
        site.site_id, client_id, site.concerns["general"])
    rows = await conn.fetch("SELECT payload FROM webhook_deliveries WHERE endpoint_id = $1", endpoint_id)
    assert sorted(r["payload"]["data"]["reference"] for r in rows) == sorted(
        f"BULK{g}" for g in range(1, 26))


def test_urls_and_secrets() -> None:
    for good in ("https://fallakte.jobcenter.example/hooks", "http://127.0.0.1:8099/x", "http://localhost/hook"):
        assert webhooks.url_allowed(good), good
    for bad in ("http://fallakte.example/hooks", "ftp://x.example", "https://", "https://a b.example",
                "http://127.0.0.1.evil.example/", "https://x.example/" + "a" * 490, "javascript:alert(1)"):
        assert not webhooks.url_allowed(bad), bad
    secret = webhooks.new_secret()
    assert secret.startswith("whsec_") and len(webhooks.secret_key(secret)) == webhooks.SECRET_BYTES
    assert base64.b64encode(webhooks.secret_key(secret)).decode() == secret.removeprefix("whsec_")
    assert webhooks.new_secret() != secret


async def test_the_database_refuses_bad_endpoints(conn: asyncpg.Connection, site: SiteFacts) -> None:
    for url, types in (("http://fallakte.example/", ["request.received"]),
                       ("https://fallakte.example/", ["request.deleted"]),
                       ("https://fallakte.example/", [])):
        with pytest.raises(asyncpg.CheckViolationError):
            await conn.execute("INSERT INTO webhook_endpoints (site_id, url, event_types, secret) "
                               "VALUES ($1, $2, $3, $4)", site.site_id, url, types, webhooks.new_secret())
