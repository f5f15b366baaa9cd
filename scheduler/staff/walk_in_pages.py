"""The front desk's walk-in buttons: take a ticket, call it into a room, mark it served or left.

Every form is CSRF-checked and goes back to the front desk with a message. Any staff member of the ticket's site
may act (reception is whoever is on duty); another site's ticket is not found (walk_in_desk.py).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Final

from aiohttp import web

from scheduler import walk_in_desk
from scheduler.errors import DomainError, Forbidden, NotFound
from scheduler.i18n import N_, translate
from scheduler.keys import POOL
from scheduler.permissions import StaffUser
from scheduler.staff import auth, ui
from scheduler.walk_ins import Ticket, WalkInStatus

routes = web.RouteTableDef()

TICKET: Final = r"/staff/walk-ins/{ticket_id:\d{1,18}}"
TAKEN: Final = N_("You took ticket %(ticket)s.")
CALLED: Final = N_("Called: ticket %(ticket)s to room %(room)s.")
SERVED: Final = N_("Ticket %(ticket)s is done.")
LEFT: Final = N_("Ticket %(ticket)s: the client left. Their callback request stays open.")


async def _act(request: web.Request, run: Callable[[StaffUser, int], Awaitable[Ticket]], success: str,
               room: str = "") -> web.Response:
    """Run one ticket command for a form; back to the front desk with a message. Another site's (or no) ticket
    is a 404 page, a refusal (already served, taken by a colleague, no room) a message."""
    user = await auth.require_staff(request)
    ticket_id = ui.int_param(request.match_info["ticket_id"], "ticket_id")
    back = ui.url(request, "staff-front-desk")
    lang = ui.language(request, user)
    try:
        ticket = await run(user, ticket_id)
    except (Forbidden, NotFound):
        raise
    except DomainError as e:
        return ui.see_other(back, flash=("error", ui.error_text(lang, e)))
    return ui.see_other(back, flash=("ok", translate(lang, success, ticket=ticket.label, room=room)))


@routes.post(TICKET + "/take", name="staff-walkin-take")
@ui.pages
async def take(request: web.Request) -> web.StreamResponse:
    """Take an open ticket (it is then yours to call)."""
    return await _act(request, lambda user, ticket_id: walk_in_desk.take(
        request.app[POOL], user=user, ticket_id=ticket_id), TAKEN)


@routes.post(TICKET + "/call", name="staff-walkin-call")
@ui.pages
async def call(request: web.Request) -> web.StreamResponse:
    """Call the ticket into a room (again); the call displays show the ticket number and the room."""
    room = ui.text(await request.post(), "room", 100)

    async def run(user: StaffUser, ticket_id: int) -> Ticket:
        made = await walk_in_desk.call(request.app[POOL], user=user, ticket_id=ticket_id, room=room,
                                       now=datetime.now(UTC))
        return made.ticket

    return await _act(request, run, CALLED, room=room.strip())


@routes.post(TICKET + "/served", name="staff-walkin-served")
@ui.pages
async def served(request: web.Request) -> web.StreamResponse:
    """The client with this ticket was helped: the ticket and its callback request are done."""
    return await _act(request, lambda user, ticket_id: walk_in_desk.finish(
        request.app[POOL], user=user, ticket_id=ticket_id, to=WalkInStatus.served), SERVED)


@routes.post(TICKET + "/left", name="staff-walkin-left")
@ui.pages
async def left(request: web.Request) -> web.StreamResponse:
    """The client with this ticket went away before being helped: the callback request stays open."""
    return await _act(request, lambda user, ticket_id: walk_in_desk.finish(
        request.app[POOL], user=user, ticket_id=ticket_id, to=WalkInStatus.left), LEFT)
