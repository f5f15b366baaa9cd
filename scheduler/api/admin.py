"""Admin JSON API for a client's data-protection rights: find, export, erase (each audited)."""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web

from scheduler import audit, phones, privacy
from scheduler.errors import NotFound
from scheduler.http import path_id
from scheduler.keys import POOL
from scheduler.permissions import Role
from scheduler.staff.auth import require_staff

routes = web.RouteTableDef()


@routes.get("/api/staff/clients", name="api-admin-find-client")
async def find_client(request: web.Request) -> web.Response:
    """The client with a phone number (?phone=), for an admin handling a data request."""
    user = await require_staff(request, Role.admin)
    phone = phones.normalise(request.query.get("phone", ""), landline_ok=True)
    async with request.app[POOL].acquire() as conn, conn.transaction():
        client_id = await privacy.find_client(conn, site_id=user.site_id, phone=phone)
        await audit.record(conn, site_id=user.site_id, actor=user.actor, action="client.search",
                           subject_type="client", subject_id=client_id)
    if client_id is None:
        raise NotFound()
    return web.json_response({"id": client_id})


@routes.get(r"/api/staff/clients/{id:\d{1,18}}/export", name="api-admin-export-client")
async def export_client(request: web.Request) -> web.Response:
    """Everything stored about a client, as JSON."""
    user = await require_staff(request, Role.admin)
    async with request.app[POOL].acquire() as conn, conn.transaction():
        data = await privacy.export(conn, site_id=user.site_id, client_id=path_id(request), actor=user.actor)
    return web.json_response(data)


@routes.post(r"/api/staff/clients/{id:\d{1,18}}/erase", name="api-admin-erase-client")
async def erase_client(request: web.Request) -> web.Response:
    """Erase a client's personal data now (open items are closed first)."""
    user = await require_staff(request, Role.admin)
    async with request.app[POOL].acquire() as conn, conn.transaction():
        await privacy.erase(conn, site_id=user.site_id, client_id=path_id(request), actor=user.actor,
                            now=datetime.now(UTC))
    return web.json_response({"id": path_id(request), "erased": True})
