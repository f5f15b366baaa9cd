"""Invites by e-mail (iMIP) to a real SMTP server (aiosmtpd) on loopback."""

from __future__ import annotations

import email
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import Message

import asyncpg
import pytest
import vobject
from aiosmtpd.controller import Controller

from scheduler import appointments, notices
from scheduler.notify.dispatch import Senders, dispatch_due
from scheduler.notify.email import SmtpEmail
from scheduler.outbox import OutboxStatus
from tests import factories
from tests.factories import SiteFacts
from tests.notify.conftest import free_port, row

START = datetime(2030, 3, 10, 9, 0, tzinfo=UTC)


def later() -> datetime:
    """A moment just after now, when a row queued by the test is due (taken at call time, not import)."""
    return datetime.now(UTC) + timedelta(minutes=1)


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], Message]] = []

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:  # noqa: N802
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos),  # type: ignore[attr-defined]
                              email.message_from_bytes(envelope.content)))  # type: ignore[attr-defined]
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


def calendar_part(message: Message) -> tuple[Message, vobject.base.Component]:
    [part] = [p for p in message.walk() if p.get_content_type() == "text/calendar"]
    return part, vobject.readOne(part.get_payload(decode=True).decode(), validate=True)


async def queue_invite(conn: asyncpg.Connection, site: SiteFacts, appointment_id: int) -> int:
    appointment = await appointments.get(conn, appointment_id)
    token = await conn.fetchval("SELECT link_token FROM requests WHERE id = $1", appointment.request_id)
    await notices.invite_email(conn, site_email_enabled=True, client_email="client@example.org",
                               appointment=appointment, language="de", link_token=token)
    return await conn.fetchval("SELECT id FROM outbox WHERE channel = 'email' ORDER BY id DESC LIMIT 1")


async def test_invite_mail_request_then_cancel(pool: asyncpg.Pool, conn: asyncpg.Connection, site: SiteFacts,
                                               smtp: tuple[Inbox, int], senders: Senders) -> None:
    inbox, port = smtp
    await conn.execute("UPDATE sites SET email_enabled = true WHERE id = $1", site.site_id)
    mailer = Senders(sms=senders.sms, email=SmtpEmail(host="127.0.0.1", port=port, sender="termine@jc.example"))
    appointment_id = await factories.create_appointment(conn, site, start=START)
    first = await queue_invite(conn, site, appointment_id)
    assert (await dispatch_due(pool, mailer, now=later())).sent == 1
    assert (await row(conn, first)).status is OutboxStatus.sent
    [(sender, recipients, message)] = inbox.messages
    assert sender == "termine@jc.example" and recipients == ["client@example.org"]
    part, cal = calendar_part(message)
    assert part.get_param("method") == "REQUEST"
    assert cal.method.value == "REQUEST" and int(cal.vevent.sequence.value) == 0
    assert cal.vevent.dtstart.value.astimezone(UTC) == START
    assert "mailto:client@example.org" in cal.vevent.attendee.value.lower()

    await conn.execute("UPDATE appointments SET status = 'cancelled', sequence = 1, updated_at = now() "
                       "WHERE id = $1", appointment_id)
    await queue_invite(conn, site, appointment_id)
    assert (await dispatch_due(pool, mailer, now=later() + timedelta(minutes=1))).sent == 1
    part, cal = calendar_part(inbox.messages[1][2])
    assert part.get_param("method") == "CANCEL"
    assert cal.method.value == "CANCEL" and int(cal.vevent.sequence.value) == 1


async def test_site_without_email_fails_visibly(pool: asyncpg.Pool, conn: asyncpg.Connection, site: SiteFacts,
                                                smtp: tuple[Inbox, int], senders: Senders) -> None:
    inbox, port = smtp
    mailer = Senders(sms=senders.sms, email=SmtpEmail(host="127.0.0.1", port=port, sender="termine@jc.example"))
    appointment_id = await factories.create_appointment(conn, site, start=START)
    outbox_id = await queue_invite(conn, site, appointment_id)
    await dispatch_due(pool, mailer, now=later())
    message = await row(conn, outbox_id)
    assert message.status is OutboxStatus.failed and message.error_code == "email-disabled"
    assert not inbox.messages
