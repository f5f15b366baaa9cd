"""Phone IVR, appointment requests: after language and concern, appointment or callback; for an appointment the
days, the part of the day, the mode (where the concern allows more than one) and a mobile number for the SMS.

Same rules as phone.py: every step checks X-Twilio-Signature, the answers so far travel in the signed query
string of the next step's URL, and nothing is stored before the last step: a caller who hangs up, stays silent
or presses wrong keys leaves no trace. A wrong key repeats the question once, then the call ends politely.
"""

from __future__ import annotations

from collections.abc import Mapping

from aiohttp import web
from twilio.twiml.voice_response import VoiceResponse

from scheduler import phones, sites
from scheduler.channels import phone, phone_needs
from scheduler.channels.site_choice import request_site
from scheduler.channels.twilio_signature import verified_form
from scheduler.errors import ValidationFailed
from scheduler.i18n import N_
from scheduler.keys import CONFIG, POOL, SITE_SETUPS
from scheduler.policy.rules import Kind

routes = web.RouteTableDef()

STEP = "/appointment"
# Key -> weekdays (0 = Monday); no weekdays means any working day.
DAYS: Mapping[str, tuple[int, ...]] = {"1": (), "2": (0, 1, 2), "3": (3, 4)}
PARTS: Mapping[str, tuple[str, ...]] = {"1": ("morning",), "2": ("afternoon",), "3": ()}
# The modes the phone offers, by key; video needs the link page, so the IVR leaves it to web and kiosk.
MODES: Mapping[str, str] = {"1": "in_person", "2": "phone"}

KIND_QUESTION = N_("For an appointment, press 1. For a callback, press 2.")
DAYS_QUESTION = N_("Which days suit you? For any weekday, press 1. For Monday to Wednesday, press 2. "
                   "For Thursday or Friday, press 3.")
PART_QUESTION = N_("At what time of day? For the morning, press 1. For the afternoon, press 2. "
                   "For any time, press 3.")
MODE_QUESTION = N_("How do you want to talk to us? To come to the office, press 1. To talk by phone, press 2.")
SMS_NUMBER = N_("We will send you the appointment by SMS to this number: %(number)s.")
TYPE_MOBILE = N_("Please type your mobile number, then press the hash key.")
NOT_MOBILE = N_("This is not a mobile number. We need one to send you the appointment by SMS.")
REQUESTED = N_("Thank you. We will send you an appointment by SMS. Your reference code is:")


async def _mobile(raw: str, request: web.Request) -> str | None:
    site = await request_site(request)  # the office of the called number: its phone countries
    try:
        return phones.normalise(raw, countries=sites.countries(site, request.app[CONFIG].sms.allowed_countries))
    except ValidationFailed:
        return None


async def _concern_modes(request: web.Request, code: str) -> tuple[str, ...] | None:
    """The modes the phone may offer for this concern (None: not a concern the phone offers)."""
    site = await request_site(request)
    async with request.app[POOL].acquire() as conn:
        concern = (await sites.setup(conn, site, request.app[SITE_SETUPS])).concerns.get(code)
    if concern is None or "phone" not in concern.channels:
        return None
    return tuple(mode for mode in MODES.values() if mode in concern.modes)


def _state(request: web.Request) -> dict[str, str] | None:
    """The answers so far from the signed query; None when any of them is not one we could have written."""
    lang, code = phone._lang(request), phone._concern(request)
    days, part, mode, need = (request.query.get(k, "") for k in ("days", "part", "mode", "need"))
    if lang is None or code is None or (days and days not in DAYS) or (part and part not in PARTS) \
            or (mode and mode not in MODES.values()) or not phone_needs.valid(need):
        return None
    return {"lang": lang, "concern": code, "days": days, "part": part, "mode": mode, "need": need}


