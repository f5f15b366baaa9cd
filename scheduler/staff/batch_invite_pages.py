"""Batch invitations for team leads: upload or paste a list, review the plan (every line with its time or why
it is not sent), then send it or throw it away."""

from __future__ import annotations

import hmac
from datetime import UTC, date, datetime
from typing import Final

from aiohttp import BodyPartReader, web

from scheduler import audit, batch_invitations, batch_lists, concerns, notice_templates, sites, teams
from scheduler.errors import Forbidden, ValidationFailed
from scheduler.i18n import N_, translate
from scheduler.keys import CONFIG, POOL, SITE_SETUPS
from scheduler.permissions import Role, StaffUser
from scheduler.policy.rules import Channel
from scheduler.staff import auth, ui

routes = web.RouteTableDef()
BATCH: Final = r"/staff/batch-invitations/{batch_id:\d{1,18}}"
LEADS: Final = (Role.team_lead, Role.admin)
FIELD_LIMIT: Final = 600  # every form field except the list itself
MAX_PARTS: Final = 20     # the form has about ten fields; more parts are not ours

PROBLEMS: Final = {
    "no_identity": N_("Neither a mobile number nor customer number and name"),
    "phone": N_("Not a mobile number we can send SMS to"), "customer_number": N_("Customer number is not valid"),
    "name": N_("Name missing (needed without a mobile number)"), "language": N_("Unknown language"),
    "address": N_("Address incomplete or wrong"),
    "address_needed": N_("No mobile number and no address: a letter cannot be sent"),
    "duplicate": N_("Same client twice in the list"), "no_time": N_("No free time in the window"),
}
FORM_PROBLEMS: Final = {
    "too_large": N_("The list is too large (at most 256 KB). Please split it."),
    "too_many_rows": N_("The list has too many lines (at most 2,000). Please split it."),
    "empty": N_("The list is empty. The first line must name the columns."),
    "no_columns": N_("The first line must name a column customer_number or phone."),
    "past": N_("The first day must not be in the past."),
    "order": N_("The last day must be after the first day, at most 92 days later."),
}
ROW_STATES: Final = {"planned": N_("Planned"), "bad": N_("Not sent"), "unplanned": N_("Not sent"),
                     "sent": N_("Sent"), "failed": N_("Time was taken: not sent")}


async def _form_context(request: web.Request, user: StaffUser) -> dict[str, object]:
    async with request.app[POOL].acquire() as conn:
        offered = await concerns.for_channel(conn, site_id=user.site_id, channel=Channel.staff)
        templates = await notice_templates.list_for_site(conn, user.site_id, active_only=True)
    lang = ui.language(request, user)
    return {"concerns": [(c.code, ui.concern_label(c.labels, lang)) for c in offered], "templates": templates,
            "max_rows": batch_lists.MAX_ROWS}


@routes.get("/staff/batch-invitations", name="staff-batch-invite")
@ui.pages
async def batch_form(request: web.Request) -> web.Response:
    """The form: list (file or pasted), concern, voluntary or mandatory (with its notice template), window."""
    user = await ui.page_user(request, *LEADS)
    return ui.render(request, "batch_invite.html", await _form_context(request, user))


async def _read_form(request: web.Request) -> tuple[StaffUser, dict[str, str]]:
    """The multipart form, read as a stream: the list may be larger than other forms (batch_lists.MAX_BYTES),
    every other field is cut at FIELD_LIMIT. The CSRF field is checked like every form's (auth.CSRF_FIELD)."""
    session = await auth.authenticate(request)
    if session is None:
        raise web.HTTPSeeOther(ui.url(request, "staff-signin-form"))
    if session.user.role not in LEADS:
        raise Forbidden()
    values: dict[str, str] = {}
    if not request.content_type.startswith("multipart/"):  # a pasted list without the file field: a plain form
        try:
            user = await auth.require_staff(request, *LEADS)
            form = await request.post()
        except web.HTTPRequestEntityTooLarge:
            raise ValidationFailed(fields={"pasted": FORM_PROBLEMS["too_large"]}) from None
        limits = {"pasted": batch_lists.MAX_BYTES}
        return user, {k: v[:limits.get(k, FIELD_LIMIT)] for k, v in form.items() if isinstance(v, str)}
    values = await _read_parts(request)
    token = values.get(auth.CSRF_FIELD, "")
    if not hmac.compare_digest(token.encode(), session.csrf_token.encode()):
        raise auth.CsrfFailed()
    return session.user, values


async def _read_parts(request: web.Request) -> dict[str, str]:
    """The multipart fields as text, each within its limit, and all of them within the list's size plus the
    other fields' limits; anything beyond is refused before it is read."""
    values: dict[str, str] = {}
    reader = await request.multipart()
    total = 0
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader) or not part.name:
            continue
        if len(values) >= MAX_PARTS:
            raise ValidationFailed(fields={"file": FORM_PROBLEMS["too_large"]})
        limit = batch_lists.MAX_BYTES if part.name in ("file", "pasted") else FIELD_LIMIT
        data = bytearray()
        while chunk := await part.read_chunk(8192):
            data.extend(chunk)
            total += len(chunk)
            if len(data) > limit or total > batch_lists.MAX_BYTES + MAX_PARTS * FIELD_LIMIT:
                raise ValidationFailed(fields={part.name: FORM_PROBLEMS["too_large"]})
        values[part.name] = data.decode("utf-8", errors="replace")
    return values


