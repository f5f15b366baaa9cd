"""The confirmation link of an e-mail address typed on the web form or at the kiosk: /r/<link token>/email/<code>.

Opening it (GET) only shows a button, so link scanners in mail systems confirm nothing; the POST confirms. The
code must belong to this request, be unused and unexpired; every other case gets the same 404 page.
"""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web

from scheduler import appointments, email_addresses, notices
from scheduler import requests as requests_
from scheduler.appointments import AppointmentStatus
from scheduler.channels.web import render
from scheduler.http import TOKEN
from scheduler.i18n import N_
from scheduler.keys import POOL

routes = web.RouteTableDef()
CONFIRM_PATH = f"/r/{TOKEN}/email/{{code:{email_addresses.CODE_PATTERN}}}"


def _invalid(request: web.Request) -> web.Response:
    return render(request, "email_invalid.html", {"title": N_("This link is not valid")}, status=404)


@routes.get(CONFIRM_PATH, name="web-email-confirm-form")
async def confirm_form(request: web.Request) -> web.Response:
    """Ask the owner of the address to confirm it (nothing changes on a GET)."""
    now = datetime.now(UTC)
    async with request.app[POOL].acquire() as conn:
        found = await requests_.find_by_token(conn, request.match_info["token"])
        pending = found and await email_addresses.for_code(conn, request_id=found.id,
                                                           code=request.match_info["code"], now=now)
    if not pending:
        return _invalid(request)
    return render(request, "email_confirm.html", {"title": N_("Confirm your e-mail address"),
                                                  "email": pending.email, "done": False})


@routes.post(CONFIRM_PATH, name="web-email-confirm")
async def confirm(request: web.Request) -> web.Response:
    """Confirm the address for its request, once; an appointment already booked is mailed to it at once."""
    now = datetime.now(UTC)
    token = request.match_info["token"]
    async with request.app[POOL].acquire() as conn, conn.transaction():
        found = await requests_.find_by_token(conn, token)
        address = found and await email_addresses.confirm(conn, request_id=found.id,
                                                          code=request.match_info["code"], now=now)
        if found and address:
            appointment = await appointments.latest_for_request(conn, found.id)
            if appointment is not None and appointment.status is AppointmentStatus.confirmed \
                    and appointment.start > now:
                enabled, to = await email_addresses.invite_address(
                    conn, site_id=found.site_id, client_id=found.client_id, request_id=found.id)
                await notices.invite_email(conn, site_email_enabled=enabled, client_email=to,
                                           appointment=appointment, language=found.language, link_token=token)
    if not address:
        return _invalid(request)
    return render(request, "email_confirm.html", {"title": N_("Confirm your e-mail address"), "email": address,
                                                  "done": True, "token": token})
