"""The phone line's reference codes stay in their office: a code of the second site, typed on the first site's
line, is not found, says nothing of the appointment and changes nothing (issue 18)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from scheduler.config import Config
from scheduler.i18n import translate
from tests.channels.twilio_calls import Call, said, signed_config
from tests.factories import create_appointment, create_client, create_request
from tests.two_sites import second_site

REFERENCE = "K7Q4-M2XD"
KEYPAD = "57746293"  # the reference on the keypad (K=5 7 Q=7 4 M=6 2 X=9 D=3)


@pytest.fixture
def config(base_config: Config) -> Config:
    return signed_config(base_config)


async def test_another_sites_code_is_not_found_on_this_line(client: TestClient, pool: asyncpg.Pool,
                                                            conn: asyncpg.Connection) -> None:
    nord = await second_site(pool)
    start = (datetime.now(UTC) + timedelta(days=7)).replace(hour=9, minute=0, second=0, microsecond=0)
    client_id = await create_client(conn, nord, phone="+4915223456790")
    request_id = await create_request(conn, nord, client_id=client_id, status="scheduled", staff="nord.cw1")
    await conn.execute("UPDATE requests SET reference = $2 WHERE id = $1", request_id, REFERENCE)
    appointment_id = await create_appointment(conn, nord, staff="nord.cw1", request_id=request_id, start=start)
    await conn.execute("UPDATE appointments SET room = 'N.02' WHERE id = $1", appointment_id)
    call = Call(client, sid="CA" + "e" * 32)  # calls the first site's line
    await call.post(call.next_url)
    await call.press("2")  # English
    await call.press("9")  # I have a reference code
    root = await call.press(KEYPAD)
    texts = " ".join(said(root))
    assert translate("en", "We could not find this code.") in texts
    assert "N, ., 0, 2" not in texts and "Hafenstraße" not in texts  # neither the room nor the other address
    await call.press("2")
    await call.press("2")
    assert await conn.fetchval("SELECT status FROM requests WHERE id = $1", request_id) == "scheduled"
    assert await conn.fetchval("SELECT status FROM appointments WHERE id = $1", appointment_id) == "confirmed"
