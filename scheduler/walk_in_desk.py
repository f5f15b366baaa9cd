"""Walk-in commands: the kiosk hands out a ticket; the front desk takes, calls, serves or lets a ticket go.

Each command is one transaction. Who: every staff member of the ticket's site (reception is whoever is on duty,
as for the front desk list); once someone has taken a ticket, only they, a team lead or an admin act on it.
Another site's ticket is not found. Calling goes through `lobby_calls`, so the call displays show the ticket
number and the room, never a name. A served ticket closes its callback request as reached; a client who left
keeps their callback request, which the office then handles as any other (the callback as today).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

from scheduler import audit, callbacks, lobby_calls, sites, walk_ins
from scheduler.errors import ValidationFailed
from scheduler.i18n import N_
from scheduler.permissions import Role, StaffUser
from scheduler.policy.rules import Channel
from scheduler.walk_ins import Ticket, WalkInStatus


@dataclass(frozen=True, slots=True)
class TicketCall:
    ticket: Ticket
    room: str
    attempt: int


async def issue_for_callback(pool: asyncpg.Pool, *, callback_id: int, now: datetime) -> Ticket | None:
    """A same-day ticket for a kiosk callback request whose decision allows walk-ins, while the office is open
    with time left; None otherwise (the callback request stays as it is). A retry gets the same ticket."""
    async with pool.acquire() as conn, conn.transaction():
        earlier = await walk_ins.for_callback(conn, callback_id)
        if earlier is not None:
            return earlier
        callback = await callbacks.get(conn, callback_id)
        if callback.channel is not Channel.kiosk or callback.status not in callbacks.OPEN \
                or callback.decision is None or not callback.decision.walk_in:
            return None
        site = await sites.site_by_id(conn, callback.site_id)
        if await walk_ins.open_until(conn, site, now) is None:
            return None
        try:
            async with conn.transaction():  # a savepoint: a simultaneous retry of the same request may win
                ticket = await walk_ins.insert(conn, site_id=site.id, callback_id=callback_id,
                                               day=site.calendar().local_date(now), now=now)
        except asyncpg.UniqueViolationError as e:
            if e.constraint_name != "walk_in_tickets_one_per_callback":
                raise
            return await walk_ins.for_callback(conn, callback_id)
        await audit.record(conn, site_id=site.id, actor=f"client:{Channel.kiosk}", action="walk_in.issued",
                           subject_type="callback", subject_id=callback_id, details={"ticket": ticket.label})
    return ticket


def _may_take_over(user: StaffUser) -> bool:
    return user.role in (Role.admin, Role.team_lead)


async def take(pool: asyncpg.Pool, *, user: StaffUser, ticket_id: int) -> Ticket:
    """The user takes an open ticket of their site (to call it next). Audited."""
    async with pool.acquire() as conn, conn.transaction():
        ticket = await walk_ins.take(conn, ticket_id, site_id=user.site_id, staff_id=user.id,
                                     may_take_over=_may_take_over(user))
        await audit.record(conn, site_id=user.site_id, actor=user.actor, action="walk_in.taken",
                           subject_type="callback", subject_id=ticket.callback_id, details={"ticket": ticket.label})
    return ticket


async def call(pool: asyncpg.Pool, *, user: StaffUser, ticket_id: int, room: str | None, now: datetime) -> TicketCall:
    """Call a ticket into a room (again, for a repeat call): the displays show its number at commit. Audited."""
    where = lobby_calls.clean_room(room)
    if where is None:
        raise ValidationFailed(fields={"room": N_("Please enter a room of at most 40 characters.")})
    async with pool.acquire() as conn, conn.transaction():
        ticket = await walk_ins.transition(conn, ticket_id, site_id=user.site_id, to=WalkInStatus.called,
                                           staff_id=user.id, may_take_over=_may_take_over(user))
        attempt = await lobby_calls.insert_ticket_call(conn, site_id=user.site_id, ticket_id=ticket.id, room=where,
                                                       staff_id=user.id, now=now)
        await audit.record(conn, site_id=user.site_id, actor=user.actor, action="walk_in.called",
                           subject_type="callback", subject_id=ticket.callback_id,
                           details={"ticket": ticket.label, "room": where, "attempt": attempt})
    return TicketCall(ticket=ticket, room=where, attempt=attempt)


async def finish(pool: asyncpg.Pool, *, user: StaffUser, ticket_id: int, to: WalkInStatus) -> Ticket:
    """Mark a ticket served (its callback request is closed as reached) or left (the callback request stays
    open and is handled as a callback). Audited."""
    if to not in (WalkInStatus.served, WalkInStatus.left):
        raise ValueError(f"a ticket is finished as served or left, not {to}")
    async with pool.acquire() as conn, conn.transaction():
        ticket = await walk_ins.transition(conn, ticket_id, site_id=user.site_id, to=to, staff_id=user.id,
                                           may_take_over=_may_take_over(user))
        await audit.record(conn, site_id=user.site_id, actor=user.actor, action=f"walk_in.{to.value}",
                           subject_type="callback", subject_id=ticket.callback_id, details={"ticket": ticket.label})
        if to is WalkInStatus.served:
            callback = await callbacks.get(conn, ticket.callback_id)
            if callback.status in callbacks.OPEN:  # a colleague may have reached them by phone meanwhile
                await callbacks.close(conn, ticket.callback_id, to=callbacks.CallbackStatus.reached,
                                      actor=user.actor)
    return ticket
