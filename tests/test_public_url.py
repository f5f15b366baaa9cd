"""One public URL: set the way the README says (SCHEDULER__SERVER__PUBLIC_BASE_URL), it is in every link a client
gets (SMS from web, API and kiosk intake, the invite's .ics, a letter, the kiosk receipt, the API answer), and
a site row's own URL wins over it (sites.public_url)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import asyncpg
from aiohttp.test_utils import TestClient
from twilio.request_validator import RequestValidator

from scheduler import sites
from scheduler.app import create_app
from scheduler.config import Config, load_config
from scheduler.notify import dispatch, letter_pdf
from scheduler.notify.sms import SendResult
from tests.api.helpers import appointment_body
from tests.factories import SiteFacts, create_appointment

URL = "https://termine.jobcenter-musterstadt.example"
KIOSK = {"X-Kiosk-Token": "demo-kiosk-foyer-1"}
NOW = datetime(2026, 3, 3, 10, 0, tzinfo=UTC)  # 11:00 in Berlin: outside quiet hours


class RecordingSms:
    """An SMS sender that keeps the bodies it was given."""

    name = "recording"

    def __init__(self) -> None:
        self.bodies: list[str] = []

    async def send(self, *, to: str, body: str, status_callback: str | None, idempotency_key: str) -> SendResult:
        self.bodies.append(body)
        return SendResult(provider_id=f"rec-{len(self.bodies)}", status="queued", segments=1)

    async def close(self) -> None:
        """Nothing to release: the bodies stay for the test to read."""


def configured(base: Config) -> Config:
    """The test config with the public URL set from the environment, as the README tells operators."""
    loaded = load_config(None, env={"SCHEDULER__SERVER__PUBLIC_BASE_URL": URL})
    assert loaded.server.public_base_url == URL
    return dataclasses.replace(base, server=loaded.server)


async def test_every_client_link_uses_the_configured_public_url(aiohttp_client, config: Config,  # type: ignore[no-untyped-def]
                                                                pool: asyncpg.Pool, conn: asyncpg.Connection,
                                                                site: SiteFacts) -> None:
    settings = configured(config)
    client: TestClient = await aiohttp_client(create_app(settings))
    assert await conn.fetchval("SELECT public_base_url FROM sites WHERE id = $1", site.site_id) == ""

    api = await client.post("/api/requests", json=appointment_body())
    assert api.status == 201, await api.text()
    assert (await api.json())["status_url"].startswith(f"{URL}/r/")

    kiosk = await client.post("/kiosk/api/requests", headers=KIOSK, json={
        "concern": "benefits_application", "phone": "0151 23456788", "language": "de", "sms_consent": True,
        "windows": {"weekdays": [0], "parts": ["morning"]}, "idempotency_key": "public-url-kiosk-1"})
    assert kiosk.status == 201, await kiosk.text()
    receipt = await kiosk.json()
    assert receipt["status_url"].startswith(f"{URL}/r/") and "localhost" not in receipt["qr_svg"]

    web = await client.post("/request?lang=de", allow_redirects=False, data={
        "concern": "documents", "phone": "0151 23456787", "weekdays": "1", "parts": "morning", "note": "",
        "sms_consent": "yes", "idempotency_key": "public-url-web-1"})
    assert web.status == 303, await web.text()

    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=3)
    appointment = await create_appointment(conn, site, start=start)
    token = await conn.fetchval("SELECT r.link_token FROM appointments a JOIN requests r ON r.id = a.request_id "
                                "WHERE a.id = $1", appointment)
    ics = await (await client.get(f"/r/{token}/invite.ics")).text()
    assert f"{URL}/r/{token}" in ics.replace("\r\n ", "")  # unfold the folded iCalendar lines
    assert "localhost" not in ics

    sms = RecordingSms()
    senders = dispatch.Senders(sms=sms, settings=dispatch.settings_from(settings))
    await conn.execute("UPDATE outbox SET due_at = $1 WHERE status = 'pending'", NOW)
    await dispatch.dispatch_due(pool, senders, now=NOW)
    linked = [body for body in sms.bodies if "/r/" in body]
    assert len(linked) >= 3, sms.bodies  # one receipt per intake: API, kiosk, web form
    assert all(f"{URL}/r/" in body for body in linked), linked
    assert not any("localhost:8080" in body for body in sms.bodies), sms.bodies

    site_row = await sites.site_by_id(conn, site.site_id)
    assert letter_pdf.status_url(sites.resolved(site_row, URL), "tok") == f"{URL}/r/tok"


async def test_a_site_with_its_own_url_uses_that(conn: asyncpg.Connection, site: SiteFacts) -> None:
    own = "https://termine.jobcenter-anderswo.example/"
    await conn.execute("UPDATE sites SET public_base_url = $2 WHERE id = $1", site.site_id, own)
    row = await sites.site_by_id(conn, site.site_id)
    assert sites.public_url(row, URL) == own.rstrip("/")
    assert await sites.public_url_by_code(conn, row.code, URL) == own.rstrip("/")
    await conn.execute("UPDATE sites SET public_base_url = '' WHERE id = $1", site.site_id)
    assert sites.public_url(await sites.site_by_id(conn, site.site_id), URL + "/") == URL


async def test_twilio_signatures_of_the_deployment_and_of_the_site_url_are_accepted(
        aiohttp_client, config: Config, pool: asyncpg.Pool, conn: asyncpg.Connection,  # type: ignore[no-untyped-def]
        site: SiteFacts) -> None:
    token = "public-url-test-token-0123456789"
    settings = configured(config)
    settings = dataclasses.replace(settings, sms=dataclasses.replace(
        settings.sms, twilio=dataclasses.replace(settings.sms.twilio, auth_token=token)))
    own = "https://termine.jobcenter-anderswo.example"
    await conn.execute("UPDATE sites SET public_base_url = $2 WHERE id = $1", site.site_id, own)
    client: TestClient = await aiohttp_client(create_app(settings))
    params = {"MessageSid": "SM" + "0" * 32, "MessageStatus": "delivered", "AccountSid": "AC123"}
    path = "/webhooks/twilio/status"
    for base, status in ((URL, 204), (own, 204), ("https://elsewhere.example", 403)):
        signature = RequestValidator(token).compute_signature(base + path, params)
        response = await client.post(path, data=params, headers={"X-Twilio-Signature": signature})
        assert response.status == status, base
