"""Calendar: a caseworker's appointments by day or week, with kiosk arrivals; the personal feed URL."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import asyncpg
from aiohttp import web

from scheduler import appointments, approvals, availability
from scheduler.keys import CONFIG, POOL
from scheduler.staff import ui

routes = web.RouteTableDef()


async def appointment_facts(conn: asyncpg.Connection, request_ids: list[int]) -> dict[int, asyncpg.Record]:
    """Reference, concern and client name of the requests behind a list of appointments (one query)."""
    rows = await conn.fetch(
        """
        SELECT r.id, r.reference, c.labels, cl.name
        FROM requests r JOIN concerns c ON c.id = r.concern_id JOIN clients cl ON cl.id = r.client_id
        WHERE r.id = ANY($1)
        """, request_ids)
    return {r["id"]: r for r in rows}


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
        site = await availability.site_by_id(conn, user.site_id)
        today = site.calendar().local_date(now)
        day = approvals.parse_day(request.query.get("date"), today)
        first = day - timedelta(days=day.weekday()) if view == "week" else day
        days = [first + timedelta(days=i) for i in range(7 if view == "week" else 1)]
        start, _ = approvals.day_bounds(site, days[0])
        _, end = approvals.day_bounds(site, days[-1])
        found = await appointments.list_for_staff(conn, staff_id=user.id, start=start, end=end)
        facts = await appointment_facts(conn, [a.request_id for a in found])
        token = await conn.fetchval("SELECT feed_token FROM staff WHERE id = $1", user.id)
    by_day: dict[date, list[appointments.Appointment]] = {d: [] for d in days}
    for a in found:
        by_day.setdefault(site.calendar().local_date(a.start), []).append(a)
    step = timedelta(days=7 if view == "week" else 1)
    https, webcal = feed_urls(request.app[CONFIG].server.public_base_url, token)
    lang = ui.language(request, user)
    return ui.render(request, "calendar.html", {
        "tz": site.timezone, "view": view, "day": day, "days": days, "by_day": by_day, "facts": facts,
        "previous": (day - step).isoformat(), "next": (day + step).isoformat(), "today": today,
        "feed_https": https, "feed_webcal": webcal, "labels": ui.labels(lang),
        "concern_label": lambda lbl: ui.concern_label(lbl, lang),
    })
