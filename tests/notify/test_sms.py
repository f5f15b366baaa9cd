"""The real twilio SDK against the local fake on loopback, plus the console provider."""

import asyncio
import json
import logging
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from twilio.request_validator import RequestValidator

from scheduler.notify.sms import (
    ConsoleSms,
    PermanentSendError,
    SendResult,
    TransientSendError,
    TwilioSms,
    make_sender,
)
from tests.fakes.twilio_server import FakeTwilio, running_fake_twilio

SID = "AC" + "1a" * 16
TOKEN = "test-auth-token-0123456789abcdef"
FROM = "+4930123456789"
TO = "+4915112345678"


@pytest.fixture
async def fake() -> AsyncIterator[FakeTwilio]:
    async with running_fake_twilio(SID, TOKEN) as fake:
        yield fake


@pytest.fixture
async def sender(fake: FakeTwilio) -> AsyncIterator[TwilioSms]:
    sender = TwilioSms(SID, TOKEN, FROM, api_base=fake.base_url, timeout=2)
    yield sender
    await sender.close()


class Receiver:
    """A tiny webhook endpoint that records what the fake posts to it."""

    def __init__(self) -> None:
        self.received: list[tuple[str, dict[str, str], dict[str, str]]] = []
        self.base_url = ""

    async def handle(self, request: web.Request) -> web.Response:
        form = {k: str(v) for k, v in (await request.post()).items()}
        url = self.base_url + request.path_qs
        self.received.append((url, form, dict(request.headers)))
        return web.Response(status=204)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    rec = Receiver()
    app = web.Application()
    app.router.add_post("/webhooks/twilio/sms-status", rec.handle)
    app.router.add_post("/webhooks/twilio/sms-inbound", rec.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    rec.base_url = f"http://{host}:{port}"
    yield rec
    await runner.cleanup()


async def send(sender: TwilioSms, to: str = TO, body: str = "Ihr Termin: Di 10:00", **kw: str) -> SendResult:
    return await sender.send(
        to=to, body=body, status_callback=kw.get("status_callback"), idempotency_key=kw.get("key", "k-1")
    )


async def test_send_reaches_twilio_with_basic_auth(fake: FakeTwilio, sender: TwilioSms) -> None:
    result = await send(
        sender, body="Ihr Termin am Dienstag, 10:00 Uhr, Raum 2.14. Größe egal: ß", key="appt:42:confirm:0"
    )
    assert result.provider_id.startswith("SM") and len(result.provider_id) == 34
    assert result.status == "queued"
    assert result.segments == 1
    [msg] = fake.messages
    assert msg.sid == result.provider_id
    assert msg.body == "Ihr Termin am Dienstag, 10:00 Uhr, Raum 2.14. Größe egal: ß"
    assert (msg.to, msg.from_, msg.auth_user) == (TO, FROM, SID)
    assert msg.idempotency_token == "appt:42:confirm:0"
    assert msg.status_callback is None


async def test_form_encoding_keeps_every_character(fake: FakeTwilio, sender: TwilioSms) -> None:
    body = "A&B=C+D %20 50% ä ß ✓ 🙂\nZeile 2; /r/x?y=1&z=2#frag"
    callback = "http://127.0.0.1:9/webhooks/twilio/status?site=a b&x=1"
    await send(sender, body=body, status_callback=callback)
    [msg] = fake.messages
    assert (msg.body, msg.status_callback, msg.to, msg.from_) == (body, callback, TO, FROM)


async def test_sdk_request_log_lines_leave_out_the_credentials(fake: FakeTwilio, sender: TwilioSms,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="twilio.async_http_client")
    await send(sender, key="k-logged")
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name == "twilio.async_http_client")
    assert "-- BEGIN Twilio API Request --" in logged and "Response Status Code: 201" in logged
    assert "k-logged" in logged
    assert "Authorization" not in logged and "Basic " not in logged and TOKEN not in logged


async def test_ukrainian_body_is_counted_in_ucs2_segments(fake: FakeTwilio, sender: TwilioSms) -> None:
    result = await send(sender, body="Ваш запис підтверджено. " * 4)
    assert result.segments == 2


async def test_messaging_service_sender(fake: FakeTwilio) -> None:
    sender = TwilioSms(SID, TOKEN, messaging_service_sid="MG" + "0" * 32, api_base=fake.base_url)
    try:
        result = await send(sender)
    finally:
        await sender.close()
    assert result.status == "accepted"
    assert fake.messages[0].messaging_service_sid == "MG" + "0" * 32
    assert fake.messages[0].from_ is None


