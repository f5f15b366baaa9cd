"""replies.py called directly: one inbound SMS, stored once, carried out once, answered in the client's words."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from scheduler import outbox, replies
from scheduler.replies import Action
from tests.factories import SiteFacts, create_appointment, create_request

NOW = datetime.now(UTC)
START = (NOW + timedelta(days=6)).replace(hour=9, minute=0, second=0, microsecond=0)
MEYER_CLIENT = "+4915123456704"  # assigned to cw.meyer in the demo data, has confirmed SMS
INBOX = "+4930123456"


async def _booked(conn: asyncpg.Connection, site: SiteFacts, *, invitation: str | None = None) -> tuple[int, int]:
    request_id = await create_request(conn, site, client_id=site.clients[MEYER_CLIENT], status="scheduled",
                                      staff="cw.meyer", team="placement")
    await conn.execute("UPDATE requests SET sms_consent = true, invitation = $2 WHERE id = $1", request_id,
                       invitation)
    return request_id, await create_appointment(conn, site, start=START, request_id=request_id)


async def _handle(pool: asyncpg.Pool, body: str, *, provider_id: str, now: datetime = NOW,
                  phone: str = MEYER_CLIENT) -> replies.ReplyOutcome | None:
    return await replies.handle(pool, provider_id=provider_id, from_phone=phone, to_phone=INBOX, body=body, now=now,
                                default_site="musterstadt", reminder_offsets=())


@pytest.mark.parametrize(("body", "action"), [
    ("1", Action.confirm), ("Ja, bitte!", Action.confirm), ("١", Action.confirm), ("ТАК", Action.confirm),
    ("2.", Action.cancel), ("iptal", Action.cancel), ("3", Action.another_time), ("STOPP", Action.stop),
    ("Start", Action.start), ("", Action.unknown), ("vielleicht 1", Action.unknown),
])
def test_parse_reads_the_first_word_in_any_script(body: str, action: Action) -> None:
    assert replies.parse(body) is action


async def test_a_cancel_reply_is_carried_out_once_per_message_id(pool: asyncpg.Pool, conn: asyncpg.Connection,
                                                                 site: SiteFacts) -> None:
    request_id, appointment_id = await _booked(conn, site)
    outcome = await _handle(pool, "2", provider_id="SM-in-1")
    assert outcome is not None and (outcome.action, outcome.result) == (Action.cancel, "cancelled")
    assert outcome.reply and outcome.language == "de"
    assert await conn.fetchval("SELECT status FROM requests WHERE id = $1", request_id) == "withdrawn"
    assert await conn.fetchval("SELECT status FROM appointments WHERE id = $1", appointment_id) == "cancelled"
    assert await conn.fetchval("SELECT actor FROM audit_events WHERE action = 'request.withdrawn'") == replies.ACTOR
    # The provider retries the same message: nothing happens again.
    assert await _handle(pool, "2", provider_id="SM-in-1") is None
    assert await conn.fetchval("SELECT count(*) FROM inbound_messages") == 1
    assert await conn.fetchval("SELECT action FROM inbound_messages") == "cancel:cancelled"
    assert await conn.fetchval("SELECT count(*) FROM outbox WHERE kind = 'sms.appointment_cancelled'") == 1


async def test_a_mandatory_appointment_is_not_cancelled_by_sms(pool: asyncpg.Pool, conn: asyncpg.Connection,
                                                               site: SiteFacts) -> None:
    request_id, appointment_id = await _booked(conn, site, invitation="mandatory")
    outcome = await _handle(pool, "2", provider_id="SM-in-2")
    assert outcome is not None and outcome.result == "cancel_by_link"
    token = await conn.fetchval("SELECT link_token FROM requests WHERE id = $1", request_id)
    assert outcome.reply is not None and token in outcome.reply
    assert await conn.fetchval("SELECT status FROM appointments WHERE id = $1", appointment_id) == "confirmed"


async def test_confirm_then_too_late_after_cancellation(pool: asyncpg.Pool, conn: asyncpg.Connection,
                                                        site: SiteFacts) -> None:
    _, appointment_id = await _booked(conn, site)
    confirmed = await _handle(pool, "ok", provider_id="SM-in-3")
    assert confirmed is not None and confirmed.result == "confirmed"
    assert await conn.fetchval("SELECT count(*) FROM audit_events WHERE action = 'appointment.client_confirmed' "
                               "AND subject_id = $1", appointment_id) == 1
    await _handle(pool, "nein", provider_id="SM-in-4")
    after = await _handle(pool, "1", provider_id="SM-in-5")
    assert after is not None and after.result == "nothing_open"


async def test_stop_cancels_pending_sms_and_silences_replies_until_start(pool: asyncpg.Pool,
                                                                         conn: asyncpg.Connection,
                                                                         site: SiteFacts) -> None:
    pending = await outbox.enqueue(conn, site_id=site.site_id, key="rem:x", channel="sms", kind="sms.reminder",
                                   recipient=MEYER_CLIENT, language="de", payload={}, due_at=NOW + timedelta(days=1))
    stop = await _handle(pool, "STOP", provider_id="SM-in-6")
    assert stop is not None and stop.result == "stop" and stop.reply  # the opt-out itself is acknowledged
    row = await conn.fetchrow("SELECT status, error_code FROM outbox WHERE id = $1", pending)
    assert (row["status"], row["error_code"]) == ("cancelled", "opted-out")
    assert await conn.fetchval("SELECT sms_opted_out_at FROM clients WHERE phone = $1", MEYER_CLIENT) == NOW
    quiet = await _handle(pool, "hallo", provider_id="SM-in-7")
    assert quiet is not None and quiet.reply is None
    start = await _handle(pool, "start", provider_id="SM-in-8")
    assert start is not None and start.result == "start" and start.reply
    assert await conn.fetchval("SELECT sms_opted_out_at FROM clients WHERE phone = $1", MEYER_CLIENT) is None


async def test_help_is_sent_once_per_quiet_period(pool: asyncpg.Pool) -> None:
    first = await _handle(pool, "was?", provider_id="SM-in-9")
    second = await _handle(pool, "hä?", provider_id="SM-in-10", now=NOW + timedelta(minutes=1))
    # Issue 17: the help text for unknown text goes out at most once a day per number.
    quiet = await _handle(pool, "hm", provider_id="SM-in-12", now=NOW + replies.HELP_QUIET + timedelta(minutes=2))
    assert quiet is not None and (quiet.result, quiet.reply) == ("silent", None)
    later = await _handle(pool, "hm", provider_id="SM-in-11", now=NOW + replies.HELP_DAILY + timedelta(minutes=2))
    assert first is not None and first.result == "help" and first.reply
    assert second is not None and (second.result, second.reply) == ("silent", None)
    assert later is not None and later.result == "help"
