"""Client web pages (no login, no JavaScript needed): ask for an appointment or a callback, follow the SMS link.

Handlers parse the form, call intake / client_actions and render; every text comes from the catalogue.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import aiohttp_jinja2
from aiohttp import web
from babel.dates import get_day_names
from multidict import MultiMapping

from scheduler import (
    callbacks,
    client_actions,
    concerns,
    email_addresses,
    freed_slots,
    intake,
    invitations,
    needs,
    notice_templates,
    opening_hours_text,
    ratelimit,
    sites,
    video_rooms,
)
from scheduler import requests as requests_
from scheduler.channels.site_choice import request_site
from scheduler.errors import DomainError, InvalidTransition, NotFound, ValidationFailed
from scheduler.http import TOKEN
from scheduler.http_errors import LANGUAGE_KEY
from scheduler.i18n import (
    LANGUAGES,
    N_,
    babel_locale,
    direction,
    format_when,
    native_name,
    negotiate,
    normalise,
    translate,
)
from scheduler.keys import CONFIG, HOLDS, POOL, SITE_SETUPS
from scheduler.policy.rules import Kind

routes = web.RouteTableDef()

LANG_COOKIE = "lang"
MODE_LABELS: Mapping[str, str] = {
    "in_person": N_("In person at the Jobcenter"),
    "phone": N_("By phone"),
    "video": N_("By video call"),
}
PART_LABELS: Mapping[str, str] = {"morning": N_("Morning"), "afternoon": N_("Afternoon")}
REQUEST_STATUS: Mapping[str, str] = {
    "received": N_("We have your request. A caseworker will choose a time for you."),
    "proposed": N_("We have your request. A caseworker will choose a time for you."),
    "scheduled": N_("You have an appointment."),
    "done": N_("Your appointment has taken place."),
    "no_show": N_("You did not come to this appointment."),
    "declined": N_("We cannot offer an appointment for this request. Please contact us."),
    "withdrawn": N_("This request is cancelled."),
    "expired": N_("This request has expired. Please make a new one if you still need help."),
}
CALLBACK_STATUS: Mapping[str, str] = {
    "open": N_("We have your callback request. We will call you."),
    "in_progress": N_("We are trying to call you."),
    "reached": N_("We have called you."),
    "unreachable": N_("We could not reach you by phone. Please contact us."),
    "cancelled": N_("This callback request is cancelled."),
}
DONE_MESSAGES: Mapping[str, str] = {
    "confirmed": N_("Thank you. You have confirmed the appointment."),
    "another_time": N_("We will look for another time and send you a message."),
    "cancelled": N_("It is cancelled."),
    "conflict": N_("This was already changed. Here is the current state."),
    "offer_taken": N_("The time is yours. You have an appointment."),
    "offer_gone": N_("Sorry, this time has already been given away. Your request stays open."),
}


def chosen_language(request: web.Request) -> str:
    """The client's language: ?lang=, then the lang cookie, then the browser's Accept-Language."""
    asked = request.query.get("lang") or request.cookies.get(LANG_COOKIE)
    if asked:
        return normalise(asked)
    return negotiate(request.headers.get("Accept-Language"))


def html_lang(lang: str) -> str:
    """The BCP 47 tag for <html lang> (Leichte Sprache is German)."""
    return "de" if lang == "de-simple" else lang


def with_lang(path: str, lang: str, **params: str) -> str:
    """A local link that keeps the chosen language, for browsers that refuse cookies."""
    return f"{path}?{urlencode({'lang': lang, **params})}"


def _translator(lang: str) -> Callable[..., str]:
    def _(msgid: str, **params: object) -> str:
        return translate(lang, msgid, **params)
    return _


def render(request: web.Request, template: str, context: dict[str, Any], *, status: int = 200) -> web.Response:
    """Render a client page in the chosen language and remember that language in a cookie."""
    lang = chosen_language(request)
    request[LANGUAGE_KEY] = lang
    context = {
        "lang": lang, "html_lang": html_lang(lang), "dir": direction(lang), "_": _translator(lang),
        "url": lambda path, **params: with_lang(path, lang, **params),
        "languages": [{"code": code, "name": native_name(code), "html_lang": html_lang(code)} for code in LANGUAGES],
        "here": request.path, **context,
    }
    response = aiohttp_jinja2.render_template(f"web/{template}", request, context, status=status)
    response.headers["Cache-Control"] = "no-store"
    if request.cookies.get(LANG_COOKIE) != lang:
        response.set_cookie(LANG_COOKIE, lang, max_age=365 * 24 * 3600, path="/", httponly=True, samesite="Lax",
                            secure=request.app[CONFIG].security.cookie_secure)
    return response


@routes.get("/", name="web-start")
async def start(request: web.Request) -> web.Response:
    """Choose: appointment or callback; the language picker; which office this is and when it is open."""
    site = await request_site(request)
    async with request.app[POOL].acquire() as conn:
        hours = opening_hours_text.lines(await sites.opening_hours(conn, site.id), chosen_language(request))
    return render(request, "start.html", {"title": N_("Appointments and callbacks"), "site": site, "hours": hours,
                                          "hours_heading": opening_hours_text.HEADING})


async def _concerns(request: web.Request, lang: str) -> list[dict[str, str]]:
    site = await request_site(request)
    async with request.app[POOL].acquire() as conn:
        found = await concerns.for_channel(conn, site_id=site.id, channel="web")
    return [{"code": c.code, "label": concerns.label(c.labels, lang), "icon": c.icon,
             "description": concerns.description(c.descriptions, lang)} for c in found]


def _form_values(form: MultiMapping[object]) -> dict[str, Any]:
    # A multipart post may carry files under any name: only text values count, anything else is left out.
    def one(name: str) -> str:
        value = form.get(name, "")
        return value if isinstance(value, str) else ""

    def many(name: str) -> list[str]:
        return [v for v in form.getall(name, []) if isinstance(v, str)]

    return {
        "concern": one("concern"), "phone": one("phone"), "note": one("note"), "modes": many("modes"),
        "weekdays": many("weekdays"), "parts": many("parts"), "sms_consent": one("sms_consent") == "yes",
        "idempotency_key": one("idempotency_key") or secrets.token_urlsafe(16), "email": one("email"),
        "needs": many("needs"), "interpreter_language": one("interpreter_language"),
    }


def _intake_data(values: Mapping[str, Any], lang: str, kind: Kind) -> dict[str, Any]:
    # Weekday values that are not numbers are passed on as they are, so intake names the field.
    weekdays = [int(d) if d.isdigit() else d for d in values["weekdays"]]
    data: dict[str, Any] = {
        "concern": values["concern"], "phone": values["phone"], "note": values["note"], "language": lang,
        "windows": {"weekdays": weekdays, "parts": values["parts"]}, "sms_consent": values["sms_consent"],
        "idempotency_key": values["idempotency_key"],
    }
    if kind is Kind.appointment:
        data["modes"] = values["modes"]
        data["email"] = values["email"]  # emptied by _submit where the site allows no e-mail
        data["needs"], data["interpreter_language"] = values["needs"], values["interpreter_language"]
    return data


async def _email_allowed(request: web.Request, kind: Kind) -> bool:
    """Whether the form offers an e-mail address (appointments, where the office allows e-mail)."""
    return kind is Kind.appointment and (await request_site(request)).email_enabled


async def _form_page(request: web.Request, kind: Kind, values: dict[str, Any], errors: Mapping[str, str],
                     *, status: int = 200) -> web.Response:
    lang = chosen_language(request)
    locale = babel_locale(lang)
    day_names = get_day_names("wide", locale=locale)
    return render(request, "form.html", {
        "title": N_("Ask for an appointment") if kind is Kind.appointment else N_("Ask for a callback"),
        "kind": kind.value, "values": values, "errors": {k.removeprefix("windows."): v for k, v in errors.items()},
        "concerns": await _concerns(request, lang),
        "weekdays": [(str(i), str(day_names[i])) for i in range(5)],
        "parts": list(PART_LABELS.items()), "modes": list(MODE_LABELS.items()),
        "email_allowed": await _email_allowed(request, kind),
        "need_choices": list(needs.LABELS.items()), "interpreter_languages": needs.language_choices(lang),
    }, status=status)


def _empty_values() -> dict[str, Any]:
    return {"concern": "", "phone": "", "note": "", "modes": [], "weekdays": [], "parts": [], "sms_consent": False,
            "idempotency_key": secrets.token_urlsafe(16), "email": "", "needs": [], "interpreter_language": ""}


async def _submit(request: web.Request, kind: Kind) -> web.Response:
    lang = chosen_language(request)
    values = _form_values(await request.post())
    config = request.app[CONFIG]
    site = await request_site(request)
    if values["email"] and not await _email_allowed(request, kind):
        values["email"] = ""  # an address posted to an office without e-mail is ignored
    try:
        parsed = intake.parse_intake(_intake_data(values, lang, kind), kind=kind, channel="web", default_site=site.code,
                                     countries=sites.countries(site, config.sms.allowed_countries))
        submitted = await intake.submit(request.app[POOL], parsed, now=datetime.now(UTC),
                                        reminder_offsets=config.reminder_offsets,
                                        limit_phone=request.app[ratelimit.LIMITER].phone_limit(site.id),
                                        holds=request.app[HOLDS], setups=request.app[SITE_SETUPS], site=site)
    except ValidationFailed as e:
        return await _form_page(request, kind, values, e.fields, status=422)
    raise web.HTTPSeeOther(with_lang(f"/r/{submitted.link_token}/thanks", lang))


@routes.get("/request", name="web-request-form")
async def request_form(request: web.Request) -> web.Response:
    """The appointment request form."""
    return await _form_page(request, Kind.appointment, _empty_values(), {})


@routes.post("/request", name="web-request-submit")
async def request_submit(request: web.Request) -> web.Response:
    """Store an appointment request, or show the form again with the messages next to the fields."""
    return await _submit(request, Kind.appointment)


@routes.get("/callback", name="web-callback-form")
async def callback_form(request: web.Request) -> web.Response:
    """The callback request form."""
    return await _form_page(request, Kind.callback, _empty_values(), {})


@routes.post("/callback", name="web-callback-submit")
async def callback_submit(request: web.Request) -> web.Response:
    """Store a callback request, or show the form again with the messages next to the fields."""
    return await _submit(request, Kind.callback)


def _not_found(request: web.Request) -> web.Response:
    return render(request, "not_found.html", {"title": N_("Link not found")}, status=404)


async def _status_context(request: web.Request, token: str, lang: str) -> dict[str, Any]:
    async with request.app[POOL].acquire() as conn:
        view = await client_actions.status_view(conn, token, lang)
        holder = await requests_.find_by_token(conn, token) or await callbacks.find_by_token(conn, token)
        if holder is None:
            raise NotFound()
        site = await sites.site_by_id(conn, holder.site_id)
    appointment = view.get("appointment")
    when = None
    if appointment:
        when = format_when(datetime.fromisoformat(appointment["start"]), lang, site.timezone)
    texts = REQUEST_STATUS if view["kind"] == "appointment" else CALLBACK_STATUS
    next_call = None
    if view.get("next_attempt_at") and view["status"] == "open":
        next_call = format_when(datetime.fromisoformat(view["next_attempt_at"]), lang, site.timezone)
    offer = view.get("offer")
    offer_when = format_when(datetime.fromisoformat(offer["start"]), lang, site.timezone) if offer else None
    return {"view": view, "token": token, "when": when, "site": site, "status_text": texts[view["status"]],
            "mode_text": MODE_LABELS.get(appointment["mode"], "") if appointment else "", "next_call": next_call,
            "video_texts": video_rooms.CLIENT_TEXTS,
            "offer": offer, "offer_when": offer_when, "offer_mode_text": MODE_LABELS.get(offer["mode"], "") if offer
            else "", "needs_noted": needs.describe(getattr(holder, "needs", ()),
                                                   getattr(holder, "interpreter_language", None), lang)}


@routes.get(f"/r/{TOKEN}", name="web-status")
async def status_page(request: web.Request) -> web.Response:
    """What the SMS link shows: status, time and place, and what the client can do."""
    lang = chosen_language(request)
    try:
        context = await _status_context(request, request.match_info["token"], lang)
    except NotFound:
        return _not_found(request)
    done = request.query.get("done", "")
    # An invitation's notice comes first on the page; the first opening of its link is delivery evidence.
    notice = await invitations.notice_on_open(request.app[POOL], token=request.match_info["token"],
                                              now=datetime.now(UTC), record=request.method == "GET")
    return render(request, "status.html", {"title": N_("Your appointment"), "done": DONE_MESSAGES.get(done),
                                           "notice": notice, "notice_texts": notice_templates,
                                           "notice_mark": translate(notice.language, notice_templates.HELP_MARK)
                                           if notice else None, **context})


@routes.get(f"/r/{TOKEN}/thanks", name="web-thanks")
async def thanks(request: web.Request) -> web.Response:
    """After submitting: the reference code and the link to follow the request."""
    lang = chosen_language(request)
    try:
        context = await _status_context(request, request.match_info["token"], lang)
    except NotFound:
        return _not_found(request)
    async with request.app[POOL].acquire() as conn:
        found = await requests_.find_by_token(conn, request.match_info["token"])
        email_pending = found is not None and await email_addresses.still_open(conn, found.id, datetime.now(UTC))
    return render(request, "thanks.html", {"title": N_("Thank you"), "email_pending": email_pending, **context})


async def _act(request: web.Request, action: str) -> web.Response:
    lang = chosen_language(request)
    token = request.match_info["token"]
    pool = request.app[POOL]
    async with pool.acquire() as conn:
        found = await requests_.find_by_token(conn, token)
        callback = None if found else await callbacks.find_by_token(conn, token)
    if found is None and callback is None:
        return _not_found(request)
    now = datetime.now(UTC)
    done = {"confirm": "confirmed", "another-time": "another_time", "cancel": "cancelled"}[action]
    try:
        if callback is not None:
            if action != "cancel":
                raise InvalidTransition()
            await client_actions.cancel_callback(pool, callback_id=callback.id, actor="client:web")
        elif action == "confirm":
            assert found is not None
            await client_actions.confirm(pool, request_id=found.id, actor="client:web")
        elif action == "another-time":
            assert found is not None
            await client_actions.another_time(pool, request_id=found.id, actor="client:web", now=now,
                                              reminder_offsets=request.app[CONFIG].reminder_offsets)
        else:
            assert found is not None
            await client_actions.cancel(pool, request_id=found.id, actor="client:web", now=now,
                                        sms_offer_max=request.app[CONFIG].freed_slots.sms_offer_max)
    except InvalidTransition:
        done = "conflict"
    raise web.HTTPSeeOther(with_lang(f"/r/{token}", lang, done=done))


@routes.post(f"/r/{TOKEN}/confirm", name="web-confirm")
async def confirm(request: web.Request) -> web.Response:
    """The client confirms they will come."""
    return await _act(request, "confirm")


@routes.post(f"/r/{TOKEN}/another-time", name="web-another-time")
async def another_time(request: web.Request) -> web.Response:
    """The client asks for another time."""
    return await _act(request, "another-time")


@routes.post(f"/r/{TOKEN}/take-offer", name="web-take-offer")
async def take_offer(request: web.Request) -> web.Response:
    """The client accepts a freed time offered to them by SMS: the first to accept gets it, later ones hear it
    is gone. The link token is the credential, as for the other actions; the offer must be one sent to it."""
    lang = chosen_language(request)
    token = request.match_info["token"]
    offer_id = (await request.post()).get("offer", "")
    if not isinstance(offer_id, str) or not offer_id.isdigit() or len(offer_id) > 18:
        raise web.HTTPBadRequest()
    async with request.app[POOL].acquire() as conn:
        found = await requests_.find_by_token(conn, token)
    if found is None:
        return _not_found(request)
    taken = await freed_slots.accept(request.app[POOL], offer_id=int(offer_id), request_id=found.id,
                                     actor="client:web", now=datetime.now(UTC),
                                     reminder_offsets=request.app[CONFIG].reminder_offsets)
    raise web.HTTPSeeOther(with_lang(f"/r/{token}", lang, done="offer_taken" if taken else "offer_gone"))


@routes.post(f"/r/{TOKEN}/cancel", name="web-cancel")
async def cancel(request: web.Request) -> web.Response:
    """First a question (are you sure?), then the cancellation."""
    form = await request.post()
    if form.get("really") == "yes":
        return await _act(request, "cancel")
    lang = chosen_language(request)
    try:
        context = await _status_context(request, request.match_info["token"], lang)
    except NotFound:
        return _not_found(request)
    return render(request, "cancel.html", {"title": N_("Cancel"), **context})


def error_page(request: web.Request, error: DomainError) -> web.Response:
    """A domain error (rate limit, unavailable, …) on a client page, shown as a page in the client's language."""
    lang = chosen_language(request)
    return render(request, "error.html", {"title": N_("Please try again"),
                                          "message": translate(lang, error.message, **error.params)},
                  status=error.status)