async def test_wrong_token_is_permanent(fake: FakeTwilio) -> None:
    sender = TwilioSms(SID, "wrong-token", FROM, api_base=fake.base_url)
    try:
        with pytest.raises(PermanentSendError) as err:
            await send(sender)
    finally:
        await sender.close()
    assert err.value.code == "20003"
    assert not err.value.about_recipient
    assert fake.messages == []


async def test_invalid_number_is_permanent_21211(fake: FakeTwilio, sender: TwilioSms) -> None:
    with pytest.raises(PermanentSendError) as err:
        await send(sender, to="0151 1234567")
    assert err.value.code == "21211"
    assert err.value.about_recipient


async def test_opted_out_number_is_permanent_21610(fake: FakeTwilio, sender: TwilioSms) -> None:
    fake.permanent_for(TO, "21610")
    with pytest.raises(PermanentSendError) as err:
        await send(sender)
    assert err.value.code == "21610"
    assert "unsubscribed" in str(err.value)
    assert fake.messages == []


async def test_server_error_is_transient_then_succeeds(fake: FakeTwilio, sender: TwilioSms) -> None:
    fake.fail_next(1, status=500)
    with pytest.raises(TransientSendError) as err:
        await send(sender)
    assert err.value.retry_after is None
    assert (await send(sender)).provider_id.startswith("SM")
    assert fake.create_requests == 2


async def test_503_is_transient(fake: FakeTwilio, sender: TwilioSms) -> None:
    fake.fail_next(1, status=503)
    with pytest.raises(TransientSendError):
        await send(sender)


async def test_rate_limit_is_transient_with_retry_after(fake: FakeTwilio, sender: TwilioSms) -> None:
    fake.rate_limit_next(1, retry_after=7)
    with pytest.raises(TransientSendError) as err:
        await send(sender)
    assert err.value.retry_after == 7.0
    assert "20429" in str(err.value)


async def test_stall_beyond_timeout_is_transient(fake: FakeTwilio) -> None:
    sender = TwilioSms(SID, TOKEN, FROM, api_base=fake.base_url, timeout=0.3)
    fake.stall_next(1, seconds=30)
    try:
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(TransientSendError) as err:
            await send(sender)
        assert loop.time() - started < 2
        assert err.value.retry_after is None
        # The next request is not stalled, and the same sender still works after a timeout.
        assert (await send(sender)).provider_id.startswith("SM")
    finally:
        await sender.close()


async def test_unreachable_server_is_transient() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sender = TwilioSms(SID, TOKEN, FROM, api_base=f"http://127.0.0.1:{port}", timeout=2)
    try:
        with pytest.raises(TransientSendError, match="unreachable"):
            await send(sender)
    finally:
        await sender.close()


async def test_concurrent_sends_keep_their_own_idempotency_key(fake: FakeTwilio, sender: TwilioSms) -> None:
    results = await asyncio.gather(*(send(sender, body=f"Nachricht {i}", key=f"k-{i}") for i in range(25)))
    assert len({r.provider_id for r in results}) == 25
    assert {(m.body, m.idempotency_token) for m in fake.messages} == {
        (f"Nachricht {i}", f"k-{i}") for i in range(25)
    }


async def test_status_callback_is_signed_like_twilio(
    fake: FakeTwilio, sender: TwilioSms, receiver: Receiver
) -> None:
    callback = receiver.base_url + "/webhooks/twilio/sms-status?outbox=42"
    result = await send(sender, status_callback=callback)
    assert fake.messages[0].status_callback == callback

    hook = await fake.deliver(result.provider_id, "delivered")
    assert hook.status == 204
    [(url, form, headers)] = receiver.received
    assert url == callback
    assert form["MessageSid"] == result.provider_id
    assert form["MessageStatus"] == "delivered"
    assert (form["To"], form["AccountSid"]) == (TO, SID)
    assert "ErrorCode" not in form

    validator = RequestValidator(TOKEN)
    signature = headers["X-Twilio-Signature"]
    assert validator.validate(url, form, signature)
    assert not validator.validate(url, {**form, "MessageStatus": "failed"}, signature)
    assert not validator.validate(url, form, signature[:-2] + "xx")
    assert not validator.validate(url.replace("outbox=42", "outbox=43"), form, signature)
    assert not RequestValidator("other-token").validate(url, form, signature)
    assert fake.get(result.provider_id).status == "delivered"


