"""A request finds its office: by host name, by path prefix and its cookie, by the called Twilio number (issue 18)."""

from __future__ import annotations

import dataclasses
import re
import secrets
import xml.etree.ElementTree as ET

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from scheduler import site_addresses
from scheduler.app import create_app
from scheduler.config import Config, SitesConfig
from scheduler.i18n import translate
from tests.channels.twilio_calls import BASE_URL, signed_config, signed_headers
from tests.factories import SiteFacts, load_site_facts
from tests.two_sites import SECOND_SITE, second_site

HOST_A, HOST_B = "termine.musterstadt.example", "termine.nordstadt.example"
NUMBER_A, NUMBER_B = "+495111234500", "+493012345600"
URL_B = f"https://{HOST_B}"  # site B's own public URL


@pytest.fixture
def config(base_config: Config) -> Config:
    return signed_config(base_config)


@dataclasses.dataclass
class Two:
    a: SiteFacts
    b: SiteFacts


@pytest.fixture
async def two(pool: asyncpg.Pool) -> Two:
    b = await second_site(pool)
    async with pool.acquire() as conn:
        a = await load_site_facts(conn)
        await site_addresses.set_hosts(conn, a.site_id, [HOST_A])
        await site_addresses.set_hosts(conn, b.site_id, [HOST_B])
        await site_addresses.set_phone_numbers(conn, a.site_id, [NUMBER_A])
        await site_addresses.set_phone_numbers(conn, b.site_id, [NUMBER_B])
        await conn.execute("UPDATE sites SET public_base_url = $2 WHERE id = $1", b.site_id, URL_B)
    return Two(a, b)


def _form() -> dict[str, str]:
    return {"concern": "general", "phone": f"0151 {secrets.randbelow(10**8):08d}", "sms_consent": "yes",
            "modes": "in_person", "weekdays": "1", "parts": "morning", "idempotency_key": secrets.token_urlsafe(12)}


async def _submit_form(client: TestClient, **headers: str) -> str:
    """Post the appointment form; the link token of the stored request."""
    response = await client.post("/request?lang=de", data=_form(), headers=headers, allow_redirects=False)
    assert response.status == 303, await response.text()
    found = re.fullmatch(r"/r/([A-Za-z0-9_\-]{20,64})/thanks\?lang=de", response.headers["Location"])
    assert found
    return found[1]


async def _site_of(conn: asyncpg.Connection, token: str) -> int:
    site_id: int = await conn.fetchval("SELECT site_id FROM requests WHERE link_token = $1", token)
    return site_id


async def test_the_form_on_each_host_writes_a_request_of_that_office(client: TestClient, conn: asyncpg.Connection,
                                                                      two: Two) -> None:
    assert await _site_of(conn, await _submit_form(client, Host=HOST_A)) == two.a.site_id
    assert await _site_of(conn, await _submit_form(client, Host=HOST_B)) == two.b.site_id
    # The host name as browsers may send it: upper case, with the port.
    assert await _site_of(conn, await _submit_form(client, Host=HOST_B.upper() + ":443")) == two.b.site_id


async def test_an_unknown_host_is_the_default_office(client: TestClient, conn: asyncpg.Connection, two: Two) -> None:
    assert await _site_of(conn, await _submit_form(client, Host="localhost:8080")) == two.a.site_id


async def test_the_form_lists_the_concerns_of_the_hosts_office(client: TestClient, conn: asyncpg.Connection,
                                                               two: Two) -> None:
    # "eviction" is one of Musterstadt's concerns only.
    assert 'value="eviction"' in await (await client.get("/request", headers={"Host": HOST_A})).text()
    assert 'value="eviction"' not in await (await client.get("/request", headers={"Host": HOST_B})).text()


