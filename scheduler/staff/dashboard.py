"""Dashboard for team leads and admins: the page that charts the numbers of `scheduler.dashboard_numbers`."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, date, datetime
from typing import Final

from aiohttp import web

from scheduler import dashboard_numbers, sites
from scheduler import teams as teams_
from scheduler.i18n import N_, translate
from scheduler.keys import POOL
from scheduler.notify import budget
from scheduler.permissions import Role, StaffUser
from scheduler.staff import ui

routes = web.RouteTableDef()

CHANNELS: Final = dashboard_numbers.CHANNELS
AGE_BUCKETS: Final = {"under_1_day": N_("under 1 day"), "1_to_3_days": N_("1 to 3 days"),
                      "3_to_7_days": N_("3 to 7 days"), "over_7_days": N_("over 7 days")}
BUDGET_WARNING: Final = N_("%(used)s of %(budget)s SMS of today's budget are used.")
BUDGET_EXHAUSTED: Final = N_("Today's budget of %(budget)s SMS is used up. Further SMS wait until tomorrow.")


def dashboard_team(user: StaffUser, raw: str | None, teams: dict[int, str]) -> int | None:
    """Team leads see their team; admins the whole office or a chosen team."""
    if user.role is Role.team_lead:
        return user.team_id
    team_id = ui.optional_int(raw, "team")
    return team_id if team_id in teams else None


@routes.get("/staff/dashboard", name="staff-dashboard")
@ui.pages
async def dashboard_page(request: web.Request) -> web.Response:
    """Charts of channel mix, backlog, time to appointment, callback reach, no-shows and overdue requests."""
    user = await ui.page_user(request, Role.team_lead, Role.admin)
    now = datetime.now(UTC)
    async with request.app[POOL].acquire() as conn:
        site = await sites.site_by_id(conn, user.site_id)
        teams = await teams_.names(conn, user.site_id)
        team_id = dashboard_team(user, request.query.get("team"), teams)
        numbers = await dashboard_numbers.compute(conn, site=site, team_id=team_id, now=now)
        spent = await budget.today(conn, site_id=site.id, timezone=site.timezone, now=now) \
            if user.role is Role.admin else None
    lang = ui.language(request, user)
    labels = ui.labels(lang)
    fmt = ui.Formatter(lang, site.timezone)
    week_labels = [fmt.day(date.fromisoformat(w), "short") for w in numbers.weeks]
    chart_data = {**asdict(numbers), "week_labels": week_labels, "channel_labels": labels["channel"]}
    return ui.render(request, "dashboard.html", {
        "tz": site.timezone, "d": numbers, "week_labels": week_labels, "teams": teams, "team_id": team_id,
        "labels": labels, "channels": CHANNELS,
        "age_buckets": {k: translate(lang, v) for k, v in AGE_BUCKETS.items()},
        "chart_json": json.dumps(chart_data).replace("</", "<\\/"), "sms_budget": _budget_notice(spent, lang),
    })


def _budget_notice(spent: budget.BudgetDay | None, lang: str) -> str | None:
    """The admins' notice about today's SMS budget, once 80 % of it are used."""
    if spent is None or spent.warned_at is None and spent.exhausted_at is None:
        return None
    if spent.exhausted_at is not None:
        return translate(lang, BUDGET_EXHAUSTED, budget=spent.budget)
    return translate(lang, BUDGET_WARNING, used=spent.used, budget=spent.budget)
