"""Admin page for a site's rooms and what they offer (step-free access, a hearing loop): `rooms.py` stores them."""

from __future__ import annotations

import asyncpg
from aiohttp import web
from multidict import MultiMapping

from scheduler import rooms
from scheduler.errors import NotFound
from scheduler.i18n import N_
from scheduler.keys import POOL
from scheduler.permissions import Role, StaffUser
from scheduler.staff import auth, ui

routes = web.RouteTableDef()


@routes.get("/staff/admin/rooms", name="staff-admin-rooms")
@ui.pages
async def room_list(request: web.Request) -> web.Response:
    """The office's rooms with their attributes, and the rooms working hours name without any."""
    user = await ui.page_user(request, Role.admin)
    async with request.app[POOL].acquire() as conn:
        found = await rooms.list_for_site(conn, user.site_id)
        unlisted = await rooms.unlisted_names(conn, user.site_id)
    return ui.render(request, "admin_rooms.html", {"rooms": found, "unlisted": unlisted})


async def _own_room(request: web.Request, user: StaffUser) -> int:
    """The room id of the path, if the room is of the admin's office (else 404, as for any other office's object)."""
    room_id = ui.int_param(request.match_info["room_id"], "room_id")
    async with request.app[POOL].acquire() as conn:
        if not await rooms.exists(conn, user.site_id, room_id):
            raise NotFound()
    return room_id


async def _save(pool: asyncpg.Pool, user: StaffUser, form: MultiMapping[object], room_id: int | None) -> int:
    name = rooms.clean_name(ui.text(form, "name", rooms.NAME_LIMIT + 10))
    async with pool.acquire() as conn, conn.transaction():
        return await rooms.save(conn, site_id=user.site_id, room_id=room_id, name=name,
                                step_free=form.get("step_free") == "yes",
                                hearing_loop=form.get("hearing_loop") == "yes", staff_id=user.id)


@routes.post("/staff/admin/rooms", name="staff-admin-room-add")
@ui.pages
async def room_add(request: web.Request) -> web.Response:
    """Add a room."""
    user = await auth.require_staff(request, Role.admin)
    form = await request.post()
    return await ui.perform(request, user, ui.url(request, "staff-admin-rooms"),
                            lambda: _save(request.app[POOL], user, form, None), success=N_("Room saved."))


@routes.post(r"/staff/admin/rooms/{room_id:\d{1,18}}", name="staff-admin-room-save")
@ui.pages
async def room_save(request: web.Request) -> web.Response:
    """Change a room of the admin's office (another office's room: 404)."""
    user = await auth.require_staff(request, Role.admin)
    room_id = await _own_room(request, user)
    form = await request.post()
    return await ui.perform(request, user, ui.url(request, "staff-admin-rooms"),
                            lambda: _save(request.app[POOL], user, form, room_id), success=N_("Room saved."))


async def _delete(pool: asyncpg.Pool, user: StaffUser, room_id: int) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await rooms.delete(conn, site_id=user.site_id, room_id=room_id, staff_id=user.id)


@routes.post(r"/staff/admin/rooms/{room_id:\d{1,18}}/delete", name="staff-admin-room-delete")
@ui.pages
async def room_delete(request: web.Request) -> web.Response:
    """Remove a room's attributes."""
    user = await auth.require_staff(request, Role.admin)
    room_id = await _own_room(request, user)
    return await ui.perform(request, user, ui.url(request, "staff-admin-rooms"),
                            lambda: _delete(request.app[POOL], user, room_id), success=N_("Room deleted."))
