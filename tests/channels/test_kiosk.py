"""Kiosk JSON API: device token, revoked token, requests with receipt QR, check-in without personal data."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
from aiohttp.test_utils import TestClient

from scheduler.channels.kiosk import KIOSK_DIR
from scheduler.i18n import translate
from scheduler.seed import load_demo
from tests.factories import SiteFacts, create_appointment, create_client, create_request

TOKEN = {"X-Kiosk-Token": "demo-kiosk-foyer-1"}
CHECKED_IN = "You are checked in. Please take a seat. We will call you."
NOT_CHECKED_IN = "We could not check you in here. Please go to the reception desk."
SVG = "{http://www.w3.org/2000/svg}"
# Emoji and pictographic symbols, which kiosk machines without an emoji font show as empty boxes.
EMOJI = re.compile("[\U0001F000-\U0001FFFF\u2600-\u27BF\u2B00-\u2BFF\uFE0F]")


def pictogram_names(sprite: str) -> set[str]:
    """The icon names of the kiosk's SVG sprite (symbols with id icon-NAME), checked for their drawing rules."""
    names = set()
    for symbol in ET.fromstring(sprite).iter(f"{SVG}symbol"):
        assert symbol.get("viewBox") == "0 0 24 24" and symbol.get("stroke") == "currentColor", symbol.get("id")
        assert symbol.get("fill") == "none" and len(symbol) > 0, symbol.get("id")
        names.add(symbol.get("id", "").removeprefix("icon-"))
    return names


async def test_front_end_files_are_served(client: TestClient) -> None:
    files = (("/kiosk/", "text/html"), ("/kiosk/kiosk.js", "text/javascript"), ("/kiosk/kiosk.css", "text/css"),
             ("/kiosk/icons.svg", "image/svg+xml"))
    for path, kind in files:
        response = await client.get(path)
        assert response.status == 200 and response.content_type == kind


async def test_every_concern_icon_has_a_pictogram(client: TestClient) -> None:
    response = await client.get("/kiosk/icons.svg")
    names = pictogram_names(await response.text())
    demo_icons = {concern["icon"] for concern in load_demo()["concerns"]}
    assert {"money", "house", "form", "change", "document", "work", "briefcase", "computer", "school",
            "question"} <= demo_icons
    assert demo_icons <= names, demo_icons - names
    assert "fallback" in names  # for icon names the sprite does not know
    config = await (await client.get("/kiosk/api/config?lang=de", headers=TOKEN)).json()
    assert config["concerns"] and {c["icon"] for c in config["concerns"]} <= names


def test_kiosk_uses_its_pictograms_and_no_emoji() -> None:
    names = pictogram_names((KIOSK_DIR / "icons.svg").read_text(encoding="utf-8"))
    page = (KIOSK_DIR / "index.html").read_text(encoding="utf-8")
    used = set(re.findall(r'<use href="#icon-([a-z-]+)"', page))
    assert used and used <= names, used - names
    handler = Path(__file__).resolve().parents[2] / "scheduler" / "channels" / "kiosk.py"
    for path in (*sorted(KIOSK_DIR.iterdir()), handler):
        found = EMOJI.findall(path.read_text(encoding="utf-8"))
        assert not found, f"{path.name}: {found}"


async def test_config_needs_a_valid_token(client: TestClient) -> None:
    assert (await client.get("/kiosk/api/config")).status == 401
    response = await client.get("/kiosk/api/config?lang=de", headers={"X-Kiosk-Token": "wrong"})
    assert response.status == 401
    assert (await response.json())["message"] == translate(
        "de", "This kiosk is not set up or was switched off. Please ask at the reception.")


async def test_revoked_token_is_refused(client: TestClient, conn: asyncpg.Connection) -> None:
    await conn.execute("UPDATE kiosk_devices SET revoked_at = now() WHERE name = 'Foyer links'")
    assert (await client.get("/kiosk/api/config", headers=TOKEN)).status == 401
    assert (await client.post("/kiosk/api/check-in", json={"reference": "AAAA-BBBB"}, headers=TOKEN)).status == 401


async def test_config_in_the_chosen_language(client: TestClient, conn: asyncpg.Connection) -> None:
    response = await client.get("/kiosk/api/config?lang=ar", headers=TOKEN)
    body = await response.json()
    assert body["language"] == "ar" and body["dir"] == "rtl"
    names = {lang["code"]: lang["name"] for lang in body["languages"]}
    assert names["uk"] == "Українська" and names["de-simple"] == "Leichte Sprache" and names["fa"] == "فارسی"
    labels = {c["code"]: (c["label"], c["icon"]) for c in body["concerns"]}
    assert labels["no_money"] == ("لم يتبقَّ لدي مال", "money")
    assert body["texts"]["send"] == "إرسال" and len(body["weekdays"]) == 5
    assert await conn.fetchval("SELECT last_seen_at FROM kiosk_devices WHERE name = 'Foyer links'") is not None


