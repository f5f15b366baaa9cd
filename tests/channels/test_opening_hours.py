"""An office's opening hours: on the start page of its host, and in the phone greeting after the language choice."""

from __future__ import annotations

import secrets
import xml.etree.ElementTree as ET

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from scheduler import opening_hours_text, site_addresses
from scheduler.config import Config
from tests.channels.twilio_calls import BASE_URL, signed_config, signed_headers
from tests.two_sites import second_site

HOST_B, NUMBER_B = "termine.nordstadt.example", "+493012345600"
HOURS_B = {"mon-fri": "08:30-12:00", "thu": "14:00-18:00, 18:30-19:00"}


@pytest.fixture
def config(base_config: Config) -> Config:
    return signed_config(base_config)


@pytest.fixture
async def site_b(pool: asyncpg.Pool) -> int:
    b = await second_site(pool)
    async with pool.acquire() as conn:
        await site_addresses.set_hosts(conn, b.site_id, [HOST_B])
        await site_addresses.set_phone_numbers(conn, b.site_id, [NUMBER_B])
        await conn.execute("UPDATE sites SET opening_hours = $2::jsonb, address = 'Nordring 1, 44135 Dortmund' "
                           "WHERE id = $1", b.site_id, HOURS_B)
    return b.site_id


def test_hours_read_in_every_language_in_week_order() -> None:
    hours = {"thu": "14:00-17:00", "mon-fri": "08:00-12:30"}
    assert opening_hours_text.lines(hours, "de") == [("Montag bis Freitag", "08:00 bis 12:30 Uhr"),
                                                     ("Donnerstag", "14:00 bis 17:00 Uhr")]
    assert opening_hours_text.sentence(hours, "en") == \
        "Our opening hours: Monday to Friday 08:00 to 12:30; Thursday 14:00 to 17:00."
    assert "الخميس" in (opening_hours_text.sentence(hours, "ar") or "")  # day names from the locale data
    assert opening_hours_text.sentence({}, "de") is None


async def test_the_start_page_names_the_hosts_office_and_its_hours(client: TestClient, site_b: int) -> None:
    html = await (await client.get("/?lang=de", headers={"Host": HOST_B})).text()
    assert "Jobcenter Nordstadt" in html and "Nordring 1, 44135 Dortmund" in html
    assert "<dt>Montag bis Freitag</dt><dd>08:30 bis 12:00 Uhr</dd>" in html
    assert "<dt>Donnerstag</dt><dd>14:00 bis 18:00 Uhr, 18:30 bis 19:00 Uhr</dd>" in html
    default = await (await client.get("/?lang=en")).text()  # an unknown host: the default office's own hours
    assert "Jobcenter Nordstadt" not in default and "<dt>Monday to Friday</dt><dd>08:00 to 12:30</dd>" in default


async def test_the_phone_greeting_tells_the_called_offices_hours_in_the_callers_language(
        client: TestClient, site_b: int) -> None:
    sid, caller = "CA" + secrets.token_hex(16), f"+49151{secrets.randbelow(10**8):08d}"
    url = f"{BASE_URL}/webhooks/twilio/voice"
    params = {"CallSid": sid, "From": caller, "To": NUMBER_B}
    menu = await client.post("/webhooks/twilio/voice", data=params, headers=signed_headers(url, params))
    action = ET.fromstring(await menu.text()).find("Gather").attrib["action"]  # type: ignore[union-attr]
    params = {**params, "Digits": "2"}  # English
    response = await client.post(action.removeprefix(BASE_URL), data=params, headers=signed_headers(action, params))
    spoken = [say.text for say in ET.fromstring(await response.text()).iter("Say")]
    assert spoken[0] == ("Our opening hours: Monday to Friday 08:30 to 12:00; "
                         "Thursday 14:00 to 18:00, 18:30 to 19:00.")
    assert spoken[1] == "What is it about?"
