"""Request page: proposals with one-click approve, any other free slot, reassign, decline, withdraw,
the client's history and messages; and the invitation form."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from aiohttp import web

from scheduler import (
    addresses,
    appointments,
    approvals,
    audit,
    clients,
    concerns,
    followups,
    invitations,
    needs,
    notice_templates,
    outbox,
    request_views,
    sites,
    teams,
)
from scheduler import proposals as proposals_
from scheduler import requests as requests_
from scheduler.errors import ValidationFailed
from scheduler.i18n import LANGUAGES, N_
from scheduler.keys import CONFIG, POOL
from scheduler.notify.sms import DELIVERY_CODES, TWILIO_ERRORS
from scheduler.permissions import StaffUser, check_may_act
from scheduler.policy.rules import Channel
from scheduler.staff import auth, customer_group_pages, email_pages, explain, invitation_pages, letter_pages, ui

routes = web.RouteTableDef()
REQUEST = r"/staff/requests/{request_id:\d{1,18}}"

MESSAGE_KINDS = {
    "sms.request_received": N_("Request received"), "sms.callback_received": N_("Callback request received"),
    "sms.appointment_confirmed": N_("Appointment confirmed"), "sms.appointment_moved": N_("Appointment moved"),
    "sms.appointment_cancelled": N_("Appointment cancelled"), "sms.reminder": N_("Reminder"),
    "sms.callback_missed": N_("Missed call"), "email.invite": N_("Calendar invitation (e-mail)"),
    "sms.request_expired": N_("Request expired"), "sms.request_declined": N_("Request declined"),
    "sms.slot_offer": N_("Freed time offered"), "sms.slot_offer_gone": N_("Offered time is gone"),
    "email.address_confirm": N_("E-mail address confirmation"),
}
# Why a request is declined (requests.DeclineCategory): the client's SMS says it in their language.
DECLINE_CATEGORIES = {
    "not_responsible": N_("Another office is responsible"), "duplicate": N_("Duplicate of an open request"),
    "resolved": N_("Resolved without an appointment"), "other": N_("Other reason"),
}

# Why a message did not arrive, by the code stored with it (carrier codes from the provider's receipts,
# our own codes from the dispatcher). Unknown codes are shown as stored.
DELIVERY_PROBLEMS = {
    **{code: TWILIO_ERRORS[code] for code in DELIVERY_CODES},  # translated in staff.po
    "opted-out": N_("The client asked for no more SMS (STOP)."),
    "email-disabled": N_("E-mail is not enabled for this office."),
    "lease-expired": N_("Sending was interrupted too often; the message was given up."),
    "sms-budget": N_("The office's SMS budget for today is used up; the message waits until tomorrow."),
    "country-not-allowed": N_("This office sends no SMS to numbers of this country."),
}


async def client_messages(conn: asyncpg.Connection, client_id: int) -> list[asyncpg.Record]:
    """Messages sent (or to be sent) about this client's requests, callbacks and appointments, newest first."""
    return await outbox.list_for_client(conn, client_id)


