"""Demand against capacity: the coming six weeks of a team (team lead) or of the office and each team (admin)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from aiohttp import web

from scheduler import concerns, sites
from scheduler import demand_capacity as dc
from scheduler import demand_capacity_queries as dcq
from scheduler import teams as teams_
from scheduler.errors import Forbidden, NotFound
from scheduler.keys import POOL, SITE_SETUPS
from scheduler.permissions import Role, StaffUser
from scheduler.staff import ui

routes = web.RouteTableDef()


async def _team(request: web.Request, user: StaffUser, teams: dict[int, str]) -> int | None:
    """The team asked for: a lead's own (another team of the site: 403); an admin's choice or None for the office.
    A team of another site is not found."""
    asked = ui.optional_int(request.query.get("team"), "team")
    if asked is not None and asked not in teams:
        raise NotFound()
    if user.role is Role.admin:
        return asked
    if user.team_id is None or (asked is not None and asked != user.team_id):
        raise Forbidden()
    return user.team_id


@routes.get("/staff/capacity", name="staff-capacity")
@ui.pages
async def capacity_page(request: web.Request) -> web.Response:
    """Expected requests, free capacity and expected days to appointment per coming week, with a chart."""
    user = await ui.page_user(request, Role.team_lead, Role.admin)
    now = datetime.now(UTC)
    async with request.app[POOL].acquire() as conn:
        site = await sites.site_by_id(conn, user.site_id)
        teams = await teams_.names(conn, user.site_id)
        team_id = await _team(request, user, teams)
        team_ids = [team_id] if team_id is not None else list(teams)
        report = await dcq.compute(conn, site=site, team_ids=team_ids, now=now,
                                   setups=request.app.get(SITE_SETUPS))
        concern_labels = {r["id"]: r["labels"] for r in await concerns.list_for_admin(conn, user.site_id)}
    lang = ui.language(request, user)
    fmt = ui.Formatter(lang, site.timezone)
    main = report.office if team_id is None and report.office is not None else report.teams.get(
        team_id if team_id is not None else (team_ids[0] if team_ids else -1))
    weeks = main.weeks if main is not None else ()
    labels = ui.labels(lang)
    week_labels = [fmt.day(w.monday, "short") for w in weeks]
    breakdown = sorted(((ui.concern_label(concern_labels.get(c) or {}, lang), labels["channel"].get(ch, ch), n)
                        for (c, ch), n in (main.per_week.items() if main is not None else ())),
                       key=lambda row: -row[2])
    chart = {"labels": week_labels, "demand": [w.demand for w in weeks], "capacity": [w.capacity for w in weeks],
             "days": [w.days_to_appointment for w in weeks], "within": [w.within for w in weeks]}
    return ui.render(request, "capacity.html", {
        "tz": site.timezone, "teams": teams, "team_id": team_id, "main": main, "weeks": weeks,
        "week_labels": week_labels, "report": report, "breakdown": breakdown, "labels": labels,
        "modes": dc.MODES, "history_weeks": dc.HISTORY_WEEKS, "horizon_weeks": dc.HORIZON_WEEKS,
        "history_from": fmt.day(report.today - timedelta(days=report.today.weekday() + 7 * dc.HISTORY_WEEKS),
                                "medium"),
        "chart_json": json.dumps(chart).replace("</", "<\\/"),
    })
