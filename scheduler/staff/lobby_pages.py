"""The lobby for staff: calling an arrived client (one click in the today list or the calendar), and the front desk
list of every arrival of the office, refreshing live.

Who: a call is made by the client's caseworker, their team or an admin of the site (lobby_calls.check_may_call).
The front desk list is open to every signed-in staff member of the site, whatever their role or team: reception
is often staffed by whoever is on duty, and it shows only today's arrivals of their own office.

Live updates: the page follows /staff/front-desk/events (server-sent events, woken by PostgreSQL notifications,
see scheduler/lobby_feed.py) and falls back to polling /staff/front-desk/status. Both carry only a fingerprint
of the list, no client data; the script then reloads the list, which is recorded as a view of client data.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Final

import asyncpg
from aiohttp import web
from aiohttp_sse import sse_response

from scheduler import approvals, audit, front_desk, front_desk_queue, lobby_calls, lobby_feed, sites
from scheduler.errors import DomainError, Forbidden
from scheduler.i18n import N_, translate
from scheduler.keys import LOBBY_FEED, POOL
from scheduler.permissions import StaffUser
from scheduler.staff import auth, ui

routes = web.RouteTableDef()

POLL_SECONDS: Final = 10       # the fallback when server-sent events do not get through
WAKE_SECONDS: Final = 15
RECHECK_SECONDS: Final = 60    # an open stream re-checks the session this often
CALLED: Final = N_("Called: %(reference)s to room %(room)s.")


@routes.post(r"/staff/appointments/{appointment_id:\d{1,18}}/call", name="staff-appointment-call")
@ui.pages
async def call(request: web.Request) -> web.StreamResponse:
    """Call the arrived client into the room (CSRF-checked); again for a repeat call. Back with a message."""
    user = await auth.require_staff(request)
    appointment_id = ui.int_param(request.match_info["appointment_id"], "appointment_id")
    form = await request.post()
    back = ui.safe_next(ui.text(form, "back", 500), ui.url(request, "staff-today"))
    lang = ui.language(request, user)
    try:
        made = await lobby_calls.call(request.app[POOL], user=user, appointment_id=appointment_id,
                                      room=ui.text(form, "room", 100), now=datetime.now(UTC))
    except Forbidden:
        raise
    except DomainError as e:
        if "text/html" not in request.headers.get("Accept", ""):
            raise
        return ui.see_other(back, flash=("error", ui.error_text(lang, e)))
    return ui.see_other(back, flash=("ok", translate(lang, CALLED, reference=made.reference, room=made.room)))


async def _arrivals(request: web.Request, user: StaffUser) -> tuple[sites.Site, list[front_desk.Arrival]]:
    async with request.app[POOL].acquire() as conn:
        site = await sites.site_by_id(conn, user.site_id)
        start, end = approvals.day_bounds(site, site.calendar().local_date(datetime.now(UTC)))
        return site, await front_desk.arrivals(conn, user.site_id, start=start, end=end)


async def _queue(conn: asyncpg.Connection, site: sites.Site) -> list[front_desk_queue.QueueEntry]:
    """Today's walk-in tickets and due callbacks in policy order (walk_in_pages.py acts on the tickets)."""
    now = datetime.now(UTC)
    today = site.calendar().local_date(now)
    return await front_desk_queue.load(conn, site, day=today, day_end=approvals.day_bounds(site, today)[1], now=now)


async def _stamp(request: web.Request, site_id: int) -> str:
    async with request.app[POOL].acquire() as conn:
        site = await sites.site_by_id(conn, site_id)
        start, end = approvals.day_bounds(site, site.calendar().local_date(datetime.now(UTC)))
        arrivals = front_desk.stamp(await front_desk.arrivals(conn, site_id, start=start, end=end))
        return arrivals + front_desk_queue.stamp(await _queue(conn, site))


@routes.get("/staff/front-desk", name="staff-front-desk")
@ui.pages
async def front_desk_page(request: web.Request) -> web.Response:
    """Every client of the office who arrived today and is still waiting or being seen: for whom, since when,
    called or not. Recorded as a view of client data."""
    user = await ui.page_user(request)
    site, rows = await _arrivals(request, user)
    async with request.app[POOL].acquire() as conn, conn.transaction():
        queue = await _queue(conn, site)
        await audit.record_list_view(conn, site_id=user.site_id, actor=user.actor, kind="appointment",
                                     clients_by_item={r.appointment_id: r.client_id for r in rows})
        await audit.record_list_view(conn, site_id=user.site_id, actor=user.actor, kind="callback",
                                     clients_by_item={e.callback_id: e.client_id for e in queue})
    return ui.render(request, "front_desk.html", {
        "tz": site.timezone, "rows": rows, "stamp": front_desk.stamp(rows) + front_desk_queue.stamp(queue),
        "poll_seconds": POLL_SECONDS, "now": datetime.now(UTC), "queue": queue,
    })


@routes.get("/staff/front-desk/status", name="staff-front-desk-status")
async def front_desk_status(request: web.Request) -> web.Response:
    """The list's fingerprint (no client data), for the polling fallback."""
    user = await auth.require_staff(request)
    _version, stamp = await request.app[LOBBY_FEED].snapshot(user.site_id, lobby_feed.ARRIVALS,
                                                             lambda: _stamp(request, user.site_id))
    return web.json_response({"stamp": stamp, "poll_seconds": POLL_SECONDS}, headers={"Cache-Control": "no-store"})


@routes.get("/staff/front-desk/events", name="staff-front-desk-events")
async def front_desk_events(request: web.Request) -> web.StreamResponse:
    """Server-sent events: "changed" with the list's fingerprint whenever it changes (no client data)."""
    user = await auth.require_staff(request)
    feed = request.app[LOBBY_FEED]
    async with sse_response(request, headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
                            ping_interval=15, send_timeout=10) as stream:
        sent, checked = "", time.monotonic()
        try:
            while stream.is_connected() and request.transport is not None and not request.transport.is_closing() \
                    and not feed.closing:
                version, stamp = await feed.snapshot(user.site_id, lobby_feed.ARRIVALS,
                                                     lambda: _stamp(request, user.site_id))
                if stamp != sent:
                    await stream.send(json.dumps({"stamp": stamp}), event="changed", retry=3000)
                    sent = stamp
                await feed.wait(user.site_id, lobby_feed.ARRIVALS, version, timeout=WAKE_SECONDS)
                if time.monotonic() - checked > RECHECK_SECONDS:
                    checked = time.monotonic()
                    request.pop(auth.SESSION_KEY, None)  # look the session up again: it may have ended
                    if await auth.authenticate(request) is None:
                        await stream.send("{}", event="gone")
                        break
        except (ConnectionResetError, TimeoutError):
            pass  # the page went away; its script reconnects or falls back to polling
    return stream
