"""Moving booked appointments: the move form of one appointment (linked from its request page) and the
bulk-move review of what an absence, a closure day or a deactivation hits (nothing moves before a person
confirms the batch)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from scheduler import appointments, approvals, audit, moves, request_views, sites, teams
from scheduler import requests as requests_
from scheduler.errors import ValidationFailed
from scheduler.i18n import N_, translate
from scheduler.keys import CONFIG, POOL
from scheduler.permissions import Role, check_may_act
from scheduler.staff import auth, ui

routes = web.RouteTableDef()
MOVE = r"/staff/appointments/{appointment_id:\d{1,18}}/move"
REVIEW = r"/staff/moves/{source:absence|closure|staff}/{source_id:\d{1,18}}"


def _start(raw: str) -> datetime:
    try:
        start = datetime.fromisoformat(raw)
    except ValueError:
        raise ValidationFailed(fields={"start": N_("Please choose a time from the list.")}) from None
    if start.tzinfo is None:
        raise ValidationFailed(fields={"start": N_("Please choose a time from the list.")})
    return start


@routes.get(MOVE, name="staff-appointment-move")
@ui.pages
async def move_form(request: web.Request) -> web.Response:
    """The policy's proposals and any free slot of a chosen caseworker and day, for one booked appointment."""
    user = await ui.page_user(request)
    appointment_id = ui.int_param(request.match_info["appointment_id"], "appointment_id")
    now = datetime.now(UTC)
    async with request.app[POOL].acquire() as conn:
        appointment = await appointments.get(conn, appointment_id)
        req = await requests_.get(conn, appointment.request_id)
        check_may_act(user, site_id=req.site_id, team_id=req.team_id, staff_id=appointment.staff_id)
        site = await sites.site_by_id(conn, req.site_id)
        people = await teams.bookable_staff(conn, req.site_id)
        pick_staff = ui.optional_int(request.query.get("staff"), "staff") or appointment.staff_id
        teams.check_bookable(people, pick_staff)
        day = approvals.parse_day(request.query.get("day"), site.calendar().local_date(appointment.start))
        movable = appointment.status is appointments.AppointmentStatus.confirmed and appointment.start > now
        free = await approvals.free_slots(conn, site=site, staff_id=pick_staff, day=day,
                                          duration=appointment.end - appointment.start, now=now) if movable else []
        proposals = await moves.propose(conn, appointment=appointment, request=req, now=now, count=3) \
            if movable else []
        async with conn.transaction():
            await audit.record(conn, site_id=req.site_id, actor=user.actor, action="client.view",
                               subject_type="client", subject_id=req.client_id,
                               details={"request_id": req.id, "appointment_id": appointment_id})
    return ui.render(request, "move.html", {
        "appointment": appointment, "req": req, "tz": site.timezone, "people": people,
        "names": {p["id"]: p["display_name"] for p in people}, "pick_staff": pick_staff, "day": day,
        "free": free, "proposals": proposals, "movable": movable,
        "labels": ui.labels(ui.language(request, user)),
    })


@routes.post(MOVE, name="staff-appointment-move-submit")
@ui.pages
async def move_submit(request: web.Request) -> web.Response:
    """Move the appointment to the chosen slot; a taken slot goes back to the form with fresh times."""
    user = await auth.require_staff(request)
    form = await request.post()
    appointment_id = ui.int_param(request.match_info["appointment_id"], "appointment_id")
    staff_id = ui.int_param(form.get("staff_id"), "staff_id")
    raw_start, mode = ui.text(form, "start", 60), ui.text(form, "mode", 20)
    back = ui.url(request, "staff-appointment-move", appointment_id=appointment_id)

    async def run() -> object:
        return await moves.move(request.app[POOL], target=moves.Target(appointment_id, staff_id, _start(raw_start),
                                                                       mode),
                                user=user, now=datetime.now(UTC), reminder_offsets=request.app[CONFIG].reminder_offsets,
                                sms_offer_max=request.app[CONFIG].freed_slots.sms_offer_max)

    return await ui.perform(request, user, back, run, success=N_("The appointment was moved and the client is told."),
                            to=lambda moved: ui.url(request, "staff-request", request_id=moved.request_id))


