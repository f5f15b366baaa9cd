"""The outbox worker against the real twilio SDK and the local fake: retries, leases, quiet hours."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from scheduler import db, outbox
from scheduler.config import Config
from scheduler.notify import dispatch
from scheduler.notify.dispatch import Senders, Settings, backoff, dispatch_due, in_quiet_hours, quiet_hours_end, sweep
from scheduler.notify.sms import TwilioSms
from scheduler.outbox import OutboxStatus
from tests import factories
from tests.factories import SiteFacts
from tests.fakes.twilio_server import FakeTwilio
from tests.notify.conftest import FROM, NOW, SID, TOKEN, queue_for_appointment, queue_received, row

BERLIN = ZoneInfo("Europe/Berlin")


async def test_success_path(pool: asyncpg.Pool, conn: asyncpg.Connection, site: SiteFacts, fake: FakeTwilio,
                            senders: Senders) -> None:
    outbox_id = await queue_received(conn, site, phone="+4915111111111")
    stats = await dispatch_due(pool, senders, now=NOW)
    assert (stats.claimed, stats.sent) == (1, 1)
    message = await row(conn, outbox_id)
    assert message.status is OutboxStatus.sent
    assert message.attempts == 1 and message.sent_at == NOW
    [sent] = fake.messages
    assert message.provider_id == sent.sid
    assert sent.to == "+4915111111111" and sent.from_ == FROM
    assert sent.status_callback == senders.settings.status_callback_url
    assert sent.idempotency_token == message.idempotency_key
    assert message.segments == sent.num_segments >= 1
    token = message.payload["token"]
    assert f"/r/{token}" in sent.body and message.payload["reference"] in sent.body
    assert await dispatch_due(pool, senders, now=NOW + timedelta(hours=1)) == dispatch.Stats()


async def test_server_error_is_retried_later(pool: asyncpg.Pool, conn: asyncpg.Connection, site: SiteFacts,
                                             fake: FakeTwilio, senders: Senders) -> None:
    outbox_id = await queue_received(conn, site)
    fake.fail_next(1, status=500)
    stats = await dispatch_due(pool, senders, now=NOW)
    assert stats.retried == 1
    message = await row(conn, outbox_id)
    assert message.status is OutboxStatus.pending and message.attempts == 1
    assert NOW + timedelta(seconds=15) <= message.due_at <= NOW + timedelta(seconds=45)
    assert "500" in (message.last_error or "")
    assert (await dispatch_due(pool, senders, now=NOW + timedelta(seconds=5))).claimed == 0
    assert (await dispatch_due(pool, senders, now=NOW + timedelta(minutes=1))).sent == 1
    assert (await row(conn, outbox_id)).status is OutboxStatus.sent
    assert len(fake.messages) == 1


async def test_batch_with_mixed_outcomes_records_each_row(pool: asyncpg.Pool, conn: asyncpg.Connection,
                                                          site: SiteFacts, fake: FakeTwilio,
                                                          senders: Senders) -> None:
    ok = [await queue_received(conn, site) for _ in range(12)]
    invalid = await queue_received(conn, site, phone="+4915144444444")
    stopped = await queue_received(conn, site, phone="+4915155555555")
    await conn.execute("UPDATE clients SET sms_opted_out_at = now() WHERE phone = '+4915155555555'")
    fake.permanent_for("+4915144444444", "21211")
    # The first request to arrive gets the 429: one of the first eight, all of them good numbers (the invalid
    # row is claimed 13th, so its request starts only after an earlier one was answered).
    fake.rate_limit_next(1, retry_after=120)
    stats = await dispatch_due(pool, senders, now=NOW)
    assert (stats.claimed, stats.sent, stats.retried, stats.failed, stats.cancelled, stats.lost) == (14, 11, 1, 1, 1, 0)
    assert (await row(conn, stopped)).error_code == "opted-out"
    assert (await row(conn, invalid)).error_code == "21211"
    messages = {i: await row(conn, i) for i in ok}
    [retried] = [m for m in messages.values() if m.status is OutboxStatus.pending]
    assert retried.due_at >= NOW + timedelta(seconds=120) and retried.provider_id is None
    sent = [m for m in messages.values() if m.status is OutboxStatus.sent]
    assert {m.provider_id for m in sent} == {m.sid for m in fake.messages}
    assert all(m.sent_at == NOW and 1 <= m.segments <= 2 for m in sent)  # receipts carry the STOP hint
    bodies = dict(await conn.fetch("SELECT provider_id, body FROM outbox WHERE status = 'sent'"))
    assert bodies == {m.sid: m.body for m in fake.messages}


async def test_stop_during_a_run_reaches_the_messages_not_yet_sent(pool: asyncpg.Pool, conn: asyncpg.Connection,
                                                                   site: SiteFacts, fake: FakeTwilio,
                                                                   sender: TwilioSms) -> None:
    await queue_received(conn, site)
    later = await queue_received(conn, site, phone="+4915177777777")
    fake.stall_next(1, 0.5)
    run = asyncio.create_task(dispatch_due(pool, Senders(sms=sender, settings=Settings(concurrency=1)), now=NOW))
    for _ in range(500):  # until the first message is at the provider
        if fake.create_requests:
            break
        await asyncio.sleep(0.01)
    # The client sends STOP while the first message is still being sent: the second, already claimed, is checked
    # right before its own send and not sent.
    await conn.execute("UPDATE clients SET sms_opted_out_at = now() WHERE phone = '+4915177777777'")
    stats = await run
    assert (stats.claimed, stats.sent, stats.cancelled) == (2, 1, 1)
    assert (await row(conn, later)).error_code == "opted-out"
    assert "+4915177777777" not in {m.to for m in fake.messages}


async def test_a_stalled_provider_never_makes_a_send_outlive_its_lease(pool: asyncpg.Pool, conn: asyncpg.Connection,
                                                                        site: SiteFacts, fake: FakeTwilio,
                                                                        app_port: int) -> None:
    # Sends may start until 1.5 s after the claim; the first one hangs for 3 s, so the other two are given
    # back untouched instead of being sent when the sweeper may already have handed them to another worker.
    ids = [await queue_received(conn, site) for _ in range(3)]
    patient = TwilioSms(SID, TOKEN, FROM, api_base=fake.base_url, timeout=10)
    settings = Settings(concurrency=1, lease=timedelta(seconds=21.5), start_margin=timedelta(seconds=20))
    try:
        fake.stall_next(1, 3.0)
        stats = await dispatch_due(pool, Senders(sms=patient, settings=settings), now=NOW)
        assert (stats.claimed, stats.sent, stats.released) == (3, 1, 2)
        given_back = [await row(conn, i) for i in ids[1:]]
        assert all(m.status is OutboxStatus.pending and m.attempts == 0 for m in given_back)
        again = await dispatch_due(pool, Senders(sms=patient, settings=settings), now=NOW)
    finally:
        await patient.close()
    assert (again.claimed, again.sent) == (2, 2)
    assert len(fake.messages) == 3


async def test_recording_in_one_statement_keeps_each_rows_claim_guard(conn: asyncpg.Connection,
                                                                       site: SiteFacts) -> None:
    ids = [await queue_received(conn, site) for _ in range(3)]
    claimed = await outbox.claim_due(conn, now=NOW, lease_until=NOW + timedelta(seconds=60), limit=10)
    assert sorted(m.id for m in claimed) == sorted(ids)
    first, second, third = sorted(claimed, key=lambda m: m.id)
    # The second row's lease ran out and another worker claimed it again; the third was cancelled for good.
    await conn.execute("UPDATE outbox SET lease_until = $2 WHERE id = $1", second.id, NOW - timedelta(seconds=1))
    assert await outbox.requeue_stuck(conn, now=NOW, max_attempts=6) == 1
    [again] = await outbox.claim_due(conn, now=NOW, lease_until=NOW + timedelta(seconds=60), limit=10)
    assert again.id == second.id and again.attempts == 2
    assert await outbox.finish(conn, third, status=OutboxStatus.cancelled, error="test", code="test")
    recorded = await outbox.mark_sent_many(conn, [
        outbox.Accepted(m, f"SM{m.id:032d}", 1, "body") for m in (first, second, third)], now=NOW)
    assert recorded == {first.id}
    assert (await row(conn, first.id)).status is OutboxStatus.sent
    late = await row(conn, second.id)
    assert (late.status, late.attempts, late.provider_id) == (OutboxStatus.sending, 2, None)
    assert (await row(conn, third.id)).status is OutboxStatus.cancelled
    assert await outbox.mark_sent_many(conn, [], now=NOW) == set()


async def test_stall_times_out_as_transient(pool: asyncpg.Pool, conn: asyncpg.Connection, site: SiteFacts,
                                            fake: FakeTwilio, app_port: int) -> None:
    outbox_id = await queue_received(conn, site)
    quick = TwilioSms(SID, TOKEN, FROM, api_base=fake.base_url, timeout=0.3)
    try:
        fake.stall_next(1, 2.0)
        stats = await dispatch_due(pool, Senders(sms=quick), now=NOW)
    finally:
        await quick.close()
    assert stats.retried == 1
    message = await row(conn, outbox_id)
    assert message.status is OutboxStatus.pending
    assert "unreachable" in (message.last_error or "")


async def test_rate_limit_honours_retry_after(pool: asyncpg.Pool, conn: asyncpg.Connection, site: SiteFacts,
                                              fake: FakeTwilio, senders: Senders) -> None:
    outbox_id = await queue_received(conn, site)
    fake.rate_limit_next(1, retry_after=900)
    await dispatch_due(pool, senders, now=NOW)
    message = await row(conn, outbox_id)
    assert message.status is OutboxStatus.pending
    assert message.due_at >= NOW + timedelta(seconds=900)
    assert "rate limit" in (message.last_error or "")


@pytest.mark.parametrize("code", ["21211", "21610"])
async def test_permanent_error_fails_with_code_for_staff(pool: asyncpg.Pool, conn: asyncpg.Connection,
                                                         site: SiteFacts, fake: FakeTwilio, senders: Senders,
                                                         code: str) -> None:
    outbox_id = await queue_received(conn, site, phone="+4915122222222")
    fake.permanent_for("+4915122222222", code)
    stats = await dispatch_due(pool, senders, now=NOW)
    assert stats.failed == 1
    message = await row(conn, outbox_id)
    assert message.status is OutboxStatus.failed and message.error_code == code
    assert "number cannot receive SMS" in (message.last_error or "")
    assert "22222222" not in (message.last_error or "")
    client_id = await conn.fetchval("SELECT client_id FROM requests WHERE id = $1", message.request_id)
    shown = await outbox.list_for_client(conn, client_id)
    assert [m["error_code"] for m in shown] == [code]
    assert await dispatch_due(pool, senders, now=NOW + timedelta(days=1)) == dispatch.Stats()


async def test_retries_end_in_failed(pool: asyncpg.Pool, conn: asyncpg.Connection, site: SiteFacts,
                                     fake: FakeTwilio, senders: Senders) -> None:
    outbox_id = await queue_received(conn, site)
    limited = dataclasses.replace(senders, settings=dataclasses.replace(senders.settings, max_attempts=2))
    fake.fail_next(2, status=503)
    await dispatch_due(pool, limited, now=NOW)
    await dispatch_due(pool, limited, now=NOW + timedelta(hours=2))
    message = await row(conn, outbox_id)
    assert message.status is OutboxStatus.failed and message.error_code == "retries-exhausted"
    assert message.attempts == 2


async def test_lease_expiry_requeues_a_killed_worker(pool: asyncpg.Pool, conn: asyncpg.Connection,
                                                     site: SiteFacts, fake: FakeTwilio, senders: Senders) -> None:
    outbox_id = await queue_received(conn, site)
    # A worker claims and dies before sending: nothing else may take the row until its lease runs out.
    claimed = await outbox.claim_due(conn, now=NOW, lease_until=NOW + timedelta(seconds=60), limit=10)
    assert [m.id for m in claimed] == [outbox_id]
    assert (await dispatch_due(pool, senders, now=NOW)).claimed == 0
    assert await sweep(pool, now=NOW + timedelta(seconds=30)) == 0
    assert await sweep(pool, now=NOW + timedelta(minutes=2)) == 1
    assert (await row(conn, outbox_id)).status is OutboxStatus.pending
    assert (await dispatch_due(pool, senders, now=NOW + timedelta(minutes=2))).sent == 1
    message = await row(conn, outbox_id)
    assert message.status is OutboxStatus.sent and message.attempts == 2
    assert len(fake.messages) == 1
    # The dead worker's late result no longer matches its claim.
    assert not await outbox.mark_sent_many(conn, [outbox.Accepted(claimed[0], "SMlate", 1, None)], now=NOW)


async def test_sweeper_fails_rows_out_of_attempts(pool: asyncpg.Pool, conn: asyncpg.Connection,
                                                  site: SiteFacts) -> None:
    outbox_id = await queue_received(conn, site)
    await conn.execute("UPDATE outbox SET attempts = 5 WHERE id = $1", outbox_id)
    await outbox.claim_due(conn, now=NOW, lease_until=NOW + timedelta(seconds=60), limit=1)
    assert await sweep(pool, now=NOW + timedelta(minutes=5), max_attempts=6) == 1
    message = await row(conn, outbox_id)
    assert message.status is OutboxStatus.failed and message.error_code == "lease-expired"


async def test_two_dispatchers_never_send_twice(config: Config, conn: asyncpg.Connection, site: SiteFacts,
                                                fake: FakeTwilio, sender: TwilioSms) -> None:
    for _ in range(60):
        await queue_received(conn, site)
    assert config.database.url
    pools = [await db.create_pool(config.database.url, max_size=4) for _ in range(2)]
    small = Senders(sms=sender, settings=Settings(batch=7, concurrency=4))

    async def drain(p: asyncpg.Pool) -> int:
        sent = 0
        while (stats := await dispatch_due(p, small, now=NOW)).claimed:
            sent += stats.sent
        return sent

    try:
        counts = await asyncio.gather(drain(pools[0]), drain(pools[1]))
    finally:
        for p in pools:
            await p.close()
    assert sum(counts) == 60 and all(counts)
    assert len(fake.messages) == 60
    assert len({m.idempotency_token for m in fake.messages}) == 60
    assert await conn.fetchval("SELECT count(*) FROM outbox WHERE status = 'sent'") == 60


async def test_quiet_hours_move_due_at_to_quiet_end(pool: asyncpg.Pool, conn: asyncpg.Connection,
                                                    site: SiteFacts, fake: FakeTwilio, senders: Senders) -> None:
    night = datetime(2026, 3, 3, 22, 30, tzinfo=BERLIN)
    outbox_id = await queue_received(conn, site, due_at=night)
    stats = await dispatch_due(pool, senders, now=night)
    assert stats.deferred == 1 and not fake.messages
    message = await row(conn, outbox_id)
    assert message.status is OutboxStatus.pending and message.attempts == 0
    assert message.due_at == datetime(2026, 3, 4, 8, 0, tzinfo=BERLIN)
    # Reminders too: one due at 06:00 waits until 08:00.
    start = datetime(2026, 3, 4, 10, 0, tzinfo=BERLIN)
    appointment_id = await factories.create_appointment(conn, site, start=start)
    reminder_id = await queue_for_appointment(conn, site, appointment_id, kind="sms.reminder",
                                              due_at=start - timedelta(hours=4))
    early = datetime(2026, 3, 4, 6, 0, tzinfo=BERLIN)
    assert (await dispatch_due(pool, senders, now=early)).deferred == 1
    assert (await row(conn, reminder_id)).due_at == datetime(2026, 3, 4, 8, 0, tzinfo=BERLIN)
    assert (await dispatch_due(pool, senders, now=datetime(2026, 3, 4, 8, 0, tzinfo=BERLIN))).sent == 2


async def test_opted_out_client_gets_nothing(pool: asyncpg.Pool, conn: asyncpg.Connection, site: SiteFacts,
                                             fake: FakeTwilio, senders: Senders) -> None:
    outbox_id = await queue_received(conn, site, phone="+4915133333333")
    await conn.execute("UPDATE clients SET sms_opted_out_at = now() WHERE phone = '+4915133333333'")
    stats = await dispatch_due(pool, senders, now=NOW)
    assert stats.cancelled == 1 and not fake.messages
    message = await row(conn, outbox_id)
    assert message.status is OutboxStatus.cancelled and message.error_code == "opted-out"


async def test_message_for_a_cancelled_appointment_is_dropped(pool: asyncpg.Pool, conn: asyncpg.Connection,
                                                              site: SiteFacts, fake: FakeTwilio,
                                                              senders: Senders) -> None:
    appointment_id = await factories.create_appointment(conn, site, start=NOW + timedelta(days=2))
    outbox_id = await queue_for_appointment(conn, site, appointment_id)
    await conn.execute("UPDATE appointments SET status = 'cancelled' WHERE id = $1", appointment_id)
    assert (await dispatch_due(pool, senders, now=NOW)).cancelled == 1
    assert (await row(conn, outbox_id)).error_code == "superseded"
    assert not fake.messages


def test_quiet_hours_window() -> None:
    tz = "Europe/Berlin"
    start, end = time(21), time(8)
    assert in_quiet_hours(datetime(2026, 7, 1, 19, 30, tzinfo=UTC), tz, start, end)      # 21:30 CEST
    assert not in_quiet_hours(datetime(2026, 7, 1, 18, 30, tzinfo=UTC), tz, start, end)  # 20:30 CEST
    assert in_quiet_hours(datetime(2026, 7, 1, 5, 59, tzinfo=UTC), tz, start, end)       # 07:59 CEST
    assert not in_quiet_hours(datetime(2026, 7, 1, 6, 0, tzinfo=UTC), tz, start, end)
    assert not in_quiet_hours(datetime(2026, 7, 1, 3, 0, tzinfo=UTC), tz, time(8), time(8))
    # Across the DST change at night, the end is still 08:00 local.
    assert quiet_hours_end(datetime(2026, 3, 28, 23, 0, tzinfo=UTC), tz, end) == \
        datetime(2026, 3, 29, 8, 0, tzinfo=ZoneInfo(tz))
    assert quiet_hours_end(datetime(2026, 3, 29, 5, 0, tzinfo=UTC), tz, end).utcoffset() == timedelta(hours=2)


def test_backoff_grows_with_jitter_and_respects_retry_after() -> None:
    assert backoff(1, retry_after=None, rng=lambda: 0.0) == timedelta(seconds=15)
    assert backoff(1, retry_after=None, rng=lambda: 1.0) == timedelta(seconds=45)
    assert backoff(3, retry_after=None, rng=lambda: 0.5) == timedelta(seconds=120)
    assert backoff(20, retry_after=None, rng=lambda: 0.5) == timedelta(seconds=3600)
    assert backoff(1, retry_after=600, rng=lambda: 0.0) == timedelta(seconds=600)
    assert backoff(4, retry_after=2, rng=lambda: 1.0) == timedelta(seconds=3)  # the provider's word wins