async def test_a_status_link_of_another_office_is_not_found_on_its_host(client: TestClient, conn: asyncpg.Connection,
                                                                        two: Two) -> None:
    token = await _submit_form(client, Host=HOST_A)
    assert (await client.get(f"/r/{token}", headers={"Host": HOST_A})).status == 200
    assert (await client.get(f"/r/{token}", headers={"Host": HOST_B, "Accept": "text/html"})).status == 404
    assert (await client.get(f"/api/public/{token}", headers={"Host": HOST_B})).status == 404
    response = await client.post(f"/r/{token}/cancel", data={"really": "yes"}, headers={"Host": HOST_B},
                                 allow_redirects=False)
    assert response.status == 404
    assert await conn.fetchval("SELECT status FROM requests WHERE link_token = $1", token) in ("received", "proposed")
    # Old SMS of one-office installations carry the deployment's URL: an unknown host still opens every link.
    assert (await client.get(f"/r/{token}", headers={"Host": "localhost"})).status == 200


async def test_the_api_refuses_a_site_other_than_the_hosts(client: TestClient, conn: asyncpg.Connection,
                                                           two: Two) -> None:
    body = {"concern": "general", "phone": f"0151 {secrets.randbelow(10**8):08d}", "language": "de",
            "modes": ["in_person"], "windows": {}, "sms_consent": True, "site": "musterstadt"}
    before = await conn.fetchval("SELECT count(*) FROM requests")
    response = await client.post("/api/requests", json=body, headers={"Host": HOST_B, "Accept-Language": "uk"})
    assert response.status == 422
    message = (await response.json())["fields"]["site"]
    assert message == translate("uk", "This address belongs to another office. Please leave out “site” or use "
                                      "that office's address.") and "site" in message and "office" not in message
    assert await conn.fetchval("SELECT count(*) FROM requests") == before
    body["site"] = SECOND_SITE
    response = await client.post("/api/requests", json=body, headers={"Host": HOST_B})
    assert response.status == 201, await response.text()
    answer = await response.json()
    assert await _site_of(conn, answer["token"]) == two.b.site_id
    assert answer["status_url"].startswith(URL_B + "/r/")
    del body["site"]
    body["phone"] = f"0151 {secrets.randbelow(10**8):08d}"
    response = await client.post("/api/requests", json=body, headers={"Host": HOST_A})
    assert response.status == 201 and await _site_of(conn, (await response.json())["token"]) == two.a.site_id


@pytest.fixture
def path_config(config: Config) -> Config:
    return dataclasses.replace(config, sites=SitesConfig(choose_by="path"))


async def test_a_path_prefix_remembers_the_office_in_a_cookie(aiohttp_client, path_config: Config,  # type: ignore[no-untyped-def]
                                                              conn: asyncpg.Connection, two: Two) -> None:
    client: TestClient = await aiohttp_client(create_app(path_config))
    response = await client.get(f"/s/{SECOND_SITE}/request?lang=en", allow_redirects=False)
    assert response.status == 303 and response.headers["Location"] == "/request?lang=en"
    cookie = response.cookies["site"]
    assert cookie.value == SECOND_SITE and cookie["httponly"] and cookie["samesite"] == "Lax"
    # A form posted to the prefix keeps its method and body (307).
    posted = await client.post(f"/s/{SECOND_SITE}/request", data=_form(), allow_redirects=False)
    assert posted.status == 307 and posted.headers["Location"] == "/request"
    client.session.cookie_jar.clear()
    token = await _submit_form(client, Cookie=f"site={SECOND_SITE}")
    assert await _site_of(conn, token) == two.b.site_id
    assert await _site_of(conn, await _submit_form(client)) == two.a.site_id  # no cookie, unknown host: default
    assert (await client.get("/s/nowhere/", allow_redirects=False)).status == 404
    sneaky = await client.get(f"/s/{SECOND_SITE}//evil.example/x", allow_redirects=False)
    assert sneaky.headers["Location"] == "/evil.example/x"  # never a protocol-relative link to another server
    client.session.cookie_jar.clear()
    # The cookie chooses explicitly: a link of the other office is not found with it.
    assert (await client.get(f"/r/{token}", headers={"Cookie": "site=musterstadt"})).status == 404


