"""Kiosk check-in (issue 13, item 12): a stranger at the kiosk learns nothing about a phone number.

Check-in takes a reference code, or a phone number together with the date of birth or the customer number.
Every failure gets the same status and text; wrong tries from one kiosk slow down.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from scheduler import kiosks
from scheduler.errors import TooManyRequests
from scheduler.i18n import translate
from tests.factories import SiteFacts, create_appointment, create_client, create_request

TOKEN = {"X-Kiosk-Token": "demo-kiosk-foyer-1"}
OTHER_KIOSK = {"X-Kiosk-Token": "demo-kiosk-foyer-2"}
CHECKED_IN = "You are checked in. Please take a seat. We will call you."
NOT_CHECKED_IN = "We could not check you in here. Please go to the reception desk."
PHONE = "+4915100000042"


async def _appointment_today(conn: asyncpg.Connection, site: SiteFacts, *, phone: str = PHONE,
                             start: datetime | None = None) -> int:
    client_id = await create_client(conn, site, phone=phone, name="Erika Mustermann")
    await conn.execute("UPDATE clients SET birth_date = '1990-05-17', customer_number = '123A456789' WHERE id = $1",
                       client_id)
    request_id = await create_request(conn, site, client_id=client_id, status="scheduled", staff="cw.meyer")
    await conn.execute("UPDATE requests SET reference = 'K7Q4-M2XD' WHERE id = $1", request_id)
    return await create_appointment(conn, site, request_id=request_id, start=start or datetime.now(UTC))


async def _answer(client: TestClient, body: dict[str, object], headers: dict[str, str] = TOKEN) -> tuple[int, object]:
    response = await client.post("/kiosk/api/check-in", json={**body, "language": "en"}, headers=headers)
    answer = await response.json()
    answer.pop("request_id", None)  # the log correlation id differs on every request
    return response.status, answer


async def _arrived(conn: asyncpg.Connection, appointment_id: int) -> bool:
    return await conn.fetchval("SELECT arrived_at FROM appointments WHERE id = $1", appointment_id) is not None


async def test_a_phone_number_alone_does_not_tell_whether_it_has_an_appointment(
        client: TestClient, conn: asyncpg.Connection, site: SiteFacts) -> None:
    appointment_id = await _appointment_today(conn, site)
    known = await _answer(client, {"phone": "0151 00000042"})
    unknown = await _answer(client, {"phone": "0151 99999999"})
    assert known == unknown
    assert not await _arrived(conn, appointment_id)


async def test_wrong_second_factor_answers_like_an_unknown_number(client: TestClient, conn: asyncpg.Connection,
                                                                  site: SiteFacts) -> None:
    appointment_id = await _appointment_today(conn, site)
    answers = [await _answer(client, body) for body in (
        {"phone": "0151 00000042", "birth_date": "1990-05-18"},
        {"phone": "0151 99999999", "birth_date": "1990-05-17"},
        {"phone": "0151 00000042", "customer_number": "123A456780"},
        {"phone": "0151 99999999", "customer_number": "123A456789"},
    )]
    assert answers == [(200, {"checked_in": False, "message": NOT_CHECKED_IN})] * 4
    assert not await _arrived(conn, appointment_id)


async def test_check_in_by_phone_and_birth_date(client: TestClient, conn: asyncpg.Connection,
                                                site: SiteFacts) -> None:
    appointment_id = await _appointment_today(conn, site)
    assert await _answer(client, {"phone": "0151 00000042", "birth_date": "17051990"}) == (
        200, {"checked_in": True, "message": CHECKED_IN})
    assert await _arrived(conn, appointment_id)


async def test_check_in_by_phone_and_customer_number(client: TestClient, conn: asyncpg.Connection,
                                                     site: SiteFacts) -> None:
    appointment_id = await _appointment_today(conn, site)
    status, body = await _answer(client, {"phone": "+49 151 00000042", "customer_number": "123a 456789"})
    assert (status, body) == (200, {"checked_in": True, "message": CHECKED_IN})
    assert await _arrived(conn, appointment_id)


async def test_check_in_by_reference_still_works(client: TestClient, conn: asyncpg.Connection,
                                                 site: SiteFacts) -> None:
    appointment_id = await _appointment_today(conn, site)
    assert (await _answer(client, {"reference": "k7q4m2xd"}))[1] == {"checked_in": True, "message": CHECKED_IN}
    assert await _arrived(conn, appointment_id)


async def test_a_phone_without_second_factor_is_a_field_error_in_the_clients_language(client: TestClient) -> None:
    response = await client.post("/kiosk/api/check-in", json={"phone": "0151 00000042", "language": "uk"},
                                 headers=TOKEN)
    assert response.status == 422
    fields = (await response.json())["fields"]
    assert fields == {"birth_date": translate("uk", "Please enter your date of birth or your customer number.")}
    response = await client.post("/kiosk/api/check-in", json={"phone": "0151 00000042", "birth_date": "31.02.1990",
                                                              "language": "de"}, headers=TOKEN)
    assert response.status == 422
    assert (await response.json())["fields"] == {
        "birth_date": translate("de", "Please enter your date of birth like 17.05.1990.")}


async def test_repeated_wrong_tries_from_one_kiosk_slow_down(client: TestClient, conn: asyncpg.Connection,
                                                             site: SiteFacts) -> None:
    appointment_id = await _appointment_today(conn, site)
    for n in range(kiosks.FREE_CHECKIN_FAILURES):
        assert (await _answer(client, {"reference": f"AAAA-BBB{n}"}))[0] == 200
    # The kiosk must now wait, even with the right code: guessing costs time, whatever is entered.
    response = await client.post("/kiosk/api/check-in", json={"reference": "K7Q4-M2XD", "language": "de"},
                                 headers=TOKEN)
    assert response.status == 429
    first_wait = int(response.headers["Retry-After"])
    assert first_wait >= 1
    assert (await response.json())["message"] == translate("de", "Too many attempts. Please wait a moment and try again.")
    assert not await _arrived(conn, appointment_id)
    # Another kiosk in the same lobby is not slowed down.
    assert (await _answer(client, {"reference": "K7Q4-M2XD"}, OTHER_KIOSK))[1]["checked_in"] is True  # type: ignore[index]


def test_the_wait_grows_and_is_capped() -> None:
    free = kiosks.FREE_CHECKIN_FAILURES
    waits = [kiosks.checkin_wait(n) for n in range(free + 12)]
    assert waits[:free] == [timedelta(0)] * free
    assert all(a < b for a, b in zip(waits[free:free + 5], waits[free + 1:free + 6], strict=True))
    assert max(waits) == kiosks.MAX_CHECKIN_WAIT


async def test_the_wait_is_counted_from_the_last_failure_and_forgotten_later(
        pool: asyncpg.Pool, conn: asyncpg.Connection, site: SiteFacts) -> None:
    appointment_id = await _appointment_today(conn, site)
    device = await kiosks.authenticate(conn, "demo-kiosk-foyer-1", now=datetime.now(UTC))
    assert device is not None
    now = datetime.now(UTC)
    for _ in range(kiosks.FREE_CHECKIN_FAILURES):
        assert await kiosks.check_in(pool, device=device, entry=kiosks.CheckinEntry(reference="AAAA-BBBB"),
                                     now=now) is False
    waited = now + kiosks.checkin_wait(kiosks.FREE_CHECKIN_FAILURES) + timedelta(seconds=1)
    assert await kiosks.check_in(pool, device=device, entry=kiosks.CheckinEntry(reference="AAAA-BBBB"),
                                 now=waited) is False
    # One more wrong try: the next wait is longer, and counted from that try.
    with pytest.raises(TooManyRequests):
        await kiosks.check_in(pool, device=device, entry=kiosks.CheckinEntry(reference="K7Q4-M2XD"),
                              now=waited + kiosks.checkin_wait(kiosks.FREE_CHECKIN_FAILURES))
    forgotten = waited + kiosks.CHECKIN_FAILURES_FORGOTTEN
    assert await kiosks.check_in(pool, device=device, entry=kiosks.CheckinEntry(birth_date=date(1990, 5, 17),
                                                                                 phone=PHONE), now=forgotten) is True
    assert await _arrived(conn, appointment_id)
