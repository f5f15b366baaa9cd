"""Phone IVR (Twilio Voice): language, concern, number, callback window, reference read back.

After the concern the call goes on in phone_appointments.py (appointment or callback; a callback comes back
here for the number), and key 9 in the concern menu leads to phone_codes.py (confirm or cancel by code).

Every step checks X-Twilio-Signature against the public URL; the call's state travels in the (signed) query
string of the next step's URL, never in server memory, so any process can answer any step.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from urllib.parse import urlencode

import phonenumbers
from aiohttp import web
from twilio.twiml.voice_response import Gather, VoiceResponse

from scheduler import concerns, intake, opening_hours_text, phones, ratelimit, sites
from scheduler.channels import phone_audio
from scheduler.channels.site_choice import request_site
from scheduler.channels.twilio_signature import verified_form
from scheduler.errors import TooManyRequests, ValidationFailed
from scheduler.i18n import N_, translate
from scheduler.keys import CONFIG, HOLDS, POOL, SITE_SETUPS
from scheduler.policy.rules import Kind

routes = web.RouteTableDef()

BASE = "/webhooks/twilio/voice"
# Key -> language, in the order the caller hears them (8: Leichte Sprache, the simple texts in the German voice).
KEYS: Mapping[str, str] = {"1": "de", "2": "en", "3": "uk", "4": "tr", "5": "ar", "6": "ru", "7": "fa",
                           "8": "de-simple"}
# Twilio text-to-speech voice and language per client language. Twilio offers no Farsi voice: Farsi is offered
# only once the office's recordings are complete (phone_audio.py), which then play instead of <Say>.
VOICES: Mapping[str, tuple[str | None, str]] = {
    "de": ("Polly.Vicki", "de-DE"), "de-simple": ("Polly.Vicki", "de-DE"), "en": ("Polly.Amy", "en-GB"),
    "uk": ("Google.uk-UA-Standard-A", "uk-UA"),
    "tr": ("Polly.Filiz", "tr-TR"), "ar": ("Polly.Zeina", "arb"), "ru": ("Polly.Tatyana", "ru-RU"),
    "fa": (None, "fa-IR"),
}
WINDOWS: Mapping[str, tuple[str, ...]] = {"1": ("morning",), "2": ("afternoon",), "3": ()}
MAX_CONCERNS = 8
_CONCERN = re.compile(r"^[a-z0-9_]{2,40}$")

WELCOME = N_("Welcome to the Jobcenter.")
CHOOSE = N_("To continue in English, press %(key)s.")
CHOOSE_SIMPLE = N_("For Easy German, press %(key)s.")
SORRY = N_("Sorry, I did not understand that.")
GOODBYE = N_("We could not understand your input. Please call again or visit us. Goodbye.")
CONCERN_QUESTION = N_("What is it about?")
CONCERN_OPTION = N_("For %(label)s, press %(key)s.")
NUMBER_QUESTION = N_("We will call you back at this number: %(number)s.")
NUMBER_OPTIONS = N_("If this is correct, press 1. To enter another number, press 2.")
TYPE_NUMBER = N_("Please type your phone number with the area code, then press the hash key.")
BAD_NUMBER = N_("This is not a phone number we can use.")
WINDOW_QUESTION = N_("When should we call you? For the morning, press 1. For the afternoon, press 2. "
                     "For any time, press 3.")
THANKS = N_("Thank you. We will call you back. Your reference code is:")
AGAIN = N_("Once more:")
BY_SMS = N_("You will also get this code by SMS.")
WRITE_DOWN = N_("Please write down this code.")
BYE = N_("Goodbye.")
FAILED = N_("Sorry, something went wrong. Please call again later or visit us. Goodbye.")
HAVE_CODE = N_("If you already have a reference code, press 9.")
CODE_KEY = "9"  # after the concerns (at most 8): confirm or cancel by reference code (phone_codes.py)


def _say(target: VoiceResponse | Gather, lang: str, text: str) -> None:
    recorded = phone_audio.recordings(lang, text)  # the office's own recordings, where it has all this text needs
    if recorded:
        for url in recorded:
            target.play(url)
        return
    _speak(target, lang, text)


def _speak(target: VoiceResponse | Gather, lang: str, text: str) -> None:
    """Text to speech in the language's voice, never a recording (for texts no office can record, like hours)."""
    voice, language = VOICES.get(lang, VOICES["de"])
    attrs = {"language": language} | ({"voice": voice} if voice else {})
    target.say(text, **attrs)