def _day(raw: str, name: str) -> date:
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ValidationFailed(fields={name: N_("Please enter a date like 2026-12-01.")}) from None


@routes.post("/staff/batch-invitations", name="staff-batch-invite-plan")
@ui.pages
async def plan(request: web.Request) -> web.Response:
    """Read the list, plan a time per good line and show the plan; nothing is sent yet."""
    back = ui.url(request, "staff-batch-invite")
    try:
        user, form = await _read_form(request)
    except ValidationFailed as e:
        lang = ui.language(request, None)
        return ui.see_other(back, flash=("error", ui.error_text(lang, e)))

    async def run() -> int:
        try:
            text = form.get("file") or form.get("pasted") or ""
            rows = batch_lists.parse_list(text, countries=request.app[CONFIG].sms.allowed_countries)
            invitation = form.get("invitation", "")
            if invitation not in ("voluntary", "mandatory"):
                raise ValidationFailed(fields={"invitation": N_("Please choose voluntary offer or mandatory summons.")})
            window_from, window_to = _day(form.get("window_from", ""), "window_from"), _day(
                form.get("window_to", ""), "window_to")
            async with request.app[POOL].acquire() as conn:
                site = await sites.site_by_id(conn, user.site_id)
                batch_invitations.check_window(window_from, window_to, today=site.calendar().local_date(
                    datetime.now(UTC)))
                setup = await sites.setup(conn, site, request.app[SITE_SETUPS])
                concern = setup.concerns.get(form.get("concern", ""))
                template_id = ui.optional_int(form.get("template") or None, "template")
                template = await notice_templates.get(conn, template_id) if template_id is not None else None
            if concern is None or Channel.staff not in concern.channels:
                raise ValidationFailed(fields={"concern": N_("Please choose what it is about.")})
            if template is not None and (template.site_id != user.site_id or template.kind.value != invitation):
                raise ValidationFailed(fields={"template": N_("Please choose a notice template.")})
            if invitation == "mandatory" and template is None:
                raise ValidationFailed(fields={"template": N_("Please choose a notice template.")})
        except ValidationFailed as e:
            raise ValidationFailed(fields={k: FORM_PROBLEMS.get(v, v) for k, v in e.fields.items()}) from None
        return await batch_invitations.plan(
            request.app[POOL], site=site, staff_id=user.id, concern=concern, invitation=invitation,
            template_id=template.id if template else None, bring=form.get("bring", "")[:500].strip(),
            window_from=window_from, window_to=window_to, rows=rows, now=datetime.now(UTC),
            setups=request.app[SITE_SETUPS])

    return await ui.perform(request, user, back, run, success=N_("The plan is ready. Please check it."),
                            to=lambda batch_id: ui.url(request, "staff-batch-invite-review", batch_id=batch_id))


@routes.get(BATCH, name="staff-batch-invite-review")
@ui.pages
async def review(request: web.Request) -> web.Response:
    """The whole plan: every line with its time and caseworker, or why it is not sent; listing it is audited."""
    user = await ui.page_user(request, *LEADS)
    batch_id = ui.int_param(request.match_info["batch_id"], "batch_id")
    async with request.app[POOL].acquire() as conn:
        batch = await batch_invitations.get(conn, site_id=user.site_id, batch_id=batch_id)
        rows = await batch_invitations.list_rows(conn, batch_id)
        site = await sites.site_by_id(conn, user.site_id)
        names = {p["id"]: p["display_name"] for p in await teams.bookable_staff(conn, user.site_id)}
        await audit.record(conn, site_id=user.site_id, actor=user.actor, action="client.view_list",
                           subject_type="invitation_batch", subject_id=batch_id, details={"rows": len(rows)})
    lang = ui.language(request, user)
    counts = {state: sum(1 for r in rows if r.status.value == state) for state in ROW_STATES}
    return ui.render(request, "batch_review.html", {
        "tz": site.timezone, "batch": batch, "rows": rows, "names": names, "counts": counts,
        "problems": {k: translate(lang, v) for k, v in PROBLEMS.items()}, "states": ROW_STATES,
    })


async def _batch_action(request: web.Request, action: str) -> web.Response:
    user = await auth.require_staff(request, *LEADS)
    batch_id = ui.int_param(request.match_info["batch_id"], "batch_id")
    pool = request.app[POOL]

    async def run() -> object:
        if action == "send":
            return await batch_invitations.send(pool, site_id=user.site_id, staff_id=user.id, batch_id=batch_id,
                                                now=datetime.now(UTC),
                                                reminder_offsets=request.app[CONFIG].reminder_offsets)
        async with pool.acquire() as conn, conn.transaction():
            await batch_invitations.discard(conn, site_id=user.site_id, staff_id=user.id, batch_id=batch_id)
        return None

    success = N_("The invitations were sent.") if action == "send" else N_("The plan was discarded.")
    return await ui.perform(request, user, ui.url(request, "staff-batch-invite-review", batch_id=batch_id), run,
                            success=success)


@routes.post(BATCH + "/send", name="staff-batch-invite-send")
@ui.pages
async def send(request: web.Request) -> web.Response:
    """Send a planned batch: every planned line becomes a booked invitation (once; a second time is refused)."""
    return await _batch_action(request, "send")


@routes.post(BATCH + "/discard", name="staff-batch-invite-discard")
@ui.pages
async def discard(request: web.Request) -> web.Response:
    """Throw a planned batch away; nothing of it is sent and the list's data is deleted."""
    return await _batch_action(request, "discard")
