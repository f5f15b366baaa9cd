"""followups.py against PostgreSQL: a no-show or an unreachable callback gets the follow-up the rules chose."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from scheduler import approvals, followups, intake, planning, sites
from scheduler import proposals as proposals_
from scheduler import requests as requests_
from scheduler.callbacks import CallbackOutcome, CallbackStatus
from scheduler.errors import InvalidTransition
from scheduler.permissions import Role, StaffUser
from scheduler.policy import store
from scheduler.policy.rules import Channel, FollowUp, FollowUpAction, Kind
from scheduler.policy.slots import Slot
from tests.factories import SiteFacts

NOW = datetime.now(UTC).replace(microsecond=0)
LATER = NOW + timedelta(days=3)
MEYER_CLIENT = "+4915123456704"  # assigned to cw.meyer in the demo data


def _meyer(site: SiteFacts) -> StaffUser:
    return StaffUser(id=site.staff["cw.meyer"], site_id=site.site_id, username="cw.meyer", display_name="Meyer",
                     role=Role.caseworker, team_id=site.teams["placement"], languages=("de",))


async def _set_site_follow_up(conn: asyncpg.Connection, site: SiteFacts, follow_up: FollowUp) -> None:
    """Activate the site's current rules with another default follow-up."""
    active = (await store.active(conn, site.site_id)).site
    assert active is not None
    ruleset = dataclasses.replace(active.ruleset, defaults=dataclasses.replace(active.ruleset.defaults,
                                                                               follow_up=follow_up))
    draft = await store.save_draft(conn, site_id=site.site_id, scope=store.Scope.site, ruleset=ruleset,
                                   source_yaml="", owner_id=site.staff["cw.meyer"])
    await store.activate(conn, draft.id, actor_id=site.staff["cw.meyer"])


async def _missed_appointment(pool: asyncpg.Pool, conn: asyncpg.Connection) -> tuple[int, int]:
    """A request from Meyer's client, booked on its first proposal: (request id, appointment id)."""
    submitted = await intake.submit(pool, intake.Intake(
        site="musterstadt", kind=Kind.appointment, channel=Channel.web, concern="general", phone=MEYER_CLIENT,
        language="de", sms_consent=True, windows={"parts": ["morning"]}), now=NOW)
    async with conn.transaction():
        request = await requests_.get(conn, submitted.id)
        proposal = (await proposals_.list_for_request(conn, request.id))[0]
        slot = Slot(proposal.staff_id, proposal.start, proposal.end, proposal.mode, proposal.room)
        appointment = await planning.book(conn, request=request, slot=slot, actor="test", now=NOW,
                                          reminder_offsets=())
    return request.id, appointment.id


async def _no_show(pool: asyncpg.Pool, appointment_id: int) -> None:
    async with pool.acquire() as c, c.transaction():
        await followups.after_no_show(c, appointment_id=appointment_id, actor="staff:1", now=LATER)


async def test_default_is_a_task_on_the_request_once_and_done_once(pool: asyncpg.Pool, conn: asyncpg.Connection,
                                                                   site: SiteFacts) -> None:
    request_id, appointment_id = await _missed_appointment(pool, conn)
    await _no_show(pool, appointment_id)
    await _no_show(pool, appointment_id)  # a retry does nothing
    (row,) = await conn.fetch("SELECT * FROM followups")
    assert (row["cause"], row["action"], row["status"], row["rule_id"]) == ("no_show", "task", "open", "defaults")
    assert (row["request_id"], row["appointment_id"], row["staff_id"]) == (request_id, appointment_id,
                                                                          site.staff["cw.meyer"])
    tasks = await followups.list_open_tasks(conn, site_id=site.site_id, staff_id=site.staff["cw.meyer"],
                                            team_id=site.teams["placement"])
    assert [t.id for t in tasks] == [row["id"]]
    assert "followup.task" in [r["action"] for r in await conn.fetch(
        "SELECT action FROM audit_events WHERE subject_type = 'request' AND subject_id = $1", request_id)]

    async def complete() -> object:
        async with pool.acquire() as c, c.transaction():
            return await followups.complete_task(c, row["id"], staff_id=site.staff["cw.meyer"], actor="staff:x",
                                                 now=LATER)

    results = await asyncio.gather(complete(), complete(), return_exceptions=True)
    assert sorted(type(r).__name__ for r in results) == ["Followup", "InvalidTransition"]
    assert await conn.fetchval("SELECT status FROM followups WHERE id = $1", row["id"]) == "done"
    assert await followups.list_open_tasks(conn, site_id=site.site_id, staff_id=site.staff["cw.meyer"],
                                           team_id=None) == []


async def test_none_records_that_nothing_follows(pool: asyncpg.Pool, conn: asyncpg.Connection,
                                                 site: SiteFacts) -> None:
    await _set_site_follow_up(conn, site, FollowUp(FollowUpAction.none))
    _, appointment_id = await _missed_appointment(pool, conn)
    await _no_show(pool, appointment_id)
    row = await conn.fetchrow("SELECT action, status, done_at FROM followups WHERE appointment_id = $1",
                              appointment_id)
    assert (row["action"], row["status"], row["done_at"]) == ("none", "done", LATER)
    assert await conn.fetchval("SELECT count(*) FROM requests") == 1


