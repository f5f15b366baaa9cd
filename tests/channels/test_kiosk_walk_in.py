"""The kiosk's emergency walk-in: a callback request the policy allows as a walk-in gets a same-day ticket while
the office is open; otherwise it stays a callback request, as before."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from scheduler import walk_ins
from scheduler.i18n import LANGUAGES, translate
from tests.factories import SiteFacts

TOKEN = {"X-Kiosk-Token": "demo-kiosk-foyer-1"}


def _body(concern: str, phone: str = "+4915123450001") -> dict[str, object]:
    return {"concern": concern, "phone": phone, "language": "de", "sms_consent": False,
            "windows": {"weekdays": [], "parts": []}}


@pytest.fixture
def office_open(monkeypatch: pytest.MonkeyPatch) -> None:
    """The office is open for another two hours, whatever the clock says while the test runs."""
    async def open_until(conn: asyncpg.Connection, site: object, now: datetime) -> datetime:
        return now + timedelta(hours=2)
    monkeypatch.setattr(walk_ins, "open_until", open_until)


@pytest.fixture
def office_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    async def open_until(conn: asyncpg.Connection, site: object, now: datetime) -> None:
        return None
    monkeypatch.setattr(walk_ins, "open_until", open_until)


async def test_a_walk_in_allowed_callback_gets_a_ticket(client: TestClient, conn: asyncpg.Connection,
                                                        site: SiteFacts, office_open: None) -> None:
    first = await client.post("/kiosk/api/callbacks", json=_body("no_money"), headers=TOKEN)
    second = await client.post("/kiosk/api/callbacks", json=_body("no_money", "+4915123450002"), headers=TOKEN)
    assert first.status == second.status == 201
    one, two = await first.json(), await second.json()
    assert (one["walk_in"], two["walk_in"]) == ({"ticket": "N-001"}, {"ticket": "N-002"})
    row = await conn.fetchrow(
        "SELECT t.status, t.day, b.channel FROM walk_in_tickets t JOIN callbacks b ON b.id = t.callback_id "
        "WHERE b.reference = $1", one["reference"])
    assert (row["status"], row["channel"]) == ("waiting", "kiosk")
    assert row["day"] == datetime.now(UTC).astimezone(ZoneInfo("Europe/Berlin")).date()


async def test_the_same_request_sent_twice_keeps_its_ticket(client: TestClient, conn: asyncpg.Connection,
                                                            site: SiteFacts, office_open: None) -> None:
    body = {**_body("no_money"), "idempotency_key": "kiosk-walk-in-retry-1"}
    answers = [await (await client.post("/kiosk/api/callbacks", json=body, headers=TOKEN)).json() for _ in range(2)]
    assert answers[0]["walk_in"] == answers[1]["walk_in"] == {"ticket": "N-001"}
    assert answers[0]["reference"] == answers[1]["reference"]
    assert await conn.fetchval("SELECT count(*) FROM walk_in_tickets") == 1


async def test_without_the_policy_it_is_a_callback_as_today(client: TestClient, conn: asyncpg.Connection,
                                                            site: SiteFacts, office_open: None) -> None:
    response = await client.post("/kiosk/api/callbacks", json=_body("general"), headers=TOKEN)
    assert response.status == 201
    reply = await response.json()
    assert set(reply) == {"reference", "qr_svg", "status_url"}
    appointment = await client.post("/kiosk/api/requests", json={**_body("no_money"), "phone": "+4915123450003"},
                                    headers=TOKEN)
    assert appointment.status == 201 and "walk_in" not in await appointment.json()  # appointments stay as they are
    assert await conn.fetchval("SELECT status FROM callbacks WHERE reference = $1", reply["reference"]) == "open"
    assert await conn.fetchval("SELECT count(*) FROM walk_in_tickets") == 0


async def test_a_closed_office_takes_a_callback_request(client: TestClient, conn: asyncpg.Connection,
                                                        site: SiteFacts, office_closed: None) -> None:
    response = await client.post("/kiosk/api/callbacks", json=_body("no_money"), headers=TOKEN)
    assert response.status == 201
    reply = await response.json()
    assert "walk_in" not in reply
    assert await conn.fetchval("SELECT status FROM callbacks WHERE reference = $1", reply["reference"]) == "open"
    assert await conn.fetchval("SELECT count(*) FROM walk_in_tickets") == 0


async def test_the_ticket_screen_is_served_with_its_texts_in_every_language(client: TestClient) -> None:
    script = await client.get("/kiosk/walk_in.js")
    assert script.status == 200 and script.content_type == "text/javascript"
    assert "screenFor" in await script.text()
    page = await (await client.get("/kiosk/")).text()
    assert 'data-screen="walk-in"' in page and "/kiosk/walk_in.js" in page
    for lang in LANGUAGES:
        config = await (await client.get(f"/kiosk/api/config?lang={lang}", headers=TOKEN)).json()
        heading = config["texts"]["walk_in_heading"]
        assert heading == translate(lang, "Please wait here. Your number:")
        assert lang == "en" or heading != "Please wait here. Your number:", lang
