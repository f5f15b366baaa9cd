"""Caseworker commands on requests and callbacks: approve, book another slot, reassign, decline,
withdraw, pin, invite, work callbacks. Each overrides the policy where it differs, and is audited.

Every command is one transaction around a guarded state change; two caseworkers approving the same
slot at once: the booking constraint lets exactly one win, the other gets SlotTaken with fresh proposals.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection
from datetime import date, datetime, timedelta

import asyncpg

from scheduler import (
    audit,
    availability,
    callbacks,
    clients,
    concerns,
    followups,
    intake,
    notices,
    planning,
    sites,
    teams,
)
from scheduler import proposals as proposals_
from scheduler import requests as requests_
from scheduler.appointments import Appointment
from scheduler.errors import InvalidTransition, SlotTaken, ValidationFailed
from scheduler.i18n import N_
from scheduler.permissions import StaffUser, check_may_act
from scheduler.policy.decision import Decision
from scheduler.policy.rules import Caps, Channel, Kind, Mode
from scheduler.policy.slots import ClientWindows, Slot, propose


async def _request_for(conn: asyncpg.Connection, request_id: int, user: StaffUser) -> requests_.Request:
    request = await requests_.get(conn, request_id, for_update=True)
    check_may_act(user, site_id=request.site_id, team_id=request.team_id, staff_id=request.staff_id)
    return request


async def approve(pool: asyncpg.Pool, *, request_id: int, proposal_id: int, user: StaffUser, now: datetime,
                  reminder_offsets: tuple[timedelta, ...]) -> Appointment:
    """Book a proposed slot in one click."""
    try:
        async with pool.acquire() as conn, conn.transaction():
            request = await _request_for(conn, request_id, user)
            proposal = await proposals_.get(conn, request_id, proposal_id)
            if proposal is None:
                raise SlotTaken()
            slot = Slot(proposal.staff_id, proposal.start, proposal.end, proposal.mode, proposal.room)
            return await planning.book(conn, request=request, slot=slot, actor=user.actor, now=now,
                                       reminder_offsets=reminder_offsets)
    except SlotTaken:
        fresh = await repropose(pool, request_id=request_id, now=now)
        raise SlotTaken(extra={"proposals": [_proposal_json(p) for p in fresh]}) from None


def _proposal_json(p: proposals_.Proposal) -> dict[str, object]:
    return {"id": p.id, "staff_id": p.staff_id, "start": p.start.isoformat(), "end": p.end.isoformat(),
            "mode": p.mode.value, "room": p.room}


async def repropose(pool: asyncpg.Pool, *, request_id: int, now: datetime) -> list[proposals_.Proposal]:
    """Fresh proposals for an open request (after a clash, or when its caseworker asks)."""
    async with pool.acquire() as conn, conn.transaction():
        request = await requests_.get(conn, request_id, for_update=True)
        if request.status not in requests_.OPEN:
            return []
        await planning.plan_and_propose(conn, request_id, route=(request.team_id, request.staff_id), now=now,
                                        reminder_offsets=(), actor="policy")
        return await proposals_.list_for_request(conn, request_id)


async def free_slots(conn: asyncpg.Connection, *, site: sites.Site, staff_id: int, day: date,
                     duration: timedelta, now: datetime) -> list[Slot]:
    """Every free slot of one caseworker on one day (any mode), regardless of the policy's window."""
    calendar = site.calendar()
    start, end = calendar.day_start(day), calendar.day_start(day + timedelta(days=1))
    avail = await availability.load(conn, staff_ids=[staff_id], start=start, end=end, tz=site.timezone)
    # A decision spanning the whole day, in every mode: the caseworker overrides the policy's window.
    synthetic = Decision(kind=Kind.appointment, route_team=None, route_caseworker_id=staff_id, priority=0,
                         duration=duration, earliest_start=start, latest_start=end, modes=tuple(Mode),
                         propose_count=200, auto_confirm=False, retry_after=timedelta(hours=2), max_attempts=3,
                         explanation=())
    slots = propose(synthetic, avail, client_windows=ClientWindows(), caps=Caps(10_000, 10_000), now=now,
                    calendar=calendar)
    return sorted(slots, key=lambda s: s.start)


