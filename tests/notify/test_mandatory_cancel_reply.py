"""An SMS "NEIN" does not cancel a mandatory appointment on the sender number alone (issue 13, low item).

Anyone who can send an SMS from (or spoof) the client's number could otherwise cancel a summons under
§ 59 SGB II and cause a Meldeversäumnis. The reply carries the status page link instead, where the client
confirms the cancellation.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg

from scheduler import replies
from scheduler.i18n import translate
from tests.factories import SiteFacts, create_appointment, create_client, create_request

LINK_REPLY = "This is a mandatory appointment. To cancel it, please open this link and confirm there: %(link)s"


async def _booked(conn: asyncpg.Connection, site: SiteFacts, *, phone: str, invitation: str,
                  language: str = "de") -> tuple[int, int, str]:
    client_id = await create_client(conn, site, phone=phone, language=language)
    request_id = await create_request(conn, site, client_id=client_id, status="scheduled", staff="cw.meyer")
    token = await conn.fetchval("UPDATE requests SET invitation = $2 WHERE id = $1 RETURNING link_token",
                                request_id, invitation)
    appointment_id = await create_appointment(conn, site, request_id=request_id,
                                              start=datetime.now(UTC) + timedelta(days=2))
    return request_id, appointment_id, token


async def _reply(pool: asyncpg.Pool, phone: str, body: str, sid: str) -> replies.ReplyOutcome:
    outcome = await replies.handle(pool, provider_id=sid, from_phone=phone, to_phone="+4930000000", body=body,
                                   now=datetime.now(UTC), default_site="musterstadt", reminder_offsets=())
    assert outcome is not None
    return outcome


async def test_nein_to_a_mandatory_appointment_answers_with_the_link(pool: asyncpg.Pool, conn: asyncpg.Connection,
                                                                     site: SiteFacts) -> None:
    phone = "+4915100007001"
    request_id, appointment_id, token = await _booked(conn, site, phone=phone, invitation="mandatory", language="uk")
    outcome = await _reply(pool, phone, "NEIN", "SM-mandatory-1")
    assert await conn.fetchval("SELECT status FROM appointments WHERE id = $1", appointment_id) == "confirmed"
    assert await conn.fetchval("SELECT status FROM requests WHERE id = $1", request_id) == "scheduled"
    assert outcome.result == "cancel_by_link"
    assert outcome.reply is not None and f"/r/{token}" in outcome.reply
    assert outcome.reply == translate("uk", LINK_REPLY, link=outcome.reply.split()[-1])
    assert translate("uk", LINK_REPLY, link="x") != translate("en", LINK_REPLY, link="x")


async def test_nein_to_a_voluntary_appointment_still_cancels(pool: asyncpg.Pool, conn: asyncpg.Connection,
                                                             site: SiteFacts) -> None:
    phone = "+4915100007002"
    _, appointment_id, _ = await _booked(conn, site, phone=phone, invitation="voluntary")
    outcome = await _reply(pool, phone, "NEIN", "SM-voluntary-1")
    assert outcome.result == "cancelled"
    assert await conn.fetchval("SELECT status FROM appointments WHERE id = $1", appointment_id) != "confirmed"
