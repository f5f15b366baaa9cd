"""Freed slots: a cancelled appointment's time is offered to the first waiting request it fits.

It becomes a proposal for that request's caseworker to approve. Where the owning team's rules let the policy
book on its own (auto-confirmation) for a waiting request's concern, the time also goes by SMS to up to
`freed_slots.sms_offer_max` such clients whose windows fit and whose numbers confirmed SMS (`slot_offers`):
the first to accept, by reply or link, gets it and the others are told it is gone. Nobody else's time is
booked behind their back.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import asyncpg

from scheduler import audit, clients, notices, planning, sites, slot_offers, teams
from scheduler import proposals as proposals_
from scheduler import requests as requests_
from scheduler.appointments import Appointment
from scheduler.config import FreedSlotsConfig
from scheduler.errors import InvalidTransition, SlotTaken
from scheduler.policy import store
from scheduler.policy.ordering import QueueItem, order
from scheduler.policy.rules import Mode
from scheduler.policy.slots import Slot
from scheduler.policy.workdays import WorkCalendar

ACTOR = "policy:freed-slot"
SMS_OFFER_MAX = FreedSlotsConfig().sms_offer_max  # for callers without the config at hand


async def offer(conn: asyncpg.Connection, appointment: Appointment, *, now: datetime,
                sms_offer_max: int = SMS_OFFER_MAX) -> int | None:
    """Offer a freed appointment time to the first waiting request in queue order that fits (a proposal), and by
    SMS to up to `sms_offer_max` fitting ones that may be booked on their own; the proposal's request id or None."""
    if appointment.start <= now:
        return None
    team_id = await teams.team_of_staff(conn, appointment.staff_id)
    waiting = await requests_.list_waiting_for(conn, site_id=appointment.site_id, staff_id=appointment.staff_id,
                                               team_id=team_id, exclude_id=appointment.request_id)
    if not waiting:
        return None
    site = await sites.site_by_id(conn, appointment.site_id)
    calendar = site.calendar()
    active = await store.active(conn, site.id)
    team_rules = active.teams.get(team_id) if team_id is not None else None
    ruleset, _ = store.layered(("team", team_rules), ("site", active.site))
    queue = order([QueueItem(r.id, r.priority, r.created_at, r.manual_rank) for r in waiting], ruleset.ordering,
                  now=now, calendar=calendar)
    by_id = {r.id: r for r in waiting}
    team_codes = (await sites.setup(conn, site)).teams.code_by_id
    sms_open = slot_offers.accept_until(appointment.start) - now >= slot_offers.MIN_TIME_TO_ANSWER
    proposed_to: int | None = None
    by_sms: list[tuple[requests_.Request, clients.Client]] = []
    for item in queue:
        request = by_id[item.id]
        slot = _fitting_slot(request, appointment, calendar)
        if slot is None:
            continue
        if proposed_to is None:
            proposed_to = await _propose(conn, request, slot, appointment)
        if not sms_open or len(by_sms) >= sms_offer_max:
            break
        if slot.mode.value != appointment.mode or request.decision is None or not planning.owner_allows_auto_confirm(
                request.decision, team_code=team_codes.get(request.team_id or 0), staff_id=request.staff_id):
            continue
        client = await clients.get(conn, request.client_id)
        if notices.may_sms(client, consent=request.sms_consent):
            by_sms.append((request, client))
    if by_sms:
        await _offer_by_sms(conn, appointment, by_sms)
    return proposed_to


async def _propose(conn: asyncpg.Connection, request: requests_.Request, slot: Slot, appointment: Appointment) -> int:
    await proposals_.add(conn, request, slot, source="freed_slot")
    if request.status is requests_.Status.received:
        await requests_.transition(conn, request.id, to=requests_.Status.proposed, actor=ACTOR,
                                   site_id=request.site_id)
    await audit.record(conn, site_id=request.site_id, actor=ACTOR, action="request.freed_slot_offered",
                       subject_type="request", subject_id=request.id,
                       details={"appointment_id": appointment.id, "start": appointment.start.isoformat()})
    return request.id


