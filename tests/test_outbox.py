"""outbox.py called directly: idempotent enqueue, claims and their guards, sweeps, delivery receipts."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg

from scheduler import outbox
from scheduler.outbox import Accepted, OutboxStatus
from tests.factories import SiteFacts, create_appointment

NOW = datetime.now(UTC)
PHONE = "+4915100000001"


async def _enqueue(conn: asyncpg.Connection, site: SiteFacts, key: str, *, due_at: datetime | None = None,
                   kind: str = "sms.test", appointment_id: int | None = None) -> int | None:
    return await outbox.enqueue(conn, site_id=site.site_id, key=key, channel="sms", kind=kind, recipient=PHONE,
                                language="de", payload={"n": 1}, due_at=due_at or NOW - timedelta(seconds=1),
                                appointment_id=appointment_id)


async def _status(conn: asyncpg.Connection, outbox_id: int) -> str:
    return await conn.fetchval("SELECT status FROM outbox WHERE id = $1", outbox_id)


async def test_enqueue_twice_with_one_key_writes_one_row(conn: asyncpg.Connection, site: SiteFacts) -> None:
    first = await _enqueue(conn, site, "k:1")
    assert first is not None
    assert await _enqueue(conn, site, "k:1", kind="sms.other") is None
    rows = await conn.fetch("SELECT id, kind, status FROM outbox")
    assert [(r["id"], r["kind"], r["status"]) for r in rows] == [(first, "sms.test", "pending")]


async def test_claim_takes_only_due_rows_and_counts_the_attempt(conn: asyncpg.Connection, site: SiteFacts) -> None:
    due = await _enqueue(conn, site, "due")
    await _enqueue(conn, site, "later", due_at=NOW + timedelta(hours=1))
    claimed = await outbox.claim_due(conn, now=NOW, lease_until=NOW + timedelta(minutes=1), limit=10)
    assert [(m.id, m.status, m.attempts) for m in claimed] == [(due, OutboxStatus.sending, 1)]
    assert await outbox.claim_due(conn, now=NOW, lease_until=NOW + timedelta(minutes=1), limit=10) == []


async def test_two_workers_claiming_at_once_get_disjoint_rows(pool: asyncpg.Pool, site: SiteFacts) -> None:
    async with pool.acquire() as conn:
        ids = {await _enqueue(conn, site, f"r:{i}") for i in range(20)}

    async def claim() -> set[int]:
        async with pool.acquire() as c, c.transaction():
            claimed = await outbox.claim_due(c, now=NOW, lease_until=NOW + timedelta(minutes=1), limit=12)
            await asyncio.sleep(0.05)  # hold the row locks while the other worker claims
            return {m.id for m in claimed}

    a, b = await asyncio.gather(claim(), claim())
    assert not a & b
    assert a | b == ids


async def test_a_stale_worker_cannot_overwrite_the_result_of_a_reclaim(conn: asyncpg.Connection,
                                                                       site: SiteFacts) -> None:
    outbox_id = await _enqueue(conn, site, "stale")
    [stale] = await outbox.claim_due(conn, now=NOW, lease_until=NOW - timedelta(seconds=1), limit=1)
    # The lease ran out; the sweeper returns the row and another worker claims it again.
    assert await outbox.requeue_stuck(conn, now=NOW, max_attempts=5) == 1
    [fresh] = await outbox.claim_due(conn, now=NOW, lease_until=NOW + timedelta(minutes=1), limit=1)
    assert fresh.attempts == 2
    assert await outbox.mark_sent_many(conn, [Accepted(stale, "SM-stale", 1, "x")], now=NOW) == set()
    assert not await outbox.retry_later(conn, stale, due_at=NOW, error="late")
    assert await outbox.mark_sent_many(conn, [Accepted(fresh, "SM-fresh", 1, "x")], now=NOW) == {outbox_id}
    message = await outbox.get(conn, outbox_id)
    assert message is not None
    assert (message.status, message.provider_id, message.attempts) == (OutboxStatus.sent, "SM-fresh", 2)


async def test_requeue_stuck_ends_a_row_that_used_every_attempt(conn: asyncpg.Connection, site: SiteFacts) -> None:
    retried = await _enqueue(conn, site, "a")
    exhausted = await _enqueue(conn, site, "b")
    await conn.execute("UPDATE outbox SET attempts = 2 WHERE id = $1", exhausted)
    await outbox.claim_due(conn, now=NOW, lease_until=NOW - timedelta(seconds=1), limit=10)
    assert await outbox.requeue_stuck(conn, now=NOW, max_attempts=3) == 2
    assert await _status(conn, retried) == "pending"
    row = await conn.fetchrow("SELECT status, error_code FROM outbox WHERE id = $1", exhausted)
    assert (row["status"], row["error_code"]) == ("failed", "lease-expired")
    assert await outbox.requeue_stuck(conn, now=NOW, max_attempts=3) == 0


async def test_delivery_receipts_never_move_a_final_state_back(conn: asyncpg.Connection, site: SiteFacts) -> None:
    outbox_id = await _enqueue(conn, site, "receipt")
    [message] = await outbox.claim_due(conn, now=NOW, lease_until=NOW + timedelta(minutes=1), limit=1)
    await outbox.mark_sent_many(conn, [Accepted(message, "SM-1", 1, "body")], now=NOW)
    assert await outbox.record_delivery(conn, provider_id="SM-1", status=OutboxStatus.delivered, error_code=None,
                                        error=None)
    assert not await outbox.record_delivery(conn, provider_id="SM-1", status=OutboxStatus.sent, error_code=None,
                                            error=None)
    assert not await outbox.record_delivery(conn, provider_id="SM-1", status=OutboxStatus.failed,
                                            error_code="30003", error="unreachable")
    assert await _status(conn, outbox_id) == "delivered"


async def test_an_early_receipt_waits_until_its_message_has_the_id(conn: asyncpg.Connection,
                                                                   site: SiteFacts) -> None:
    outbox_id = await _enqueue(conn, site, "early")
    [message] = await outbox.claim_due(conn, now=NOW, lease_until=NOW + timedelta(minutes=1), limit=1)
    assert not await outbox.record_delivery(conn, provider_id="SM-early", status=OutboxStatus.undelivered,
                                            error_code="30005", error="unknown")
    assert await conn.fetchval("SELECT count(*) FROM early_receipts") == 1
    assert await outbox.apply_early_receipts(conn, now=NOW) == 0  # not matched yet: kept
    await outbox.mark_sent_many(conn, [Accepted(message, "SM-early", 1, "body")], now=NOW)
    assert await outbox.apply_early_receipts(conn, now=NOW) == 1
    row = await conn.fetchrow("SELECT status, error_code FROM outbox WHERE id = $1", outbox_id)
    assert (row["status"], row["error_code"]) == ("undelivered", "30005")
    assert await conn.fetchval("SELECT count(*) FROM early_receipts") == 0


async def test_cancel_pending_keeps_the_planned_keys(conn: asyncpg.Connection, site: SiteFacts) -> None:
    appointment_id = await create_appointment(conn, site, start=NOW + timedelta(days=5))
    old = await _enqueue(conn, site, "rem:old", kind="sms.reminder", appointment_id=appointment_id)
    kept = await _enqueue(conn, site, "rem:new", kind="sms.reminder", appointment_id=appointment_id)
    other = await _enqueue(conn, site, "conf", kind="sms.appointment_confirmed", appointment_id=appointment_id)
    assert await outbox.cancel_pending(conn, appointment_id=appointment_id, kinds=["sms.reminder"],
                                       keep=["rem:new"]) == 1
    assert [await _status(conn, i) for i in (old, kept, other)] == ["cancelled", "pending", "pending"]
