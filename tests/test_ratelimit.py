"""Public endpoints are rate limited per address, per phone number and globally; proxies are trusted
only when configured."""

from __future__ import annotations

import dataclasses

from aiohttp.test_utils import TestClient

from scheduler.app import create_app
from scheduler.config import Config
from tests.api.helpers import appointment_body


async def _client(aiohttp_client, config: Config, **security: str) -> TestClient:  # type: ignore[no-untyped-def]
    config = dataclasses.replace(config, security=dataclasses.replace(config.security, **security))
    return await aiohttp_client(create_app(config))


async def test_lookups_are_limited_with_identical_answers(aiohttp_client, config: Config, pool) -> None:  # type: ignore[no-untyped-def]
    client = await _client(aiohttp_client, config, lookup_rate_limit="3/minute")
    answers = [await client.get("/api/public/" + "A" * 40 + str(i)) for i in range(4)]
    assert [r.status for r in answers] == [404, 404, 404, 429]
    bodies = [{k: v for k, v in (await r.json()).items() if k != "request_id"} for r in answers[:3]]
    assert bodies[0] == bodies[1] == bodies[2]
    assert int(answers[3].headers["Retry-After"]) >= 1


async def test_submissions_per_phone_number(aiohttp_client, config: Config, pool) -> None:  # type: ignore[no-untyped-def]
    client = await _client(aiohttp_client, config, public_rate_limit="100/minute")
    body = appointment_body(phone="+4915199887766")
    statuses = [(await client.post("/api/requests", json=body)).status for _ in range(11)]
    assert statuses[:10] == [201] * 10 and statuses[10] == 429


async def test_spoofed_forwarded_for_is_ignored_unless_from_a_trusted_proxy(aiohttp_client, config: Config,
                                                                           pool) -> None:  # type: ignore[no-untyped-def]
    client = await _client(aiohttp_client, config, lookup_rate_limit="2/minute")
    url = "/api/public/" + "B" * 40
    for n in range(2):
        await client.get(url, headers={"X-Forwarded-For": f"10.0.0.{n}"})
    assert (await client.get(url, headers={"X-Forwarded-For": "10.0.0.9"})).status == 429

    trusting = dataclasses.replace(config, server=dataclasses.replace(config.server, trusted_proxies=("127.0.0.1/32",)))
    client = await _client(aiohttp_client, trusting, lookup_rate_limit="2/minute")
    for n in range(3):
        assert (await client.get(url, headers={"X-Forwarded-For": f"10.0.0.{n}"})).status == 404


async def test_a_limited_client_page_is_a_page_in_the_clients_language(aiohttp_client, config: Config,
                                                                       pool) -> None:  # type: ignore[no-untyped-def]
    client = await _client(aiohttp_client, config, lookup_rate_limit="1/minute")
    browser = {"Accept": "text/html,application/xhtml+xml"}
    await client.get("/r/" + "C" * 40 + "?lang=uk", headers=browser)
    r = await client.get("/r/" + "C" * 40 + "?lang=uk", headers=browser)
    assert r.status == 429 and r.content_type == "text/html" and r.headers["Retry-After"]
    page = await r.text()
    assert 'lang="uk"' in page and "спробуйте" in page


async def test_a_kiosk_is_counted_per_device(aiohttp_client, config: Config, pool) -> None:  # type: ignore[no-untyped-def]
    client = await _client(aiohttp_client, config, lookup_rate_limit="1/minute", kiosk_rate_limit="3/minute")
    statuses = [(await client.get("/kiosk/api/config", headers={"X-Kiosk-Token": "demo-kiosk-foyer-1"})).status
                for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    assert (await client.get("/kiosk/api/config", headers={"X-Kiosk-Token": "demo-kiosk-foyer-2"})).status == 200