async def test_failed_callback_carries_error_code(
    fake: FakeTwilio, sender: TwilioSms, receiver: Receiver
) -> None:
    result = await send(sender, status_callback=receiver.base_url + "/webhooks/twilio/sms-status")
    await fake.deliver(result.provider_id, "undelivered", error_code=30005)
    [(url, form, headers)] = receiver.received
    assert (form["MessageStatus"], form["ErrorCode"]) == ("undelivered", "30005")
    assert RequestValidator(TOKEN).validate(url, form, headers["X-Twilio-Signature"])


async def test_inbound_sms_is_signed(fake: FakeTwilio, receiver: Receiver) -> None:
    hook = await fake.send_inbound(receiver.base_url + "/webhooks/twilio/sms-inbound", TO, FROM, "JA")
    assert hook.status == 204
    [(url, form, headers)] = receiver.received
    assert (form["From"], form["To"], form["Body"], form["NumMedia"]) == (TO, FROM, "JA", "0")
    assert form["MessageSid"].startswith("SM")
    assert RequestValidator(TOKEN).validate(url, form, headers["X-Twilio-Signature"])
    assert not RequestValidator(TOKEN).validate(url, {**form, "Body": "NEIN"}, headers["X-Twilio-Signature"])


async def test_fake_serves_the_message_resource(fake: FakeTwilio, sender: TwilioSms) -> None:
    result = await send(sender)
    url = f"{fake.base_url}/2010-04-01/Accounts/{SID}/Messages/{result.provider_id}.json"
    async with aiohttp.ClientSession() as http:
        async with http.get(url, headers={"Authorization": aiohttp.encode_basic_auth(SID, TOKEN)}) as resp:
            assert resp.status == 200
            body = await resp.json()
        async with http.get(url, headers={"Authorization": aiohttp.encode_basic_auth(SID, "x")}) as resp:
            assert resp.status == 401
            assert (await resp.json())["code"] == 20003
    assert body["sid"] == result.provider_id
    assert body["uri"].endswith(f"/Messages/{result.provider_id}.json")
    assert body["date_created"].endswith("GMT")


async def test_close_is_idempotent_and_safe_before_use() -> None:
    sender = TwilioSms(SID, TOKEN, FROM)
    await sender.close()
    await sender.close()


async def test_console_writes_one_json_line_per_message(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "sms.jsonl"
    sender = ConsoleSms(path)
    first = await sender.send(to=TO, body="Hallo €", status_callback=None, idempotency_key="k-1")
    await sender.send(to=TO, body="Привіт", status_callback=None, idempotency_key="k-2")
    await sender.close()
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert first.provider_id.startswith("console-")
    assert lines[0]["provider_id"] == first.provider_id
    assert {k: lines[0][k] for k in ("to", "body", "segments", "key")} == {
        "to": TO,
        "body": "Hallo €",
        "segments": 1,
        "key": "k-1",
    }
    assert "time" in lines[0]
    assert (lines[1]["encoding"], lines[1]["body"]) == ("UCS-2", "Привіт")


async def test_console_without_path_logs(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="scheduler.notify.sms"):
        result = await ConsoleSms().send(to=TO, body="Hallo", status_callback=None, idempotency_key="k")
    assert result.provider_id in caplog.text


def test_make_sender_picks_provider_by_name(tmp_path: Path) -> None:
    assert isinstance(make_sender("console", path=tmp_path / "x.jsonl"), ConsoleSms)
    assert isinstance(make_sender("twilio", account_sid=SID, auth_token=TOKEN, from_number=FROM), TwilioSms)
    with pytest.raises(ValueError, match="unknown SMS provider"):
        make_sender("carrier-pigeon")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"from_number": None},
        {"from_number": FROM, "messaging_service_sid": "MG" + "0" * 32},
        {"from_number": FROM, "api_base": "http://127.0.0.1:1/prefix"},
        {"from_number": FROM, "timeout": 0},
    ],
)
def test_twilio_rejects_bad_settings(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        TwilioSms(SID, TOKEN, **kwargs)  # type: ignore[arg-type]


def test_delivery_errors_are_translated_for_staff() -> None:
    from scheduler import i18n
    from scheduler.notify.sms import DELIVERY_CODES, TWILIO_ERRORS

    assert DELIVERY_CODES == {"30003", "30004", "30005", "30006", "30007", "30008"}
    for code in DELIVERY_CODES:
        assert i18n.translate("de", TWILIO_ERRORS[code]) != TWILIO_ERRORS[code], code