async def test_request_at_the_kiosk_gives_reference_and_qr(client: TestClient, conn: asyncpg.Connection) -> None:
    body = {"concern": "benefits_application", "phone": "0151 23456788", "language": "uk", "sms_consent": True,
            "windows": {"weekdays": [0, 2], "parts": ["afternoon"]}, "idempotency_key": "kiosk-test-0001"}
    response = await client.post("/kiosk/api/requests", json=body, headers=TOKEN)
    assert response.status == 201
    reply = await response.json()
    assert set(reply) == {"reference", "qr_svg", "status_url"}
    assert reply["status_url"].startswith("http://localhost:8080/r/") and reply["status_url"].endswith("?lang=uk")
    assert ET.fromstring(reply["qr_svg"]).tag.endswith("svg")
    row = await conn.fetchrow("SELECT channel, language, windows FROM requests WHERE reference = $1",
                              reply["reference"])
    assert row["channel"] == "kiosk" and row["language"] == "uk"
    assert row["windows"] == {"weekdays": [0, 2], "parts": ["afternoon"]}


async def test_callback_at_the_kiosk(client: TestClient, conn: asyncpg.Connection) -> None:
    body = {"concern": "general", "phone": "030 1234567", "language": "tr", "windows": {}}
    response = await client.post("/kiosk/api/callbacks", json=body, headers=TOKEN)
    assert response.status == 201
    reference = (await response.json())["reference"]
    assert await conn.fetchval("SELECT channel FROM callbacks WHERE reference = $1", reference) == "kiosk"


async def test_field_errors_come_back_translated(client: TestClient) -> None:
    response = await client.post("/kiosk/api/requests?lang=ru", json={"concern": "general", "phone": "1",
                                                                        "language": "ru"}, headers=TOKEN)
    assert response.status == 422
    fields = (await response.json())["fields"]
    assert fields["phone"] == translate("ru", "This is not a phone number we can use.")


async def _today(conn: asyncpg.Connection, site: SiteFacts, *, phone: str, start: datetime) -> tuple[str, int]:
    client_id = await create_client(conn, site, phone=phone, name="Erika Mustermann")
    request_id = await create_request(conn, site, client_id=client_id, status="scheduled", staff="cw.meyer")
    await conn.execute("UPDATE requests SET reference = 'K7Q4-M2XD' WHERE id = $1", request_id)
    appointment_id = await create_appointment(conn, site, request_id=request_id, start=start)
    return "K7Q4-M2XD", appointment_id


async def test_check_in_by_reference(client: TestClient, conn: asyncpg.Connection, site: SiteFacts) -> None:
    reference, appointment_id = await _today(conn, site, phone="+4915100000001", start=datetime.now(UTC))
    response = await client.post("/kiosk/api/check-in", json={"reference": "k7q4 m2xd", "language": "en"},
                                 headers=TOKEN)
    body = await response.json()
    assert body == {"checked_in": True, "message": CHECKED_IN}
    assert "Erika" not in json.dumps(body)
    assert await conn.fetchval("SELECT arrived_at FROM appointments WHERE id = $1", appointment_id) is not None


async def test_check_in_by_phone_and_birth_date(client: TestClient, conn: asyncpg.Connection,
                                                site: SiteFacts) -> None:
    _, appointment_id = await _today(conn, site, phone="+4915100000002", start=datetime.now(UTC))
    await conn.execute("UPDATE clients SET birth_date = '1988-02-29' WHERE phone = '+4915100000002'")
    response = await client.post("/kiosk/api/check-in", json={"phone": "0151 00000002", "birth_date": "29.02.1988",
                                                              "language": "en"}, headers=TOKEN)
    assert (await response.json())["checked_in"] is True
    assert await conn.fetchval("SELECT arrived_at FROM appointments WHERE id = $1", appointment_id) is not None


async def test_check_in_answers_neutrally_when_nothing_matches(client: TestClient, conn: asyncpg.Connection,
                                                                site: SiteFacts) -> None:
    _, appointment_id = await _today(conn, site, phone="+4915100000003", start=datetime.now(UTC) + timedelta(days=2))
    await conn.execute("UPDATE clients SET birth_date = '1970-01-01' WHERE phone = '+4915100000003'")
    for entered in ({"reference": "K7Q4-M2XD"}, {"phone": "0151 00000003", "birth_date": "1970-01-01"},
                    {"phone": "0151 99999999", "birth_date": "1970-01-01"}, {"reference": "nonsense"}):
        response = await client.post("/kiosk/api/check-in", json={**entered, "language": "en"}, headers=TOKEN)
        assert response.status == 200
        assert await response.json() == {"checked_in": False, "message": NOT_CHECKED_IN}
    assert await conn.fetchval("SELECT arrived_at FROM appointments WHERE id = $1", appointment_id) is None
