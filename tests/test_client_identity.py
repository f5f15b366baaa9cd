"""Anonymous submissions never overwrite a client's identity; SMS consent is per request and per number."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

import asyncpg
from aiohttp.test_utils import TestClient

from scheduler import appointments, clients, intake, notices, replies
from scheduler import requests as requests_
from scheduler.policy.rules import Kind
from tests.api.helpers import appointment_body
from tests.factories import SiteFacts, create_client
from tests.staff.helpers import sign_in

SABINE = "+4915123456704"  # Sabine Krüger, assigned to cw.meyer in the demo data


def _phone() -> str:
    return f"+49151{secrets.randbelow(10**8):08d}"


async def _outbox_kinds(conn: asyncpg.Connection, phone: str) -> list[str]:
    return [r["kind"] for r in await conn.fetch("SELECT kind FROM outbox WHERE recipient = $1 ORDER BY id", phone)]


async def test_anonymous_identity_fields_do_not_overwrite_the_client(client: TestClient,
                                                                     conn: asyncpg.Connection) -> None:
    await conn.execute("UPDATE clients SET customer_number = '123A456789' WHERE phone = $1", SABINE)
    r = await client.post("/api/requests", json=appointment_body(
        phone=SABINE, name="Mallory Mustermann", customer_number="999Z999999", language="ar"))
    assert r.status == 201, await r.text()
    row = await conn.fetchrow("SELECT name, customer_number, language FROM clients WHERE phone = $1", SABINE)
    assert (row["name"], row["customer_number"]) == ("Sabine Krüger", "123A456789")
    assert row["language"] == "de"  # the office's record (demo data) is verified
    stored = await conn.fetchrow("SELECT claimed_name, claimed_customer_number, language FROM requests "
                                 "WHERE reference = $1", (await r.json())["reference"])
    assert (stored["claimed_name"], stored["claimed_customer_number"]) == ("Mallory Mustermann", "999Z999999")
    assert stored["language"] == "ar"  # the request keeps the language it was made in


async def test_a_new_client_from_an_anonymous_channel_stores_no_identity(client: TestClient,
                                                                         conn: asyncpg.Connection) -> None:
    phone = _phone()
    r = await client.post("/api/callbacks", json=appointment_body(phone=phone, name="Erika", customer_number="123A456789"))
    assert r.status == 201
    row = await conn.fetchrow("SELECT name, customer_number, sms_consent FROM clients WHERE phone = $1", phone)
    assert (row["name"], row["customer_number"], row["sms_consent"]) == (None, None, False)
    assert await conn.fetchval("SELECT claimed_name FROM callbacks WHERE reference = $1",
                               (await r.json())["reference"]) == "Erika"


async def test_staff_verified_language_is_kept(client: TestClient, conn: asyncpg.Connection) -> None:
    phone = _phone()
    r = await client.post("/api/staff/invitations", headers={"X-CSRF-Token": await sign_in(client, "cw.meyer")}, json={
        "phone": phone, "concern": "job_offer", "language": "tr", "invitation": "voluntary"})
    assert r.status == 201, await r.text()
    await client.post("/api/requests", json=appointment_body(phone=phone, language="ar"))
    assert await conn.fetchval("SELECT language FROM clients WHERE phone = $1", phone) == "tr"


async def test_anonymous_consent_does_not_switch_on_the_number(client: TestClient, conn: asyncpg.Connection,
                                                               site: SiteFacts) -> None:
    phone = _phone()
    await create_client(conn, site, phone=phone, sms_consent=False)
    r = await client.post("/api/requests", json=appointment_body(phone=phone, sms_consent=True))
    assert r.status == 201
    assert await conn.fetchval("SELECT sms_consent FROM clients WHERE phone = $1", phone) is False
    # The one confirmation goes out, with a STOP hint; nothing else.
    assert await _outbox_kinds(conn, phone) == ["sms.request_received"]


async def test_consent_is_per_request(client: TestClient, conn: asyncpg.Connection) -> None:
    # Sabine agreed to SMS earlier; a request sent without consent sends nothing.
    r = await client.post("/api/requests", json=appointment_body(phone=SABINE, sms_consent=False))
    assert r.status == 201
    assert await _outbox_kinds(conn, SABINE) == []


async def test_unconfirmed_number_gets_only_the_receipt_until_it_answers(pool: asyncpg.Pool,
                                                                         conn: asyncpg.Connection,
                                                                         site: SiteFacts) -> None:
    phone = _phone()
    now = datetime.now(UTC)
    submitted = await intake.submit(pool, intake.Intake(
        site="musterstadt", kind=Kind.appointment, channel="web", concern="general", phone=phone,
        sms_consent=True, modes=("in_person",)), now=now)
    start = (now + timedelta(days=7)).replace(hour=9, minute=0, second=0, microsecond=0)

    async def book() -> None:
        async with pool.acquire() as c, c.transaction():
            request = await requests_.get(c, submitted.id)
            appt = await appointments.latest_for_request(c, request.id)
            if appt is None:
                appt = await appointments.book(
                    c, site_id=request.site_id, request_id=request.id, client_id=request.client_id,
                    staff_id=site.staff["cw.meyer"], start=start, end=start + timedelta(minutes=30),
                    mode="in_person", room="A.03", actor="test")
            await notices.appointment_confirmed(c, client=await clients.get(c, request.client_id), appointment=appt,
                                                link_token=request.link_token, reminder_offsets=(), now=now)

    await book()
    assert await _outbox_kinds(conn, phone) == ["sms.request_received"]

    outcome = await replies.handle(pool, provider_id="SM-optin-1", from_phone=phone, to_phone="+4930000000",
                                   body="JA", now=now, default_site="musterstadt", reminder_offsets=())
    assert outcome is not None and outcome.reply
    assert await conn.fetchval("SELECT sms_consent FROM clients WHERE phone = $1", phone) is True
    await book()
    assert "sms.appointment_confirmed" in await _outbox_kinds(conn, phone)


async def test_stop_then_new_consent_sends_nothing(client: TestClient, pool: asyncpg.Pool,
                                                   conn: asyncpg.Connection) -> None:
    await replies.handle(pool, provider_id="SM-stop-1", from_phone=SABINE, to_phone="+4930000000", body="STOP",
                         now=datetime.now(UTC), default_site="musterstadt", reminder_offsets=())
    r = await client.post("/api/requests", json=appointment_body(phone=SABINE, sms_consent=True))
    assert r.status == 201
    assert await _outbox_kinds(conn, SABINE) == []


async def test_staff_page_shows_claimed_identity_as_unverified(client: TestClient, conn: asyncpg.Connection) -> None:
    r = await client.post("/api/requests", json=appointment_body(
        phone=SABINE, name="Mallory Mustermann", customer_number="999Z999999"))
    request_id = await conn.fetchval("SELECT id FROM requests WHERE reference = $1", (await r.json())["reference"])
    await sign_in(client, "cw.meyer")
    html = await (await client.get(f"/staff/requests/{request_id}")).text()
    assert "Mallory Mustermann" in html and "999Z999999" in html
    assert "nicht geprüft" in html
    assert "Sabine Krüger" in html
