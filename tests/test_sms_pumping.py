"""SMS pumping (issue 13, item 6): only allowed countries, a daily budget per site, nothing without consent.

An attacker who can make the service send SMS to premium numbers abroad, or simply very many SMS, costs
the office money. Intake refuses numbers of countries the office does not serve, the dispatcher holds a
site's SMS back once its daily budget is used (they wait for the next day, they are not lost) and tells
the admins at 80 %, and an anonymous request without consent sends nothing.
"""

from __future__ import annotations

import dataclasses
import html
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from scheduler import outbox
from scheduler.app import create_app
from scheduler.config import Config
from scheduler.i18n import translate
from scheduler.notify import budget, dispatch
from scheduler.notify.dispatch import Senders, Settings, dispatch_due
from scheduler.notify.sms import SendResult
from scheduler.outbox import OutboxStatus
from scheduler.staff.request_pages import DELIVERY_PROBLEMS
from tests.factories import SiteFacts
from tests.notify.conftest import NOW, by_night_too, queue_received
from tests.staff.helpers import sign_in

BERLIN = ZoneInfo("Europe/Berlin")
COUNTRY_ERROR = "Phone numbers from this country cannot be used here. Please enter another number."


class RecordingSms:
    """An SMS provider that accepts everything and remembers it."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    async def send(self, *, to: str, body: str, status_callback: str | None, idempotency_key: str) -> SendResult:
        self.sent.append(to)
        return SendResult(provider_id=f"SM{len(self.sent):032d}", status="queued", segments=1)

    async def close(self) -> None:
        return None


def _senders(sms: RecordingSms, *, budget_per_day: int = 2000, countries: tuple[str, ...] = ("DE",)) -> Senders:
    return Senders(sms=sms, settings=Settings(daily_budget=budget_per_day, allowed_countries=countries))


# -- countries ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("phone", ["+44 7911 123456", "00447911123456", "+33 6 12 34 56 78"])
async def test_a_foreign_number_is_refused_at_intake(client: TestClient, conn: asyncpg.Connection,
                                                     phone: str) -> None:
    body = {"concern": "general", "phone": phone, "language": "en", "sms_consent": True}
    response = await client.post("/api/requests", json=body)
    assert response.status == 422
    assert (await response.json())["fields"]["phone"] in {translate(lang, COUNTRY_ERROR) for lang in ("de", "en")}
    assert await conn.fetchval("SELECT count(*) FROM outbox WHERE recipient LIKE '+44%' OR recipient LIKE '+33%'") == 0


async def test_the_country_error_is_in_the_clients_language(client: TestClient) -> None:
    body = {"concern": "general", "phone": "+44 7911 123456", "language": "ru"}
    response = await client.post("/kiosk/api/requests?lang=ru", json=body,
                                 headers={"X-Kiosk-Token": "demo-kiosk-foyer-1"})
    assert response.status == 422
    assert (await response.json())["fields"] == {"phone": translate("ru", COUNTRY_ERROR)}
    assert translate("ru", COUNTRY_ERROR) != COUNTRY_ERROR


async def test_an_office_can_allow_more_countries(aiohttp_client, config: Config, pool: asyncpg.Pool) -> None:  # type: ignore[no-untyped-def]
    wider = dataclasses.replace(config, sms=dataclasses.replace(config.sms, allowed_countries=("DE", "AT")))
    client = await aiohttp_client(create_app(wider))
    body = {"concern": "general", "phone": "+43 664 1234567", "language": "de", "sms_consent": True}
    assert (await client.post("/api/requests", json=body)).status == 201
    body["phone"] = "+44 7911 123456"
    assert (await client.post("/api/requests", json=body)).status == 422


async def test_the_dispatcher_sends_nothing_abroad(pool: asyncpg.Pool, conn: asyncpg.Connection,
                                                   site: SiteFacts) -> None:
    # A row that got into the outbox some other way (staff, an old row) still does not go abroad.
    outbox_id = await queue_received(conn, site, phone="+447911123456")
    sms = RecordingSms()
    stats = await dispatch_due(pool, _senders(sms), now=NOW)
    assert sms.sent == [] and stats.cancelled == 1
    row = await outbox.get(conn, outbox_id)
    assert row is not None and row.status is OutboxStatus.cancelled and row.error_code == "country-not-allowed"


# -- daily budget ------------------------------------------------------------------------------------------

async def test_the_budget_holds_sms_back_until_the_next_day(pool: asyncpg.Pool, conn: asyncpg.Connection,
                                                            site: SiteFacts) -> None:
    ids = [await queue_received(conn, site) for _ in range(7)]
    sms = RecordingSms()
    senders = _senders(sms, budget_per_day=5)
    stats = await dispatch_due(pool, senders, now=NOW)
    assert len(sms.sent) == 5 and stats.sent == 5 and stats.deferred == 2
    tomorrow = datetime(2026, 3, 4, tzinfo=BERLIN)
    waiting = [m for m in [await outbox.get(conn, i) for i in ids] if m and m.status is OutboxStatus.pending]
    assert len(waiting) == 2
    for message in waiting:
        assert message.error_code == "sms-budget" and message.attempts == 0
        assert message.error_code in DELIVERY_PROBLEMS  # staff see why it waits, in their language
        assert message.due_at >= tomorrow.astimezone(UTC)
    # Later the same day nothing more goes out, whatever is queued.
    await queue_received(conn, site, due_at=NOW + timedelta(hours=2))
    assert (await dispatch_due(pool, senders, now=NOW + timedelta(hours=3))).sent == 0
    assert len(sms.sent) == 5
    # The next morning the waiting messages go out.
    next_morning = datetime(2026, 3, 4, 9, 0, tzinfo=BERLIN).astimezone(UTC)
    assert (await dispatch_due(pool, senders, now=next_morning)).sent == 3
    assert len(sms.sent) == 8


async def test_admins_are_told_once_at_80_percent(pool: asyncpg.Pool, conn: asyncpg.Connection,
                                                  site: SiteFacts) -> None:
    sms = RecordingSms()
    senders = _senders(sms, budget_per_day=10)
    for _ in range(7):
        await queue_received(conn, site)
    await dispatch_due(pool, senders, now=NOW)
    today = await budget.today(conn, site_id=site.site_id, timezone="Europe/Berlin", now=NOW)
    assert today is not None and today.used == 7 and today.warned_at is None
    for _ in range(3):
        await queue_received(conn, site)
    await dispatch_due(pool, senders, now=NOW)
    await queue_received(conn, site)
    await dispatch_due(pool, senders, now=NOW)
    today = await budget.today(conn, site_id=site.site_id, timezone="Europe/Berlin", now=NOW)
    assert today is not None and today.used == 10 and today.warned_at is not None and today.exhausted_at is not None
    alerts = await conn.fetch("SELECT details FROM audit_events WHERE action = 'sms-budget-warning'")
    assert len(alerts) == 1 and alerts[0]["details"]["day"] == "2026-03-03"


async def test_the_admin_dashboard_shows_the_alert(client: TestClient, pool: asyncpg.Pool, conn: asyncpg.Connection,
                                                   site: SiteFacts) -> None:
    now = datetime.now(UTC)
    for _ in range(4):
        await queue_received(conn, site, due_at=now)
    # Sent at the real time, by night too: the dashboard counts the real day's budget.
    senders = _senders(RecordingSms(), budget_per_day=5)
    senders.settings = by_night_too(senders.settings)
    await dispatch_due(pool, senders, now=now)
    await sign_in(client, "admin")
    page = html.unescape(await (await client.get("/staff/dashboard?lang=en")).text())
    assert "4 of 5 SMS of today's budget are used." in page
    await client.post("/staff/sign-out", data={})


def test_a_budget_must_be_positive() -> None:
    with pytest.raises(ValueError):
        budget.warn_at(0)
    assert budget.warn_at(2000) == 1600 and budget.warn_at(5) == 4 and budget.warn_at(1) == 1


# -- consent -----------------------------------------------------------------------------------------------

async def test_an_anonymous_request_without_consent_sends_nothing(client: TestClient, pool: asyncpg.Pool,
                                                                  conn: asyncpg.Connection) -> None:
    phone = "+4915199887766"
    body = {"concern": "general", "phone": "0151 99887766", "language": "de", "sms_consent": False}
    assert (await client.post("/api/requests", json=body)).status == 201
    form = {"concern": "general", "phone": "0151 99887766", "modes": "in_person"}
    await client.post("/request?lang=de", data=form)
    sms = RecordingSms()
    await dispatch_due(pool, _senders(sms), now=datetime.now(UTC) + timedelta(minutes=1))
    assert phone not in sms.sent
    pending = await conn.fetchval("SELECT count(*) FROM outbox WHERE recipient = $1 AND status = 'pending'", phone)
    assert pending == 0


def test_settings_come_from_the_configuration(config: Config) -> None:
    settings = dispatch.settings_from(dataclasses.replace(
        config, sms=dataclasses.replace(config.sms, daily_budget_per_site=123, allowed_countries=("DE", "PL"))))
    assert settings.daily_budget == 123 and settings.allowed_countries == ("DE", "PL")


def test_the_default_configuration_allows_germany_only(config: Config) -> None:
    assert config.sms.allowed_countries == ("DE",) and config.sms.daily_budget_per_site == 2000
    assert isinstance(create_app(config), web.Application)
