"""Lobby kiosk: the static touch front end and its JSON routes, bound to an admin-issued device token."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import qrcode
import qrcode.image.svg
from aiohttp import web
from babel.dates import get_day_names

from scheduler import concerns, email_addresses, intake, kiosks, needs, ratelimit, sites
from scheduler.channels import kiosk_walk_in, site_choice
from scheduler.errors import Unauthorized
from scheduler.http import json_object
from scheduler.http_errors import LANGUAGE_KEY
from scheduler.i18n import LANGUAGES, N_, babel_locale, direction, native_name, normalise, translate
from scheduler.keys import CONFIG, HOLDS, POOL, SITE_SETUPS
from scheduler.policy.rules import Kind

routes = web.RouteTableDef()


def kiosk_dir() -> Path:
    """Where the kiosk front end's files are: the checkout's kiosk/, else the copy a wheel carries.

    They live at the top of the project (kiosk/), beside scheduler/, as the design card lays out; `make run`
    installs editable and serves them from there. The build (setup.py) copies them into an installed package
    as scheduler/kiosk_files/.
    """
    checkout = Path(__file__).resolve().parents[2] / "kiosk"
    if (checkout / "index.html").is_file():
        return checkout
    return Path(__file__).resolve().parents[1] / "kiosk_files"


KIOSK_DIR = kiosk_dir()
TOKEN_HEADER = ratelimit.KIOSK_TOKEN_HEADER
IDLE_SECONDS = 60

# Every text the kiosk front end shows, by key; the front end holds no text of its own.
TEXTS: Mapping[str, str] = {
    "title": N_("Jobcenter self-service"),
    "choose_language": N_("Please choose your language"),
    "home_heading": N_("What would you like to do?"),
    "home_new": N_("I need an appointment or a callback"),
    "home_checkin": N_("I have an appointment today"),
    "concern_heading": N_("What is it about?"),
    "kind_heading": N_("How should we help you?"),
    "kind_appointment": N_("Appointment"),
    "kind_appointment_hint": N_("Meet us in person, by phone or by video."),
    "kind_callback": N_("Callback"),
    "kind_callback_hint": N_("We call you back."),
    "when_heading_appointment": N_("When can you come?"),
    "when_heading_callback": N_("When can we call you?"),
    "when_hint": N_("Choose one or more. If you choose nothing, any time is fine."),
    "days": N_("Days"),
    "parts": N_("Time of day"),
    "morning": N_("Morning"),
    "afternoon": N_("Afternoon"),
    "any_time": N_("Any time"),
    "phone_heading": N_("Your phone number"),
    "phone_hint_appointment": N_("A mobile number, so that we can send you the appointment by SMS."),
    "phone_hint_callback": N_("We will call this number."),
    "email_heading": N_("Your e-mail address (optional)"),
    "email_hint": N_("We send the appointment to this address too. First you get an e-mail to confirm the address."),
    "email": N_("E-mail address"),
    "skip": N_("Skip"),
    "key_delete": N_("Delete"),
    "key_clear": N_("Clear"),
    "confirm_heading": N_("Please check"),
    "concern": N_("Concern"),
    "kind": N_("Type"),
    "phone": N_("Phone number"),
    "sms_consent": N_("Yes, send me text messages (SMS) about this."),
    "send": N_("Send"),
    "next": N_("Next"),
    "back": N_("Back"),
    "start_again": N_("Start again"),
    "receipt_heading": N_("Thank you! Your reference code:"),
    "receipt_note": N_("Please keep this code. You need it if you contact us."),
    "receipt_qr": N_("QR code: scan it with your phone to see the status of your request."),
    "print": N_("Print"),
    "done": N_("Done"),
    "checkin_heading": N_("Check in for your appointment today"),
    "checkin_hint": N_("Enter the reference code from your SMS or receipt, or your phone number."),
    "checkin_identity_heading": N_("Your date of birth or customer number"),
    "checkin_identity_hint": N_("Date of birth as 8 digits (for example 17051990) or your customer number "
                                "(for example 123A456789)."),
    "checkin_by_phone": N_("Phone number"),
    "checkin_by_reference": N_("Reference code"),
    "checkin_send": N_("Check in"),
    "error_generic": N_("Something went wrong. Please try again or ask at the reception."),
    "language": N_("Language"),
    "sending": N_("Please wait …"),
    **kiosk_walk_in.TEXTS,  # the walk-in ticket screen
    "needs_heading": N_("Do you need anything for the appointment?"),
    "needs_hint": N_("Choose what helps you, or go on with Next."),
    "needs_language": N_("Language for the interpreter"),
    "needs_none": N_("Nothing special"),
    "needs_summary": N_("What you need"),
}
CHECKED_IN = N_("You are checked in. Please take a seat. We will call you.")
NOT_CHECKED_IN = N_("We could not check you in here. Please go to the reception desk.")


class KioskNotSetUp(Unauthorized):
    """The device token is missing, unknown or revoked."""

    code = "kiosk-unauthorized"
    default_message = N_("This kiosk is not set up or was switched off. Please ask at the reception.")


def _language(request: web.Request, body: Mapping[str, Any] | None = None) -> str:
    asked = body.get("language") if body else None
    lang = normalise(asked if isinstance(asked, str) else request.query.get("lang"))
    request[LANGUAGE_KEY] = lang
    return lang


async def _device(request: web.Request) -> kiosks.KioskDevice:
    if ratelimit.KIOSK_DEVICE in request:  # the rate limit looked the token up already
        device = request[ratelimit.KIOSK_DEVICE]
    else:
        async with request.app[POOL].acquire() as conn:
            device = await kiosks.authenticate(conn, request.headers.get(TOKEN_HEADER, ""), now=datetime.now(UTC))
    if device is None or site_choice.foreign(request, device.site_id):
        raise KioskNotSetUp()  # the device's site wins; on another office's own host it is not set up (issue 18)
    return device


def qr_svg(data: str) -> str:
    """A QR code of data as an SVG document, made on the server."""
    image = qrcode.make(data, image_factory=qrcode.image.svg.SvgPathImage, border=2)
    return image.to_string(encoding="unicode")


def _file(name: str, content_type: str) -> web.FileResponse:
    return web.FileResponse(KIOSK_DIR / name, headers={"Content-Type": content_type, "Cache-Control": "no-cache"})


@routes.get("/kiosk/", name="kiosk-index")
async def index(request: web.Request) -> web.FileResponse:
    """The kiosk front end (the device token comes from the URL fragment or the browser's storage)."""
    return _file("index.html", "text/html; charset=utf-8")


@routes.get("/kiosk/kiosk.js", name="kiosk-js")
async def script(request: web.Request) -> web.FileResponse:
    """The kiosk's script."""
    return _file("kiosk.js", "text/javascript; charset=utf-8")


@routes.get("/kiosk/walk_in.js", name="kiosk-walkin-js")
async def walk_in_script(request: web.Request) -> web.FileResponse:
    """The kiosk's walk-in ticket screen."""
    return _file("walk_in.js", "text/javascript; charset=utf-8")


@routes.get("/kiosk/kiosk.css", name="kiosk-css")
async def stylesheet(request: web.Request) -> web.FileResponse:
    """The kiosk's stylesheet (screen and print)."""
    return _file("kiosk.css", "text/css; charset=utf-8")


@routes.get("/kiosk/icons.svg", name="kiosk-icons")
async def pictograms(request: web.Request) -> web.FileResponse:
    """The kiosk's pictograms: an SVG sprite with one <symbol id="icon-NAME"> per concern icon and choice."""
    return _file("icons.svg", "image/svg+xml; charset=utf-8")


@routes.get("/kiosk/api/config", name="kiosk-config")
async def config(request: web.Request) -> web.Response:
    """Languages by their own names, concerns with pictograms, and every text, in the chosen language."""
    lang = _language(request)
    device = await _device(request)
    async with request.app[POOL].acquire() as conn:
        site = await sites.site_by_id(conn, device.site_id)
        found = await concerns.for_channel(conn, site_id=device.site_id, channel="kiosk")
    days = get_day_names("wide", locale=babel_locale(lang))
    return web.json_response({
        "language": lang, "dir": direction(lang), "html_lang": "de" if lang == "de-simple" else lang,
        "site": site.name, "idle_seconds": IDLE_SECONDS, "email_allowed": site.email_enabled,
        "languages": [{"code": code, "name": native_name(code), "dir": direction(code),
                       "html_lang": "de" if code == "de-simple" else code}
                      for code in LANGUAGES if code in site.languages],
        "concerns": [{"code": c.code, "label": concerns.label(c.labels, lang), "icon": c.icon,
                      "description": concerns.description(c.descriptions, lang)} for c in found],
        "weekdays": [{"value": i, "label": str(days[i])} for i in range(5)],
        "needs": [{"code": code, "label": translate(lang, label)} for code, label in needs.LABELS.items()],
        "interpreter_languages": [{"code": code, "name": name} for code, name in needs.language_choices(lang)],
        "texts": {key: translate(lang, msgid) for key, msgid in TEXTS.items()},
    }, headers={"Cache-Control": "no-store"})


async def _submit(request: web.Request, kind: Kind) -> web.Response:
    device = await _device(request)
    body = await json_object(request)
    lang = _language(request, body)
    settings = request.app[CONFIG]
    data = {**body, "site": device.site_code, "language": lang}
    if data.get("email") is not None:
        async with request.app[POOL].acquire() as conn:
            if kind is not Kind.appointment or not await email_addresses.site_allows(conn, device.site_id):
                del data["email"]  # only appointment requests, where the office allows e-mail; else ignored
    async with request.app[POOL].acquire() as conn:
        site = await sites.site_by_id(conn, device.site_id)
    parsed = intake.parse_intake(data, kind=kind, channel="kiosk", default_site=site.code,
                                 countries=sites.countries(site, settings.sms.allowed_countries))
    submitted = await intake.submit(request.app[POOL], parsed, now=datetime.now(UTC),
                                    reminder_offsets=settings.reminder_offsets,
                                    limit_phone=request.app[ratelimit.LIMITER].phone_limit(device.site_id),
                                    holds=request.app[HOLDS], setups=request.app[SITE_SETUPS], site=site)
    base_url = sites.public_url(site, settings.server.public_base_url)
    status_url = f"{base_url}/r/{submitted.link_token}?{urlencode({'lang': lang})}"
    walk_in = None  # a callback request may get a same-day walk-in ticket instead of waiting for the call
    if submitted.kind is Kind.callback:
        walk_in = await kiosk_walk_in.ticket(request.app[POOL], callback_id=submitted.id, now=datetime.now(UTC))
    return web.json_response({"reference": submitted.reference, "status_url": status_url,
                              "qr_svg": qr_svg(status_url), **({"walk_in": walk_in} if walk_in else {})},
                             status=201, headers={"Cache-Control": "no-store"})


@routes.post("/kiosk/api/requests", name="kiosk-create-request")
async def create_request(request: web.Request) -> web.Response:
    """An appointment request made at the kiosk."""
    return await _submit(request, Kind.appointment)


@routes.post("/kiosk/api/callbacks", name="kiosk-create-callback")
async def create_callback(request: web.Request) -> web.Response:
    """A callback request made at the kiosk."""
    return await _submit(request, Kind.callback)


@routes.post("/kiosk/api/check-in", name="kiosk-checkin")
async def check_in(request: web.Request) -> web.Response:
    """Arrival for today's appointment by reference, or phone with birth date or customer number; one neutral
    answer for every entry that matched nothing."""
    device = await _device(request)
    body = await json_object(request)
    lang = _language(request, body)
    entry = kiosks.parse_checkin(body)
    matched = await kiosks.check_in(request.app[POOL], device=device, entry=entry, now=datetime.now(UTC))
    return web.json_response({"checked_in": bool(matched),
                              "message": translate(lang, CHECKED_IN if matched else NOT_CHECKED_IN)},
                             headers={"Cache-Control": "no-store"})
