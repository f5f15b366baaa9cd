"""Expired requests: what nobody decided in time, for a week, so the team sees what slipped through."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from aiohttp import web

from scheduler import audit, request_expiry, sites
from scheduler import teams as teams_
from scheduler.keys import CONFIG, POOL
from scheduler.staff import ui
from scheduler.staff.inbox_pages import inbox_filter

routes = web.RouteTableDef()


@routes.get("/staff/expired", name="staff-expired")
@ui.pages
async def expired_page(request: web.Request) -> web.Response:
    """Requests of the team (or one's own) that expired in the last days, newest first."""
    user = await ui.page_user(request)
    days = request.app[CONFIG].lifecycle.expired_list_days
    now = datetime.now(UTC)
    # Team scope like the inbox, but the team's list is the default: expiry is the team's concern.
    query = {"view": "team", **{k: ui.text(request.query, k, 40) for k in ("view", "team") if k in request.query}}
    async with request.app[POOL].acquire() as conn:
        site = await sites.site_by_id(conn, user.site_id)
        teams = await teams_.names(conn, user.site_id)
        filt, view = inbox_filter(user, query, teams)
        items = await request_expiry.list_expired(conn, site_id=user.site_id, staff_id=filt.staff_id,
                                                  team_id=filt.team_id, since=now - timedelta(days=days))
        # References and concerns of named cases: one audit row per listing, as for the callback list.
        await audit.record_list_view(conn, site_id=user.site_id, actor=user.actor, kind="request",
                                     clients_by_item={i.id: i.client_id for i in items})
    lang = ui.language(request, user)
    return ui.render(request, "expired.html", {
        "tz": site.timezone, "items": items, "view": view, "days": days, "teams": teams,
        "selected_team": filt.team_id, "labels": ui.labels(lang),
        "concern_label": lambda lbl: ui.concern_label(lbl, lang),
    })
