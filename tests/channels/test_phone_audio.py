"""Recorded phone prompts (issue 17): Farsi from the office's audio files, Leichte Sprache in the German voice,
<Play> where a recording exists and <Say> where not; signed like Twilio, TwiML parsed as XML."""

from __future__ import annotations

import dataclasses
import wave
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from scheduler.channels import phone, phone_appointments, phone_audio, phone_codes
from scheduler.config import Config
from scheduler.i18n import translate
from tests.channels.test_phone_appointments import KEYPAD, _booked, _concern_key, _nothing_stored
from tests.channels.twilio_calls import BASE_URL, CALLER, Call, said, signed_config
from tests.factories import SiteFacts

PROMPTS = f"{BASE_URL}/phone-prompts"


def _wav(path: Path) -> None:
    """A tiny valid WAV file: 20 ms of silence, 8 kHz mono, 16 bit (what Twilio plays)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\x00\x00" * 160)


async def _phone_concerns(conn: asyncpg.Connection) -> list[str]:
    return [r["code"] for r in await conn.fetch(
        "SELECT code FROM concerns WHERE active AND 'phone' = ANY(channels) ORDER BY sort_order, id")][:8]


async def _record_farsi(directory: Path, conn: asyncpg.Connection, *, leave_out: str | None = None) -> list[str]:
    """Everything the office must record for Farsi (phone_audio.required), as WAV files; returns the keys."""
    lines = [phone_audio.file_key(phone._t("fa", phone.CONCERN_OPTION, concern=code, key=i, label=""))
             for i, code in enumerate(await _phone_concerns(conn), start=1)]
    keys = phone_audio.required(phone_audio.file_key(phone._t("fa", phone.CHOOSE, key="7")), lines)
    for key in keys:
        if key != leave_out:
            _wav(directory / "fa" / f"{key}.wav")
    return keys


@pytest.fixture
def prompts_dir(tmp_path: Path) -> Path:
    return tmp_path / "prompts"


@pytest.fixture
def config(base_config: Config, prompts_dir: Path) -> Config:
    config = signed_config(base_config)
    return dataclasses.replace(config, phone=dataclasses.replace(config.phone, prompts_dir=str(prompts_dir)))


def played(root: ET.Element) -> list[str]:
    return [el.text or "" for el in root.iter("Play")]


def _url(lang: str, msgid: str, **params: object) -> str:
    return f"{PROMPTS}/{lang}/{phone_audio.file_key(phone_audio.Prompt('', msgid, params))}.wav"


# --- keys ---

def test_prompt_keys_are_readable_stable_and_distinct() -> None:
    assert phone_audio.prompt_key(phone.WELCOME) == phone_audio.prompt_key("Welcome to the Jobcenter.")
    assert phone_audio.prompt_key(phone.WELCOME).startswith("welcome-to-the-jobcenter-")
    keys = phone_audio.prompts()
    assert len(keys) == len(set(keys.values()))  # one key per text, no two texts on one key
    for msgid in (phone.WELCOME, phone_appointments.DAYS_QUESTION, phone_codes.TYPE_CODE, phone.CHOOSE_SIMPLE):
        assert keys[phone_audio.prompt_key(msgid)] == msgid
    assert all(key.replace("-", "").isalnum() for key in keys)
    choose = phone_audio.Prompt("x", phone.CHOOSE, {"key": "7"})
    option = phone_audio.Prompt("x", phone.CONCERN_OPTION, {"label": "Geld", "key": 2, "concern": "no_money"})
    assert phone_audio.file_key(choose) == phone_audio.prompt_key(phone.CHOOSE) + ".7"
    assert phone_audio.file_key(option) == phone_audio.prompt_key(phone.CONCERN_OPTION) + ".no_money.2"


def test_codes_numbers_and_times_follow_the_recording_in_pieces() -> None:
    assert phone_audio.needed(phone.spell("K7Q4-M2XD")) == [
        "letter-k", "number-7", "letter-q", "number-4", "letter-m", "number-2", "letter-x", "letter-d"]
    number = phone_audio.Prompt("x", phone.NUMBER_QUESTION, {"number": phone.spell("0151 23")})
    assert phone_audio.needed(number)[1:] == ["number-0", "number-1", "number-5", "number-1", "number-2", "number-3"]
    at = phone_audio.Prompt("x", phone_codes.APPOINTMENT_AT, {"when": "…", "at": datetime(2030, 3, 5, 9, 30)})
    assert phone_audio.needed(at) == [phone_audio.prompt_key(phone_codes.APPOINTMENT_AT), "number-5", "month-3",
                                      "number-9", "number-30"]


def test_the_cli_lists_what_is_still_missing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _wav(tmp_path / "fa" / f"{phone_audio.prompt_key(phone.WELCOME)}.wav")
    assert phone_audio.main(["--lang", "fa"]) == 0
    listed = capsys.readouterr().out
    assert f"{phone_audio.prompt_key(phone.WELCOME)}\t{translate('fa', phone.WELCOME)}" in listed
    assert "letter-k\tK" in listed and "month-12\t" in listed
    phone_audio.main(["--lang", "fa", "--dir", str(tmp_path), "--missing"])
    missing = capsys.readouterr().out
    assert phone_audio.prompt_key(phone.WELCOME) not in missing and phone_audio.prompt_key(phone.BYE) in missing


# --- the language menu ---

async def test_without_recordings_farsi_is_not_offered_and_leichte_sprache_is(client: TestClient) -> None:
    call = Call(client, sid="CA" + "a1" * 16)
    root = await call.post(call.next_url)
    assert root.find("Play") is None and not list(root.iter("Play"))
    languages = [say.attrib["language"] for say in root.iter("Say")]
    assert languages == ["de-DE", "de-DE", "en-GB", "uk-UA", "tr-TR", "arb", "ru-RU", "de-DE"]
    assert said(root)[-1] == translate("de-simple", phone.CHOOSE_SIMPLE, key="8")
    root = await call.press("7")  # Farsi: not offered, so not a choice
    assert translate("de", phone.SORRY) in said(root) and root.find("Gather") is not None


async def test_an_incomplete_farsi_set_is_not_offered(client: TestClient, conn: asyncpg.Connection,
                                                      prompts_dir: Path) -> None:
    await _record_farsi(prompts_dir, conn, leave_out=phone_audio.prompt_key(phone.BYE))
    root = await Call(client).post(f"{BASE_URL}/webhooks/twilio/voice")
    assert not list(root.iter("Play"))


async def test_complete_farsi_recordings_are_offered_and_played(client: TestClient, conn: asyncpg.Connection,
                                                                prompts_dir: Path) -> None:
    await _record_farsi(prompts_dir, conn)
    call = Call(client, sid="CA" + "a2" * 16)
    root = await call.post(call.next_url)
    # German and the other voiced languages are spoken; the Farsi line is the office's recording.
    assert played(root) == [_url("fa", phone.CHOOSE, key="7")]
    assert [say.attrib["language"] for say in root.iter("Say")][-1] == "de-DE"
    root = await call.press("7")
    codes = await _phone_concerns(conn)
    assert not said(root)
    assert played(root) == [_url("fa", phone.CONCERN_QUESTION), *(
        _url("fa", phone.CONCERN_OPTION, concern=code, key=i) for i, code in enumerate(codes, start=1)),
        _url("fa", phone.HAVE_CODE)]
    # The app serves the recordings read-only: the file itself, nothing else.
    response = await client.get(played(root)[0].removeprefix(BASE_URL))
    assert response.status == 200 and response.content_type == "audio/wav"
    assert await response.read() == (prompts_dir / "fa" / played(root)[0].rsplit("/", 1)[1]).read_bytes()
    for path in ("/phone-prompts/fa/nothing.wav", "/phone-prompts/fa/..%2Fsecret.wav", "/phone-prompts/xx/a.wav",
                 "/phone-prompts/fa/" + played(root)[0].rsplit("/", 1)[1].replace(".wav", ".txt")):
        assert (await client.get(path)).status == 404


async def test_a_single_german_recording_replaces_just_that_sentence(client: TestClient, prompts_dir: Path) -> None:
    _wav(prompts_dir / "de" / f"{phone_audio.prompt_key(phone.WELCOME)}.wav")
    root = await Call(client).post(f"{BASE_URL}/webhooks/twilio/voice")
    assert played(root) == [_url("de", phone.WELCOME)]
    assert said(root)[0] == translate("de", phone.CHOOSE, key="1")  # the rest is spoken as before


# --- whole calls ---

async def test_appointment_request_in_farsi_from_recordings(client: TestClient, conn: asyncpg.Connection,
                                                            prompts_dir: Path) -> None:
    await _record_farsi(prompts_dir, conn)
    call = Call(client, sid="CA" + "a3" * 16)
    await call.post(call.next_url)
    await call.press("7")  # Farsi
    root = await call.press(await _concern_key(conn, "no_money"))
    assert played(root) == [_url("fa", phone_appointments.KIND_QUESTION)] and not said(root)
    for digits in ("1", "2", "1", "1"):  # appointment, Monday to Wednesday, morning, in person
        root = await call.press(digits)
    if "/needs" in call.next_url:
        root = await call.press("9")  # no needs
    # The caller's number is read back from the digit recordings.
    assert played(root)[0] == _url("fa", phone_appointments.SMS_NUMBER, number="")
    assert played(root)[1:4] == [f"{PROMPTS}/fa/number-0.wav", f"{PROMPTS}/fa/number-1.wav",
                                 f"{PROMPTS}/fa/number-5.wav"]
    root = await call.press("1")
    assert root.find("Hangup") is not None and not said(root)
    row = await conn.fetchrow("SELECT reference, language FROM requests WHERE idempotency_key = $1",
                              f"ivr-{call.sid}")
    assert row["language"] == "fa"
    spelled = [f"{PROMPTS}/fa/{key}.wav" for key in phone_audio.char_keys(row["reference"])]
    urls = played(root)
    assert urls[0] == _url("fa", phone_appointments.REQUESTED)
    assert urls[1:1 + len(spelled)] == spelled and urls.count(spelled[0]) >= 2  # the code, read twice


async def test_keypad_cancel_in_farsi_from_recordings(client: TestClient, conn: asyncpg.Connection,
                                                      prompts_dir: Path, site: SiteFacts) -> None:
    await _record_farsi(prompts_dir, conn)
    request_id, appointment_id, start = await _booked(conn, site, language="fa")
    call = Call(client, sid="CA" + "a4" * 16)
    await call.post(call.next_url)
    await call.press("7")
    root = await call.press("9")
    assert played(root) == [_url("fa", phone_codes.TYPE_CODE)]
    root = await call.press(KEYPAD)
    local = start.astimezone(ZoneInfo("Europe/Berlin"))
    assert played(root)[:5] == [_url("fa", phone_codes.APPOINTMENT_AT), f"{PROMPTS}/fa/number-{local.day}.wav",
                                f"{PROMPTS}/fa/month-{local.month}.wav", f"{PROMPTS}/fa/number-{local.hour}.wav",
                                _url("fa", phone_codes.IN_ROOM)]
    assert not said(root)
    await call.press("2")
    root = await call.press("2")
    assert played(root)[0] == _url("fa", phone_codes.CANCELLED)
    assert await conn.fetchval("SELECT status FROM appointments WHERE id = $1", appointment_id) == "cancelled"
    assert await conn.fetchval("SELECT status FROM requests WHERE id = $1", request_id) == "withdrawn"


async def test_leichte_sprache_uses_the_simple_texts_in_the_german_voice(client: TestClient,
                                                                         conn: asyncpg.Connection) -> None:
    call = Call(client, sid="CA" + "a5" * 16)
    await call.post(call.next_url)
    root = await call.press("8")
    assert said(root)[0].startswith("Wir haben offen: Montag bis Freitag von 08:00 bis 12:30 Uhr")  # the hours
    assert said(root)[1] == translate("de-simple", phone.CONCERN_QUESTION)
    assert {say.attrib["language"] for say in root.iter("Say")} == {"de-DE"}
    assert {say.attrib["voice"] for say in root.iter("Say")} == {phone.VOICES["de"][0]}
    await call.press(await _concern_key(conn, "documents"))  # in person only
    root = await call.press("1")
    assert said(root) == [translate("de-simple", phone_appointments.DAYS_QUESTION)]
    assert said(root)[0] != translate("de", phone_appointments.DAYS_QUESTION)  # the simple text, not the German
    for digits in ("1", "3"):
        root = await call.press(digits)
    if "/needs" in call.next_url:
        root = await call.press("9")
    root = await call.press("1")  # this mobile number
    assert translate("de-simple", phone_appointments.REQUESTED) in said(root)
    assert await conn.fetchval("SELECT language FROM requests WHERE idempotency_key = $1",
                               f"ivr-{call.sid}") == "de-simple"


# --- garbage in Farsi ---

@pytest.mark.parametrize("steps", [["7"], ["7", "1"], ["7", "1", "1"], ["7", "1", "1", "2"]])
async def test_farsi_silence_and_wrong_keys_store_nothing(client: TestClient, conn: asyncpg.Connection,
                                                          prompts_dir: Path, steps: list[str]) -> None:
    await _record_farsi(prompts_dir, conn)
    call = Call(client, sid="CA" + "a6" * 16)
    await call.post(call.next_url)
    for digits in steps:
        await call.press(digits)
    root = await call.press("")  # silence
    assert played(root)[0] == _url("fa", phone.SORRY)  # asked once more, from the recording
    root = await call.press("0")  # a key no menu has
    assert root.find("Hangup") is not None and played(root) == [_url("fa", phone.GOODBYE)]
    await _nothing_stored(conn)


async def test_farsi_hang_up_at_the_last_question_stores_nothing(client: TestClient, conn: asyncpg.Connection,
                                                                 prompts_dir: Path) -> None:
    await _record_farsi(prompts_dir, conn)
    call = Call(client, caller=CALLER, sid="CA" + "a7" * 16)
    await call.post(call.next_url)
    for digits in ("7", await _concern_key(conn, "no_money"), "1", "1", "1", "1"):
        await call.press(digits)
    if "/needs" in call.next_url:
        await call.press("9")
    assert "/number" in call.next_url  # the caller hangs up here: Twilio posts nothing more
    await _nothing_stored(conn)
    assert await conn.fetchval("SELECT count(*) FROM requests WHERE created_at > $1",
                               datetime.now(UTC) - timedelta(minutes=5)) == 0