async def test_invite_makes_a_staff_request_after_the_lead_time_for_approval(pool: asyncpg.Pool,
                                                                              conn: asyncpg.Connection,
                                                                              site: SiteFacts) -> None:
    await _set_site_follow_up(conn, site, FollowUp(FollowUpAction.invite, 3))
    request_id, appointment_id = await _missed_appointment(pool, conn)
    outbox_before = await conn.fetchval("SELECT count(*) FROM outbox")
    await _no_show(pool, appointment_id)
    await _no_show(pool, appointment_id)
    row = await conn.fetchrow("SELECT * FROM followups WHERE appointment_id = $1", appointment_id)
    assert (row["action"], row["lead_time"], row["status"]) == ("invite", 3, "done")
    invited = await requests_.get(conn, row["invite_request_id"])
    original = await requests_.get(conn, request_id)
    assert invited.id != request_id and invited.client_id == original.client_id
    assert (invited.channel, invited.invitation, invited.staff_id) == (Channel.staff, "voluntary",
                                                                      site.staff["cw.meyer"])
    assert invited.status is requests_.Status.proposed  # a caseworker approves it like any request
    assert invited.decision is not None and invited.decision.auto_confirm is False
    calendar = (await sites.site_by_id(conn, site.site_id)).calendar()
    earliest = calendar.add_workdays(LATER, 3)
    proposals = await proposals_.list_for_request(conn, invited.id)
    assert proposals and all(p.start >= earliest for p in proposals)
    assert all(p.start.astimezone(calendar.zone).hour < 12 for p in proposals)  # the client's morning wish
    lead = next(e for e in invited.decision.explanation if e.field == "lead_time")
    assert (lead.rule_id, lead.value) == ("defaults", "3 workdays")
    assert await conn.fetchval("SELECT count(*) FROM requests WHERE channel = 'staff'") == 1
    assert await conn.fetchval("SELECT count(*) FROM outbox") == outbox_before  # nothing to the client yet


async def test_a_decision_stored_before_follow_ups_is_decided_afresh(pool: asyncpg.Pool, conn: asyncpg.Connection,
                                                                      site: SiteFacts) -> None:
    request_id, appointment_id = await _missed_appointment(pool, conn)
    stored = json.loads(await conn.fetchval("SELECT decision::text FROM requests WHERE id = $1", request_id))
    del stored["follow_up"]
    await conn.execute("UPDATE requests SET decision = $2 WHERE id = $1", request_id, stored)
    assert (await requests_.get(conn, request_id)).decision.follow_up is None  # type: ignore[union-attr]
    await _set_site_follow_up(conn, site, FollowUp(FollowUpAction.none))
    await _no_show(pool, appointment_id)
    assert await conn.fetchval("SELECT action FROM followups WHERE appointment_id = $1", appointment_id) == "none"


async def test_a_callback_that_ends_unreachable_gets_its_follow_up(pool: asyncpg.Pool, conn: asyncpg.Connection,
                                                                    site: SiteFacts) -> None:
    submitted = await intake.submit(pool, intake.Intake(
        site="musterstadt", kind=Kind.callback, channel=Channel.web, concern="general", phone=MEYER_CLIENT,
        language="de", sms_consent=True), now=NOW)
    user = _meyer(site)
    updated = await approvals.record_attempt(pool, callback_id=submitted.id, outcome=CallbackOutcome.wrong_number,
                                             note="", user=user, now=NOW)
    assert updated.status is CallbackStatus.unreachable
    row = await conn.fetchrow("SELECT * FROM followups WHERE callback_id = $1", submitted.id)
    assert (row["cause"], row["action"], row["status"], row["appointment_id"]) == ("unreachable", "task", "open",
                                                                                    None)
    async with pool.acquire() as c, c.transaction():
        await followups.after_unreachable(c, callback_id=submitted.id, actor="staff:1", now=NOW)
    assert await conn.fetchval("SELECT count(*) FROM followups") == 1


async def test_a_callback_still_open_gets_no_follow_up(pool: asyncpg.Pool, conn: asyncpg.Connection,
                                                       site: SiteFacts) -> None:
    submitted = await intake.submit(pool, intake.Intake(
        site="musterstadt", kind=Kind.callback, channel=Channel.web, concern="general", phone=MEYER_CLIENT,
        language="de", sms_consent=True), now=NOW)
    await approvals.record_attempt(pool, callback_id=submitted.id, outcome=CallbackOutcome.no_answer, note="",
                                   user=_meyer(site), now=NOW)
    async with pool.acquire() as c, c.transaction():
        await followups.after_unreachable(c, callback_id=submitted.id, actor="staff:1", now=NOW)
    assert await conn.fetchval("SELECT count(*) FROM followups") == 0


async def test_completing_an_unknown_task_is_refused(conn: asyncpg.Connection) -> None:
    with pytest.raises(InvalidTransition):
        await followups.complete_task(conn, 999999, staff_id=1, actor="staff:1", now=NOW)
