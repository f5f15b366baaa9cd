"""The information sessions' client pages through the real app: the list, booking with field errors, the seat's
page and giving a seat back, "full" in the client's language with the next session, and 100 clients posting
for 20 seats at the same moment."""

from __future__ import annotations

import asyncio
import dataclasses
import re
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from scheduler.config import Config
from scheduler.i18n import translate
from tests.factories import SiteFacts
from tests.group_session_support import make_session


@pytest.fixture
def config(base_config: Config) -> Config:
    # 100 bookings from one test address at once: the per-address submit limit would answer 429 first.
    return dataclasses.replace(base_config, security=dataclasses.replace(
        base_config.security, public_rate_limit="1000/minute", global_rate_limit="5000/second"))


def _national(n: int) -> str:
    return f"0151 {70000000 + n:08d}"


async def test_the_list_shows_upcoming_sessions_with_free_seats(client: TestClient, app_pool: asyncpg.Pool,
                                                                site: SiteFacts) -> None:
    session = await make_session(app_pool, site, seats=12)
    html = await (await client.get("/sessions?lang=en")).text()
    assert "Bewerbungstraining" in html and "12 of 12 seats free" in html
    assert f'href="/sessions/{session.id}?lang=en"' in html
    assert 'href="/sessions?lang=de"' in await (await client.get("/?lang=de")).text()  # offered on the start page


async def test_booking_keeps_values_and_names_the_field_then_shows_the_seat(
        client: TestClient, app_pool: asyncpg.Pool, site: SiteFacts) -> None:
    session = await make_session(app_pool, site, seats=3)
    url = f"/sessions/{session.id}?lang=de"
    r = await client.post(url, data={"phone": "12", "sms_consent": "yes"}, allow_redirects=False)
    assert r.status == 422
    html = await r.text()
    assert translate("de", "This is not a phone number we can use.") in html and 'value="12"' in html
    r = await client.post(url, data={"phone": "x" * 500, "sms_consent": "yes"}, allow_redirects=False)
    assert r.status == 422
    r = await client.post(url, data={"phone": _national(1)}, allow_redirects=False)
    assert r.status == 422 and 'id="err-sms_consent"' in await r.text()
    r = await client.post(url, data={"phone": _national(1), "sms_consent": "yes"}, allow_redirects=False)
    assert r.status == 303
    location = r.headers["Location"]
    assert re.match(r"^/g/[A-Za-z0-9_\-]{20,64}\?lang=de&done=booked$", location)
    page = await (await client.get(location)).text()
    async with app_pool.acquire() as conn:
        reference = await conn.fetchval("SELECT reference FROM group_session_seats WHERE session_id = $1", session.id)
        assert await conn.fetchval("SELECT taken FROM group_sessions WHERE id = $1", session.id) == 1
    assert reference in page and "Bewerbungstraining" in page
    assert translate("de", "Your seat is booked.") in page
    # The same number again: the same seat, not a second one.
    r = await client.post(url, data={"phone": _national(1), "sms_consent": "yes"}, allow_redirects=False)
    assert r.headers["Location"].split("?")[0] == location.split("?")[0] and "done=already" in r.headers["Location"]
    # Giving the seat back frees it.
    token = location.split("?")[0].removeprefix("/g/")
    r = await client.post(f"/g/{token}/cancel?lang=de", allow_redirects=False)
    assert r.status == 303 and "done=cancelled" in r.headers["Location"]
    async with app_pool.acquire() as conn:
        assert await conn.fetchval("SELECT taken FROM group_sessions WHERE id = $1", session.id) == 0
    assert translate("de", "You have given back this seat.") in await (await client.get(f"/g/{token}")).text()
    assert (await client.get("/g/" + "a" * 40)).status == 404


async def test_a_full_session_says_so_in_the_clients_language_and_offers_the_next(
        client: TestClient, app_pool: asyncpg.Pool, site: SiteFacts) -> None:
    session = await make_session(app_pool, site, seats=1)
    r = await client.post(f"/sessions/{session.id}?lang=tr", data={"phone": _national(1), "sms_consent": "yes"},
                          allow_redirects=False)
    assert r.status == 303
    r = await client.post(f"/sessions/{session.id}?lang=tr", data={"phone": _national(2), "sms_consent": "yes"},
                          allow_redirects=False)
    assert r.status == 409
    html = await r.text()
    assert translate("tr", "This session is full") in html and 'lang="tr"' in html
    assert translate("tr", "There is no other session on this topic at the moment. You can ask for an appointment "
                           "instead.") in html
    later = await make_session(app_pool, site, seats=4, start=datetime.now(UTC) + timedelta(days=21))
    r = await client.get(f"/sessions/{session.id}?lang=ar")
    assert r.status == 409
    html = await r.text()
    assert 'dir="rtl"' in html and f'href="/sessions/{later.id}?lang=ar"' in html
    assert translate("ar", "The next session on the same topic") in html


async def test_100_clients_post_for_20_seats_at_the_same_moment(client: TestClient, app_pool: asyncpg.Pool,
                                                                site: SiteFacts) -> None:
    session = await make_session(app_pool, site, seats=20)

    async def post(n: int) -> tuple[int, str]:
        r = await client.post(f"/sessions/{session.id}?lang=en", data={"phone": _national(n), "sms_consent": "yes"},
                              allow_redirects=False)
        return r.status, await r.text()

    answers = await asyncio.gather(*(post(n) for n in range(100)))
    statuses = [status for status, _ in answers]
    assert statuses.count(303) == 20 and statuses.count(409) == 80, sorted(set(statuses))
    assert all("This session is full" in body for status, body in answers if status == 409)
    async with app_pool.acquire() as conn:
        assert await conn.fetchval("SELECT taken FROM group_sessions WHERE id = $1", session.id) == 20
        assert await conn.fetchval("SELECT count(*) FROM group_session_seats WHERE session_id = $1", session.id) == 20
        assert await conn.fetchval("SELECT count(*) FROM clients WHERE phone LIKE '+49151700000%'") == 20
    html = await (await client.get("/sessions?lang=en")).text()
    assert "Bewerbungstraining" not in html or "This session is full" in html
