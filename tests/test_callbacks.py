"""callbacks.py called directly: insert, claim, attempts and the retry plan, close, reassign, overdue flags."""

from __future__ import annotations

import asyncio
import secrets
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from scheduler import callbacks
from scheduler.callbacks import CallbackOutcome, CallbackStatus
from scheduler.errors import InvalidTransition
from scheduler.policy.rules import Channel
from tests.factories import SiteFacts, create_client

NOW = datetime(2030, 3, 4, 9, 0, tzinfo=UTC)


async def _callback(conn: asyncpg.Connection, site: SiteFacts, *, key: str | None = None,
                    max_attempts: int | None = None) -> int:
    client_id = await create_client(conn, site)
    phone = await conn.fetchval("SELECT phone FROM clients WHERE id = $1", client_id)
    inserted = await callbacks.insert(
        conn, site_id=site.site_id, client_id=client_id, concern_id=site.concerns["general"], channel=Channel.phone,
        reference=secrets.token_hex(4).upper(), link_token=secrets.token_urlsafe(16), phone=phone, language="de",
        windows={}, note="", idempotency_key=key,
    )
    assert inserted is not None
    if max_attempts is not None:
        await conn.execute("UPDATE callbacks SET max_attempts = $2 WHERE id = $1", inserted[0], max_attempts)
    return inserted[0]


async def _actions(conn: asyncpg.Connection, callback_id: int) -> list[str]:
    rows = await conn.fetch("SELECT action FROM audit_events WHERE subject_type = 'callback' AND subject_id = $1 "
                            "ORDER BY id", callback_id)
    return [r["action"] for r in rows]


async def test_insert_with_a_taken_idempotency_key_returns_none(conn: asyncpg.Connection, site: SiteFacts) -> None:
    callback_id = await _callback(conn, site, key="k-1")
    by_key = await callbacks.find_by_key(conn, site.site_id, "k-1", server=False)
    assert by_key is not None
    found = by_key[0]
    assert found.id == callback_id and found.status is CallbackStatus.open
    assert await callbacks.find_by_key(conn, site.site_id, "k-1", server=True) is None
    again = await callbacks.insert(
        conn, site_id=site.site_id, client_id=found.client_id, concern_id=found.concern_id, channel=Channel.web,
        reference="OTHER1", link_token="other-token", phone=found.phone, language="de", windows={}, note="",
        idempotency_key="k-1",
    )
    assert again is None
    assert await conn.fetchval("SELECT count(*) FROM callbacks") == 1


async def test_claim_locks_out_others_until_the_claim_expires(conn: asyncpg.Connection, site: SiteFacts) -> None:
    callback_id = await _callback(conn, site)
    meyer, other = site.staff["cw.meyer"], next(i for u, i in site.staff.items() if u != "cw.meyer")
    claimed = await callbacks.claim(conn, callback_id, staff_id=meyer, now=NOW)
    assert claimed.status is CallbackStatus.in_progress and claimed.claimed_by == meyer
    assert claimed.claimed_until == NOW + timedelta(minutes=callbacks.CLAIM_MINUTES)
    with pytest.raises(InvalidTransition):
        await callbacks.claim(conn, callback_id, staff_id=other, now=NOW + timedelta(minutes=5))
    # The holder may renew; after expiry another caseworker may take it over.
    await callbacks.claim(conn, callback_id, staff_id=meyer, now=NOW + timedelta(minutes=5))
    taken = await callbacks.claim(conn, callback_id, staff_id=other, now=NOW + timedelta(minutes=40))
    assert taken.claimed_by == other
    assert await _actions(conn, callback_id) == ["callback.claim"] * 3


