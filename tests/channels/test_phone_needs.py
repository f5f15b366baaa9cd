"""Phone IVR, the needs step of an appointment request in two languages, and garbage that stores nothing."""

from __future__ import annotations

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from scheduler.channels import phone_needs
from scheduler.config import Config
from scheduler.i18n import translate
from tests.channels.test_phone_appointments import _concern_key, _nothing_stored
from tests.channels.twilio_calls import BASE_URL, Call, said, signed_config

QUESTION = phone_needs.QUESTION


@pytest.fixture
def config(base_config: Config) -> Config:
    return signed_config(base_config)


async def _to_needs(call: Call, conn: asyncpg.Connection, lang_key: str) -> list[str]:
    """Language, a concern offered in person only, appointment, any days and time: the needs question."""
    await call.post(call.next_url)
    await call.press(lang_key)
    await call.press(await _concern_key(conn, "documents"))
    await call.press("1")  # appointment
    await call.press("1")  # any weekday
    return said(await call.press("3"))  # any time of day


async def test_an_interpreter_in_arabic_is_noted_with_the_calls_language(client: TestClient,
                                                                         conn: asyncpg.Connection) -> None:
    call = Call(client, sid="CA" + "a" * 32)
    assert await _to_needs(call, conn, "5") == [translate("ar", QUESTION)]  # العربية
    await call.press("1")  # an interpreter
    root = await call.press("1")  # this number
    assert root.find("Hangup") is not None
    row = await conn.fetchrow("SELECT language, needs, interpreter_language FROM requests WHERE idempotency_key = $1",
                              f"ivr-{call.sid}")
    assert (row["language"], row["needs"], row["interpreter_language"]) == ("ar", ["interpreter"], "ar")


async def test_step_free_in_german(client: TestClient, conn: asyncpg.Connection) -> None:
    call = Call(client, sid="CA" + "b" * 32)
    assert await _to_needs(call, conn, "1") == [translate("de", QUESTION)]
    await call.press("3")  # step-free access
    await call.press("1")
    row = await conn.fetchrow("SELECT needs, interpreter_language FROM requests WHERE idempotency_key = $1",
                              f"ivr-{call.sid}")
    assert (row["needs"], row["interpreter_language"]) == (["step_free"], None)


@pytest.mark.parametrize("garbage", [["7", ""], ["", ""], ["0", "8"], ["12", "9"]])
async def test_garbage_at_the_needs_step_ends_the_call_and_stores_nothing(
        client: TestClient, conn: asyncpg.Connection, garbage: list[str]) -> None:
    call = Call(client, sid="CA" + "c" * 32)
    await _to_needs(call, conn, "1")
    root = await call.press(garbage[0])
    assert root.find("Gather") is not None
    assert translate("de", "Sorry, I did not understand that.") in said(root)
    root = await call.press(garbage[1])
    if garbage[1] == "9":  # after a wrong answer a right one still counts; the caller then hangs up
        assert root.find("Gather") is not None
    else:
        assert root.find("Hangup") is not None and root.find("Gather") is None
    await _nothing_stored(conn)


async def test_a_forged_need_in_the_state_ends_the_call(client: TestClient, conn: asyncpg.Connection) -> None:
    query = "lang=de&concern=documents&days=1&part=3&mode=in_person&need=6&number=%2B4915123456799"
    root = await Call(client).post(f"{BASE_URL}/webhooks/twilio/voice/appointment/number?{query}", "1")
    assert root.find("Hangup") is not None
    await _nothing_stored(conn)