async def book_other(pool: asyncpg.Pool, *, request_id: int, staff_id: int, start: datetime, mode: str,
                     user: StaffUser, now: datetime, reminder_offsets: tuple[timedelta, ...]) -> Appointment:
    """Book a slot the caseworker picked instead of the proposals; it must be free in that person's hours."""
    if mode not in {m.value for m in Mode}:
        raise ValidationFailed(fields={"mode": N_("Please choose in person, phone or video.")})
    async with pool.acquire() as conn, conn.transaction():
        request = await _request_for(conn, request_id, user)
        site = await sites.site_by_id(conn, request.site_id)
        if await teams.site_of_staff(conn, staff_id, active_only=True) != request.site_id:
            raise ValidationFailed(fields={"staff_id": N_("Please choose a caseworker of this office.")})
        duration = request.decision.duration if request.decision else timedelta(minutes=30)
        day = site.calendar().local_date(start)
        match = next((s for s in await free_slots(conn, site=site, staff_id=staff_id, day=day, duration=duration,
                                                  now=now) if s.start == start), None)
        if match is None:
            raise SlotTaken()
        slot = dataclasses.replace(match, mode=Mode(mode))
        appointment = await planning.book(conn, request=request, slot=slot, actor=user.actor, now=now,
                                          reminder_offsets=reminder_offsets)
        await audit.record(conn, site_id=request.site_id, actor=user.actor, action="request.override_slot",
                           subject_type="request", subject_id=request_id,
                           details={"start": start.isoformat(), "staff_id": staff_id})
        return appointment


async def reassign(pool: asyncpg.Pool, *, request_id: int, team_id: int | None, staff_id: int | None,
                   user: StaffUser, now: datetime) -> requests_.Request:
    """Give an open request to another team or caseworker; proposals are made anew for them."""
    if (team_id is None) == (staff_id is None):
        raise ValidationFailed(fields={"team_id": N_("Please choose a team or a caseworker.")})
    async with pool.acquire() as conn, conn.transaction():
        request = await _request_for(conn, request_id, user)
        if request.status not in requests_.OPEN:
            raise InvalidTransition()
        owner_site = await (teams.site_of_team(conn, team_id) if team_id else
                            teams.site_of_staff(conn, staff_id or 0))
        if owner_site != request.site_id:
            raise ValidationFailed(fields={"team_id": N_("Please choose a team or a caseworker.")})
        await requests_.reroute(conn, request_id, team_id=team_id, staff_id=staff_id)
        await audit.record(conn, site_id=request.site_id, actor=user.actor, action="request.reassign",
                           subject_type="request", subject_id=request_id,
                           details={"team_id": team_id, "staff_id": staff_id})
        await planning.plan_and_propose(conn, request_id, route=(team_id, staff_id), now=now, reminder_offsets=(),
                                        actor=user.actor)
        return await requests_.get(conn, request_id)


async def decline(pool: asyncpg.Pool, *, request_id: int, reason: str, user: StaffUser,
                  category: str = requests_.DeclineCategory.other) -> requests_.Request:
    """Decline an open request with a reason category (the client is told it by SMS, with what they can do
    next) and a short note for the file."""
    errors: dict[str, str] = {}
    reason = intake.clean_text(reason, name="reason", limit=500, multiline=True, errors=errors)
    if errors:
        raise ValidationFailed(fields=errors)
    if not reason:
        raise ValidationFailed(fields={"reason": N_("Please give a short reason.")})
    if category not in {c.value for c in requests_.DeclineCategory}:
        raise ValidationFailed(fields={"category": N_("Please choose why the request is declined.")})
    async with pool.acquire() as conn, conn.transaction():
        request = await _request_for(conn, request_id, user)
        await proposals_.clear(conn, request_id)
        declined = await requests_.transition(conn, request_id, to=requests_.Status.declined, actor=user.actor,
                                              site_id=request.site_id, decline_reason=reason,
                                              decline_category=category,
                                              details={"reason": reason, "category": category})
        await notices.request_ended(conn, client=await clients.get(conn, request.client_id), request_id=request_id,
                                    reference=request.reference, link_token=request.link_token,
                                    consent=request.sms_consent, kind="declined", category=category)
        return declined


