"""Races that happen in a busy office: many approvals for few slots, approval against the client's
cancellation. The database decides; exactly the right things happen, once."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from asyncpg.types import Range

from scheduler import approvals, client_actions, intake
from scheduler.errors import DomainError
from scheduler.permissions import Role, StaffUser
from scheduler.policy.rules import Kind
from tests.factories import SiteFacts

NOW = datetime.now(UTC)


def _admin(site: SiteFacts) -> StaffUser:
    return StaffUser(id=site.staff["admin"], site_id=site.site_id, username="admin", display_name="Ada",
                     role=Role.admin, team_id=site.teams["entrance"], languages=("de",))


async def _requests(pool: asyncpg.Pool, n: int) -> list[int]:
    ids = []
    for i in range(n):
        submitted = await intake.submit(pool, intake.Intake(
            site="musterstadt", kind=Kind.appointment, channel="web", concern="general",
            phone=f"+49151{55000000 + i:08d}", language="de", sms_consent=True), now=NOW)
        ids.append(submitted.id)
    return ids


@pytest.mark.parametrize("requests_count, slots_count", [(200, 10)])
async def test_many_approvals_for_few_slots(pool: asyncpg.Pool, conn: asyncpg.Connection, site: SiteFacts,
                                            requests_count: int, slots_count: int) -> None:
    ids = await _requests(pool, requests_count)
    await conn.execute("UPDATE clients SET sms_consent = true")  # the numbers answered 1 to their receipts
    await conn.execute("DELETE FROM proposals")
    start = (NOW + timedelta(days=3)).replace(hour=8, minute=0, second=0, microsecond=0)
    slots = [Range(start + timedelta(minutes=30 * k), start + timedelta(minutes=30 * (k + 1))) for k in range(slots_count)]
    proposal_of = {}
    for n, request_id in enumerate(ids):
        proposal_of[request_id] = await conn.fetchval(
            "INSERT INTO proposals (site_id, request_id, staff_id, during, mode) VALUES ($1, $2, $3, $4, 'phone') "
            "RETURNING id", site.site_id, request_id, site.staff["cw.meyer"], slots[n % slots_count])
    admin = _admin(site)

    async def approve(request_id: int) -> str:
        try:
            await approvals.approve(pool, request_id=request_id, proposal_id=proposal_of[request_id], user=admin,
                                    now=NOW, reminder_offsets=())
            return "booked"
        except DomainError as e:
            return e.code

    outcomes = await asyncio.gather(*(approve(r) for r in ids))
    assert outcomes.count("booked") == slots_count
    assert set(outcomes) == {"booked", "slot-taken"}
    assert await conn.fetchval("SELECT count(*) FROM appointments WHERE status = 'confirmed'") == slots_count
    assert await conn.fetchval("SELECT count(*) FROM outbox WHERE kind = 'sms.appointment_confirmed'") == slots_count
    assert await conn.fetchval("SELECT count(DISTINCT during) FROM appointments") == slots_count


async def test_approval_racing_the_clients_cancellation(pool: asyncpg.Pool, conn: asyncpg.Connection,
                                                        site: SiteFacts) -> None:
    ids = await _requests(pool, 20)
    admin = _admin(site)

    # Whichever loses its race gets a DomainError; the invariant below is what matters.
    async def approve(request_id: int) -> None:
        with contextlib.suppress(DomainError):
            await approvals.approve(pool, request_id=request_id, proposal_id=proposals[request_id], user=admin, now=NOW,
                                    reminder_offsets=())

    async def cancel(request_id: int) -> None:
        with contextlib.suppress(DomainError):
            await client_actions.cancel(pool, request_id=request_id, actor="client:sms", now=NOW)

    proposals = {r: await conn.fetchval("SELECT min(id) FROM proposals WHERE request_id = $1", r) for r in ids}
    assert all(proposals.values())
    await asyncio.gather(*(f(r) for r in ids for f in (approve, cancel)))
    # Once a cancellation was acknowledged (request withdrawn), no confirmed appointment may remain.
    rows = await conn.fetch(
        "SELECT r.status, a.status AS appointment FROM requests r LEFT JOIN appointments a ON a.request_id = r.id")
    for row in rows:
        assert row["status"] == "withdrawn"
        assert row["appointment"] in (None, "cancelled")