def _t(lang: str, msgid: str, **params: object) -> str:
    return phone_audio.Prompt(translate(lang, msgid, **params), msgid, params)


def _twiml(response: VoiceResponse) -> web.Response:
    return web.Response(text=str(response), content_type="text/xml")


def _redirect(request: web.Request, step: str, **state: str) -> web.Response:
    """Go on with the step of another module (phone_appointments, phone_codes); Twilio signs that call too."""
    response = VoiceResponse()
    response.redirect(_url(request, step, **state), method="POST")
    return _twiml(response)


def _url(request: web.Request, step: str, **state: str) -> str:
    # Twilio, not the client, calls these: the deployment's URL, the one its signatures are checked against.
    base = request.app[CONFIG].server.public_base_url.rstrip("/")
    query = urlencode({k: v for k, v in state.items() if v != ""})
    return f"{base}{BASE}{step}" + (f"?{query}" if query else "")


def _retry(request: web.Request) -> int:
    return 1 if request.query.get("retry") == "1" else 0


def spell(text: str) -> str:
    """Characters separated so that text-to-speech reads them one by one, slowly."""
    groups = [g for g in re.split(r"[\s\-]+", text) if g]
    return ". ".join(", ".join(group) for group in groups) + "."


def _spoken_number(e164: str) -> str:
    number = phonenumbers.parse(e164)
    style = phonenumbers.PhoneNumberFormat.NATIONAL if phonenumbers.region_code_for_number(number) == "DE" \
        else phonenumbers.PhoneNumberFormat.INTERNATIONAL
    return spell(phonenumbers.format_number(number, style).replace("+", "+ "))


def _caller_number(raw: str) -> str | None:
    try:
        return phones.normalise(raw, landline_ok=True)
    except ValidationFailed:
        return None  # withheld, anonymous or unusable caller id


def _give_up(lang: str | None) -> web.Response:
    response = VoiceResponse()
    for code in ([lang] if lang else ["de", "en"]):
        _say(response, code, _t(code, GOODBYE))
    response.hangup()
    return _twiml(response)


# --- menus: each asks one question and names the step that reads the answer ---

async def _languages(request: web.Request) -> dict[str, str]:
    """The language menu's keys: every language with a voice, and those without once their recordings are all there."""
    voiceless = [key for key, lang in KEYS.items() if VOICES[lang][0] is None]
    if not voiceless or not phone_audio.active():
        return {key: lang for key, lang in KEYS.items() if key not in voiceless}
    lines = [phone_audio.file_key(_t("fa", CONCERN_OPTION, concern=c.code, key=i, label=""))
             for i, c in enumerate(await _concern_list(request), start=1)]
    return {key: lang for key, lang in KEYS.items() if key not in voiceless or phone_audio.complete(
        lang, menu_line=phone_audio.file_key(_t(lang, CHOOSE, key=key)), concern_lines=lines)}


async def _language_menu(request: web.Request, retry: int) -> web.Response:
    response = VoiceResponse()
    gather = response.gather(num_digits=1, action=_url(request, "/language", retry=str(retry)), method="POST",
                             timeout=6, action_on_empty_result=True)
    if retry:
        _say(gather, "de", _t("de", SORRY))
    else:
        _say(gather, "de", _t("de", WELCOME))
    for key, lang in (await _languages(request)).items():
        _say(gather, lang, _t(lang, CHOOSE_SIMPLE if lang == "de-simple" else CHOOSE, key=key))
    return _twiml(response)


async def _concern_list(request: web.Request) -> list[concerns.ConcernChoice]:
    site = await request_site(request)  # the office of the called number (see site_choice.py)
    async with request.app[POOL].acquire() as conn:
        return (await concerns.for_channel(conn, site_id=site.id, channel="phone"))[:MAX_CONCERNS]


async def _opening_hours(request: web.Request, lang: str) -> str | None:
    site = await request_site(request)
    async with request.app[POOL].acquire() as conn:
        return opening_hours_text.sentence(await sites.opening_hours(conn, site.id), lang)