async def withdraw(pool: asyncpg.Pool, *, request_id: int, user: StaffUser, now: datetime) -> requests_.Request:
    """Withdraw a request on the client's behalf (e.g. they phoned); a booked appointment is cancelled."""
    from scheduler import client_actions

    async with pool.acquire() as conn:
        request = await requests_.get(conn, request_id)
    check_may_act(user, site_id=request.site_id, team_id=request.team_id, staff_id=request.staff_id)
    return await client_actions.cancel(pool, request_id=request_id, actor=user.actor, now=now)


async def set_rank(pool: asyncpg.Pool, *, kind: Kind, item_id: int, rank: float | None, user: StaffUser) -> None:
    """Pin an item at a position in the queue (or unpin it); the pin survives re-evaluation."""
    async with pool.acquire() as conn, conn.transaction():
        if kind is Kind.appointment:
            request = await _request_for(conn, item_id, user)
            await requests_.set_rank(conn, item_id, rank=rank)
            site_id = request.site_id
        else:
            cb = await callbacks.get(conn, item_id)
            check_may_act(user, site_id=cb.site_id, team_id=cb.team_id, staff_id=cb.staff_id)
            await callbacks.set_rank(conn, item_id, rank=rank)
            site_id = cb.site_id
        await audit.record(conn, site_id=site_id, actor=user.actor, action="queue.rank",
                           subject_type="request" if kind is Kind.appointment else "callback", subject_id=item_id,
                           details={"rank": rank})


async def claim_callback(pool: asyncpg.Pool, *, callback_id: int, user: StaffUser, now: datetime) -> callbacks.Callback:
    """Take a callback to dial now."""
    async with pool.acquire() as conn, conn.transaction():
        cb = await callbacks.get(conn, callback_id)
        check_may_act(user, site_id=cb.site_id, team_id=cb.team_id, staff_id=cb.staff_id)
        return await callbacks.claim(conn, callback_id, staff_id=user.id, now=now)


async def record_attempt(pool: asyncpg.Pool, *, callback_id: int, outcome: callbacks.CallbackOutcome, note: str,
                         user: StaffUser, now: datetime) -> callbacks.Callback:
    """Record how a call went; the retry plan decides what comes next; a missed call is told by SMS."""
    async with pool.acquire() as conn, conn.transaction():
        cb = await callbacks.get(conn, callback_id)
        check_may_act(user, site_id=cb.site_id, team_id=cb.team_id, staff_id=cb.staff_id)
        if cb.status is callbacks.CallbackStatus.in_progress and cb.claimed_by not in (None, user.id) and \
                cb.claimed_until is not None and cb.claimed_until > now:
            raise InvalidTransition()
        errors: dict[str, str] = {}
        note = intake.clean_text(note, name="note", limit=500, multiline=True, errors=errors)
        if errors:
            raise ValidationFailed(fields=errors)
        updated = await callbacks.record_attempt(conn, callback_id, staff_id=user.id, outcome=outcome,
                                                 note=note, now=now)
        if updated.status is callbacks.CallbackStatus.unreachable:
            await followups.after_unreachable(conn, callback_id=callback_id, actor=user.actor, now=now)
        if outcome is callbacks.CallbackOutcome.no_answer:
            client = await clients.get(conn, cb.client_id)
            await notices.callback_attempt_failed(conn, client=client, callback_id=callback_id,
                                                  attempt=updated.attempts, phone=cb.phone, link_token=cb.link_token)
        return updated


