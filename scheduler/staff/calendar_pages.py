"""Calendar: a caseworker's appointments by day or week, with kiosk arrivals; the personal feed URL."""

from __future__ import annotations

import secrets
from datetime import UTC, date, datetime, timedelta

import asyncpg
from aiohttp import web

from scheduler import appointments, approvals, audit, lobby_calls, request_views, sites, teams, video_rooms
from scheduler.i18n import N_
from scheduler.keys import CONFIG, POOL
from scheduler.permissions import StaffUser
from scheduler.staff import auth, today_pages, ui

routes = web.RouteTableDef()
FEED_ROTATED = N_("Your calendar feed has a new address. Subscribe to it again; the old address no longer works.")


def feed_urls(base_url: str, token: str) -> tuple[str, str]:
    """The personal calendar feed as https (or the configured scheme) and webcal URL."""
    base = base_url.rstrip("/")
    https = f"{base}/staff/feed/{token}.ics"
    return https, "webcal://" + https.split("://", 1)[1]


@routes.get("/staff/calendar", name="staff-calendar")
@ui.pages
async def calendar_page(request: web.Request) -> web.Response:
    """My appointments of a day or a week, with arrivals from the kiosk."""
    user = await ui.page_user(request)
    view = "week" if request.query.get("view") == "week" else "day"
    now = datetime.now(UTC)
    async with request.app[POOL].acquire() as conn:
        site = await sites.site_by_id(conn, user.site_id)
        today = site.calendar().local_date(now)
        day = approvals.parse_day(request.query.get("date"), today)
        first = day - timedelta(days=day.weekday()) if view == "week" else day
        days = [first + timedelta(days=i) for i in range(7 if view == "week" else 1)]
        start, _ = approvals.day_bounds(site, days[0])
        _, end = approvals.day_bounds(site, days[-1])
        found = await appointments.list_for_staff(conn, staff_id=user.id, start=start, end=end)
        facts = await request_views.calendar_facts(conn, [a.request_id for a in found])
        await audit.record_list_view(conn, site_id=user.site_id, actor=user.actor, kind="appointment",
                                     clients_by_item={a.id: facts[a.request_id].client_id for a in found
                                                      if a.request_id in facts})
        token = await teams.feed_token(conn, user.id)
        calls = await lobby_calls.states(conn, [a.id for a in found])
        video_links = await video_rooms.links(conn, site.id, found)
        today_bounds = approvals.day_bounds(site, today)
    by_day: dict[date, list[appointments.Appointment]] = {d: [] for d in days}
    for a in found:
        by_day.setdefault(site.calendar().local_date(a.start), []).append(a)
    step = timedelta(days=7 if view == "week" else 1)
    # Today's part follows check-ins live (static/arrivals.js): the ids of today's clients waiting, as the today
    # list's status reports them; other days have nothing to follow.
    waiting_ids = ",".join(str(a.id) for a in sorted(by_day.get(today, []), key=lambda a: a.id)
                           if a.arrived_at and a.outcome is None and a.status == "confirmed") if today in days else None
    https, webcal = feed_urls(sites.public_url(site, request.app[CONFIG].server.public_base_url), token)
    lang = ui.language(request, user)
    return ui.render(request, "calendar.html", {
        "tz": site.timezone, "view": view, "day": day, "days": days, "by_day": by_day, "facts": facts,
        "previous": (day - step).isoformat(), "next": (day + step).isoformat(), "today": today,
        "feed_https": https, "feed_webcal": webcal, "labels": ui.labels(lang),
        "concern_label": lambda lbl: ui.concern_label(lbl, lang),
        "video_links": video_links,
        "calls": calls, "call_back": ui.url(request, "staff-calendar", {"view": view, "date": day.isoformat()}),
        "waiting_ids": waiting_ids, "arrivals_poll_seconds": today_pages.POLL_SECONDS,
        "may_call": lambda a: lobby_calls.may_call(user, site_id=a.site_id, staff_id=a.staff_id, team_id=user.team_id,
                                                   status=a.status, outcome=a.outcome, arrived_at=a.arrived_at,
                                                   start=a.start, day=today_bounds),
    })


async def rotate_feed(pool: asyncpg.Pool, user: StaffUser) -> None:
    """Give the signed-in staff member's calendar feed a new address; the old one stops working at once."""
    async with pool.acquire() as conn, conn.transaction():
        await teams.rotate_feed_token(conn, user.id, secrets.token_urlsafe(32))
        await audit.record(conn, site_id=user.site_id, actor=user.actor, action="staff.feed_rotated",
                           subject_type="staff", subject_id=user.id)


@routes.post("/staff/calendar/feed", name="staff-calendar-feed-rotate")
@ui.pages
async def feed_rotate(request: web.Request) -> web.Response:
    """A new address for my calendar feed (CSRF-checked; only ever my own)."""
    user = await auth.require_staff(request)
    return await ui.perform(request, user, ui.url(request, "staff-calendar"),
                            lambda: rotate_feed(request.app[POOL], user),
                            success=FEED_ROTATED)
