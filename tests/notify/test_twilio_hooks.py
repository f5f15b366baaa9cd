"""Twilio webhooks through the real app on a real port, posted and signed by the fake Twilio."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from aiohttp.test_utils import TestClient
from twilio.request_validator import RequestValidator

from scheduler import outbox
from scheduler.i18n import translate
from scheduler.notify.dispatch import Senders, dispatch_due, sweep
from scheduler.outbox import OutboxStatus
from scheduler.replies import REPLIES, Action, parse
from tests import factories
from tests.factories import SiteFacts
from tests.fakes.twilio_server import FakeTwilio
from tests.notify.conftest import FROM, NOW, TOKEN, queue_for_appointment, queue_received, row


def reply_text(twiml: str) -> str | None:
    message = ET.fromstring(twiml).find("Message")
    return None if message is None else message.text


def soon(days: int = 3) -> datetime:
    day = (datetime.now(UTC) + timedelta(days=days)).date()
    return datetime(day.year, day.month, day.day, 9, 0, tzinfo=UTC)


async def booked(conn: asyncpg.Connection, site: SiteFacts, *, phone: str, language: str, start: datetime,
                 client_id: int | None = None) -> tuple[int, int]:
    client_id = client_id or await factories.create_client(conn, site, phone=phone, language=language)
    request_id = await factories.create_request(conn, site, client_id=client_id, status="scheduled",
                                                staff="cw.meyer")
    appointment_id = await factories.create_appointment(conn, site, start=start, request_id=request_id)
    return request_id, appointment_id


# -- delivery status callbacks --------------------------------------------------------------------

async def sent_message(pool: asyncpg.Pool, conn: asyncpg.Connection, site: SiteFacts, senders: Senders) -> str:
    outbox_id = await queue_received(conn, site)
    await dispatch_due(pool, senders, now=NOW)
    provider_id = (await row(conn, outbox_id)).provider_id
    assert provider_id
    return provider_id


async def status_of(conn: asyncpg.Connection, provider_id: str) -> tuple[str, str | None]:
    r = await conn.fetchrow("SELECT status, error_code FROM outbox WHERE provider_id = $1", provider_id)
    return r["status"], r["error_code"]


async def test_delivered_callback_is_recorded_and_replay_is_harmless(
        twilio_client: TestClient, pool: asyncpg.Pool, conn: asyncpg.Connection, site: SiteFacts,
        fake: FakeTwilio, senders: Senders) -> None:
    sid = await sent_message(pool, conn, site, senders)
    first = await fake.deliver(sid, "delivered")
    assert first.status == 204
    assert await status_of(conn, sid) == ("delivered", None)
    # Twilio retries: the very same signed request again changes nothing.
    again = await twilio_client.post("/webhooks/twilio/status", data=first.params,
                                     headers={"X-Twilio-Signature": first.signature})
    assert again.status == 204
    assert await status_of(conn, sid) == ("delivered", None)


async def test_late_sent_callback_never_moves_delivered_back(
        twilio_client: TestClient, pool: asyncpg.Pool, conn: asyncpg.Connection, site: SiteFacts,
        fake: FakeTwilio, senders: Senders) -> None:
    sid = await sent_message(pool, conn, site, senders)
    await fake.deliver(sid, "delivered")
    assert (await fake.deliver(sid, "sent")).status == 204
    assert (await fake.deliver(sid, "undelivered", error_code=30003)).status == 204
    assert await status_of(conn, sid) == ("delivered", None)


async def test_undelivered_keeps_the_carrier_code_for_staff(
        twilio_client: TestClient, pool: asyncpg.Pool, conn: asyncpg.Connection, site: SiteFacts,
        fake: FakeTwilio, senders: Senders) -> None:
    sid = await sent_message(pool, conn, site, senders)
    await fake.deliver(sid, "undelivered", error_code=30006)
    assert await status_of(conn, sid) == ("undelivered", "30006")
    error = await conn.fetchval("SELECT last_error FROM outbox WHERE provider_id = $1", sid)
    assert "landline" in error


@pytest.mark.parametrize("signature", ["", "forged", "use-other-url"])
async def test_forged_status_callback_is_refused(
        twilio_client: TestClient, pool: asyncpg.Pool, conn: asyncpg.Connection, site: SiteFacts,
        senders: Senders, signature: str) -> None:
    sid = await sent_message(pool, conn, site, senders)
    params = {"MessageSid": sid, "MessageStatus": "delivered", "AccountSid": "AC123"}
    if signature == "use-other-url":
        signature = RequestValidator(TOKEN).compute_signature("https://elsewhere.example/webhooks/twilio/status",
                                                              params)
    headers = {"X-Twilio-Signature": signature} if signature else {}
    response = await twilio_client.post("/webhooks/twilio/status", data=params, headers=headers)
    assert response.status == 403
    assert await status_of(conn, sid) == ("sent", None)


async def test_forged_inbound_sms_is_refused(twilio_client: TestClient, conn: asyncpg.Connection) -> None:
    params = {"MessageSid": "SMforged", "From": "+4915123456704", "To": FROM, "Body": "STOP"}
    response = await twilio_client.post("/webhooks/twilio/sms", data=params, headers={"X-Twilio-Signature": "x"})
    assert response.status == 403
    assert await conn.fetchval("SELECT sms_opted_out_at FROM clients WHERE phone = '+4915123456704'") is None


# -- inbound SMS ------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "language"), [("JA", "de"), ("Так", "uk"), ("نعم", "ar"), ("1", "ar")])
async def test_confirm_reply_is_recorded_and_answered_in_the_clients_language(
        twilio_client: TestClient, conn: asyncpg.Connection, site: SiteFacts, fake: FakeTwilio,
        text: str, language: str) -> None:
    phone = "+4915140000001"
    _, appointment_id = await booked(conn, site, phone=phone, language=language, start=soon())
    result = await fake.send_inbound(str(twilio_client.make_url("/webhooks/twilio/sms")), phone, FROM, text)
    assert result.status == 200
    assert reply_text(result.text) == translate(language, REPLIES["confirmed"])
    assert await conn.fetchval("SELECT count(*) FROM audit_events WHERE action = 'appointment.client_confirmed' "
                               "AND subject_id = $1", appointment_id) == 1
    assert await conn.fetchval("SELECT action FROM inbound_messages WHERE provider_id = $1",
                               result.params["MessageSid"]) == "confirm:confirmed"


@pytest.mark.parametrize(("text", "language"), [("NEIN", "de"), ("НІ", "uk"), ("لا", "ar"), ("2", "uk")])
async def test_cancel_reply_cancels_the_appointment_and_its_reminders(
        twilio_client: TestClient, conn: asyncpg.Connection, site: SiteFacts, fake: FakeTwilio,
        text: str, language: str) -> None:
    phone = "+4915140000002"
    start = soon()
    request_id, appointment_id = await booked(conn, site, phone=phone, language=language, start=start)
    reminder_id = await queue_for_appointment(conn, site, appointment_id, kind="sms.reminder",
                                              due_at=start - timedelta(days=1))
    result = await fake.send_inbound(str(twilio_client.make_url("/webhooks/twilio/sms")), phone, FROM, text)
    assert reply_text(result.text) == translate(language, REPLIES["cancelled"])
    assert await conn.fetchval("SELECT status FROM appointments WHERE id = $1", appointment_id) == "cancelled"
    assert await conn.fetchval("SELECT status FROM requests WHERE id = $1", request_id) == "withdrawn"
    assert (await row(conn, reminder_id)).status is OutboxStatus.cancelled


@pytest.mark.parametrize(("text", "language"), [("ANDERER TERMIN", "de"), ("інший час", "uk"), ("وقت آخر", "ar")])
async def test_another_time_reply_sends_the_request_back_to_the_caseworker(
        twilio_client: TestClient, conn: asyncpg.Connection, site: SiteFacts, fake: FakeTwilio,
        text: str, language: str) -> None:
    phone = "+4915140000003"
    request_id, appointment_id = await booked(conn, site, phone=phone, language=language, start=soon())
    result = await fake.send_inbound(str(twilio_client.make_url("/webhooks/twilio/sms")), phone, FROM, text)
    assert reply_text(result.text) == translate(language, REPLIES["another_time"])
    # Issue 14: the booking stays until the caseworker moves it; the request is flagged for them.
    assert await conn.fetchval("SELECT status FROM appointments WHERE id = $1", appointment_id) == "confirmed"
    r = await conn.fetchrow("SELECT status, wants_other_time FROM requests WHERE id = $1", request_id)
    assert r["wants_other_time"] and r["status"] == "scheduled"


@pytest.mark.parametrize("language", ["de", "uk", "ar"])
async def test_stop_and_start(twilio_client: TestClient, pool: asyncpg.Pool, conn: asyncpg.Connection,
                              site: SiteFacts, fake: FakeTwilio, language: str) -> None:
    phone = "+4915140000004"
    pending_id = await queue_received(conn, site, phone=phone, language=language, due_at=NOW + timedelta(days=9))
    url = str(twilio_client.make_url("/webhooks/twilio/sms"))
    stop = await fake.send_inbound(url, phone, FROM, "Stop")
    assert reply_text(stop.text) == translate(language, REPLIES["stop"])
    assert await conn.fetchval("SELECT sms_opted_out_at FROM clients WHERE phone = $1", phone) is not None
    message = await row(conn, pending_id)
    assert message.status is OutboxStatus.cancelled and message.error_code == "opted-out"
    # While opted out, replies are acted on but not answered (Twilio would refuse the answer anyway).
    assert reply_text((await fake.send_inbound(url, phone, FROM, "hallo")).text) is None
    start = await fake.send_inbound(url, phone, FROM, "START")
    assert reply_text(start.text) == translate(language, REPLIES["start"])
    assert await conn.fetchval("SELECT sms_opted_out_at FROM clients WHERE phone = $1", phone) is None


@pytest.mark.parametrize("language", ["de", "uk", "ar"])
async def test_unknown_text_gets_one_help_reply_then_silence(
        twilio_client: TestClient, conn: asyncpg.Connection, site: SiteFacts, fake: FakeTwilio,
        language: str) -> None:
    phone = "+4915140000005"
    await booked(conn, site, phone=phone, language=language, start=soon())
    url = str(twilio_client.make_url("/webhooks/twilio/sms"))
    first = await fake.send_inbound(url, phone, FROM, "Wann genau?")
    assert reply_text(first.text) == translate(language, REPLIES["help"])
    second = await fake.send_inbound(url, phone, FROM, "Auto-reply: I am away")
    assert second.status == 200 and reply_text(second.text) is None


async def test_duplicate_inbound_is_a_no_op(twilio_client: TestClient, conn: asyncpg.Connection,
                                            site: SiteFacts, fake: FakeTwilio) -> None:
    phone = "+4915140000006"
    request_id, appointment_id = await booked(conn, site, phone=phone, language="de", start=soon())
    first = await fake.send_inbound(str(twilio_client.make_url("/webhooks/twilio/sms")), phone, FROM, "NEIN")
    assert reply_text(first.text)
    replay = await twilio_client.post("/webhooks/twilio/sms", data=first.params,
                                      headers={"X-Twilio-Signature": first.signature})
    assert replay.status == 200 and reply_text(await replay.text()) is None
    assert await conn.fetchval("SELECT count(*) FROM inbound_messages WHERE provider_id = $1",
                               first.params["MessageSid"]) == 1
    assert await conn.fetchval("SELECT count(*) FROM audit_events WHERE action = 'appointment.cancel' "
                               "AND subject_id = $1", appointment_id) == 1


async def test_reply_acts_only_on_the_latest_appointment(twilio_client: TestClient, conn: asyncpg.Connection,
                                                         site: SiteFacts, fake: FakeTwilio) -> None:
    phone = "+4915140000007"
    client_id = await factories.create_client(conn, site, phone=phone, language="de")
    old_request, old_appointment = await booked(conn, site, phone=phone, language="de", start=soon(4),
                                                client_id=client_id)
    await conn.execute("UPDATE requests SET created_at = now() - interval '2 days' WHERE id = $1", old_request)
    new_request, new_appointment = await booked(conn, site, phone=phone, language="de", start=soon(6),
                                                client_id=client_id)
    await fake.send_inbound(str(twilio_client.make_url("/webhooks/twilio/sms")), phone, FROM, "nein")
    assert await conn.fetchval("SELECT status FROM appointments WHERE id = $1", new_appointment) == "cancelled"
    assert await conn.fetchval("SELECT status FROM appointments WHERE id = $1", old_appointment) == "confirmed"
    assert await conn.fetchval("SELECT status FROM requests WHERE id = $1", old_request) == "scheduled"


async def test_reply_from_an_unknown_number(twilio_client: TestClient, fake: FakeTwilio) -> None:
    result = await fake.send_inbound(str(twilio_client.make_url("/webhooks/twilio/sms")), "+4915149999999", FROM,
                                     "JA")
    assert reply_text(result.text) == translate("de", REPLIES["nothing_open"])


@pytest.mark.parametrize(("text", "action"), [
    ("JA", Action.confirm), ("ja, gerne", Action.confirm), ("1.", Action.confirm), ("YES", Action.confirm),
    ("ТАК!", Action.confirm), ("ДА", Action.confirm), ("نعم", Action.confirm), ("EVET", Action.confirm),
    ("بله", Action.confirm), ("OK", Action.confirm), ("١", Action.confirm),
    ("NEIN", Action.cancel), ("2", Action.cancel), ("No", Action.cancel), ("ABSAGEN", Action.cancel),
    ("CANCEL", Action.cancel), ("НІ", Action.cancel), ("НЕТ", Action.cancel), ("لا", Action.cancel),
    ("HAYIR", Action.cancel), ("hayır", Action.cancel), ("نه", Action.cancel), ("۲", Action.cancel),
    ("ANDERER", Action.another_time), ("3", Action.another_time), ("another time", Action.another_time),
    ("інший", Action.another_time), ("başka zaman", Action.another_time), ("زمان دیگر", Action.another_time),
    ("STOP", Action.stop), ("stopp", Action.stop), ("START", Action.start),
    ("", Action.unknown), ("Wann ist das?", Action.unknown), ("12", Action.unknown),
])
def test_parse(text: str, action: Action) -> None:
    assert parse(text) is action


async def test_a_receipt_before_the_send_was_recorded_is_applied_by_the_sweeper(
        twilio_client: TestClient, pool: asyncpg.Pool, conn: asyncpg.Connection, site: SiteFacts,
        fake: FakeTwilio, senders: Senders) -> None:
    # The provider reports delivery while the worker has not yet stored the message's id.
    outbox_id = await queue_received(conn, site)
    [claimed] = await outbox.claim_due(conn, now=NOW, lease_until=NOW + timedelta(seconds=60), limit=1)
    accepted = await senders.sms.send(to=claimed.recipient, body="text", idempotency_key=claimed.idempotency_key,
                                      status_callback=senders.settings.status_callback_url)
    sid = accepted.provider_id
    assert (await fake.deliver(sid, "sent")).status == 204
    assert (await fake.deliver(sid, "delivered")).status == 204
    assert await conn.fetchval("SELECT count(*) FROM early_receipts WHERE provider_id = $1", sid) == 2
    assert await outbox.mark_sent_many(conn, [outbox.Accepted(claimed, sid, 1, "text")], now=NOW) == {claimed.id}
    assert await sweep(pool, now=NOW) == 0
    assert (await row(conn, outbox_id)).status is OutboxStatus.delivered
    assert await conn.fetchval("SELECT count(*) FROM early_receipts") == 0
    # A receipt for an id that never turns up is dropped after two days.
    await conn.execute("INSERT INTO early_receipts (provider_id, status) VALUES ('SMunknown', 'delivered')")
    await sweep(pool, now=datetime.now(UTC) + timedelta(days=3))
    assert await conn.fetchval("SELECT count(*) FROM early_receipts") == 0
