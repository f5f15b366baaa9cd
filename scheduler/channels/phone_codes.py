"""Phone IVR, confirm or cancel by reference code: the caller types the code on the keypad, hears the appointment
(date, time, place) and presses 1 to confirm or 2 to cancel (asked twice), through the same client_actions as
the status page and SMS replies.

A reference (references.py) has letters; on the keypad a letter is the key that shows it (ABC = 2 … WXYZ = 9),
so a code is typed as 8 digits (requests.find_open_by_keypad). Every typed code counts against the calling
number's limit (CODE_TRIES) before it is looked up, so the keypad cannot be used to guess codes; within one call
a wrong code may be typed twice. A code that is not found, closed or ambiguous sounds the same.
Mandatory appointments (§ 59 SGB II) are not cancelled by phone, as not by SMS: caller ids can be spoofed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from aiohttp import web
from twilio.twiml.voice_response import VoiceResponse

from scheduler import appointments, client_actions, clients, ratelimit, sites
from scheduler import requests as requests_
from scheduler.channels import phone
from scheduler.channels.site_choice import request_site
from scheduler.channels.twilio_signature import verified_form
from scheduler.errors import InvalidTransition, TooManyRequests
from scheduler.i18n import N_, format_when
from scheduler.keys import POOL

routes = web.RouteTableDef()

_OPEN = requests_.OPEN | {requests_.Status.scheduled}

STEP = "/code"
ACTOR = "client:phone"
CODE_TRIES = ratelimit.Limit("ivr-code", 5, 3600)  # typed codes per calling number and hour

TYPE_CODE = N_("Please type your reference code. For a letter, press the key that shows the letter. "
               "Then press the hash key.")
NOT_FOUND = N_("We could not find this code.")
TOO_MANY = N_("Too many codes were typed from this number. Please use the link in our SMS, or call again "
              "later. Goodbye.")
APPOINTMENT_AT = N_("Your appointment is on %(when)s.")
IN_ROOM = N_("Please come to room %(room)s, %(address)s.")
AT_OFFICE = N_("Please come to the office: %(address)s.")
BY_PHONE = N_("We will call you at this time.")
BY_VIDEO = N_("This is a video appointment. You find the link on the page from our SMS.")
CONFIRM_OR_CANCEL = N_("To confirm that you will come, press 1. To cancel the appointment, press 2.")
NOT_YET = N_("You have no appointment yet. We will send you one by SMS. To cancel your request, press 2. "
             "To keep it, press 1.")
REALLY_CANCEL = N_("Do you really want to cancel? To cancel, press 2 again. To keep it, press 1.")
KEPT = N_("Nothing has changed.")
CONFIRMED = N_("Thank you. We have noted that you will come.")
CANCELLED = N_("Your appointment is cancelled. Thank you for telling us.")
WITHDRAWN = N_("Your request is cancelled. Thank you for telling us.")
MANDATORY = N_("This is a mandatory appointment. To cancel it, please use the link in our SMS.")
TOO_LATE = N_("This can no longer be changed by phone. Please use the link in our SMS.")


def _end(lang: str, *texts: str) -> web.Response:
    response = VoiceResponse()
    for text in texts:
        phone._say(response, lang, phone._t(lang, text))
    phone._say(response, lang, phone._t(lang, phone.BYE))
    response.hangup()
    return phone._twiml(response)


def _code_menu(request: web.Request, lang: str, retry: int, *, unknown: bool = False) -> web.Response:
    response = VoiceResponse()
    gather = response.gather(finish_on_key="#", method="POST", timeout=15, action_on_empty_result=True,
                             action=phone._url(request, f"{STEP}/typed", lang=lang, retry=str(retry)))
    if unknown:
        phone._say(gather, lang, phone._t(lang, NOT_FOUND))
    elif retry:
        phone._say(gather, lang, phone._t(lang, phone.SORRY))
    phone._say(gather, lang, phone._t(lang, TYPE_CODE))
    return phone._twiml(response)


def _choice_menu(request: web.Request, lang: str, step: str, reference: str, retry: int,
                 *texts: str) -> web.Response:
    response = VoiceResponse()
    gather = response.gather(num_digits=1, method="POST", timeout=8, action_on_empty_result=True,
                             action=phone._url(request, step, lang=lang, ref=reference, retry=str(retry)))
    if retry:
        phone._say(gather, lang, phone._t(lang, phone.SORRY))
    for text in texts:
        phone._say(gather, lang, text)
    return phone._twiml(response)


async def _site(request: web.Request) -> sites.Site | None:
    # The office of the called number: codes and references are looked up among its requests only.
    return await request_site(request)


async def _find(request: web.Request, site: sites.Site, *, digits: str | None = None,
                reference: str | None = None, caller: str = "") -> requests_.Request | None:
    """The open request the caller means, or None (unknown, closed, or two that share the keys)."""
    async with request.app[POOL].acquire() as conn:
        if reference is not None:
            found = await requests_.find_by_reference(conn, site.id, reference)
            return found if found is not None and found.status in _OPEN else None
        matches = await requests_.find_open_by_keypad(conn, site.id, digits or "")
        if len(matches) > 1:  # rare: prefer the caller's own, else say nothing
            matches = [m for m in matches if (await clients.get(conn, m.client_id)).phone == caller]
    return matches[0] if len(matches) == 1 else None


async def _describe(request: web.Request, site: sites.Site, found: requests_.Request, lang: str,
                    retry: int = 0) -> web.Response:
    """What the caller hears about their request, and the keys they may press."""
    async with request.app[POOL].acquire() as conn:
        appointment = await appointments.latest_for_request(conn, found.id)
    if found.status is not requests_.Status.scheduled or appointment is None \
            or appointment.status is not appointments.AppointmentStatus.confirmed:
        return _choice_menu(request, lang, f"{STEP}/action", found.reference, retry, phone._t(lang, NOT_YET))
    texts = [phone._t(lang, APPOINTMENT_AT, when=format_when(appointment.start, lang, site.timezone),
                      at=appointment.start.astimezone(ZoneInfo(site.timezone)))]  # `at`: for recorded prompts
    if appointment.mode == "phone":
        texts.append(phone._t(lang, BY_PHONE))
    elif appointment.mode == "video":
        texts.append(phone._t(lang, BY_VIDEO))
    elif appointment.room:
        texts.append(phone._t(lang, IN_ROOM, room=phone.spell(appointment.room), address=site.address))
    else:
        texts.append(phone._t(lang, AT_OFFICE, address=site.address))
    texts.append(phone._t(lang, CONFIRM_OR_CANCEL))
    return _choice_menu(request, lang, f"{STEP}/action", found.reference, retry, *texts)


def _reference(request: web.Request) -> str | None:
    ref = request.query.get("ref", "")
    return ref if len(ref) == 9 and ref[4] == "-" and ref.replace("-", "").isalnum() else None


# --- steps ---

@routes.post(f"{phone.BASE}{STEP}", name="voice-code")
async def code_menu(request: web.Request) -> web.Response:
    """The caller has a reference code (9 in the concern menu, a redirect from phone.py)."""
    await verified_form(request)
    lang = phone._lang(request)
    return phone._give_up(None) if lang is None else _code_menu(request, lang, 0)


@routes.post(f"{phone.BASE}{STEP}/typed", name="voice-code-typed")
async def typed(request: web.Request) -> web.Response:
    """A typed code: counted against the calling number, then looked up."""
    form = await verified_form(request)
    lang = phone._lang(request)
    site = await _site(request)
    if lang is None or site is None:
        return phone._give_up(lang)
    digits = form.get("Digits", "")
    if not (digits.isdigit() and len(digits) == 8):
        return phone._give_up(lang) if phone._retry(request) else _code_menu(request, lang, 1)
    caller = form.get("From", "")[:40]
    try:
        await request.app[ratelimit.LIMITER].hit(request.app[POOL], (CODE_TRIES, f"ivr:{caller}"))
    except TooManyRequests:
        return _end(lang, TOO_MANY)
    found = await _find(request, site, digits=digits, caller=caller)
    if found is None:
        return phone._give_up(lang) if phone._retry(request) else _code_menu(request, lang, 1, unknown=True)
    return await _describe(request, site, found, lang)


@routes.post(f"{phone.BASE}{STEP}/action", name="voice-code-action")
async def action(request: web.Request) -> web.Response:
    """1: confirm (or keep a request without appointment); 2: cancel, asked once more."""
    form = await verified_form(request)
    lang, reference, site = phone._lang(request), _reference(request), await _site(request)
    found = None if lang is None or reference is None or site is None else \
        await _find(request, site, reference=reference)
    if lang is None or site is None or found is None:
        return phone._give_up(lang)
    digits = form.get("Digits", "")
    scheduled = found.status is requests_.Status.scheduled
    if digits == "1" and not scheduled:
        return _end(lang, KEPT)
    if digits == "1":
        try:
            await client_actions.confirm(request.app[POOL], request_id=found.id, actor=ACTOR)
        except InvalidTransition:
            return _end(lang, TOO_LATE)
        return _end(lang, CONFIRMED)
    if digits == "2":
        if found.invitation == "mandatory":
            return _end(lang, MANDATORY)
        return _choice_menu(request, lang, f"{STEP}/cancel", found.reference, 0, phone._t(lang, REALLY_CANCEL))
    return phone._give_up(lang) if phone._retry(request) else await _describe(request, site, found, lang, 1)


@routes.post(f"{phone.BASE}{STEP}/cancel", name="voice-code-cancel")
async def cancel(request: web.Request) -> web.Response:
    """The second question: 2 cancels, 1 keeps."""
    form = await verified_form(request)
    lang, reference, site = phone._lang(request), _reference(request), await _site(request)
    found = None if lang is None or reference is None or site is None else \
        await _find(request, site, reference=reference)
    if lang is None or site is None or found is None or found.invitation == "mandatory":
        return phone._give_up(lang)
    digits = form.get("Digits", "")
    if digits == "1":
        return _end(lang, KEPT)
    if digits != "2":
        if phone._retry(request):
            return phone._give_up(lang)
        return _choice_menu(request, lang, f"{STEP}/cancel", found.reference, 1, phone._t(lang, REALLY_CANCEL))
    async with request.app[POOL].acquire() as conn:
        current = await appointments.latest_for_request(conn, found.id)
    try:
        await client_actions.cancel(request.app[POOL], request_id=found.id, actor=ACTOR, now=datetime.now(UTC))
    except InvalidTransition:
        return _end(lang, TOO_LATE)
    live = current is not None and current.status is appointments.AppointmentStatus.confirmed
    return _end(lang, CANCELLED if live else WITHDRAWN)
