"""SMS intake (issue 17): a keyword text makes a request or callback through intake; unknown text gets help at most
once a day; STOP and replies keep working. Through replies.handle, as the inbound webhook calls it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from scheduler import replies, sms_intake
from scheduler.errors import TooManyRequests
from scheduler.i18n import translate
from scheduler.replies import Action
from tests.factories import SiteFacts, create_client

NOW = datetime.now(UTC)
PHONE = "+4915140000101"
INBOX = "+4930123456"


async def _handle(pool: asyncpg.Pool, body: str, *, provider_id: str, now: datetime = NOW, phone: str = PHONE,
                  **kwargs: object) -> replies.ReplyOutcome | None:
    return await replies.handle(pool, provider_id=provider_id, from_phone=phone, to_phone=INBOX, body=body, now=now,
                                default_site="musterstadt", reminder_offsets=(), **kwargs)  # type: ignore[arg-type]


async def _stored(conn: asyncpg.Connection, table: str) -> list[asyncpg.Record]:
    assert table in ("requests", "callbacks")
    return await conn.fetch(f"SELECT t.channel, t.language, t.reference, c.code FROM {table} t "  # noqa: S608
                            "JOIN concerns c ON c.id = t.concern_id JOIN clients cl ON cl.id = t.client_id "
                            "WHERE cl.phone = $1", PHONE)


@pytest.mark.parametrize(("body", "table", "language"), [
    ("TERMIN", "requests", "de"), ("Termin bitte!", "requests", "de"), ("RÜCKRUF", "callbacks", "de"),
    ("Rueckruf", "callbacks", "de"), ("appointment please", "requests", "en"), ("CALLBACK", "callbacks", "en"),
    ("Randevu", "requests", "tr"), ("ARA", "callbacks", "tr"), ("ЗАПИС", "requests", "uk"),
    ("Дзвінок", "callbacks", "uk"), ("Запись", "requests", "ru"), ("ЗВОНОК", "callbacks", "ru"),
    ("موعد", "requests", "ar"), ("اتصال", "callbacks", "ar"), ("نوبت", "requests", "fa"), ("تماس", "callbacks", "fa"),
])
async def test_a_keyword_makes_a_request_answered_by_its_receipt(
        pool: asyncpg.Pool, conn: asyncpg.Connection, body: str, table: str, language: str) -> None:
    outcome = await _handle(pool, body, provider_id="SM-intake-1")
    assert outcome is not None and outcome.action is Action.request
    assert (outcome.result, outcome.reply) == (sms_intake.REQUESTED, None)  # the receipt SMS is the answer
    [row] = await _stored(conn, table)
    assert (row["channel"], row["language"], row["code"]) == ("sms", language, "general")
    kind = "sms.request_received" if table == "requests" else "sms.callback_received"
    receipt = await conn.fetchrow("SELECT language, payload FROM outbox WHERE recipient = $1 AND kind = $2",
                                  PHONE, kind)
    assert receipt["language"] == language and receipt["payload"]["reference"] == row["reference"]
    # The provider retries the webhook: nothing new.
    assert await _handle(pool, body, provider_id="SM-intake-1") is None
    assert len(await _stored(conn, table)) == 1


async def test_german_keyword_keeps_a_known_clients_language(pool: asyncpg.Pool, conn: asyncpg.Connection,
                                                             site: SiteFacts) -> None:
    await create_client(conn, site, phone=PHONE, language="tr")
    outcome = await _handle(pool, "termin", provider_id="SM-intake-2")
    assert outcome is not None and outcome.result == sms_intake.REQUESTED
    assert [r["language"] for r in await _stored(conn, "requests")] == ["tr"]


async def test_a_site_without_sms_requests_says_so_and_stores_nothing(pool: asyncpg.Pool,
                                                                     conn: asyncpg.Connection) -> None:
    await conn.execute("UPDATE concerns SET channels = array_remove(channels, 'sms') WHERE code = 'general'")
    outcome = await _handle(pool, "Randevu", provider_id="SM-intake-3")
    assert outcome is not None and outcome.result == sms_intake.REFUSED
    assert outcome.reply == translate("tr", replies.REPLIES[sms_intake.REFUSED])
    assert await _stored(conn, "requests") == [] and await conn.fetchval("SELECT count(*) FROM outbox") == 0


async def test_a_flooded_number_is_refused(pool: asyncpg.Pool, conn: asyncpg.Connection) -> None:
    async def full(_pool: asyncpg.Pool, _phone: str) -> None:
        raise TooManyRequests()

    outcome = await _handle(pool, "RÜCKRUF", provider_id="SM-intake-4", limit_phone=full)
    assert outcome is not None and outcome.result == sms_intake.REFUSED and outcome.reply
    assert await _stored(conn, "callbacks") == []


async def test_an_opted_out_number_is_not_signed_up_by_a_keyword(pool: asyncpg.Pool, conn: asyncpg.Connection,
                                                                  site: SiteFacts) -> None:
    await create_client(conn, site, phone=PHONE)
    stop = await _handle(pool, "STOP", provider_id="SM-intake-5")
    assert stop is not None and stop.result == "stop" and stop.reply
    outcome = await _handle(pool, "TERMIN", provider_id="SM-intake-6")
    assert outcome is not None and outcome.reply is None
    assert await _stored(conn, "requests") == []
    start = await _handle(pool, "START", provider_id="SM-intake-7")
    assert start is not None and start.result == "start"
    later = await _handle(pool, "TERMIN", provider_id="SM-intake-8")
    assert later is not None and later.result == sms_intake.REQUESTED


async def test_a_callback_by_keyword_can_be_cancelled_by_reply(pool: asyncpg.Pool, conn: asyncpg.Connection) -> None:
    await _handle(pool, "RÜCKRUF", provider_id="SM-intake-9")
    cancel = await _handle(pool, "2", provider_id="SM-intake-10")
    assert cancel is not None and cancel.result == "callback_cancelled"


async def test_unknown_text_gets_the_help_text_at_most_once_a_day(pool: asyncpg.Pool) -> None:
    first = await _handle(pool, "Hallo, wie geht das?", provider_id="SM-intake-11")
    assert first is not None and first.result == "help"
    assert first.reply == translate("de", replies.REPLIES["help"]) and "TERMIN" in first.reply
    for n, hours in enumerate((1, 5, 23)):
        again = await _handle(pool, "???", provider_id=f"SM-intake-h{n}", now=NOW + timedelta(hours=hours))
        assert again is not None and (again.result, again.reply) == ("silent", None)
    next_day = await _handle(pool, "hallo", provider_id="SM-intake-12", now=NOW + replies.HELP_DAILY + timedelta(hours=1))
    assert next_day is not None and next_day.result == "help" and next_day.reply


@pytest.mark.parametrize(("body", "action"), [
    ("TERMIN", Action.request), ("rückruf", Action.request), ("1", Action.confirm), ("nein", Action.cancel),
    ("stop", Action.stop), ("termine?", Action.request), ("terminal", Action.unknown), ("", Action.unknown),
])
def test_parse_knows_the_keywords(body: str, action: Action) -> None:
    assert replies.parse(body) is action


def test_keywords_do_not_shadow_reply_words_or_offer_codes() -> None:
    assert not set(sms_intake.KEYWORDS) & set(replies.KEYWORDS)
    assert all(replies.normalise(word) == word for word in sms_intake.KEYWORDS)