async def _concern_menu(request: web.Request, lang: str, retry: int) -> web.Response:
    response = VoiceResponse()
    gather = response.gather(num_digits=1, action=_url(request, "/concern", lang=lang, retry=str(retry)),
                             method="POST", timeout=8, action_on_empty_result=True)
    if retry:
        _say(gather, lang, _t(lang, SORRY))
    elif VOICES.get(lang, VOICES["de"])[0] is not None and (hours := await _opening_hours(request, lang)):
        _speak(gather, lang, hours)  # the greeting in the caller's language (a language without a voice has
        # only the office's recordings, and the office's hours are no sentence anyone could record ahead)
    _say(gather, lang, _t(lang, CONCERN_QUESTION))
    for index, concern in enumerate(await _concern_list(request), start=1):
        _say(gather, lang, _t(lang, CONCERN_OPTION, label=concerns.label(concern.labels, lang), key=index,
                              concern=concern.code))  # the code names the recording, where there is one
    _say(gather, lang, _t(lang, HAVE_CODE))
    return _twiml(response)


def _number_menu(request: web.Request, lang: str, concern: str, number: str, retry: int) -> web.Response:
    response = VoiceResponse()
    gather = response.gather(num_digits=1, method="POST", timeout=8, action_on_empty_result=True,
                             action=_url(request, "/number", lang=lang, concern=concern, number=number,
                                         retry=str(retry)))
    if retry:
        _say(gather, lang, _t(lang, SORRY))
    _say(gather, lang, _t(lang, NUMBER_QUESTION, number=_spoken_number(number)))
    _say(gather, lang, _t(lang, NUMBER_OPTIONS))
    return _twiml(response)


def _typing_menu(request: web.Request, lang: str, concern: str, retry: int, *, bad: bool = False) -> web.Response:
    response = VoiceResponse()
    gather = response.gather(finish_on_key="#", method="POST", timeout=10, action_on_empty_result=True,
                             action=_url(request, "/typed", lang=lang, concern=concern, retry=str(retry)))
    if bad:
        _say(gather, lang, _t(lang, BAD_NUMBER))
    elif retry:
        _say(gather, lang, _t(lang, SORRY))
    _say(gather, lang, _t(lang, TYPE_NUMBER))
    return _twiml(response)


def _window_menu(request: web.Request, lang: str, concern: str, number: str, retry: int) -> web.Response:
    response = VoiceResponse()
    gather = response.gather(num_digits=1, method="POST", timeout=8, action_on_empty_result=True,
                             action=_url(request, "/window", lang=lang, concern=concern, number=number,
                                         retry=str(retry)))
    if retry:
        _say(gather, lang, _t(lang, SORRY))
    _say(gather, lang, _t(lang, WINDOW_QUESTION))
    return _twiml(response)


# --- the state carried in the query string, checked at every step ---

def _lang(request: web.Request) -> str | None:
    lang = request.query.get("lang", "")
    return lang if lang in VOICES else None


def _concern(request: web.Request) -> str | None:
    concern = request.query.get("concern", "")
    return concern if _CONCERN.match(concern) else None


def _number(request: web.Request) -> str | None:
    return _caller_number(request.query.get("number", ""))


def _ask_number(request: web.Request, lang: str, concern: str, caller: str) -> web.Response:
    number = _caller_number(caller)
    if number is None:
        return _typing_menu(request, lang, concern, 0)
    return _number_menu(request, lang, concern, number, 0)


# --- steps ---

@routes.post(BASE, name="voice-start")
async def start(request: web.Request) -> web.Response:
    """A call comes in: choose the language by key."""
    await verified_form(request)
    return await _language_menu(request, 0)


@routes.post(f"{BASE}/language", name="voice-language")
async def language(request: web.Request) -> web.Response:
    """The caller chose a language."""
    form = await verified_form(request)
    lang = (await _languages(request)).get(form.get("Digits", ""))
    if lang is None:
        return _give_up(None) if _retry(request) else await _language_menu(request, 1)
    return await _concern_menu(request, lang, 0)


@routes.post(f"{BASE}/concern", name="voice-concern")
async def concern(request: web.Request) -> web.Response:
    """The caller chose a concern."""
    form = await verified_form(request)
    lang = _lang(request)
    if lang is None:
        return _give_up(None)
    choices = await _concern_list(request)
    digits = form.get("Digits", "")
    if digits == CODE_KEY:
        return _redirect(request, "/code", lang=lang)
    if not digits.isdigit() or not 1 <= int(digits) <= len(choices):
        return _give_up(lang) if _retry(request) else await _concern_menu(request, lang, 1)
    return _redirect(request, "/appointment", lang=lang, concern=choices[int(digits) - 1].code)


