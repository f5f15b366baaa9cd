"""The "today" list (team or own appointments of the day, arrivals live, outcomes in one click), its small
status JSON that the page polls, and the outcome form used by the today list, the calendar and the request page.

Live updates are polling (static/today.js, every 10 s) of a JSON route that carries no client names,
references or concerns: only appointment ids, arrival times and outcomes. The page itself, which shows the
clients, is recorded as a view of client data on every load; the script reloads the list (a new audited
view) only when the set of appointments changed.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, Final

from aiohttp import web

from scheduler import approvals, audit, lobby_calls, outcomes, sites, today, video_rooms
from scheduler.appointments import NoShowReason, Outcome
from scheduler.errors import DomainError, Forbidden, ValidationFailed
from scheduler.i18n import N_, translate
from scheduler.keys import CONFIG, POOL
from scheduler.permissions import StaffUser, check_may_list_team
from scheduler.staff import auth, ui

routes = web.RouteTableDef()

POLL_SECONDS: Final = 10
OUTCOME_LABELS: Final = {"held": N_("held"), "no_show": N_("no-show"),
                         "cancelled_by_office": N_("cancelled by the office")}
REASON_LABELS: Final = {"ill": N_("ill"), "appointment_clash": N_("appointment clash"), "other": N_("other reason")}
OUTCOME_DONE: Final = {"held": N_("Recorded: the appointment was held."),
                       "no_show": N_("Recorded: the client did not come."),
                       "cancelled_by_office": N_("Recorded: cancelled by the office. The client is told and the "
                                                 "request is back in the queue.")}


def parse_entry(outcome: str, reason: str = "", reason_date: str = "") -> outcomes.OutcomeEntry:
    """The outcome form's fields, checked; ValidationFailed names the field."""
    try:
        chosen = Outcome(outcome)
    except ValueError:
        raise ValidationFailed(fields={"outcome": N_("Please choose held, no-show or cancelled by the office.")}) \
            from None
    given: NoShowReason | None = None
    if reason:
        try:
            given = NoShowReason(reason)
        except ValueError:
            raise ValidationFailed(fields={"reason": N_("Please choose a reason from the list.")}) from None
        if chosen is not Outcome.no_show:
            raise ValidationFailed(fields={"reason": N_("A reason can only be given for a no-show.")})
    when: date | None = None
    if reason_date:
        try:
            when = date.fromisoformat(reason_date)
        except ValueError:
            raise ValidationFailed(fields={"reason_date": N_("Please enter a date like 2026-12-01.")}) from None
        if given is None:
            raise ValidationFailed(fields={"reason_date": N_("Please choose the reason the client gave first.")})
    return outcomes.OutcomeEntry(chosen, given, when)


async def _load(request: web.Request, user: StaffUser, now: datetime) -> dict[str, Any]:
    scope, view = today.scope_for(user, request.query.get("view", ""))
    if scope.team_id is not None:
        check_may_list_team(user, scope.team_id)
    async with request.app[POOL].acquire() as conn:
        site = await sites.site_by_id(conn, user.site_id)
        start, end = approvals.day_bounds(site, site.calendar().local_date(now))
        rows = await today.day(conn, scope, start=start, end=end)
        missing = await today.missing(conn, user, before=start)
        calls = await lobby_calls.states(conn, [r.id for r in rows])
        video = await video_rooms.links(conn, site.id, rows)
    return {"site": site, "view": view, "rows": rows, "missing": missing, "calls": calls, "day": (start, end),
            "video_links": video}


def _may_call(user: StaffUser, row: today.TodayRow, day: tuple[datetime, datetime]) -> bool:
    return lobby_calls.may_call(user, site_id=user.site_id, staff_id=row.staff_id, team_id=row.team_id,
                                status=row.status, outcome=row.outcome, arrived_at=row.arrived_at, start=row.start,
                                day=day)


def _arrived_text(lang: str, fmt: ui.Formatter, row: today.TodayRow) -> str | None:
    return translate(lang, N_("arrived %(time)s"), time=fmt.time(row.arrived_at)) if row.arrived_at else None


