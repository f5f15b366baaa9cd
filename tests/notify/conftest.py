"""Fixtures for the notification tests: the fake Twilio, an app wired to it, outbox helpers."""

from __future__ import annotations

import dataclasses
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime, time

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from scheduler import outbox
from scheduler.app import create_app
from scheduler.config import Config
from scheduler.notify.dispatch import Senders, Settings
from scheduler.notify.sms import TwilioSms
from tests import factories
from tests.factories import SiteFacts
from tests.fakes.twilio_server import FakeTwilio, running_fake_twilio

SID = "AC" + "3c" * 16
TOKEN = "notify-test-token-0123456789abcdef"
FROM = "+4930123456789"
# 11:00 in Berlin (CET): outside quiet hours.
NOW = datetime(2026, 3, 3, 10, 0, tzinfo=UTC)


def by_night_too(settings: Settings) -> Settings:
    """The dispatcher's settings with quiet hours switched off (equal start and end): for a test that sends at the
    real time and checks something of the real day, whatever the hour it runs at."""
    return dataclasses.replace(settings, quiet_start=time(0), quiet_end=time(0))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
async def fake() -> AsyncIterator[FakeTwilio]:
    async with running_fake_twilio(SID, TOKEN) as fake:
        yield fake


@pytest.fixture
async def sender(fake: FakeTwilio) -> AsyncIterator[TwilioSms]:
    sms = TwilioSms(SID, TOKEN, FROM, api_base=fake.base_url, timeout=2)
    yield sms
    await sms.close()


@pytest.fixture
def app_port() -> int:
    return free_port()


@pytest.fixture
def senders(sender: TwilioSms, app_port: int) -> Senders:
    return Senders(sms=sender, settings=Settings(
        status_callback_url=f"http://127.0.0.1:{app_port}/webhooks/twilio/status"))


@pytest.fixture
def twilio_config(config: Config, fake: FakeTwilio, app_port: int) -> Config:
    """The test config with Twilio pointed at the fake and a public URL the fake can reach."""
    sms = dataclasses.replace(config.sms, provider="twilio", twilio=dataclasses.replace(
        config.sms.twilio, account_sid=SID, auth_token=TOKEN, from_number=FROM, api_base=fake.base_url))
    server = dataclasses.replace(config.server, public_base_url=f"http://127.0.0.1:{app_port}")
    return dataclasses.replace(config, sms=sms, server=server)


@pytest.fixture
async def twilio_client(aiohttp_client, twilio_config: Config, pool: asyncpg.Pool,  # type: ignore[no-untyped-def]
                        app_port: int) -> TestClient:
    return await aiohttp_client(create_app(twilio_config), server_kwargs={"port": app_port})


async def request_facts(conn: asyncpg.Connection, request_id: int) -> asyncpg.Record:
    return await conn.fetchrow(
        "SELECT r.reference, r.link_token, c.phone, c.language FROM requests r JOIN clients c ON c.id = r.client_id "
        "WHERE r.id = $1", request_id)


async def queue_received(conn: asyncpg.Connection, site: SiteFacts, *, phone: str | None = None,
                         language: str = "de", due_at: datetime = NOW, key: str | None = None) -> int:
    """A new request with its 'we have your request' SMS queued; returns the outbox id."""
    client_id = await factories.create_client(conn, site, phone=phone, language=language)
    request_id = await factories.create_request(conn, site, client_id=client_id)
    facts = await request_facts(conn, request_id)
    outbox_id = await outbox.enqueue(
        conn, site_id=site.site_id, key=key or f"request:{request_id}:received", channel="sms",
        kind="sms.request_received", recipient=facts["phone"], language=language,
        payload={"reference": facts["reference"], "token": facts["link_token"]}, due_at=due_at,
        request_id=request_id)
    assert outbox_id is not None
    return outbox_id


async def queue_for_appointment(conn: asyncpg.Connection, site: SiteFacts, appointment_id: int, *,
                                kind: str = "sms.appointment_confirmed", due_at: datetime = NOW,
                                language: str | None = None) -> int:
    row = await conn.fetchrow(
        "SELECT a.request_id, r.link_token, c.phone, c.language FROM appointments a "
        "JOIN requests r ON r.id = a.request_id JOIN clients c ON c.id = a.client_id WHERE a.id = $1", appointment_id)
    outbox_id = await outbox.enqueue(
        conn, site_id=site.site_id, key=f"appointment:{appointment_id}:{kind}:{due_at.isoformat()}", channel="sms",
        kind=kind, recipient=row["phone"], language=language or row["language"],
        payload={"appointment_id": appointment_id, "token": row["link_token"]}, due_at=due_at,
        request_id=row["request_id"], appointment_id=appointment_id)
    assert outbox_id is not None
    return outbox_id


async def row(conn: asyncpg.Connection, outbox_id: int) -> outbox.Message:
    message = await outbox.get(conn, outbox_id)
    assert message is not None
    return message