@routes.post(f"{BASE}/number", name="voice-number")
async def number(request: web.Request) -> web.Response:
    """The caller confirmed the number read out (1) or wants to type another (2)."""
    form = await verified_form(request)
    lang, concern_code, phone = _lang(request), _concern(request), _number(request)
    if lang is None or concern_code is None or phone is None:
        return _give_up(lang)
    digits = form.get("Digits", "")
    if digits == "1":
        return _window_menu(request, lang, concern_code, phone, 0)
    if digits == "2":
        return _typing_menu(request, lang, concern_code, 0)
    return _give_up(lang) if _retry(request) else _number_menu(request, lang, concern_code, phone, 1)


@routes.post(f"{BASE}/typed", name="voice-typed")
async def typed(request: web.Request) -> web.Response:
    """The caller typed a number; it is read back for confirmation."""
    form = await verified_form(request)
    lang, concern_code = _lang(request), _concern(request)
    if lang is None or concern_code is None:
        return _give_up(lang)
    phone = _caller_number(form.get("Digits", ""))
    if phone is None:
        if _retry(request):
            return _give_up(lang)
        return _typing_menu(request, lang, concern_code, 1, bad=bool(form.get("Digits")))
    return _number_menu(request, lang, concern_code, phone, 0)


@routes.post(f"{BASE}/window", name="voice-window")
async def window(request: web.Request) -> web.Response:
    """The caller chose when to be called: the callback is stored and its reference read back."""
    form = await verified_form(request)
    lang, concern_code, phone = _lang(request), _concern(request), _number(request)
    if lang is None or concern_code is None or phone is None:
        return _give_up(lang)
    parts = WINDOWS.get(form.get("Digits", ""))
    if parts is None:
        return _give_up(lang) if _retry(request) else _window_menu(request, lang, concern_code, phone, 1)
    # The caller confirmed this number by key; SMS only if it can receive them.
    mobile = phonenumbers.number_type(phonenumbers.parse(phone)) in phones.MOBILE_TYPES
    data: dict[str, object] = {"concern": concern_code, "phone": phone, "language": lang,
                               "windows": {"parts": list(parts)}, "sms_consent": mobile}
    return await store_and_read_back(request, lang, data, kind=Kind.callback, call_sid=form.get("CallSid", ""),
                                     thanks=THANKS, by_sms=mobile)


async def store_and_read_back(request: web.Request, lang: str, data: dict[str, object], *, kind: Kind,
                              call_sid: str, thanks: str, by_sms: bool) -> web.Response:
    """Store what the caller keyed in (a callback or an appointment request) and read its reference code out
    twice; if intake refuses it, apologise and hang up.

    The call's id is the idempotency key, so a step Twilio posts again stores nothing twice.
    """
    if 8 <= len(call_sid) <= 90:
        data = {**data, "idempotency_key": f"ivr-{call_sid}"}
    config = request.app[CONFIG]
    site = await request_site(request)
    response = VoiceResponse()
    try:
        parsed = intake.parse_intake(data, kind=kind, channel="phone", default_site=site.code,
                                     countries=sites.countries(site, config.sms.allowed_countries))
        submitted = await intake.submit(request.app[POOL], parsed, now=datetime.now(UTC),
                                        reminder_offsets=config.reminder_offsets,
                                        limit_phone=request.app[ratelimit.LIMITER].phone_limit(site.id),
                                        holds=request.app[HOLDS], setups=request.app[SITE_SETUPS], site=site)
    except (ValidationFailed, TooManyRequests):
        _say(response, lang, _t(lang, FAILED))
        response.hangup()
        return _twiml(response)
    spelled = spell(submitted.reference)
    _say(response, lang, _t(lang, thanks))
    response.pause(length=1)
    _say(response, lang, spelled)
    response.pause(length=1)
    _say(response, lang, _t(lang, AGAIN))
    _say(response, lang, spelled)
    _say(response, lang, _t(lang, BY_SMS if by_sms else WRITE_DOWN))
    _say(response, lang, _t(lang, BYE))
    response.hangup()
    return _twiml(response)
