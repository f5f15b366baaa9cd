"""requests.py called directly: the guarded transition table, the one-statement insert, proposals."""

from __future__ import annotations

import asyncio
import secrets
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from scheduler import proposals as proposals_
from scheduler import requests as requests_
from scheduler.errors import InvalidTransition
from scheduler.policy.decision import Decision
from scheduler.policy.rules import Channel, Kind, Mode
from scheduler.policy.slots import Slot
from scheduler.requests import ALLOWED_FROM, CLOSED, Status
from tests.factories import SiteFacts, create_client, create_request

NOW = datetime.now(UTC)
START = (NOW + timedelta(days=7)).replace(hour=8, minute=0, second=0, microsecond=0)


def _decision(priority: int = 20) -> Decision:
    return Decision(kind=Kind.appointment, route_team=None, route_caseworker_id=None, priority=priority,
                    duration=timedelta(minutes=30), earliest_start=NOW, latest_start=NOW + timedelta(days=10),
                    modes=(Mode.in_person,), propose_count=3, auto_confirm=False, retry_after=timedelta(hours=2),
                    max_attempts=3, explanation=())


async def _new(conn: asyncpg.Connection, site: SiteFacts, *, key: str | None) -> requests_.NewRequest:
    slots = [Slot(site.staff["cw.meyer"], START + timedelta(hours=h), START + timedelta(hours=h, minutes=30),
                  Mode.in_person, "A.03") for h in (0, 1)]
    return requests_.NewRequest(
        site_id=site.site_id, client_id=await create_client(conn, site), concern_id=site.concerns["general"],
        channel=Channel.web, language="de", modes=["in_person"], windows={}, note="", idempotency_key=key,
        invitation=None, notice_text=None, created_by=None, status=Status.proposed, decision=_decision(),
        team_id=site.teams["placement"], staff_id=site.staff["cw.meyer"], deadline_at=NOW + timedelta(days=1),
        policy_ids=(), proposals=slots,
        events=[("client:web", "request.received", {}), ("policy", "request.proposed", {"proposals": 2})],
    )


async def test_every_transition_follows_the_allowed_table(conn: asyncpg.Connection, site: SiteFacts) -> None:
    client_id = await create_client(conn, site)
    for to in Status:
        for current in Status:
            request_id = await create_request(conn, site, client_id=client_id, status=current.value)
            allowed = current in ALLOWED_FROM[to]
            if allowed:
                moved = await requests_.transition(conn, request_id, to=to, actor="test", site_id=site.site_id)
                assert moved.status is to
            else:
                with pytest.raises(InvalidTransition):
                    await requests_.transition(conn, request_id, to=to, actor="test", site_id=site.site_id)
            row = await conn.fetchrow("SELECT status, closed_at FROM requests WHERE id = $1", request_id)
            assert row["status"] == (to if allowed else current).value, (current, to)
            assert (row["closed_at"] is not None) == (allowed and to in CLOSED), (current, to)
            audited = await conn.fetchval("SELECT count(*) FROM audit_events WHERE subject_type = 'request' "
                                          "AND subject_id = $1 AND action = $2", request_id, f"request.{to.value}")
            assert audited == (1 if allowed else 0), (current, to)


async def test_transition_sets_only_known_columns(conn: asyncpg.Connection, site: SiteFacts) -> None:
    request_id = await create_request(conn, site, status="proposed")
    with pytest.raises(ValueError):
        await requests_.transition(conn, request_id, to=Status.declined, actor="t", site_id=site.site_id,
                                   status="done")
    assert (await requests_.get(conn, request_id)).status is Status.proposed
    declined = await requests_.transition(conn, request_id, to=Status.declined, actor="t", site_id=site.site_id,
                                          decline_reason="Unterlagen fehlen")
    assert declined.decline_reason == "Unterlagen fehlen"


async def test_insert_writes_request_audit_and_proposals_at_once_and_a_key_only_once(
        conn: asyncpg.Connection, site: SiteFacts) -> None:
    new = await _new(conn, site, key="web-123")
    stored = await requests_.insert(conn, new, reference=secrets.token_hex(5).upper(),
                                    link_token=secrets.token_urlsafe(24))
    assert stored is not None and stored.status is Status.proposed and stored.priority == 20
    actions = [r["action"] for r in await conn.fetch(
        "SELECT action FROM audit_events WHERE subject_type = 'request' AND subject_id = $1 ORDER BY id", stored.id)]
    assert actions == ["request.received", "request.proposed"]
    assert [p.start for p in await proposals_.list_for_request(conn, stored.id)] == [START, START + timedelta(hours=1)]
    again = await requests_.insert(conn, new, reference=secrets.token_hex(5).upper(),
                                   link_token=secrets.token_urlsafe(24))
    assert again is None
    assert await conn.fetchval("SELECT count(*) FROM requests") == 1
    assert await conn.fetchval("SELECT count(*) FROM audit_events") == 2
    assert await conn.fetchval("SELECT count(*) FROM proposals") == 2
    found = await requests_.find_by_key(conn, site.site_id, "web-123", server=False)
    assert found is not None and found[0].id == stored.id
    # Client keys and server keys are separate spaces.
    assert await requests_.find_by_key(conn, site.site_id, "web-123", server=True) is None


async def test_leaving_the_open_states_releases_the_proposals(conn: asyncpg.Connection, site: SiteFacts) -> None:
    stored = await requests_.insert(conn, await _new(conn, site, key=None), reference="REF0001",
                                    link_token=secrets.token_urlsafe(24))
    assert stored is not None
    await requests_.transition(conn, stored.id, to=Status.received, actor="t", site_id=site.site_id)
    assert len(await proposals_.list_for_request(conn, stored.id)) == 2  # still open: held
    await requests_.transition(conn, stored.id, to=Status.withdrawn, actor="t", site_id=site.site_id)
    assert await proposals_.list_for_request(conn, stored.id) == []


async def test_two_connections_declining_at_once_exactly_one_wins(pool: asyncpg.Pool, site: SiteFacts) -> None:
    async with pool.acquire() as conn:
        request_id = await create_request(conn, site, status="proposed")

    async def decline(reason: str) -> str | None:
        async with pool.acquire() as c, c.transaction():
            try:
                await requests_.transition(c, request_id, to=Status.declined, actor="t", site_id=site.site_id,
                                           decline_reason=reason)
            except InvalidTransition:
                return None
            return reason

    results = await asyncio.gather(decline("a"), decline("b"))
    winners = [r for r in results if r is not None]
    assert len(winners) == 1
    async with pool.acquire() as conn:
        assert (await requests_.get(conn, request_id)).decline_reason == winners[0]
        assert await conn.fetchval("SELECT count(*) FROM audit_events WHERE subject_id = $1 "
                                   "AND action = 'request.declined'", request_id) == 1