@routes.get(REQUEST, name="staff-request")
@ui.pages
async def request_page(request: web.Request) -> web.Response:
    """One request with everything needed to decide it; opening it is recorded as a view of client data."""
    user = await ui.page_user(request)
    request_id = ui.int_param(request.match_info["request_id"], "request_id")
    now = datetime.now(UTC)
    async with request.app[POOL].acquire() as conn:
        req = await requests_.get(conn, request_id)
        check_may_act(user, site_id=req.site_id, team_id=req.team_id, staff_id=req.staff_id)
        site = await sites.site_by_id(conn, req.site_id)
        day = approvals.parse_day(request.query.get("day"), site.calendar().local_date(now))
        pick_staff = ui.optional_int(request.query.get("staff"), "staff")
        people = await teams.bookable_staff(conn, req.site_id)
        free: list[Any] = []
        if pick_staff is not None and req.status in requests_.OPEN:
            teams.check_bookable(people, pick_staff)
            duration = req.decision.duration if req.decision else timedelta(minutes=30)
            free = await approvals.free_slots(conn, site=site, staff_id=pick_staff, day=day, duration=duration,
                                              now=now)
        labels_ = await concerns.labels_of(conn, req.concern_id)
        context = {
            "req": req, "site": site, "tz": site.timezone,
            "proposals": await proposals_.list_for_request(conn, request_id),
            "appointment": await appointments.latest_for_request(conn, request_id),
            "followup_tasks": await followups.list_tasks_for_request(conn, request_id),
            "client": await clients.staff_facts(conn, req.client_id),
            "history": [h for h in await request_views.client_history(conn, req.client_id)
                        if not (h["kind"] == "request" and h["id"] == request_id)],
            "messages": await client_messages(conn, req.client_id),
            "trail": await audit.list_for(conn, subject_type="request", subject_id=request_id),
            "people": people, "names": {p["id"]: p["display_name"] for p in people},
            "teams": await teams.list_for_site(conn, req.site_id),
            "day": day, "pick_staff": pick_staff, "free": free, "concern_labels": labels_,
            "explain_names": await explain.site_names(conn, req.site_id),
            **await invitation_pages.evidence_context(  # the invitation's notice and delivery evidence
                conn, req, lang=ui.language(request, user), tz=site.timezone,
                days=request.app[CONFIG].invitations.presumed_receipt_days),
            **await letter_pages.letter_context(conn, req),  # postal address, consent, the invitation's letters
            **await email_pages.email_context(conn, req),  # the client's e-mail address, where the office allows it
            **await customer_group_pages.client_groups_context(conn, req),  # the office's groups, the client's
        }
        async with conn.transaction():
            await audit.record(conn, site_id=req.site_id, actor=user.actor, action="client.view",
                               subject_type="client", subject_id=req.client_id, details={"request_id": request_id})
    lang = ui.language(request, user)
    explainer = explain.Explainer(lang, context.pop("explain_names"))
    explanation = explain.lines(req.decision.explanation) if req.decision else []
    return ui.render(request, "request.html", {
        **context, "why": explainer.summary(explanation), "explanation": explainer.rows(explanation),
        "labels": ui.labels(lang), "message_kinds": MESSAGE_KINDS, "delivery_problems": DELIVERY_PROBLEMS,
        "decline_categories": DECLINE_CATEGORIES,
        "concern_label": lambda lbl: ui.concern_label(lbl, lang), "is_open": req.status in requests_.OPEN,
    })


def _back(request: web.Request, request_id: int) -> str:
    return ui.url(request, "staff-request", request_id=request_id)


def _offsets(request: web.Request) -> tuple[timedelta, ...]:
    return request.app[CONFIG].reminder_offsets


async def _form(request: web.Request) -> tuple[StaffUser, Any, int]:
    user = await auth.require_staff(request)
    form = await request.post()
    return user, form, ui.int_param(request.match_info["request_id"], "request_id")


@routes.post(REQUEST + "/approve", name="staff-request-approve")
@ui.pages
async def approve(request: web.Request) -> web.Response:
    """Book one of the proposed slots."""
    user, form, request_id = await _form(request)
    proposal_id = ui.int_param(form.get("proposal_id"), "proposal_id")
    return await ui.perform(request, user, _back(request, request_id), lambda: approvals.approve(
        request.app[POOL], request_id=request_id, proposal_id=proposal_id, user=user, now=datetime.now(UTC),
        reminder_offsets=_offsets(request)), success=N_("The appointment is booked and the client is told."))


def _start(raw: str) -> datetime:
    try:
        start = datetime.fromisoformat(raw)
    except ValueError:
        raise ValidationFailed(fields={"start": N_("Please choose a time from the list.")}) from None
    if start.tzinfo is None:
        raise ValidationFailed(fields={"start": N_("Please choose a time from the list.")})
    return start


def _fixed_start(raw: str) -> datetime:
    """A fixed invitation time as typed (a browser's local date and time: the site's time zone)."""
    try:
        return datetime.fromisoformat(raw.strip().replace(" ", "T"))
    except ValueError:
        raise ValidationFailed(fields={"fixed_start": N_("Please enter a date and time, like 2026-12-07 09:00.")}) \
            from None


@routes.post(REQUEST + "/book", name="staff-request-book")
@ui.pages
async def book(request: web.Request) -> web.Response:
    """Book a free slot the caseworker picked instead of the proposals."""
    user, form, request_id = await _form(request)
    staff_id = ui.int_param(form.get("staff_id"), "staff_id")
    raw_start, mode = ui.text(form, "start", 60), ui.text(form, "mode", 20)

    async def run() -> object:
        return await approvals.book_other(
            request.app[POOL], request_id=request_id, staff_id=staff_id, start=_start(raw_start), mode=mode,
            user=user, now=datetime.now(UTC), reminder_offsets=_offsets(request))

    return await ui.perform(request, user, _back(request, request_id), run,
                            success=N_("The appointment is booked and the client is told."))


