"""Request -> booking -> confirmation SMS and invite -> reminders -> 'NEIN' -> CANCEL invite, all for real."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg
import vobject
from aiohttp.test_utils import TestClient

from scheduler import appointments, clients, intake, notices
from scheduler import proposals as proposals_
from scheduler import requests as requests_
from scheduler.config import Config
from scheduler.i18n import translate
from scheduler.keys import SENDERS
from scheduler.notify.dispatch import dispatch_due
from scheduler.outbox import OutboxStatus
from scheduler.policy.rules import Kind
from scheduler.replies import REPLIES
from tests.factories import SiteFacts
from tests.fakes.twilio_server import FakeTwilio
from tests.notify.conftest import FROM

BERLIN = ZoneInfo("Europe/Berlin")
PHONE = "+4915112345678"


def next_weekday(after: datetime, days: int) -> datetime:
    day = (after + timedelta(days=days)).astimezone(BERLIN).date()
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return datetime(day.year, day.month, day.day, 10, 0, tzinfo=BERLIN)


async def test_end_to_end(twilio_client: TestClient, twilio_config: Config, pool: asyncpg.Pool,
                          conn: asyncpg.Connection, site: SiteFacts, fake: FakeTwilio) -> None:
    offsets = tuple(timedelta(minutes=m) for m in twilio_config.reminder_offsets_minutes)
    now = datetime.now(UTC)
    submitted = await intake.submit(pool, intake.Intake(
        site="musterstadt", kind=Kind.appointment, channel="web", concern="general", phone=PHONE, language="de",
        sms_consent=True), now=now, reminder_offsets=offsets)

    # The receipt asks the number to agree to SMS (1) or refuse (STOP); the client agrees. Until then only the
    # receipt would go out (issue 13: consent typed into a form may come from someone else).
    agreed = await fake.send_inbound(str(twilio_client.make_url("/webhooks/twilio/sms")), PHONE, FROM, "1")
    assert ET.fromstring(agreed.text).find("Message") is not None

    # A caseworker books it (what approvals.approve does, without the staff session).
    start = next_weekday(now, 4)
    async with pool.acquire() as c, c.transaction():
        request = await requests_.get(c, submitted.id, for_update=True)
        appointment = await appointments.latest_for_request(c, request.id)
        if request.status is not requests_.Status.scheduled:  # the policy may already have auto-booked
            appointment = await appointments.book(
                c, site_id=request.site_id, request_id=request.id, client_id=request.client_id,
                staff_id=site.staff["cw.meyer"], start=start, end=start + timedelta(minutes=30), mode="in_person",
                room="A.03", actor="test")
            await requests_.transition(c, request.id, to=requests_.Status.scheduled, actor="test",
                                       site_id=request.site_id, staff_id=site.staff["cw.meyer"])
            await proposals_.clear(c, request.id)
            await notices.appointment_confirmed(c, client=await clients.get(c, request.client_id),
                                                appointment=appointment, link_token=request.link_token,
                                                reminder_offsets=offsets, now=now)
    assert appointment is not None
    start = appointment.start

    # Reminders are queued 1 day and 2 hours before.
    reminders = await conn.fetch("SELECT id, due_at, status FROM outbox WHERE kind = 'sms.reminder' "
                                 "AND appointment_id = $1 ORDER BY due_at", appointment.id)
    assert [r["due_at"] for r in reminders] == [start - timedelta(days=1), start - timedelta(hours=2)]

    # The worker sends the receipt and the confirmation (at a daytime moment: no quiet hours).
    senders = twilio_client.app[SENDERS]
    send_at = max(now, (start - timedelta(days=2)).replace(hour=11, minute=0))
    stats = await dispatch_due(pool, senders, now=send_at)
    assert stats.sent == 2, stats
    bodies = {m.body for m in fake.messages}
    assert all(m.to == PHONE for m in fake.messages)
    confirmation = next(b for b in bodies if "Antwort 1 = OK" in b)
    assert f"/r/{submitted.link_token}" in confirmation
    assert start.astimezone(BERLIN).strftime("%H:%M") in confirmation

    # The invite behind the link.
    response = await twilio_client.get(f"/r/{submitted.link_token}/invite.ics")
    invite = vobject.readOne(await response.text(), validate=True)
    assert invite.method.value == "REQUEST" and int(invite.vevent.sequence.value) == 0
    assert invite.vevent.dtstart.value.astimezone(UTC) == start.astimezone(UTC)

    # A delivery receipt arrives.
    confirmation_sid = next(m.sid for m in fake.messages if m.body == confirmation)
    await fake.deliver(confirmation_sid, "delivered")
    assert await conn.fetchval("SELECT status FROM outbox WHERE provider_id = $1", confirmation_sid) == "delivered"

    # The client answers NEIN.
    answer = await fake.send_inbound(str(twilio_client.make_url("/webhooks/twilio/sms")), PHONE, FROM, "NEIN")
    assert ET.fromstring(answer.text).find("Message").text == translate("de", REPLIES["cancelled"])  # type: ignore[union-attr]
    assert await conn.fetchval("SELECT status FROM appointments WHERE id = $1", appointment.id) == "cancelled"
    statuses = await conn.fetch("SELECT status FROM outbox WHERE kind = 'sms.reminder' AND appointment_id = $1",
                                appointment.id)
    assert {r["status"] for r in statuses} == {OutboxStatus.cancelled.value}

    cancelled = vobject.readOne(await (await twilio_client.get(f"/r/{submitted.link_token}/invite.ics")).text(),
                                validate=True)
    assert cancelled.method.value == "CANCEL"
    assert cancelled.vevent.uid.value == invite.vevent.uid.value
    assert int(cancelled.vevent.sequence.value) > int(invite.vevent.sequence.value)

    # The cancellation SMS goes out; nothing else does.
    stats = await dispatch_due(pool, senders, now=send_at + timedelta(minutes=5))
    assert stats.sent == 1
    assert "abgesagt" in fake.messages[-1].body
    assert (await dispatch_due(pool, senders, now=start + timedelta(days=1))).claimed == 0