async def _source_title(request: web.Request, source: str, source_id: int, lang: str) -> str:
    async with request.app[POOL].acquire() as conn:
        if source == "absence":
            absence = await teams.get_absence(conn, source_id)
            person = await teams.get_staff(conn, absence["staff_id"]) if absence else None
            who = person["display_name"] if person else ""
            return translate(lang, N_("Absence of %(name)s"), name=who)
        if source == "staff":
            person = await teams.get_staff(conn, source_id)
            return translate(lang, N_("Appointments of %(name)s"), name=person["display_name"] if person else "")
    return translate(lang, N_("Closure day"))


@routes.get(REVIEW, name="staff-moves-review")
@ui.pages
async def review(request: web.Request) -> web.Response:
    """The booked appointments a source hits, each with the policy's first proposal preselected (editable)."""
    user = await ui.page_user(request, Role.team_lead, Role.admin)
    source, source_id = request.match_info["source"], ui.int_param(request.match_info["source_id"], "source_id")
    now = datetime.now(UTC)
    rows = await moves.review(request.app[POOL], source=source, source_id=source_id, user=user, now=now)
    async with request.app[POOL].acquire() as conn:
        site = await sites.site_by_id(conn, user.site_id)
        facts = await request_views.calendar_facts(conn, [r.appointment.request_id for r in rows])
        names = await teams.staff_names(conn, user.site_id)
        async with conn.transaction():
            await audit.record_list_view(conn, site_id=user.site_id, actor=user.actor, kind="appointment",
                                         clients_by_item={r.appointment.id: r.appointment.client_id for r in rows})
    lang = ui.language(request, user)
    return ui.render(request, "moves_review.html", {
        "rows": rows, "facts": facts, "names": names, "tz": site.timezone, "source": source,
        "source_id": source_id, "title": await _source_title(request, source, source_id, lang),
        "labels": ui.labels(lang), "choice": choice, "first_choice": first_choice,
    })


def targets_from(form: Any) -> list[moves.Target]:
    """The rows a reviewer confirmed: `move-<appointment id>` = "<staff id>|<start>|<mode>"; empty means stay."""
    found: list[moves.Target] = []
    for name in list(form.keys())[:2 * moves.BATCH_LIMIT]:
        if not name.startswith("move-"):
            continue
        value = ui.text(form, name, 120)
        if not value:
            continue
        appointment_id = ui.int_param(name.removeprefix("move-"), "appointment_id")
        staff, _, rest = value.partition("|")
        raw_start, _, mode = rest.partition("|")
        found.append(moves.Target(appointment_id, ui.int_param(staff, "staff_id"), _start(raw_start), mode))
    return found


@routes.post(REVIEW, name="staff-moves-confirm")
@ui.pages
async def confirm(request: web.Request) -> web.Response:
    """Move the confirmed rows; conflicts stay in the review and are named in the message."""
    user = await auth.require_staff(request, Role.team_lead, Role.admin)
    form = await request.post()
    source, source_id = request.match_info["source"], ui.int_param(request.match_info["source_id"], "source_id")
    back = ui.url(request, "staff-moves-review", source=source, source_id=source_id)
    lang = ui.language(request, user)

    async def run() -> moves.BulkResult:
        return await moves.bulk_move(request.app[POOL], targets=targets_from(form), user=user, now=datetime.now(UTC),
                                     reminder_offsets=request.app[CONFIG].reminder_offsets,
                                     sms_offer_max=request.app[CONFIG].freed_slots.sms_offer_max)

    try:
        result = await run()
    except ValidationFailed as e:
        return ui.see_other(back, flash=("error", ui.error_text(lang, e)))
    text = translate(lang, N_("%(moved)s appointments were moved; each client is told by SMS."),
                     moved=len(result.moved))
    if result.conflicts:
        text += " " + translate(lang, N_("%(count)s could not be moved because their new time was taken or they "
                                         "had changed meanwhile; they are still listed."), count=len(result.conflicts))
    return ui.see_other(back, flash=("error" if result.conflicts else "ok", text))


def first_choice(hit: moves.Hit) -> str:
    """The form value of a hit's first proposal ('' when the policy found none)."""
    return choice(hit.proposals[0]) if hit.proposals else ""


def choice(slot: Any) -> str:
    """A proposal as a form value."""
    return f"{slot.caseworker_id}|{slot.start.isoformat()}|{slot.mode.value}"
