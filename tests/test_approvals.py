"""approvals.py called directly with a pool: approve, decline, reassign, permissions, overdue flags, callbacks."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from scheduler import approvals, intake
from scheduler import proposals as proposals_
from scheduler import requests as requests_
from scheduler.callbacks import CallbackOutcome, CallbackStatus
from scheduler.errors import Forbidden, InvalidTransition, SlotTaken, ValidationFailed
from scheduler.permissions import Role, StaffUser
from scheduler.policy.rules import Channel, Kind
from tests.factories import SiteFacts, create_appointment

NOW = datetime.now(UTC)
MEYER_CLIENT = "+4915123456704"  # assigned to cw.meyer in the demo data


def _user(site: SiteFacts, username: str, role: Role, team: str) -> StaffUser:
    return StaffUser(id=site.staff[username], site_id=site.site_id, username=username, display_name=username,
                     role=role, team_id=site.teams[team], languages=("de",))


def _meyer(site: SiteFacts) -> StaffUser:
    return _user(site, "cw.meyer", Role.caseworker, "placement")


async def _submit(pool: asyncpg.Pool, *, kind: Kind = Kind.appointment, phone: str = MEYER_CLIENT,
                  concern: str = "general") -> int:
    submitted = await intake.submit(pool, intake.Intake(
        site="musterstadt", kind=kind, channel=Channel.web, concern=concern, phone=phone, language="de",
        sms_consent=True), now=NOW)
    return submitted.id


async def _audit(conn: asyncpg.Connection, subject_type: str, subject_id: int) -> list[str]:
    rows = await conn.fetch("SELECT action FROM audit_events WHERE subject_type = $1 AND subject_id = $2 ORDER BY id",
                            subject_type, subject_id)
    return [r["action"] for r in rows]


async def test_approve_books_the_proposal_and_a_second_approval_is_refused(pool: asyncpg.Pool,
                                                                           conn: asyncpg.Connection,
                                                                           site: SiteFacts) -> None:
    request_id = await _submit(pool)
    proposals = await proposals_.list_for_request(conn, request_id)
    assert proposals, "the demo policy proposes slots for cw.meyer"
    chosen = proposals[0]
    appointment = await approvals.approve(pool, request_id=request_id, proposal_id=chosen.id, user=_meyer(site),
                                          now=NOW, reminder_offsets=(timedelta(hours=24),))
    assert (appointment.start, appointment.staff_id) == (chosen.start, chosen.staff_id)
    assert (await requests_.get(conn, request_id)).status is requests_.Status.scheduled
    assert await proposals_.list_for_request(conn, request_id) == []
    keys = {r["idempotency_key"] for r in await conn.fetch("SELECT idempotency_key FROM outbox WHERE request_id = $1",
                                                          request_id)}
    assert f"appointment:{appointment.id}:confirmed:0" in keys
    # Its proposal is gone and the request is no longer open: no fresh proposals either.
    with pytest.raises(SlotTaken) as refused:
        await approvals.approve(pool, request_id=request_id, proposal_id=chosen.id, user=_meyer(site), now=NOW,
                                reminder_offsets=())
    assert refused.value.extra == {"proposals": []}
    assert await conn.fetchval("SELECT count(*) FROM appointments WHERE request_id = $1", request_id) == 1
    assert await conn.fetchval("SELECT count(*) FROM outbox WHERE kind = 'sms.appointment_confirmed'") == 1


async def test_approving_a_taken_slot_answers_with_fresh_proposals(pool: asyncpg.Pool, conn: asyncpg.Connection,
                                                                   site: SiteFacts) -> None:
    request_id = await _submit(pool)
    chosen = (await proposals_.list_for_request(conn, request_id))[0]
    # Someone else's appointment takes the proposed time meanwhile.
    await create_appointment(conn, site, staff="cw.meyer", start=chosen.start,
                             minutes=int((chosen.end - chosen.start).total_seconds() // 60))
    with pytest.raises(SlotTaken) as taken:
        await approvals.approve(pool, request_id=request_id, proposal_id=chosen.id, user=_meyer(site), now=NOW,
                                reminder_offsets=())
    fresh = taken.value.extra["proposals"]
    assert fresh and all(p["start"] != chosen.start.isoformat() for p in fresh)
    assert (await requests_.get(conn, request_id)).status is requests_.Status.proposed


async def test_decline_needs_a_reason_and_closes_the_request_once(pool: asyncpg.Pool, conn: asyncpg.Connection,
                                                                  site: SiteFacts) -> None:
    request_id = await _submit(pool)
    with pytest.raises(ValidationFailed):
        await approvals.decline(pool, request_id=request_id, reason="   ", user=_meyer(site))
    declined = await approvals.decline(pool, request_id=request_id, reason="Bitte Unterlagen mitbringen",
                                       user=_meyer(site))
    assert declined.status is requests_.Status.declined
    assert await conn.fetchval("SELECT decline_reason FROM requests WHERE id = $1", request_id) == \
        "Bitte Unterlagen mitbringen"
    assert await conn.fetchval("SELECT closed_at IS NOT NULL FROM requests WHERE id = $1", request_id)
    assert await proposals_.list_for_request(conn, request_id) == []
    with pytest.raises(InvalidTransition):
        await approvals.decline(pool, request_id=request_id, reason="again", user=_meyer(site))
    assert (await _audit(conn, "request", request_id)).count("request.declined") == 1


async def test_caseworkers_may_not_act_on_another_caseworkers_request(pool: asyncpg.Pool, conn: asyncpg.Connection,
                                                                      site: SiteFacts) -> None:
    request_id = await _submit(pool)
    assert (await requests_.get(conn, request_id)).staff_id == site.staff["cw.meyer"]
    stranger = _user(site, "cw.rahimi", Role.caseworker, "u25")
    with pytest.raises(Forbidden):
        await approvals.decline(pool, request_id=request_id, reason="no", user=stranger)
    with pytest.raises(Forbidden):
        await approvals.set_rank(pool, kind=Kind.appointment, item_id=request_id, rank=1.0, user=stranger)
    assert (await requests_.get(conn, request_id)).status is requests_.Status.proposed
    assert await conn.fetchval("SELECT manual_rank FROM requests WHERE id = $1", request_id) is None


async def test_reassign_moves_an_open_request_and_refuses_a_closed_one(pool: asyncpg.Pool, conn: asyncpg.Connection,
                                                                       site: SiteFacts) -> None:
    request_id = await _submit(pool)
    admin = _user(site, "admin", Role.admin, "entrance")
    with pytest.raises(ValidationFailed):
        await approvals.reassign(pool, request_id=request_id, team_id=None, staff_id=None, user=admin, now=NOW)
    moved = await approvals.reassign(pool, request_id=request_id, team_id=None, staff_id=site.staff["cw.demir"],
                                     user=admin, now=NOW)
    assert moved.staff_id == site.staff["cw.demir"]
    assert {p.staff_id for p in await proposals_.list_for_request(conn, request_id)} <= {site.staff["cw.demir"]}
    assert "request.reassign" in await _audit(conn, "request", request_id)
    await approvals.decline(pool, request_id=request_id, reason="done", user=admin)
    with pytest.raises(InvalidTransition):
        await approvals.reassign(pool, request_id=request_id, team_id=None, staff_id=site.staff["cw.meyer"],
                                 user=admin, now=NOW)


async def test_flag_overdue_is_idempotent_and_audited(pool: asyncpg.Pool, conn: asyncpg.Connection) -> None:
    request_id = await _submit(pool)
    callback_id = await _submit(pool, kind=Kind.callback, phone="+4915199990001")
    await conn.execute("UPDATE requests SET deadline_at = $1 WHERE id = $2", NOW - timedelta(minutes=1), request_id)
    await conn.execute("UPDATE callbacks SET deadline_at = $1 WHERE id = $2", NOW - timedelta(minutes=1), callback_id)
    assert await approvals.flag_overdue(pool, now=NOW) == 2
    assert await approvals.flag_overdue(pool, now=NOW) == 0
    assert (await _audit(conn, "request", request_id)).count("request.overdue") == 1
    assert (await _audit(conn, "callback", callback_id)).count("callback.overdue") == 1


async def test_a_missed_call_is_told_by_sms_once_per_attempt(pool: asyncpg.Pool, conn: asyncpg.Connection,
                                                             site: SiteFacts) -> None:
    callback_id = await _submit(pool, kind=Kind.callback)  # a number that confirmed SMS itself
    admin = _user(site, "admin", Role.admin, "entrance")
    claimed = await approvals.claim_callback(pool, callback_id=callback_id, user=admin, now=NOW)
    assert claimed.status is CallbackStatus.in_progress
    # Another caseworker may not record an attempt on a call someone else is holding.
    row = await conn.fetchrow("SELECT id, username FROM staff WHERE team_id = $1 AND role = 'team_lead'",
                              claimed.team_id)
    lead = StaffUser(id=row["id"], site_id=site.site_id, username=row["username"], display_name="Lead",
                     role=Role.team_lead, team_id=claimed.team_id, languages=("de",))
    with pytest.raises(InvalidTransition):
        await approvals.record_attempt(pool, callback_id=callback_id, outcome=CallbackOutcome.no_answer,
                                       note="", user=lead, now=NOW)
    updated = await approvals.record_attempt(pool, callback_id=callback_id, outcome=CallbackOutcome.no_answer,
                                             note="Mailbox", user=admin, now=NOW)
    assert updated.attempts == 1 and updated.status is CallbackStatus.open
    keys = [r["idempotency_key"] for r in await conn.fetch(
        "SELECT idempotency_key FROM outbox WHERE callback_id = $1 AND kind = 'sms.callback_missed'", callback_id)]
    assert keys == [f"callback:{callback_id}:missed:1"]
    # A number typed into a form that never confirmed SMS itself gets the receipt only, not this.
    unconfirmed = await _submit(pool, kind=Kind.callback, phone="+4915199990002")
    await approvals.record_attempt(pool, callback_id=unconfirmed, outcome=CallbackOutcome.no_answer, note="",
                                   user=admin, now=NOW)
    kinds = [r["kind"] for r in await conn.fetch("SELECT kind FROM outbox WHERE callback_id = $1", unconfirmed)]
    assert kinds == ["sms.callback_received"]


async def test_two_caseworkers_approving_one_slot_for_two_requests_one_wins(pool: asyncpg.Pool,
                                                                             conn: asyncpg.Connection,
                                                                             site: SiteFacts) -> None:
    first = await _submit(pool)
    second = await _submit(pool, concern="job_offer")
    slot = (await proposals_.list_for_request(conn, first))[0]
    # Give the second request a proposal for the very same time.
    await conn.execute(
        "INSERT INTO proposals (site_id, request_id, staff_id, during, mode) "
        "SELECT site_id, $2, staff_id, during, mode FROM proposals WHERE id = $1", slot.id, second)
    same = next(p for p in await proposals_.list_for_request(conn, second) if p.start == slot.start)
    admin = _user(site, "admin", Role.admin, "entrance")

    async def approve(request_id: int, proposal_id: int) -> str:
        try:
            await approvals.approve(pool, request_id=request_id, proposal_id=proposal_id, user=admin, now=NOW,
                                    reminder_offsets=())
        except SlotTaken:
            return "taken"
        return "booked"

    outcomes = await asyncio.gather(approve(first, slot.id), approve(second, same.id))
    assert sorted(outcomes) == ["booked", "taken"]
    assert await conn.fetchval("SELECT count(*) FROM appointments WHERE lower(during) = $1 AND status = 'confirmed'",
                               slot.start) == 1
