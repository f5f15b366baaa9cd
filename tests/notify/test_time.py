"""Time is treacherous: reminders across the daylight-saving change go out exactly once, at the right
instant, and a clock that jumps back or forward sends nothing twice."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import asyncpg

from scheduler import appointments, clients, notices
from scheduler.notify.dispatch import Senders, Settings, dispatch_due, sweep
from scheduler.notify.sms import ConsoleSms
from tests import factories
from tests.factories import SiteFacts

BERLIN = ZoneInfo("Europe/Berlin")
OFFSETS = (timedelta(days=1), timedelta(hours=2))


async def _appointment_with_reminders(conn: asyncpg.Connection, site: SiteFacts, start: datetime,
                                      booked_at: datetime) -> int:
    client_id = await factories.create_client(conn, site)
    appointment_id = await factories.create_appointment(conn, site, start=start)
    await conn.execute("UPDATE appointments SET client_id = $2 WHERE id = $1", appointment_id, client_id)
    await conn.execute("UPDATE requests SET client_id = $2 WHERE id = (SELECT request_id FROM appointments "
                       "WHERE id = $1)", appointment_id, client_id)
    appointment = await appointments.get(conn, appointment_id)
    client = await clients.get(conn, client_id)
    for _ in range(2):  # a retried job or a double click queues nothing twice
        await notices.appointment_confirmed(conn, client=client, appointment=appointment, link_token="t" * 43,
                                            reminder_offsets=OFFSETS, now=booked_at)
    return appointment_id


async def _sent(path: Path) -> list[dict[str, str]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


async def test_reminders_across_the_spring_change_go_out_once(pool: asyncpg.Pool, conn: asyncpg.Connection,
                                                               site: SiteFacts, tmp_path: Path) -> None:
    start = datetime(2027, 3, 29, 8, 30, tzinfo=BERLIN)  # Monday after the clocks went forward
    booked = datetime(2027, 3, 26, 10, 0, tzinfo=BERLIN)
    appointment_id = await _appointment_with_reminders(conn, site, start, booked)
    due = {r["kind"] + str(r["payload"].get("appointment_id")) + r["idempotency_key"]: r["due_at"] for r in
           await conn.fetch("SELECT kind, payload, idempotency_key, due_at FROM outbox WHERE kind = 'sms.reminder'")}
    assert sorted(due.values()) == [start - timedelta(days=1), start - timedelta(hours=2)]

    log = tmp_path / "sms.jsonl"
    senders = Senders(sms=ConsoleSms(log), settings=Settings())
    moment = booked
    while moment < start:  # a worker ticking every 10 minutes through the weekend and the DST night
        await dispatch_due(pool, senders, now=moment.astimezone(UTC))
        moment += timedelta(minutes=10)
    reminders = await conn.fetch(
        "SELECT idempotency_key, sent_at FROM outbox WHERE appointment_id = $1 AND kind = 'sms.reminder'",
        appointment_id)
    assert len(reminders) == 2 and all(r["sent_at"] is not None for r in reminders)
    keys = [line["key"] for line in await _sent(log)]
    assert len([k for k in keys if ":reminder:" in k]) == 2 and len(keys) == len(set(keys))
    # The 2-hour reminder falls at 06:30 on Monday, inside quiet hours: it waits until 08:00 local.
    two_hours = next(r for r in reminders if ":reminder:7200:" in r["idempotency_key"])
    assert two_hours["sent_at"].astimezone(BERLIN).time() >= datetime(2027, 3, 29, 8, 0).time()


async def test_a_clock_jumping_back_or_forward_sends_nothing_twice(pool: asyncpg.Pool, conn: asyncpg.Connection,
                                                                   site: SiteFacts, tmp_path: Path) -> None:
    booked = datetime(2027, 5, 3, 10, 0, tzinfo=BERLIN)
    await _appointment_with_reminders(conn, site, datetime(2027, 5, 10, 10, 0, tzinfo=BERLIN), booked)
    log = tmp_path / "sms.jsonl"
    senders = Senders(sms=ConsoleSms(log), settings=Settings())
    now = booked.astimezone(UTC)
    await dispatch_due(pool, senders, now=now)  # the confirmation goes out
    assert len(await _sent(log)) == 1
    await dispatch_due(pool, senders, now=now - timedelta(hours=3))  # the clock jumps back
    await sweep(pool, now=now - timedelta(hours=3))
    assert len(await _sent(log)) == 1
    far = now + timedelta(days=30)  # the clock jumps far ahead: every reminder is now "due"
    await sweep(pool, now=far)
    await dispatch_due(pool, senders, now=far)
    await dispatch_due(pool, senders, now=far)
    keys = [line["key"] for line in await _sent(log)]
    assert len(keys) == len(set(keys))
    statuses = {r["status"] for r in await conn.fetch("SELECT status FROM outbox")}
    assert "sending" not in statuses
