"""Phone IVR, issue 17: appointment requests and confirm or cancel by reference code, in two languages, and
garbage (wrong keys, silence, hang-up, tampered state) that never stores anything. Signed like Twilio."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from scheduler import references
from scheduler import requests as requests_
from scheduler.config import Config
from scheduler.i18n import format_when, translate
from tests.channels.twilio_calls import BASE_URL, CALLER, Call, said, signed_config
from tests.factories import SiteFacts, create_appointment, create_client, create_request

REFERENCE = "K7Q4-M2XD"
KEYPAD = "57746293"  # K=5 7 Q=7 4 M=6 2 X=9 D=3


@pytest.fixture
def config(base_config: Config) -> Config:
    return signed_config(base_config)


async def _concern_key(conn: asyncpg.Connection, code: str) -> str:
    """The key of a concern in the phone's concern menu (the site's order)."""
    codes = [r["code"] for r in await conn.fetch(
        "SELECT code FROM concerns WHERE active AND 'phone' = ANY(channels) ORDER BY sort_order, id")]
    return str(codes.index(code) + 1)


async def _nothing_stored(conn: asyncpg.Connection) -> None:
    assert await conn.fetchval("SELECT count(*) FROM requests WHERE channel = 'phone'") == 0
    assert await conn.fetchval("SELECT count(*) FROM callbacks WHERE channel = 'phone'") == 0
    assert await conn.fetchval("SELECT count(*) FROM clients WHERE phone = $1", CALLER) == 0
    assert await conn.fetchval("SELECT count(*) FROM outbox") == 0


# --- appointment requests ---

async def test_appointment_request_in_german(client: TestClient, conn: asyncpg.Connection) -> None:
    call = Call(client, sid="CA" + "5" * 32)
    await call.post(call.next_url)
    await call.press("1")  # Deutsch
    root = await call.press(await _concern_key(conn, "no_money"))  # in person or by phone
    assert said(root) == [translate("de", "For an appointment, press 1. For a callback, press 2.")]
    root = await call.press("1")
    assert "Montag bis Mittwoch" in said(root)[0]
    root = await call.press("2")  # Monday to Wednesday
    assert "Vormittag" in said(root)[0]
    root = await call.press("1")  # morning
    assert "persönlich" in said(root)[0] or "vorbei" in said(root)[0]
    root = await call.press("1")  # in person
    assert "Dolmetsch" in said(root)[0]  # the needs question (phone_needs.py)
    root = await call.press("9")  # nothing needed
    assert any("0, 1, 5, 1, 2. 3, 4, 5, 6, 7, 9, 9." in text for text in said(root))
    number_step = call.next_url
    root = await call.press("1")  # yes, this number
    assert root.find("Hangup") is not None and root.find("Gather") is None
    row = await conn.fetchrow("SELECT reference, channel, language, modes, windows, sms_consent FROM requests "
                              "WHERE idempotency_key = $1", f"ivr-{call.sid}")
    assert row["channel"] == "phone" and row["language"] == "de" and row["modes"] == ["in_person"]
    assert row["windows"] == {"weekdays": [0, 1, 2], "parts": ["morning"]} and row["sms_consent"] is True
    spelled = ", ".join(row["reference"][:4]) + ". " + ", ".join(row["reference"][5:]) + "."
    assert said(root).count(spelled) == 2
    assert translate("de", "You will also get this code by SMS.") in said(root)
    assert await conn.fetchval("SELECT count(*) FROM outbox WHERE recipient = $1 AND kind = 'sms.request_received'",
                               CALLER) == 1
    # Twilio retries the last webhook: the same call stores nothing new and hears the same code.
    again = await call.post(number_step, "1")
    assert said(again).count(spelled) == 2
    assert await conn.fetchval("SELECT count(*) FROM requests WHERE channel = 'phone'") == 1


async def test_appointment_request_in_turkish_from_a_landline(client: TestClient, conn: asyncpg.Connection) -> None:
    call = Call(client, caller="+493012345678", sid="CA" + "6" * 32)
    await call.post(call.next_url)
    await call.press("4")  # Türkçe
    await call.press(await _concern_key(conn, "documents"))  # in person only: no mode question
    await call.press("1")  # appointment
    await call.press("3")  # Thursday or Friday
    await call.press("3")  # any time of day
    root = await call.press("9")  # no special needs
    # A landline cannot get the SMS: a mobile number is asked for.
    assert said(root) == [translate("tr", "Please type your mobile number, then press the hash key.")]
    root = await call.press("03012345678")
    assert translate("tr", "This is not a mobile number. We need one to send you the appointment by SMS.") \
        in said(root)
    root = await call.press("015199999999")
    assert any("0, 1, 5, 1, 9" in text for text in said(root))
    root = await call.press("1")
    assert translate("tr", "Thank you. We will send you an appointment by SMS. Your reference code is:") \
        in said(root)
    assert all(say.attrib["language"] == "tr-TR" for say in root.iter("Say"))
    row = await conn.fetchrow("SELECT r.language, r.modes, r.windows, c.phone FROM requests r "
                              "JOIN clients c ON c.id = r.client_id WHERE r.idempotency_key = $1", f"ivr-{call.sid}")
    assert row["language"] == "tr" and row["modes"] == ["in_person"] and row["phone"] == "+4915199999999"
    assert row["windows"] == {"weekdays": [3, 4]}


async def test_callback_still_taken_after_the_concern(client: TestClient, conn: asyncpg.Connection) -> None:
    call = Call(client, sid="CA" + "7" * 32)
    await call.post(call.next_url)
    await call.press("2")  # English
    await call.press("1")
    await call.press("2")  # a callback
    await call.press("1")  # this number
    await call.press("2")  # afternoon
    assert await conn.fetchval("SELECT windows FROM callbacks WHERE idempotency_key = $1",
                               f"ivr-{call.sid}") == {"parts": ["afternoon"]}
    assert await conn.fetchval("SELECT count(*) FROM requests") == 0


# --- garbage ---

@pytest.mark.parametrize("steps", [["1", "1"], ["1", "1", "1"], ["1", "1", "1", "2"], ["1", "1", "1", "2", "1"],
                                   ["1", "1", "1", "2", "1", "1"], ["1", "1", "1", "2", "1", "1", "9"]])
async def test_wrong_keys_then_silence_end_the_call_and_store_nothing(
        client: TestClient, conn: asyncpg.Connection, steps: list[str]) -> None:
    call = Call(client, sid="CA" + "8" * 32)
    await call.post(call.next_url)
    for digits in steps:
        await call.press(digits)
    root = await call.press("7")  # no such option at any of these steps
    assert root.find("Gather") is not None and translate("de", "Sorry, I did not understand that.") in said(root)
    root = await call.press("")  # silence
    assert root.find("Hangup") is not None and root.find("Gather") is None
    await _nothing_stored(conn)


async def test_bad_typed_numbers_end_the_call(client: TestClient, conn: asyncpg.Connection) -> None:
    call = Call(client, caller="anonymous", sid="CA" + "9" * 32)
    await call.post(call.next_url)
    for digits in ("1", await _concern_key(conn, "documents"), "1", "1", "1", "9"):
        await call.press(digits)
    root = await call.press("9" * 400)  # far too long
    assert root.find("Gather") is not None
    root = await call.press("12")
    assert root.find("Hangup") is not None
    await _nothing_stored(conn)


async def test_hang_up_before_the_last_step_stores_nothing(client: TestClient, conn: asyncpg.Connection) -> None:
    call = Call(client)
    await call.post(call.next_url)
    for digits in ("1", "1", "1", "2", "1", "1", "9"):
        root = await call.press(digits)
    assert root.find("Gather") is not None  # the number question: the caller hangs up, Twilio calls no more
    await _nothing_stored(conn)


@pytest.mark.parametrize("query", ["lang=de&concern=no_money&days=7&part=1&mode=in_person&need=9&number=%2B4915123456799",
                                   "lang=de&concern=no_money&days=1&part=1&mode=video&need=9&number=%2B4915123456799",
                                   "lang=de&concern=no_money&days=1&part=1&mode=phone&need=9&number=030123",
                                   "lang=xx&concern=no_money&days=1&part=1&mode=phone&need=9&number=%2B4915123456799",
                                   "lang=de&concern=NO&days=1&part=1&mode=phone&need=9&number=%2B4915123456799"])
async def test_state_we_never_wrote_ends_the_call(client: TestClient, conn: asyncpg.Connection, query: str) -> None:
    root = await Call(client).post(f"{BASE_URL}/webhooks/twilio/voice/appointment/number?{query}", "1")
    assert root.find("Hangup") is not None
    await _nothing_stored(conn)


# --- confirm or cancel by reference code ---

async def _booked(conn: asyncpg.Connection, site: SiteFacts, *, language: str = "de",
                  invitation: str | None = None) -> tuple[int, int, datetime]:
    start = (datetime.now(UTC) + timedelta(days=7)).replace(hour=9, minute=0, second=0, microsecond=0)
    client_id = await create_client(conn, site, phone="+4915123456790", language=language)
    request_id = await create_request(conn, site, client_id=client_id, status="scheduled", staff="cw.meyer")
    await conn.execute("UPDATE requests SET reference = $2, invitation = $3 WHERE id = $1", request_id, REFERENCE,
                       invitation)
    appointment_id = await create_appointment(conn, site, request_id=request_id, start=start)
    await conn.execute("UPDATE appointments SET room = 'A.03' WHERE id = $1", appointment_id)
    return request_id, appointment_id, start


async def _code_call(client: TestClient, lang_key: str, *, sid: str = "CA" + "c" * 32) -> Call:
    call = Call(client, sid=sid)
    await call.post(call.next_url)
    await call.press(lang_key)
    root = await call.press("9")  # I have a reference code
    assert root.find("Gather") is not None and root.find("Gather").attrib["finishOnKey"] == "#"
    return call


async def test_keypad_cancel_in_german_asks_twice(client: TestClient, conn: asyncpg.Connection,
                                                  site: SiteFacts) -> None:
    request_id, appointment_id, start = await _booked(conn, site)
    call = await _code_call(client, "1")
    root = await call.press(KEYPAD)
    texts = said(root)
    assert translate("de", "Your appointment is on %(when)s.", when=format_when(start, "de", "Europe/Berlin")) in texts
    assert any("A, ., 0, 3" in text for text in texts), texts  # the room, spelled
    root = await call.press("2")
    assert said(root) == [translate("de", "Do you really want to cancel? To cancel, press 2 again. To keep it, "
                                          "press 1.")]
    assert await conn.fetchval("SELECT status FROM requests WHERE id = $1", request_id) == "scheduled"
    root = await call.press("2")
    assert translate("de", "Your appointment is cancelled. Thank you for telling us.") in said(root)
    assert root.find("Hangup") is not None
    assert await conn.fetchval("SELECT status FROM requests WHERE id = $1", request_id) == "withdrawn"
    assert await conn.fetchval("SELECT status FROM appointments WHERE id = $1", appointment_id) == "cancelled"
    assert await conn.fetchval("SELECT count(*) FROM audit_events WHERE actor = 'client:phone'") >= 1


async def test_keypad_cancel_in_turkish_and_keep_on_second_question(client: TestClient, conn: asyncpg.Connection,
                                                                    site: SiteFacts) -> None:
    request_id, _, start = await _booked(conn, site, language="tr")
    call = await _code_call(client, "4")
    root = await call.press(KEYPAD)
    assert translate("tr", "Your appointment is on %(when)s.", when=format_when(start, "tr", "Europe/Berlin")) \
        in said(root)
    await call.press("2")
    root = await call.press("1")  # keep it after all
    assert translate("tr", "Nothing has changed.") in said(root)
    assert await conn.fetchval("SELECT status FROM requests WHERE id = $1", request_id) == "scheduled"
    call = await _code_call(client, "4", sid="CA" + "d" * 32)
    await call.press(KEYPAD)
    await call.press("2")
    root = await call.press("2")
    assert translate("tr", "Your appointment is cancelled. Thank you for telling us.") in said(root)
    assert await conn.fetchval("SELECT status FROM requests WHERE id = $1", request_id) == "withdrawn"


async def test_keypad_confirm_in_english(client: TestClient, conn: asyncpg.Connection, site: SiteFacts) -> None:
    request_id, appointment_id, _ = await _booked(conn, site, language="en")
    call = await _code_call(client, "2")
    await call.press(KEYPAD)
    root = await call.press("1")
    assert "Thank you. We have noted that you will come." in said(root)
    assert await conn.fetchval("SELECT count(*) FROM audit_events WHERE action = 'appointment.client_confirmed' "
                               "AND subject_id = $1 AND actor = 'client:phone'", appointment_id) == 1
    assert await conn.fetchval("SELECT status FROM requests WHERE id = $1", request_id) == "scheduled"


async def test_mandatory_appointment_is_not_cancelled_by_phone(client: TestClient, conn: asyncpg.Connection,
                                                               site: SiteFacts) -> None:
    request_id, _, _ = await _booked(conn, site, invitation="mandatory")
    call = await _code_call(client, "2")
    await call.press(KEYPAD)
    root = await call.press("2")
    assert "This is a mandatory appointment. To cancel it, please use the link in our SMS." in said(root)
    assert await conn.fetchval("SELECT status FROM requests WHERE id = $1", request_id) == "scheduled"


async def test_wrong_codes_are_limited_per_calling_number(client: TestClient, conn: asyncpg.Connection,
                                                          site: SiteFacts) -> None:
    await _booked(conn, site)
    for n in range(2):  # two calls, two wrong codes each: each call ends after its second
        call = await _code_call(client, "2", sid=f"CA{n}" + "e" * 31)
        root = await call.press("22222222")
        assert "We could not find this code." in said(root) and root.find("Gather") is not None
        root = await call.press("33333333")
        assert root.find("Hangup") is not None
    call = await _code_call(client, "2", sid="CA" + "f" * 32)
    await call.press("44444444")  # the fifth code this hour
    root = await call.press(KEYPAD)  # right, but one too many: nothing is said about it
    assert any(text.startswith("Too many codes were typed from this number.") for text in said(root))
    assert not any("appointment" in text for text in said(root))
    # Another number may still look its code up.
    call = Call(client, caller="+4915123456788", sid="CA" + "a" * 32)
    await call.post(call.next_url)
    await call.press("2")
    await call.press("9")
    root = await call.press(KEYPAD)
    assert any(text.startswith("Your appointment is on") for text in said(root))


@pytest.mark.parametrize("digits", ["", "1234", "5774239#", "*" * 8, "9" * 300])
async def test_codes_that_cannot_be_codes_are_not_looked_up(client: TestClient, conn: asyncpg.Connection,
                                                            site: SiteFacts, digits: str) -> None:
    await _booked(conn, site)
    call = await _code_call(client, "1")
    root = await call.press(digits)
    assert root.find("Gather") is not None
    root = await call.press(digits)
    assert root.find("Hangup") is not None
    assert await conn.fetchval("SELECT count(*) FROM rate_limits") == 0


async def test_tampered_code_state_ends_the_call(client: TestClient, conn: asyncpg.Connection,
                                                 site: SiteFacts) -> None:
    request_id, _, _ = await _booked(conn, site)
    root = await Call(client).post(f"{BASE_URL}/webhooks/twilio/voice/code/cancel?lang=de&ref=ZZZZ-ZZZZ", "2")
    assert root.find("Hangup") is not None
    assert await conn.fetchval("SELECT status FROM requests WHERE id = $1", request_id) == "scheduled"


async def test_two_codes_on_the_same_keys_are_told_apart_by_the_callers_number(
        client: TestClient, conn: asyncpg.Connection, site: SiteFacts) -> None:
    request_id, _, start = await _booked(conn, site)  # K7Q4-M2XD, client +4915123456790
    other = await create_request(conn, site, status="received")
    await conn.execute("UPDATE requests SET reference = 'J7Q4-M2XD' WHERE id = $1", other)  # J and K share key 5
    call = await _code_call(client, "2")
    root = await call.press(KEYPAD)
    assert "We could not find this code." in said(root)  # a stranger learns nothing
    own = Call(client, caller="+4915123456790", sid="CA" + "b" * 32)
    await own.post(own.next_url)
    await own.press("2")
    await own.press("9")
    root = await own.press(KEYPAD)
    assert f"Your appointment is on {format_when(start, 'en', 'Europe/Berlin')}." in said(root)
    assert request_id != other


def test_the_keypad_lookup_uses_the_indexed_expression_and_covers_the_alphabet() -> None:
    migration = (Path(__file__).resolve().parents[2] / "migrations" / "0026_keypad_references.sql").read_text()
    literal = requests_.KEYPAD_SQL.removeprefix("translate(r.reference, ").removesuffix(")")
    assert f"translate(reference, {literal})" in migration
    letters, keys = (part.strip(" '") for part in literal.split(",")[:2])
    assert letters.rstrip("-") == references.ALPHABET[10:] and len(keys) == len(letters) - 1
    keypad = dict(zip("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "22233344455566677778889999", strict=True))
    assert all(keypad[letter] == key for letter, key in zip(letters, keys, strict=False))
