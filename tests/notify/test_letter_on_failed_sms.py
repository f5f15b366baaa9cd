"""An SMS about an invitation that the provider refuses for good queues a letter (through the real worker, the
real twilio SDK and the local fake); an SMS about any other request does not."""

from __future__ import annotations

import asyncpg

from scheduler.notify.dispatch import Senders, dispatch_due
from tests.factories import SiteFacts
from tests.fakes.twilio_server import FakeTwilio
from tests.notify.conftest import NOW, queue_received, row


async def test_a_permanent_failure_of_an_invitation_sms_queues_a_letter(
        pool: asyncpg.Pool, conn: asyncpg.Connection, site: SiteFacts, fake: FakeTwilio, senders: Senders) -> None:
    invitation_sms = await queue_received(conn, site, phone="+4915133333333")
    other_sms = await queue_received(conn, site, phone="+4915133334444")
    invitation = (await row(conn, invitation_sms)).request_id
    await conn.execute("UPDATE requests SET invitation = 'voluntary' WHERE id = $1", invitation)
    for phone in ("+4915133333333", "+4915133334444"):
        fake.permanent_for(phone, "21211")
    stats = await dispatch_due(pool, senders, now=NOW)
    assert stats.failed == 2
    letters = await conn.fetch("SELECT request_id, reason, outbox_id, status FROM letters")
    assert [(r["request_id"], r["reason"], r["outbox_id"], r["status"]) for r in letters] == [
        (invitation, "sms_failed", invitation_sms, "queued")]
    assert (await row(conn, other_sms)).request_id not in {r["request_id"] for r in letters}
    kinds = [r["kind"] for r in await conn.fetch(
        "SELECT kind FROM invitation_evidence WHERE request_id = $1 ORDER BY id", invitation)]
    assert "sms_failed" in kinds and "letter_queued" in kinds
