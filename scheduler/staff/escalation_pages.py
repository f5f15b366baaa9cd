"""Escalation list: the team lead's requests past their decision deadline, bulk reassignment, the daily summary."""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web

from scheduler import audit, escalation, escalation_summary, sites
from scheduler import teams as teams_
from scheduler.errors import NotFound
from scheduler.i18n import N_
from scheduler.keys import POOL
from scheduler.permissions import Role
from scheduler.staff import auth, ui

routes = web.RouteTableDef()

MAX_IDS = escalation.BATCH_LIMIT


@routes.get("/staff/escalation", name="staff-escalation")
@ui.pages
async def escalation_page(request: web.Request) -> web.Response:
    """A lead sees their team's escalated requests; an admin every team's, or one chosen team's."""
    user = await ui.page_user(request, Role.team_lead, Role.admin)
    scope = escalation.team_scope(user)
    now = datetime.now(UTC)
    async with request.app[POOL].acquire() as conn:
        site = await sites.site_by_id(conn, user.site_id)
        teams = await teams_.names(conn, user.site_id)
        team_id = scope
        if user.role is Role.admin:
            team_id = ui.optional_int(request.query.get("team"), "team")
            if team_id is not None and team_id not in teams:
                raise NotFound()  # another site's team
        items = await escalation.list_escalated(conn, site_id=user.site_id, team_id=team_id)
        people = [p for p in await teams_.bookable_staff(conn, user.site_id) if p["team_id"] == team_id] \
            if team_id is not None else []
        summaries = await escalation_summary.latest(conn, site_id=user.site_id,
                                                    team_ids=[team_id] if team_id else list(teams))
        await audit.record_list_view(conn, site_id=user.site_id, actor=user.actor, kind="request",
                                     clients_by_item={i.id: i.client_id for i in items})
    lang = ui.language(request, user)
    return ui.render(request, "escalation.html", {
        "tz": site.timezone, "items": items, "teams": teams, "team_id": team_id, "people": people,
        "summaries": summaries, "email_enabled": site.email_enabled, "labels": ui.labels(lang),
        "concern_label": lambda lbl: ui.concern_label(lbl, lang),
        "past": lambda moment: ui.Formatter(lang, site.timezone).ago(moment, now),
    })


@routes.post("/staff/escalation/reassign", name="staff-escalation-reassign")
@ui.pages
async def reassign(request: web.Request) -> web.Response:
    """Give the ticked requests to one caseworker of the team, all or none."""
    user = await auth.require_staff(request, Role.team_lead, Role.admin)
    form = await request.post()
    team_id = ui.int_param(form.get("team_id"), "team_id")
    async with request.app[POOL].acquire() as conn:
        await escalation.check_team(conn, user, team_id)  # another site's team: 404, another team's: 403
    raw_ids = form.getall("request_ids", [])
    if len(raw_ids) > MAX_IDS:
        raw_ids = raw_ids[:MAX_IDS + 1]  # one more than allowed, so the domain says why
    request_ids = [ui.int_param(raw, "request_ids") for raw in raw_ids]
    staff_id = ui.optional_int(form.get("staff_id"), "staff_id") or 0
    back = ui.url(request, "staff-escalation", {"team": team_id if user.role is Role.admin else None})
    return await ui.perform(request, user, back, lambda: escalation.reassign(
        request.app[POOL], user=user, team_id=team_id, request_ids=request_ids, staff_id=staff_id,
        now=datetime.now(UTC)), success=N_("The requests were reassigned and planned anew."))
