"""Admin pages for call displays: issue a device token (shown once, stored hashed), list and revoke displays."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg
from aiohttp import web

from scheduler import audit, displays, sites
from scheduler.errors import NotFound, ValidationFailed
from scheduler.i18n import N_
from scheduler.keys import CONFIG, POOL
from scheduler.permissions import Role, StaffUser
from scheduler.staff import auth, ui

routes = web.RouteTableDef()
NAME_MAX = 100


async def _render(request: web.Request, user: StaffUser, *, new_token: str | None = None,
                  status: int = 200) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        devices = await displays.list_for_site(conn, user.site_id)
        site = await sites.site_by_id(conn, user.site_id)
    base = sites.public_url(site, request.app[CONFIG].server.public_base_url) + "/display/"
    return ui.render(request, "admin_displays.html", {
        "devices": devices, "new_token": new_token, "tz": site.timezone,
        "new_url": base + new_token if new_token else None,
    }, status=status)


@routes.get("/staff/admin/displays", name="staff-admin-displays")
@ui.pages
async def display_list(request: web.Request) -> web.Response:
    """Call displays of the office."""
    user = await ui.page_user(request, Role.admin)
    return await _render(request, user)


async def issue_display_token(pool: asyncpg.Pool, *, user: StaffUser, name: str, location: str) -> str:
    """Register a call display at the admin's site; returns its token (stored only as a SHA-256, shown once)."""
    name, location = name.strip(), location.strip()
    if not name or len(name) > NAME_MAX:
        raise ValidationFailed(fields={"name": N_("Please give the display a name of at most 100 characters.")})
    if len(location) > NAME_MAX:
        raise ValidationFailed(fields={"location": N_("Please enter a location of at most 100 characters.")})
    token = displays.new_token()
    async with pool.acquire() as conn, conn.transaction():
        device_id = await displays.register(conn, site_id=user.site_id, name=name, location=location, token=token,
                                            issued_by=user.id)
        await audit.record(conn, site_id=user.site_id, actor=user.actor, action="display.issue",
                           subject_type="display", subject_id=device_id, details={"name": name})
    return token


@routes.post("/staff/admin/displays", name="staff-admin-display-issue")
@ui.pages
async def display_issue(request: web.Request) -> web.Response:
    """Issue a display token and show its address this once (never redirected: it is not stored in clear)."""
    user = await auth.require_staff(request, Role.admin)
    form = await request.post()
    lang = ui.language(request, user)
    try:
        token = await issue_display_token(request.app[POOL], user=user, name=ui.text(form, "name", NAME_MAX + 1),
                                          location=ui.text(form, "location", NAME_MAX + 1))
    except ValidationFailed as e:
        return ui.see_other(ui.url(request, "staff-admin-displays"), flash=("error", ui.error_text(lang, e)))
    return await _render(request, user, new_token=token, status=201)


async def revoke_display(pool: asyncpg.Pool, *, user: StaffUser, device_id: int) -> None:
    """Revoke a display's token: from its next request on (within a minute for an open page) it goes dark."""
    async with pool.acquire() as conn, conn.transaction():
        if not await displays.revoke(conn, device_id, site_id=user.site_id, now=datetime.now(UTC)):
            raise NotFound()
        await audit.record(conn, site_id=user.site_id, actor=user.actor, action="display.revoke",
                           subject_type="display", subject_id=device_id)


@routes.post(r"/staff/admin/displays/{device_id:\d{1,18}}/revoke", name="staff-admin-display-revoke")
@ui.pages
async def display_revoke(request: web.Request) -> web.Response:
    """Revoke a call display."""
    user = await auth.require_staff(request, Role.admin)
    device_id = ui.int_param(request.match_info["device_id"], "device_id")
    return await ui.perform(request, user, ui.url(request, "staff-admin-displays"),
                            lambda: revoke_display(request.app[POOL], user=user, device_id=device_id),
                            success=N_("The display can no longer be used."))
