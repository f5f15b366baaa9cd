"""Phone IVR: Twilio-shaped, correctly signed form posts through every path; TwiML parsed as XML."""

from __future__ import annotations

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from scheduler.config import Config
from scheduler.i18n import translate
from tests.channels.twilio_calls import BASE_URL, CALLER, Call, said, signature, signed_config


@pytest.fixture
def config(base_config: Config) -> Config:
    return signed_config(base_config)


async def test_language_menu_offers_the_voiced_languages_and_leichte_sprache(client: TestClient) -> None:
    root = await Call(client).post(f"{BASE_URL}/webhooks/twilio/voice")
    gather = root.find("Gather")
    assert gather is not None and gather.attrib["numDigits"] == "1"
    assert gather.attrib["actionOnEmptyResult"] == "true"
    languages = [say.attrib["language"] for say in gather.iter("Say")]
    # Farsi has no Twilio voice: it is offered once the office's recordings are there (test_phone_audio.py);
    # 8 is Leichte Sprache, in the German voice.
    assert languages == ["de-DE", "de-DE", "en-GB", "uk-UA", "tr-TR", "arb", "ru-RU", "de-DE"]
    assert "Türkçe devam etmek için 4 tuşuna basın." in said(root)


async def test_forged_or_missing_signature_is_refused(client: TestClient) -> None:
    response = await client.post("/webhooks/twilio/voice", data={"From": CALLER},
                                 headers={"X-Twilio-Signature": "forged"})
    assert response.status == 403
    assert (await client.post("/webhooks/twilio/voice", data={"From": CALLER})).status == 403
    # Signed for another URL (a tampered query string) is refused too.
    call = Call(client)
    params = {"CallSid": call.sid, "From": CALLER, "Digits": "1"}
    signed_for_german = signature(f"{BASE_URL}/webhooks/twilio/voice/concern?lang=de", params)
    response = await client.post("/webhooks/twilio/voice/concern?lang=en", data=params,
                                 headers={"X-Twilio-Signature": signed_for_german})
    assert response.status == 403


async def test_full_call_with_callers_own_mobile_number(client: TestClient, conn: asyncpg.Connection) -> None:
    call = Call(client)
    await call.post(call.next_url)
    root = await call.press("2")  # English
    assert "What is it about?" in said(root)
    assert any("press 1." in text and text.startswith("For ") for text in said(root))
    root = await call.press("1")  # the first concern
    assert said(root) == ["For an appointment, press 1. For a callback, press 2."]
    root = await call.press("2")  # a callback
    assert any("0, 1, 5, 1, 2. 3, 4, 5, 6, 7, 9, 9." in text for text in said(root))
    root = await call.press("1")  # yes, this number
    assert "For the morning, press 1." in said(root)[0]
    root = await call.press("1")  # morning
    assert root.find("Hangup") is not None
    row = await conn.fetchrow("SELECT reference, channel, language, phone, windows FROM callbacks "
                              "WHERE idempotency_key = $1", f"ivr-{call.sid}")
    assert row["channel"] == "phone" and row["language"] == "en" and row["phone"] == CALLER
    assert row["windows"] == {"parts": ["morning"]}
    spelled = ", ".join(row["reference"][:4]) + ". " + ", ".join(row["reference"][5:]) + "."
    assert said(root).count(spelled) == 2
    assert "You will also get this code by SMS." in said(root)
    # The caller agreed to SMS for this callback; the number itself confirms by answering the receipt (issue 13).
    assert await conn.fetchval("SELECT sms_consent FROM callbacks WHERE reference = $1", row["reference"]) is True
    assert await conn.fetchval("SELECT count(*) FROM outbox WHERE recipient = $1 AND kind = 'sms.callback_received'",
                               CALLER) == 1


async def test_withheld_number_must_be_typed(client: TestClient, conn: asyncpg.Connection) -> None:
    call = Call(client, caller="anonymous", sid="CA" + "2" * 32)
    await call.post(call.next_url)
    await call.press("4")  # Türkçe
    await call.press("2")
    root = await call.press("2")  # a callback
    gather = root.find("Gather")
    assert gather is not None and gather.attrib["finishOnKey"] == "#"
    assert said(root) == [translate("tr", "Please type your phone number with the area code, then press the hash key.")]
    root = await call.press("03012345678")  # a landline
    assert any("0, 3, 0" in text for text in said(root))
    await call.press("1")
    root = await call.press("3")  # any time
    assert translate("tr", "Please write down this code.") in said(root)
    row = await conn.fetchrow("SELECT phone, language, windows FROM callbacks WHERE idempotency_key = $1",
                              f"ivr-{call.sid}")
    assert row["phone"] == "+493012345678" and row["language"] == "tr" and row["windows"] == {}
    assert await conn.fetchval("SELECT sms_consent FROM clients WHERE phone = '+493012345678'") is False


async def test_caller_can_type_another_number(client: TestClient, conn: asyncpg.Connection) -> None:
    call = Call(client, sid="CA" + "3" * 32)
    await call.post(call.next_url)
    await call.press("3")  # Українська
    await call.press("1")
    await call.press("2")  # a callback
    await call.press("2")  # another number
    root = await call.press("12")  # not a number
    assert translate("uk", "This is not a phone number we can use.") in said(root)
    await call.press("015199999999")
    await call.press("1")
    await call.press("2")
    assert await conn.fetchval("SELECT phone FROM callbacks WHERE idempotency_key = $1",
                               f"ivr-{call.sid}") == "+4915199999999"


@pytest.mark.parametrize("keys", [["9", ""], ["", "*"]])
async def test_wrong_keys_or_silence_repeat_once_then_end(client: TestClient, keys: list[str]) -> None:
    call = Call(client)
    await call.post(call.next_url)
    root = await call.press(keys[0])
    assert root.find("Gather") is not None
    assert translate("de", "Sorry, I did not understand that.") in said(root)
    root = await call.press(keys[1])
    assert root.find("Gather") is None and root.find("Hangup") is not None


async def test_garbage_at_every_later_step_repeats_once_then_ends(client: TestClient,
                                                                   conn: asyncpg.Connection) -> None:
    for path_to_step in (["1"], ["1", "1"], ["1", "1", "2"], ["1", "1", "2", "1"]):
        call = Call(client, sid="CA" + "4" * 32)
        await call.post(call.next_url)
        for digits in path_to_step:
            await call.press(digits)
        root = await call.press("#99")
        assert root.find("Gather") is not None, path_to_step
        root = await call.press("")
        assert root.find("Hangup") is not None and root.find("Gather") is None, path_to_step
    assert await conn.fetchval("SELECT count(*) FROM callbacks WHERE channel = 'phone'") == 0


async def test_tampered_state_ends_the_call(client: TestClient) -> None:
    call = Call(client)
    root = await call.post(f"{BASE_URL}/webhooks/twilio/voice/window?lang=xx&concern=general&number=1", "1")
    assert root.find("Hangup") is not None
