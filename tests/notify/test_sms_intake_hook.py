"""SMS intake through the real inbound webhook (issue 17), posted and signed by the fake Twilio: the keyword text
is answered by the request's receipt in the outbox, not by an inline TwiML reply."""

from __future__ import annotations

import asyncpg
from aiohttp.test_utils import TestClient

from scheduler.i18n import translate
from scheduler.replies import REPLIES
from tests.fakes.twilio_server import FakeTwilio
from tests.notify.conftest import FROM
from tests.notify.test_twilio_hooks import reply_text


async def test_keyword_text_makes_a_callback_and_queues_its_receipt(twilio_client: TestClient,
                                                                    conn: asyncpg.Connection,
                                                                    fake: FakeTwilio) -> None:
    phone = "+4915140000201"
    url = str(twilio_client.make_url("/webhooks/twilio/sms"))
    answer = await fake.send_inbound(url, phone, FROM, "Rückruf bitte")
    assert answer.status == 200 and reply_text(answer.text) is None
    reference = await conn.fetchval("SELECT reference FROM callbacks WHERE phone = $1 AND channel = 'sms'", phone)
    assert reference
    payload = await conn.fetchval("SELECT payload FROM outbox WHERE recipient = $1 AND kind = 'sms.callback_received'",
                                  phone)
    assert payload["reference"] == reference
    # A replayed webhook (same MessageSid) stores nothing new.
    replay = await twilio_client.post("/webhooks/twilio/sms", data=answer.params,
                                      headers={"X-Twilio-Signature": answer.signature})
    assert replay.status == 200
    assert await conn.fetchval("SELECT count(*) FROM callbacks WHERE phone = $1", phone) == 1


async def test_unknown_text_from_a_stranger_names_the_keywords_once(twilio_client: TestClient,
                                                                    fake: FakeTwilio) -> None:
    url = str(twilio_client.make_url("/webhooks/twilio/sms"))
    first = await fake.send_inbound(url, "+4915140000202", FROM, "Hallo?")
    assert reply_text(first.text) == translate("de", REPLIES["help"])
    assert "TERMIN" in (reply_text(first.text) or "") and "RÜCKRUF" in (reply_text(first.text) or "")
    second = await fake.send_inbound(url, "+4915140000202", FROM, "Hallo??")
    assert reply_text(second.text) is None
