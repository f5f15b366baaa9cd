"""The client's e-mail address on the request page (issue 15), where the office allows e-mail.

Staff are an authenticated channel: what they enter is set on the client as verified (audited, without the
address in the audit row). An address a client typed on the web form or at the kiosk is shown with its request,
marked unverified (or confirmed by the address itself); staff may take it onto the client after a check.
"""

from __future__ import annotations

import asyncpg
from aiohttp import web

from scheduler import email_addresses
from scheduler import requests as requests_
from scheduler.errors import ValidationFailed
from scheduler.i18n import N_
from scheduler.keys import POOL
from scheduler.permissions import check_may_act
from scheduler.staff import auth, ui

routes = web.RouteTableDef()
FIELD_LIMIT = 300  # longer than any valid address, so that too long is said, not cut


async def email_context(conn: asyncpg.Connection, req: requests_.Request) -> dict[str, object]:
    """What the request page shows: whether the office allows e-mail, the client's and this request's address."""
    return {"email": await email_addresses.staff_view(conn, site_id=req.site_id, client_id=req.client_id,
                                                      request_id=req.id)}


@routes.post(r"/staff/requests/{request_id:\d{1,18}}/email", name="staff-request-email")
@ui.pages
async def save_email(request: web.Request) -> web.Response:
    """Set, correct or (empty) remove the client's e-mail address; only where the office allows e-mail."""
    user = await auth.require_staff(request)
    form = await request.post()
    request_id = ui.int_param(request.match_info["request_id"], "request_id")
    raw = ui.text(form, "email", FIELD_LIMIT)
    back = ui.url(request, "staff-request", request_id=request_id) + "#h-client"

    async def run() -> None:
        errors: dict[str, str] = {}
        address = email_addresses.parse(raw, errors)
        if errors:
            raise ValidationFailed(fields=errors)
        async with request.app[POOL].acquire() as conn, conn.transaction():
            req = await requests_.get(conn, request_id)
            check_may_act(user, site_id=req.site_id, team_id=req.team_id, staff_id=req.staff_id)
            if not await email_addresses.site_allows(conn, req.site_id):
                raise ValidationFailed(fields={"email": N_("This office does not send e-mail to clients.")})
            await email_addresses.set_by_staff(conn, site_id=req.site_id, client_id=req.client_id, email=address,
                                               actor=user.actor, request_id=request_id)

    return await ui.perform(request, user, back, run,
                            success=N_("The e-mail address was saved.") if raw.strip()
                            else N_("The e-mail address was removed."))