def _menu(request: web.Request, step: str, state: Mapping[str, str], retry: int, *texts: str,
          typed: bool = False, sorry: bool | None = None) -> web.Response:
    """One question; its answer goes to `step` with the state so far."""
    response = VoiceResponse()
    keys = {"finish_on_key": "#", "timeout": 10} if typed else {"num_digits": 1, "timeout": 8}
    gather = response.gather(method="POST", action_on_empty_result=True,
                             action=phone._url(request, step, **state, retry=str(retry)), **keys)
    lang = state["lang"]
    if bool(retry) if sorry is None else sorry:
        phone._say(gather, lang, phone._t(lang, phone.SORRY))
    for text in texts:
        phone._say(gather, lang, text)
    return phone._twiml(response)


def _number_menu(request: web.Request, state: Mapping[str, str], number: str, retry: int) -> web.Response:
    lang = state["lang"]
    return _menu(request, f"{STEP}/number", {**state, "number": number}, retry,
                 phone._t(lang, SMS_NUMBER, number=phone._spoken_number(number)), phone._t(lang, phone.NUMBER_OPTIONS))


def _typing_menu(request: web.Request, state: Mapping[str, str], retry: int, *, bad: bool = False) -> web.Response:
    lang = state["lang"]
    texts = ([phone._t(lang, NOT_MOBILE)] if bad else []) + [phone._t(lang, TYPE_MOBILE)]
    return _menu(request, f"{STEP}/typed", state, retry, *texts, typed=True, sorry=bool(retry) and not bad)


async def _ask_number(request: web.Request, state: Mapping[str, str], caller: str) -> web.Response:
    number = await _mobile(caller, request)
    return _typing_menu(request, state, 0) if number is None else _number_menu(request, state, number, 0)


def _again_or_end(request: web.Request, lang: str, ask: web.Response) -> web.Response:
    return phone._give_up(lang) if phone._retry(request) else ask


# --- steps ---

@routes.post(f"{phone.BASE}{STEP}", name="voice-appointment")
async def kind_menu(request: web.Request) -> web.Response:
    """After the concern (a redirect from phone.py): appointment or callback; callback-only concerns go on."""
    form = await verified_form(request)
    state = _state(request)
    if state is None:
        return phone._give_up(None)
    modes = await _concern_modes(request, state["concern"])
    if modes is None:
        return phone._give_up(state["lang"])
    if not modes:  # video only: the phone takes a callback
        return phone._ask_number(request, state["lang"], state["concern"], form.get("From", ""))
    return _menu(request, f"{STEP}/kind", state, 0, phone._t(state["lang"], KIND_QUESTION))


@routes.post(f"{phone.BASE}{STEP}/kind", name="voice-appointment-kind")
async def kind(request: web.Request) -> web.Response:
    """Appointment (1) or callback (2)."""
    form = await verified_form(request)
    state = _state(request)
    if state is None:
        return phone._give_up(None)
    digits, lang = form.get("Digits", ""), state["lang"]
    if digits == "1":
        return _menu(request, f"{STEP}/days", state, 0, phone._t(lang, DAYS_QUESTION))
    if digits == "2":
        return phone._ask_number(request, lang, state["concern"], form.get("From", ""))
    return _again_or_end(request, lang, _menu(request, f"{STEP}/kind", state, 1, phone._t(lang, KIND_QUESTION)))


@routes.post(f"{phone.BASE}{STEP}/days", name="voice-appointment-days")
async def days(request: web.Request) -> web.Response:
    """Which days."""
    form = await verified_form(request)
    state = _state(request)
    if state is None:
        return phone._give_up(None)
    digits, lang = form.get("Digits", ""), state["lang"]
    if digits not in DAYS:
        return _again_or_end(request, lang, _menu(request, f"{STEP}/days", state, 1, phone._t(lang, DAYS_QUESTION)))
    return _menu(request, f"{STEP}/part", {**state, "days": digits}, 0, phone._t(lang, PART_QUESTION))


@routes.post(f"{phone.BASE}{STEP}/part", name="voice-appointment-part")
async def part(request: web.Request) -> web.Response:
    """Which part of the day; then the mode where the concern allows more than one."""
    form = await verified_form(request)
    state = _state(request)
    if state is None or not state["days"]:
        return phone._give_up(None if state is None else state["lang"])
    digits, lang = form.get("Digits", ""), state["lang"]
    if digits not in PARTS:
        return _again_or_end(request, lang, _menu(request, f"{STEP}/part", state, 1, phone._t(lang, PART_QUESTION)))
    state = {**state, "part": digits}
    modes = await _concern_modes(request, state["concern"])
    if not modes:
        return phone._give_up(lang)
    if len(modes) == 1:
        return _menu(request, f"{STEP}/needs", {**state, "mode": modes[0]}, 0, phone._t(lang, phone_needs.QUESTION))
    return _menu(request, f"{STEP}/mode", state, 0, phone._t(lang, MODE_QUESTION))