async def test_attempts_follow_the_retry_plan_until_unreachable(conn: asyncpg.Connection, site: SiteFacts) -> None:
    callback_id = await _callback(conn, site, max_attempts=2)
    staff_id = site.staff["cw.meyer"]
    first = await callbacks.record_attempt(conn, callback_id, staff_id=staff_id, outcome=CallbackOutcome.no_answer,
                                           note="mailbox", now=NOW)
    # No stored decision: the default retry is two hours later.
    assert (first.status, first.attempts, first.next_attempt_at) == (CallbackStatus.open, 1, NOW + timedelta(hours=2))
    second = await callbacks.record_attempt(conn, callback_id, staff_id=staff_id, outcome=CallbackOutcome.no_answer,
                                            note="", now=NOW + timedelta(hours=2))
    assert (second.status, second.attempts, second.next_attempt_at) == (CallbackStatus.unreachable, 2, None)
    assert await conn.fetchval("SELECT closed_at IS NOT NULL FROM callbacks WHERE id = $1", callback_id)
    with pytest.raises(InvalidTransition):
        await callbacks.record_attempt(conn, callback_id, staff_id=staff_id, outcome=CallbackOutcome.reached,
                                       note="", now=NOW)
    outcomes = await conn.fetch("SELECT outcome, note FROM callback_attempts WHERE callback_id = $1 ORDER BY id",
                                callback_id)
    assert [(r["outcome"], r["note"]) for r in outcomes] == [("no_answer", "mailbox"), ("no_answer", "")]
    assert await _actions(conn, callback_id) == ["callback.no_answer", "callback.no_answer"]


async def test_reached_and_wrong_number_close_at_once(conn: asyncpg.Connection, site: SiteFacts) -> None:
    staff_id = site.staff["cw.meyer"]
    reached = await _callback(conn, site)
    wrong = await _callback(conn, site)
    done = await callbacks.record_attempt(conn, reached, staff_id=staff_id, outcome=CallbackOutcome.reached,
                                          note="", now=NOW)
    assert done.status is CallbackStatus.reached and done.claimed_by is None
    gone = await callbacks.record_attempt(conn, wrong, staff_id=staff_id, outcome=CallbackOutcome.wrong_number,
                                          note="", now=NOW)
    assert gone.status is CallbackStatus.unreachable and gone.attempts == 1


async def test_close_and_reassign_only_while_open(conn: asyncpg.Connection, site: SiteFacts) -> None:
    callback_id = await _callback(conn, site)
    team_id = next(iter(site.teams.values()))
    moved = await callbacks.reassign(conn, callback_id, team_id=team_id, staff_id=None, actor="lead")
    assert (moved.team_id, moved.staff_id) == (team_id, None)
    closed = await callbacks.close(conn, callback_id, to=CallbackStatus.cancelled, actor="client")
    assert closed.status is CallbackStatus.cancelled
    with pytest.raises(InvalidTransition):
        await callbacks.close(conn, callback_id, to=CallbackStatus.cancelled, actor="client")
    with pytest.raises(InvalidTransition):
        await callbacks.reassign(conn, callback_id, team_id=None, staff_id=None, actor="lead")
    assert await _actions(conn, callback_id) == ["callback.reassign", "callback.cancelled"]


async def test_flag_overdue_marks_each_open_callback_once(conn: asyncpg.Connection, site: SiteFacts) -> None:
    late, closed, early = [await _callback(conn, site) for _ in range(3)]
    await conn.execute("UPDATE callbacks SET deadline_at = $1 WHERE id = ANY($2::bigint[])", NOW - timedelta(hours=1),
                       [late, closed])
    await conn.execute("UPDATE callbacks SET deadline_at = $1 WHERE id = $2", NOW + timedelta(hours=1), early)
    await callbacks.close(conn, closed, to=CallbackStatus.cancelled, actor="client")
    flagged = await callbacks.flag_overdue(conn, now=NOW)
    assert [(r["id"], r["site_id"]) for r in flagged] == [(late, site.site_id)]
    assert await callbacks.flag_overdue(conn, now=NOW) == []


async def test_two_caseworkers_claiming_at_once_exactly_one_wins(pool: asyncpg.Pool, site: SiteFacts) -> None:
    async with pool.acquire() as conn:
        callback_id = await _callback(conn, site)
    staff_ids = list(site.staff.values())[:2]

    async def claim(staff_id: int) -> int | None:
        async with pool.acquire() as c, c.transaction():
            try:
                return (await callbacks.claim(c, callback_id, staff_id=staff_id, now=NOW)).claimed_by
            except InvalidTransition:
                return None

    results = await asyncio.gather(*(claim(s) for s in staff_ids))
    winners = [r for r in results if r is not None]
    assert len(winners) == 1
    async with pool.acquire() as conn:
        assert (await callbacks.get(conn, callback_id)).claimed_by == winners[0]