@routes.post(REQUEST + "/reassign", name="staff-request-reassign")
@ui.pages
async def reassign(request: web.Request) -> web.Response:
    """Give the request to another team or caseworker."""
    user, form, request_id = await _form(request)
    kind, _, raw = ui.text(form, "target", 40).partition(":")
    target = ui.optional_int(raw, "target")
    team_id = target if kind == "team" else None
    staff_id = target if kind == "staff" else None
    return await ui.perform(request, user, ui.url(request, "staff-inbox"), lambda: approvals.reassign(
        request.app[POOL], request_id=request_id, team_id=team_id, staff_id=staff_id, user=user,
        now=datetime.now(UTC)), success=N_("The request was handed over."))


@routes.post(REQUEST + "/decline", name="staff-request-decline")
@ui.pages
async def decline(request: web.Request) -> web.Response:
    """Decline the request with a reason."""
    user, form, request_id = await _form(request)
    reason = ui.text(form, "reason", 600)
    category = ui.text(form, "category", 40) or "other"  # the select always sends one; older forms do not
    return await ui.perform(request, user, _back(request, request_id), lambda: approvals.decline(
        request.app[POOL], request_id=request_id, reason=reason, user=user, category=category),
        success=N_("The request was declined."))


@routes.post(REQUEST + "/withdraw", name="staff-request-withdraw")
@ui.pages
async def withdraw(request: web.Request) -> web.Response:
    """Withdraw the request for the client (a booked appointment is cancelled)."""
    user, _form_data, request_id = await _form(request)
    return await ui.perform(request, user, _back(request, request_id), lambda: approvals.withdraw(
        request.app[POOL], request_id=request_id, user=user, now=datetime.now(UTC)),
        success=N_("The request was withdrawn."))


@routes.get("/staff/invite", name="staff-invite")
@ui.pages
async def invite_form(request: web.Request) -> web.Response:
    """The form to invite a client directly (voluntary offer or mandatory summons)."""
    user = await ui.page_user(request)
    async with request.app[POOL].acquire() as conn:
        offered = await concerns.for_channel(conn, site_id=user.site_id, channel=Channel.staff)
        templates = await notice_templates.list_for_site(conn, user.site_id, active_only=True)
        email_allowed = (await sites.site_by_id(conn, user.site_id)).email_enabled
    lang = ui.language(request, user)
    return ui.render(request, "invite.html", {"email_allowed": email_allowed,
        "concerns": [(c.code, ui.concern_label(c.labels, lang)) for c in offered],
        "languages": LANGUAGES, "labels": ui.labels(lang), "templates": templates,
        "form_key": secrets.token_urlsafe(16),
        "need_choices": list(needs.LABELS.items()), "interpreter_languages": needs.language_choices(lang),
    })


@routes.post("/staff/invite", name="staff-invite-submit")
@ui.pages
async def invite_submit(request: web.Request) -> web.Response:
    """Create the invitation; the new request opens with its proposals."""
    user = await auth.require_staff(request)
    form = await request.post()
    values = {name: ui.text(form, name, 600) for name in ("phone", "concern", "language", "template", "bring",
                                                           "form_key", "fixed_start", "fixed_mode")}

    person = {name: ui.text(form, name, 100) for name in ("customer_number", "name")}
    email = ui.text(form, "email", email_pages.FIELD_LIMIT)  # used only where the office allows e-mail
    address_fields = {name: ui.text(form, f"address_{name}", 200) for name in addresses.FIELDS}

    async def run() -> invitations.Invited:
        fixed = _fixed_start(values["fixed_start"]) if values["fixed_start"] else None
        address = addresses.parse(address_fields, default_recipient=person["name"])
        if not values["phone"] and address is None:  # without a mobile number the invitation goes by letter
            raise ValidationFailed(fields={"address.street": N_("Please fill in the whole address.")})
        return await invitations.invite(
            request.app[POOL], user=user, phone=values["phone"], concern=values["concern"],
            language=values["language"] or "de", template_id=ui.optional_int(values["template"], "template"),
            bring=values["bring"], now=datetime.now(UTC), reminder_offsets=_offsets(request),
            countries=request.app[CONFIG].sms.allowed_countries, form_key=values["form_key"], fixed_start=fixed,
            fixed_mode=values["fixed_mode"] or "in_person", postal_address=address,
            electronic_consent=form.get("electronic_consent") == "yes", email=email, **person,
            needs={"needs": [n for n in form.getall("needs", [])[:10] if isinstance(n, str)],
                   "interpreter_language": ui.text(form, "interpreter_language", 10)})

    return await ui.perform(
        request, user, ui.url(request, "staff-invite"), run,
        success=N_("The invitation was created. Choose a time for it."),
        to=lambda created: ui.url(request, "staff-request", request_id=created.request.id))
