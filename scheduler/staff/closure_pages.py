"""Admin pages for closure days (the office is closed) and the handover when a staff member is deactivated.

Both list what they hit before anything changes: a closure day leads to the bulk-move review of the
appointments booked on it; a deactivation shows the person's open work and hands it over on confirm.
(Kept apart from admin_pages.py, which is at its size limit.)
"""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg
from aiohttp import web

from scheduler import audit, closures, handover, intake, sites, teams
from scheduler.errors import ValidationFailed
from scheduler.i18n import N_, translate
from scheduler.keys import CONFIG, POOL
from scheduler.permissions import Role, StaffUser
from scheduler.staff import auth, ui

routes = web.RouteTableDef()
HANDOVER = r"/staff/admin/staff/{staff_id:\d{1,18}}/handover"


@routes.get("/staff/admin/closures", name="staff-admin-closures")
@ui.pages
async def closure_list(request: web.Request) -> web.Response:
    """The office's coming closure days, with the form to add one."""
    user = await ui.page_user(request, Role.admin)
    async with request.app[POOL].acquire() as conn:
        site = await sites.site_by_id(conn, user.site_id)
        days = await closures.list_upcoming(conn, user.site_id, since=site.calendar().local_date(datetime.now(UTC)))
    return ui.render(request, "admin_closures.html", {"closures": days, "tz": site.timezone})


async def add_closure(pool: asyncpg.Pool, *, user: StaffUser, day: str, reason: str) -> closures.Closure:
    """Enter a closure day for the user's office."""
    errors: dict[str, str] = {}
    reason = intake.clean_text(reason, name="reason", limit=closures.REASON_LIMIT, errors=errors)
    if errors:
        raise ValidationFailed(fields=errors)
    parsed = closures.parse_day(day)
    async with pool.acquire() as conn, conn.transaction():
        site = await sites.site_by_id(conn, user.site_id)
        return await closures.create(conn, site_id=user.site_id, day=parsed, reason=reason, actor=user.actor,
                                     today=site.calendar().local_date(datetime.now(UTC)))


@routes.post("/staff/admin/closures", name="staff-admin-closure-add")
@ui.pages
async def closure_add(request: web.Request) -> web.Response:
    """Add a closure day, then review the appointments booked on it."""
    user = await auth.require_staff(request, Role.admin)
    form = await request.post()
    return await ui.perform(
        request, user, ui.url(request, "staff-admin-closures"),
        lambda: add_closure(request.app[POOL], user=user, day=ui.text(form, "day", 10),
                            reason=ui.text(form, "reason", closures.REASON_LIMIT + 1)),
        success=N_("Saved. New appointments are no longer offered on this day; move the booked ones below."),
        to=lambda closure: ui.url(request, "staff-moves-review", source="closure", source_id=closure.id))


@routes.post(r"/staff/admin/closures/{closure_id:\d{1,18}}/delete", name="staff-admin-closure-delete")
@ui.pages
async def closure_delete(request: web.Request) -> web.Response:
    """Remove a closure day."""
    user = await auth.require_staff(request, Role.admin)
    closure_id = ui.int_param(request.match_info["closure_id"], "closure_id")

    async def run() -> None:
        async with request.app[POOL].acquire() as conn, conn.transaction():
            await closures.delete(conn, closure_id, site_id=user.site_id, actor=user.actor)

    return await ui.perform(request, user, ui.url(request, "staff-admin-closures"), run, success=N_("Removed."))


@routes.get(HANDOVER, name="staff-admin-handover")
@ui.pages
async def handover_page(request: web.Request) -> web.Response:
    """What the person still holds, and to whom it goes when they are deactivated."""
    user = await ui.page_user(request, Role.admin)
    staff_id = ui.int_param(request.match_info["staff_id"], "staff_id")
    async with request.app[POOL].acquire() as conn:
        held = await handover.preview(conn, user=user, staff_id=staff_id, now=datetime.now(UTC))
        site = await sites.site_by_id(conn, user.site_id)
        people = [p for p in await teams.bookable_staff(conn, user.site_id) if p["id"] != staff_id]
        team_names = await teams.names(conn, user.site_id)
        shown = {**{f"r{r.id}": r.client_id for r in held.requests},
                 **{f"c{c.id}": c.client_id for c in held.callbacks},
                 **{f"a{a.id}": a.client_id for a in held.appointments}}
        async with conn.transaction():
            if shown:
                await audit.record(conn, site_id=user.site_id, actor=user.actor, action="client.view_list",
                                   subject_type="handover", subject_id=staff_id,
                                   details={"items": sorted(shown), "client_ids": sorted(set(shown.values()))})
    lang = ui.language(request, user)
    return ui.render(request, "admin_handover.html", {
        "held": held, "people": people, "team_name": team_names.get(held.team_id or 0, "–"), "tz": site.timezone,
        "labels": ui.labels(lang),
    })


@routes.post(HANDOVER, name="staff-admin-handover-confirm")
@ui.pages
async def handover_confirm(request: web.Request) -> web.Response:
    """Hand everything over, deactivate the person and end their sessions; appointments a colleague cannot
    take at the same time go to the bulk-move review."""
    user = await auth.require_staff(request, Role.admin)
    form = await request.post()
    staff_id = ui.int_param(request.match_info["staff_id"], "staff_id")
    to_staff_id = ui.optional_int(ui.text(form, "to_staff_id", 20), "to_staff_id")
    lang = ui.language(request, user)
    try:
        result = await handover.confirm(request.app[POOL], user=user, staff_id=staff_id, to_staff_id=to_staff_id,
                                        now=datetime.now(UTC), reminder_offsets=request.app[CONFIG].reminder_offsets,
                                        sms_offer_max=request.app[CONFIG].freed_slots.sms_offer_max)
    except ValidationFailed as e:
        return ui.see_other(ui.url(request, "staff-admin-handover", staff_id=staff_id),
                            flash=("error", ui.error_text(lang, e)))
    await auth.revoke_all(request.app[POOL], staff_id, actor=user.actor)
    text = translate(lang, N_("Deactivated. %(requests)s requests and %(callbacks)s callbacks were handed over, "
                              "%(kept)s appointments keep their time with the colleague."),
                     requests=result.requests, callbacks=result.callbacks, kept=len(result.kept))
    if result.to_review:
        text += " " + translate(lang, N_("%(count)s appointments need a new time: please review them."),
                                count=len(result.to_review))
        return ui.see_other(ui.url(request, "staff-moves-review", source="staff", source_id=staff_id),
                            flash=("ok", text))
    return ui.see_other(ui.url(request, "staff-admin-staff"), flash=("ok", text))