@routes.post(f"{phone.BASE}{STEP}/mode", name="voice-appointment-mode")
async def mode(request: web.Request) -> web.Response:
    """In person (1) or by phone (2)."""
    form = await verified_form(request)
    state = _state(request)
    if state is None or not state["part"]:
        return phone._give_up(None if state is None else state["lang"])
    chosen, lang = MODES.get(form.get("Digits", "")), state["lang"]
    if chosen is None:
        return _again_or_end(request, lang, _menu(request, f"{STEP}/mode", state, 1, phone._t(lang, MODE_QUESTION)))
    return _menu(request, f"{STEP}/needs", {**state, "mode": chosen}, 0, phone._t(lang, phone_needs.QUESTION))


@routes.post(f"{phone.BASE}{STEP}/needs", name="voice-appointment-needs")
async def needs_step(request: web.Request) -> web.Response:
    """One need (1-5) or none (9); like every question, a wrong key or silence twice ends the call."""
    form = await verified_form(request)
    state = _state(request)
    if state is None or not state["mode"]:
        return phone._give_up(None if state is None else state["lang"])
    digits, lang = form.get("Digits", ""), state["lang"]
    if not digits or not phone_needs.valid(digits):
        return _again_or_end(request, lang, _menu(request, f"{STEP}/needs", state, 1,
                                                  phone._t(lang, phone_needs.QUESTION)))
    return await _ask_number(request, {**state, "need": digits}, form.get("From", ""))


@routes.post(f"{phone.BASE}{STEP}/typed", name="voice-appointment-typed")
async def typed(request: web.Request) -> web.Response:
    """A typed mobile number, read back for confirmation."""
    form = await verified_form(request)
    state = _state(request)
    if state is None or not state["need"]:
        return phone._give_up(None if state is None else state["lang"])
    raw = form.get("Digits", "")
    number = await _mobile(raw, request) if len(raw) <= 20 else None
    if number is None:
        return _again_or_end(request, state["lang"], _typing_menu(request, state, 1, bad=bool(raw)))
    return _number_menu(request, state, number, 0)


@routes.post(f"{phone.BASE}{STEP}/number", name="voice-appointment-number")
async def number(request: web.Request) -> web.Response:
    """The caller confirmed the number (1): the request is stored now, and its reference read out; or 2: type."""
    form = await verified_form(request)
    state = _state(request)
    mobile = await _mobile(request.query.get("number", ""), request)
    if state is None or not state["need"] or mobile is None:
        return phone._give_up(None if state is None else state["lang"])
    digits, lang = form.get("Digits", ""), state["lang"]
    if digits == "2":
        return _typing_menu(request, state, 0)
    if digits != "1":
        return _again_or_end(request, lang, _number_menu(request, state, mobile, 1))
    return await _submit(request, state, mobile, form.get("CallSid", ""))


async def _submit(request: web.Request, state: Mapping[str, str], mobile: str, call_sid: str) -> web.Response:
    lang = state["lang"]
    windows: dict[str, object] = {}
    if DAYS[state["days"]]:
        windows["weekdays"] = list(DAYS[state["days"]])
    if PARTS[state["part"]]:
        windows["parts"] = list(PARTS[state["part"]])
    # The caller confirmed this mobile number by key: it may get the appointment by SMS.
    data: dict[str, object] = {"concern": state["concern"], "phone": mobile, "language": lang,
                               "modes": [state["mode"]], "windows": windows, "sms_consent": True,
                               **phone_needs.intake_fields(state["need"], lang)}
    return await phone.store_and_read_back(request, lang, data, kind=Kind.appointment, call_sid=call_sid,
                                           thanks=REQUESTED, by_sms=True)