async def test_host_mode_ignores_the_prefix_and_the_cookie(client: TestClient, conn: asyncpg.Connection,
                                                          two: Two) -> None:
    assert (await client.get(f"/s/{SECOND_SITE}/", allow_redirects=False)).status == 404
    assert await _site_of(conn, await _submit_form(client, Cookie=f"site={SECOND_SITE}")) == two.a.site_id


async def test_an_sms_to_site_bs_number_makes_a_request_of_site_b(client: TestClient, conn: asyncpg.Connection,
                                                                  two: Two) -> None:
    sender = f"+49151{secrets.randbelow(10**8):08d}"
    params = {"MessageSid": "SM" + secrets.token_hex(16), "From": sender, "To": NUMBER_B, "Body": "Termin"}
    response = await client.post("/webhooks/twilio/sms", data=params,
                                 headers=signed_headers(f"{BASE_URL}/webhooks/twilio/sms", params))
    assert response.status == 200, await response.text()
    rows = await conn.fetch("SELECT r.site_id FROM requests r JOIN clients c ON c.id = r.client_id "
                            "WHERE c.phone = $1", sender)
    assert [r["site_id"] for r in rows] == [two.b.site_id]


async def test_webhook_signatures_are_checked_against_the_called_offices_url(client: TestClient, two: Two) -> None:
    params = {"CallSid": "CA" + secrets.token_hex(16), "From": "+4915123456799", "To": NUMBER_B}
    headers = signed_headers(f"{URL_B}/webhooks/twilio/voice", params)
    assert (await client.post("/webhooks/twilio/voice", data=params, headers=headers)).status == 200
    # The same signature for a call to site A's number: site A has no URL of its own, so it is refused.
    other = {**params, "To": NUMBER_A}
    assert (await client.post("/webhooks/twilio/voice", data=other,
                              headers=signed_headers(f"{URL_B}/webhooks/twilio/voice", other))).status == 403


async def test_a_call_to_site_bs_number_leaves_a_callback_of_site_b(client: TestClient, conn: asyncpg.Connection,
                                                                    two: Two) -> None:
    sid, caller = "CA" + secrets.token_hex(16), f"+49151{secrets.randbelow(10**8):08d}"
    url = f"{BASE_URL}/webhooks/twilio/voice"
    for digits in (None, "2", "1", "2", "1", "1"):  # English, first concern, a callback, this number, morning
        while True:
            params = {"CallSid": sid, "From": caller, "To": NUMBER_B} | ({"Digits": digits} if digits else {})
            response = await client.post(url.removeprefix(BASE_URL), data=params, headers=signed_headers(url, params))
            assert response.status == 200, await response.text()
            root = ET.fromstring(await response.text())
            redirect = root.find("Redirect")
            if redirect is None:
                break
            url, digits = redirect.text or "", None
        gather = root.find("Gather")
        if gather is not None:
            url = gather.attrib["action"]
    assert await conn.fetchval("SELECT site_id FROM callbacks WHERE idempotency_key = $1", f"ivr-{sid}") \
        == two.b.site_id


async def test_a_kiosk_works_for_its_own_office_only(client: TestClient, two: Two) -> None:
    token = {"X-Kiosk-Token": "demo-kiosk-foyer-1"}  # a Musterstadt kiosk of the demo data
    mine = await client.get("/kiosk/api/config?lang=de", headers={**token, "Host": HOST_A})
    assert mine.status == 200 and (await mine.json())["site"] == "Jobcenter Musterstadt"
    assert (await client.get("/kiosk/api/config?lang=de", headers=token)).status == 200  # the deployment's host
    assert (await client.get("/kiosk/api/config?lang=de", headers={**token, "Host": HOST_B})).status == 401