@routes.get("/staff/today", name="staff-today")
@ui.pages
async def today_page(request: web.Request) -> web.Response:
    """Today's appointments of my team (or mine), with arrivals and outcome buttons; the missing outcomes."""
    user = await ui.page_user(request)
    now = datetime.now(UTC)
    loaded = await _load(request, user, now)
    shown = {r.id: r.client_id for r in loaded["rows"] + loaded["missing"]}
    async with request.app[POOL].acquire() as conn, conn.transaction():
        await audit.record_list_view(conn, site_id=user.site_id, actor=user.actor, kind="appointment",
                                     clients_by_item=shown)
    lang = ui.language(request, user)
    return ui.render(request, "today.html", {
        "tz": loaded["site"].timezone, "view": loaded["view"], "rows": loaded["rows"], "missing": loaded["missing"],
        "labels": ui.labels(lang), "concern_label": lambda lbl: ui.concern_label(lbl, lang),
        "may_record": lambda row: today.may_record(user, row, now), "poll_seconds": POLL_SECONDS,
        "outcome_labels": OUTCOME_LABELS, "reason_labels": REASON_LABELS,
        "outcome_back": ui.url(request, "staff-today", {"view": loaded["view"]}),
        "calls": loaded["calls"], "may_call": lambda row: _may_call(user, row, loaded["day"]),
        "video_links": loaded["video_links"],
        "call_back": ui.url(request, "staff-today", {"view": loaded["view"]}),
    })


@routes.get("/staff/today/status", name="staff-today-status")
async def today_status(request: web.Request) -> web.Response:
    """What changes during the day, for the list's script: ids, arrivals and outcomes (no client data)."""
    user = await auth.require_staff(request)
    now = datetime.now(UTC)
    loaded = await _load(request, user, now)
    lang = ui.language(request, user)
    fmt = ui.Formatter(lang, loaded["site"].timezone)

    def state(row: today.TodayRow) -> dict[str, object]:
        return {"arrived": _arrived_text(lang, fmt, row),
                "outcome": translate(lang, OUTCOME_LABELS[row.outcome]) if row.outcome else None,
                "open": today.may_record(user, row, now)}

    body = {"ids": [r.id for r in loaded["rows"]], "missing": [r.id for r in loaded["missing"]],
            "rows": {str(r.id): state(r) for r in loaded["rows"] + loaded["missing"]},
            "poll_seconds": POLL_SECONDS}
    return web.json_response(body, headers={"Cache-Control": "no-store"})


@routes.post(r"/staff/appointments/{appointment_id:\d{1,18}}/outcome", name="staff-appointment-outcome")
@ui.pages
async def record_outcome(request: web.Request) -> web.StreamResponse:
    """Record held / no-show / cancelled by the office (CSRF-checked); 409 when already recorded, 422 too early.

    A browser form gets a redirect back with a message, or an error page with the 4xx status; a script
    (Accept: application/json) gets the JSON error of the middleware.
    """
    user = await auth.require_staff(request)
    appointment_id = ui.int_param(request.match_info["appointment_id"], "appointment_id")
    form = await request.post()
    back = ui.safe_next(ui.text(form, "back", 500), ui.url(request, "staff-today"))
    lang = ui.language(request, user)
    try:
        entry = parse_entry(ui.text(form, "outcome", 40), ui.text(form, "reason", 40),
                                     ui.text(form, "reason_date", 20))
        await outcomes.record(request.app[POOL], appointment_id=appointment_id, entry=entry, user=user,
                              now=datetime.now(UTC), reminder_offsets=request.app[CONFIG].reminder_offsets)
    except Forbidden:
        raise
    except DomainError as e:
        if "text/html" not in request.headers.get("Accept", ""):
            raise
        return ui.render(request, "error.html", {"message": ui.error_text(lang, e)}, status=e.status)
    return ui.see_other(back, flash=("ok", translate(lang, OUTCOME_DONE[entry.outcome.value])))
