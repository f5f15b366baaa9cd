"""Admin page for the office's video service: the URL template that gives each video appointment its room."""

from __future__ import annotations

import asyncpg
from aiohttp import web

from scheduler import audit, sites, video_rooms
from scheduler.i18n import N_
from scheduler.keys import POOL
from scheduler.permissions import Role, StaffUser
from scheduler.staff import auth, ui

routes = web.RouteTableDef()


@routes.get("/staff/admin/video", name="staff-admin-video")
@ui.pages
async def video_page(request: web.Request) -> web.Response:
    """The office's video service URL template."""
    user = await ui.page_user(request, Role.admin)
    async with request.app[POOL].acquire() as conn:
        template = await sites.video_url_template(conn, user.site_id)
    return ui.render(request, "admin_video.html", {"template": template or "",
                                                   "max_length": video_rooms.TEMPLATE_MAX})


async def set_template(pool: asyncpg.Pool, *, user: StaffUser, raw: str) -> None:
    """Set or clear the admin's site's video service (checked first; rooms already given keep their ids)."""
    template = video_rooms.check_template(raw)
    async with pool.acquire() as conn, conn.transaction():
        await sites.set_video_url_template(conn, user.site_id, template)
        await audit.record(conn, site_id=user.site_id, actor=user.actor, action="site.video_service",
                           subject_type="site", subject_id=user.site_id, details={"template": template})


@routes.post("/staff/admin/video", name="staff-admin-video-set")
@ui.pages
async def video_set(request: web.Request) -> web.Response:
    """Save the template (an empty field removes the service: video appointments go on without links)."""
    user = await auth.require_staff(request, Role.admin)
    form = await request.post()
    raw = ui.text(form, "video_url_template", video_rooms.TEMPLATE_MAX + 1)
    return await ui.perform(request, user, ui.url(request, "staff-admin-video"),
                            lambda: set_template(request.app[POOL], user=user, raw=raw), success=N_("Saved."))
