"""Call display (Aufrufanzeige): a full-screen page for the waiting area, bound to an admin-issued device token.

It shows the reference codes of called clients with the room (never a name), newest first. The page's script
(static/display.js) follows /display/<token>/events (server-sent events) and falls back to polling
/display/<token>/board. An unknown or revoked token gets one neutral screen: no data and no hint why.

The page is for a German waiting room: every text shows in German with English beneath it (the office's lingua
franca for many clients); the catalogue holds the texts in every client language for offices that want another.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Final
from zoneinfo import ZoneInfo

import aiohttp_jinja2
from aiohttp import web
from aiohttp_sse import sse_response

from scheduler import displays, lobby_calls, lobby_feed, sites
from scheduler.i18n import N_, translate
from scheduler.keys import LOBBY_FEED, POOL

routes = web.RouteTableDef()

LANGUAGES: Final = ("de", "en")   # shown together, German first
POLL_SECONDS: Final = 2           # the fallback when server-sent events do not get through
RECHECK_SECONDS: Final = 60       # an open stream re-checks its token this often (a revoked display goes dark)
WAKE_SECONDS: Final = 10          # a stream looks at its connection at least this often
ALIVE_SECONDS: Final = 20         # and tells the script it is alive (display.js gives up after 45 s of silence)
TOKEN: Final = r"{token:[A-Za-z0-9_-]{1,200}}"
NO_STORE: Final = {"Cache-Control": "no-store"}

TEXTS: Final = {
    "title": N_("Call display"),
    "now": N_("Now called"),
    "earlier": N_("Earlier calls"),
    "reference": N_("Reference code"),
    "room": N_("Room"),
    "again": N_("called again"),
    "none": N_("No calls yet."),
    "lost": N_("Connection lost. Reconnecting …"),
    "sound_on": N_("Switch sound on"),
    "sound_off": N_("Switch sound off"),
}


def _texts() -> dict[str, list[str]]:
    return {key: [translate(lang, msgid) for lang in LANGUAGES] for key, msgid in TEXTS.items()}


def _neutral(request: web.Request) -> web.Response:
    """The same screen for every token that opens nothing."""
    title = translate("de", TEXTS["title"])
    response = aiohttp_jinja2.render_template("display/neutral.html", request, {"title": title}, status=404)
    response.headers.update(NO_STORE)
    return response


async def _device(request: web.Request) -> displays.DisplayDevice | None:
    async with request.app[POOL].acquire() as conn:
        return await displays.authenticate(conn, request.match_info["token"], now=datetime.now(UTC))


async def _board(request: web.Request, site_id: int) -> str:
    """The board as the script reads it (JSON text): the day's latest calls, times in the site's zone."""
    async with request.app[POOL].acquire() as conn:
        site = await sites.site_by_id(conn, site_id)
        calendar = site.calendar()
        now = datetime.now(UTC)
        since = calendar.day_start(calendar.local_date(now))
        calls = await lobby_calls.board(conn, site_id, since=since)
    zone = ZoneInfo(site.timezone)
    return json.dumps({"calls": [{"id": c.id, "reference": c.reference, "room": c.room,
                                  "time": c.called_at.astimezone(zone).strftime("%H:%M"), "repeated": c.repeated}
                                 for c in calls]}, ensure_ascii=False)


async def _latest(request: web.Request, site_id: int) -> tuple[int, str]:
    feed = request.app[LOBBY_FEED]
    return await feed.snapshot(site_id, lobby_feed.CALLS, lambda: _board(request, site_id))


@routes.get("/display/" + TOKEN, name="display-page")
async def page(request: web.Request) -> web.Response:
    """The full-screen display of one site's calls; the neutral screen for an unknown or revoked token."""
    device = await _device(request)
    if device is None:
        return _neutral(request)
    _version, board = await _latest(request, device.site_id)
    token = request.match_info["token"]
    response = aiohttp_jinja2.render_template("display/display.html", request, {
        "texts": _texts(), "langs": LANGUAGES, "board": json.loads(board)["calls"],
        "events_url": f"/display/{token}/events", "board_url": f"/display/{token}/board",
        "poll_seconds": POLL_SECONDS,
    })
    response.headers.update(NO_STORE)
    return response


@routes.get("/display/" + TOKEN + "/board", name="display-board")
async def board(request: web.Request) -> web.Response:
    """The board as JSON (the polling fallback); 404 without data for an unknown or revoked token."""
    device = await _device(request)
    if device is None:
        return web.json_response({"error": "gone"}, status=404, headers=NO_STORE)
    _version, body = await _latest(request, device.site_id)
    return web.Response(text=body, content_type="application/json", headers=NO_STORE)


@routes.get("/display/" + TOKEN + "/events", name="display-events")
async def events(request: web.Request) -> web.StreamResponse:
    """Server-sent events: the board now and after every change ("board"), "gone" once the token is revoked."""
    device = await _device(request)
    if device is None:
        return web.json_response({"error": "gone"}, status=404, headers=NO_STORE)
    feed = request.app[LOBBY_FEED]
    token = request.match_info["token"]
    async with sse_response(request, headers={**NO_STORE, "X-Accel-Buffering": "no"}, ping_interval=15,
                            send_timeout=10) as stream:
        sent, sent_at, checked = "", time.monotonic(), time.monotonic()
        try:
            while stream.is_connected() and not _closing(request) and not feed.closing:
                version, body = await _latest(request, device.site_id)
                if body != sent:
                    await stream.send(body, event="board", retry=2000)
                    sent, sent_at = body, time.monotonic()
                elif time.monotonic() - sent_at >= ALIVE_SECONDS:  # lets the script notice a dead connection
                    await stream.send("{}", event="alive")
                    sent_at = time.monotonic()
                await feed.wait(device.site_id, lobby_feed.CALLS, version, timeout=WAKE_SECONDS)
                if time.monotonic() - checked > RECHECK_SECONDS:
                    checked = time.monotonic()
                    async with request.app[POOL].acquire() as conn:
                        if await displays.authenticate(conn, token, now=datetime.now(UTC)) is None:
                            await stream.send("{}", event="gone")
                            break
        except (ConnectionResetError, TimeoutError):
            pass  # the display went away; it reconnects on its own
    return stream


def _closing(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()