async def convert_callback(pool: asyncpg.Pool, *, callback_id: int, user: StaffUser, now: datetime,
                           reminder_offsets: tuple[timedelta, ...]) -> requests_.Request:
    """Turn a callback into an appointment request for the same client, routed to this caseworker."""
    async with pool.acquire() as conn, conn.transaction():
        cb = await callbacks.get(conn, callback_id)
        check_may_act(user, site_id=cb.site_id, team_id=cb.team_id, staff_id=cb.staff_id)
        if cb.status not in callbacks.OPEN:
            raise InvalidTransition()
        concern = await concerns.code_of(conn, cb.concern_id)
        phone = (await clients.get(conn, cb.client_id)).phone
    submitted = await intake.submit(pool, intake.Intake(
        site=await _site_code(pool, cb.site_id), kind=Kind.appointment, channel=Channel.staff, concern=concern,
        phone=phone or cb.phone, language=cb.language, windows=cb.windows, note=cb.note,
        created_by=user.id, invitation="voluntary", route_staff_id=user.id, sms_consent=cb.sms_consent,
        server_key=f"callback-{callback_id}-convert"), now=now, reminder_offsets=reminder_offsets)
    async with pool.acquire() as conn, conn.transaction():
        await callbacks.close(conn, callback_id, to=callbacks.CallbackStatus.reached, actor=user.actor,
                              converted_request_id=submitted.id)
        return await requests_.get(conn, submitted.id)


async def _site_code(pool: asyncpg.Pool, site_id: int) -> str:
    async with pool.acquire() as conn:
        return (await sites.site_by_id(conn, site_id)).code


async def invite(pool: asyncpg.Pool, *, user: StaffUser, phone: str, concern: str, language: str,
                 invitation: str, notice_text: str | None, now: datetime,
                 reminder_offsets: tuple[timedelta, ...], countries: Collection[str] = ("DE",)) -> requests_.Request:
    """A caseworker invites a client: the request skips the client's side and goes straight to slot choice.

    A mandatory summons keeps its notice text with the request; SMS alone never counts as its delivery.
    """
    if invitation not in ("voluntary", "mandatory"):
        raise ValidationFailed(fields={"invitation": N_("Please choose voluntary offer or mandatory summons.")})
    errors: dict[str, str] = {}
    notice_text = intake.clean_text(notice_text, name="notice_text", limit=2000, multiline=True, errors=errors) or None
    if errors:
        raise ValidationFailed(fields=errors)
    if invitation == "mandatory" and not notice_text:
        raise ValidationFailed(fields={"notice_text": N_("A summons needs its notice text.")})
    site_code = await _site_code(pool, user.site_id)
    parsed = intake.parse_intake({"concern": concern, "phone": phone, "language": language, "sms_consent": True},
                                 kind=Kind.appointment, channel=Channel.staff, default_site=site_code,
                                 countries=countries)
    submitted = await intake.submit(pool, dataclasses.replace(
        parsed, created_by=user.id, invitation=invitation, notice_text=notice_text, route_staff_id=user.id),
        now=now, reminder_offsets=reminder_offsets)
    async with pool.acquire() as conn:
        return await requests_.get(conn, submitted.id)


async def flag_overdue(pool: asyncpg.Pool, *, now: datetime) -> int:
    """Mark open requests and callbacks past their decision deadline, for the team lead; idempotent."""
    async with pool.acquire() as conn, conn.transaction():
        rows = await requests_.flag_overdue(conn, now=now)
        cb_rows = await callbacks.flag_overdue(conn, now=now)
        for kind, found in (("request", rows), ("callback", cb_rows)):
            for r in found:
                await audit.record(conn, site_id=r["site_id"], actor="system", action=f"{kind}.overdue",
                                   subject_type=kind, subject_id=r["id"])
    return len(rows) + len(cb_rows)


def parse_day(text: str | None, fallback: date) -> date:
    """A date from a query parameter, or the fallback."""
    if not text:
        return fallback
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValidationFailed(fields={"date": N_("Please enter a date like 2026-12-01.")}) from None


def day_bounds(site: sites.Site, day: date) -> tuple[datetime, datetime]:
    """Start and end of a local day at the site, as UTC instants."""
    calendar = site.calendar()
    return calendar.day_start(day), calendar.day_start(day + timedelta(days=1))