def _fitting_slot(request: requests_.Request, appointment: Appointment, calendar: WorkCalendar) -> Slot | None:
    """The freed time as a slot for this request, when it fits its decision's window and the client's wishes."""
    decision = request.decision
    if decision is None:
        return None
    end = appointment.start + decision.duration
    if end > appointment.end or not decision.earliest_start <= appointment.start < decision.latest_start:
        return None
    if not planning.fits_client_windows(planning.client_windows(request.windows), appointment.start, calendar):
        return None
    modes = {m.value for m in decision.modes}
    mode = Mode(appointment.mode) if appointment.mode in modes else decision.modes[0]
    return Slot(appointment.staff_id, appointment.start, end, mode, appointment.room)


async def _offer_by_sms(conn: asyncpg.Connection, appointment: Appointment,
                        asked: list[tuple[requests_.Request, clients.Client]]) -> slot_offers.SlotOffer:
    offer_ = await slot_offers.create(
        conn, site_id=appointment.site_id, appointment_id=appointment.id, staff_id=appointment.staff_id,
        start=appointment.start, end=appointment.end, mode=appointment.mode, room=appointment.room,
        expires_at=slot_offers.accept_until(appointment.start), request_ids=[r.id for r, _ in asked])
    for request, client in asked:
        await notices.slot_offered(conn, client=client, request=request, offer_id=offer_.id, code=offer_.code)
    await audit.record(conn, site_id=appointment.site_id, actor=ACTOR, action="slot_offer.sent",
                       subject_type="slot_offer", subject_id=offer_.id,
                       details={"appointment_id": appointment.id, "requests": [r.id for r, _ in asked],
                                "expires_at": offer_.expires_at.isoformat()})
    return offer_


class _Gone(Exception):
    """The offer cannot be taken (any more) by this request."""


async def accept(pool: asyncpg.Pool, *, offer_id: int, request_id: int, actor: str, now: datetime,
                 reminder_offsets: tuple[timedelta, ...]) -> Appointment | None:
    """A client accepts a freed time offered to them by SMS. The first accept books it (one guarded UPDATE on the
    offer, then the one booking sequence, in one transaction) and the others are told it is gone; None when it
    is gone (someone else was first, it has ended, or the time was booked another way)."""
    async with pool.acquire() as conn, conn.transaction():
        try:
            async with conn.transaction():  # a savepoint: a booking that fails leaves the offer as it was
                # The offer row first, and no lock on the request before it: the winner's "gone" notices
                # reference the other requests, so a loser holding its request row locked would deadlock.
                # The booking's own guarded updates catch a request that changed meanwhile.
                taken = await slot_offers.take(conn, offer_id, request_id=request_id, now=now)
                if taken is None:
                    raise _Gone()
                request = await requests_.get(conn, request_id)
                appointment = await planning.book(conn, request=request, slot=_slot_for(taken, request),
                                                  actor=actor, now=now, reminder_offsets=reminder_offsets)
        except SlotTaken:
            # Booked another way meanwhile (say, a caseworker approved a proposal for it): gone for everyone.
            await slot_offers.expire(conn, offer_id, now=now, force=True)
            await _tell_gone(conn, offer_id, winner=None, now=now)
            return None
        except (_Gone, InvalidTransition):
            # Too late, or this request can no longer be booked (booked or closed meanwhile): the offer stays
            # open for the others while it lasts.
            await slot_offers.expire(conn, offer_id, now=now)
            await slot_offers.mark_gone(conn, offer_id, request_id=request_id, now=now)
            return None
        await _tell_gone(conn, offer_id, winner=request_id, now=now)
        await audit.record(conn, site_id=request.site_id, actor=actor, action="slot_offer.taken",
                           subject_type="slot_offer", subject_id=offer_id,
                           details={"request_id": request_id, "appointment_id": appointment.id})
        return appointment


def _slot_for(offer_: slot_offers.SlotOffer, request: requests_.Request) -> Slot:
    duration = request.decision.duration if request.decision else offer_.end - offer_.start
    return Slot(offer_.staff_id, offer_.start, min(offer_.start + duration, offer_.end), Mode(offer_.mode),
                offer_.room)


async def _tell_gone(conn: asyncpg.Connection, offer_id: int, *, winner: int | None, now: datetime) -> None:
    for request_id in await slot_offers.settle(conn, offer_id, winner=winner, now=now):
        request = await requests_.get(conn, request_id)
        await notices.slot_offer_gone(conn, client=await clients.get(conn, request.client_id), request=request,
                                      offer_id=offer_id)
