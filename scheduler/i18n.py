"""Translation catalogues (gettext .po files read with Babel) and language negotiation.

Message ids are the English source texts, marked in code with ``N_`` so that ``pybabel extract -k N_``
finds them. Each language folder may hold several catalogue files (``messages.po`` for errors,
``notifications.po``, ``client.po``, ``staff.po``); they are merged. ``de-simple`` is German Leichte
Sprache; it falls back to German, every other language
falls back to English, then to the id itself.
"""

from __future__ import annotations

import functools
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_datetime, format_time
from babel.messages.pofile import read_po

LOCALE_DIR = Path(__file__).resolve().parent / "locale"

# Client-facing languages, in the order the kiosk and web pages offer them.
LANGUAGES: tuple[str, ...] = ("de", "de-simple", "en", "uk", "ar", "tr", "ru", "fa")
STAFF_LANGUAGES: tuple[str, ...] = ("de", "en")
RIGHT_TO_LEFT = frozenset({"ar", "fa"})
DEFAULT_LANGUAGE = "de"


def N_(msgid: str) -> str:
    """Mark a text for the catalogue without translating it yet."""
    return msgid


def _catalogue_dir(lang: str) -> str:
    return lang.replace("-", "_")


@functools.cache
def _catalogue(lang: str) -> dict[str, str]:
    # One language may have several catalogue files (messages, notifications, client, staff): merge them.
    found: dict[str, str] = {}
    for path in sorted((LOCALE_DIR / _catalogue_dir(lang) / "LC_MESSAGES").glob("*.po")):
        with path.open("rb") as fh:
            catalog = read_po(fh, locale=None)
        found.update({str(m.id): str(m.string) for m in catalog if m.id and m.string and not m.fuzzy})
    return found


def _fallbacks(lang: str) -> tuple[str, ...]:
    if lang == "de-simple":
        return ("de-simple", "de", "en")
    return (lang, "en") if lang != "en" else ("en",)


def translate(lang: str, msgid: str, **params: object) -> str:
    """The text for msgid in lang (with fallbacks), with %(name)s parameters filled in."""
    text = msgid
    for candidate in _fallbacks(normalise(lang)):
        found = _catalogue(candidate).get(msgid)
        if found:
            text = found
            break
    return text % params if params else text


def normalise(lang: str | None, supported: tuple[str, ...] = LANGUAGES) -> str:
    """A supported language code for what a client or header asked for, or the default."""
    if not lang:
        return DEFAULT_LANGUAGE
    lang = lang.strip().lower().replace("_", "-")
    if lang in supported:
        return lang
    base = lang.split("-")[0]
    return base if base in supported else DEFAULT_LANGUAGE


def negotiate(accept_language: str | None, supported: tuple[str, ...] = LANGUAGES) -> str:
    """Pick the best supported language from an Accept-Language header."""
    if not accept_language:
        return DEFAULT_LANGUAGE
    weighted: list[tuple[float, int, str]] = []
    for index, part in enumerate(accept_language.split(",")):
        piece = part.strip().split(";")
        quality = 1.0
        for param in piece[1:]:
            if param.strip().startswith("q="):
                try:
                    quality = float(param.strip()[2:])
                except ValueError:
                    quality = 0.0
        weighted.append((-quality, index, piece[0].strip()))
    for _, _, tag in sorted(weighted):
        tag = tag.lower()
        if tag in supported:
            return tag
        if tag.split("-")[0] in supported:
            return tag.split("-")[0]
    return DEFAULT_LANGUAGE


def direction(lang: str) -> str:
    """'rtl' for right-to-left scripts, else 'ltr'."""
    return "rtl" if normalise(lang) in RIGHT_TO_LEFT else "ltr"


def babel_locale(lang: str) -> Locale:
    """The Babel locale used for dates and numbers (Leichte Sprache formats like German)."""
    lang = normalise(lang)
    return Locale.parse("de" if lang == "de-simple" else lang)


def native_name(lang: str) -> str:
    """The language's name in itself, as the kiosk start screen shows it."""
    if lang == "de-simple":
        return translate("de-simple", N_("Easy German"))
    return str(babel_locale(lang).get_display_name(babel_locale(lang))).capitalize()


def format_when(moment: datetime, lang: str, tz: str) -> str:
    """Date and time of a moment in the site's time zone, written the client's way."""
    local = moment.astimezone(ZoneInfo(tz))
    loc = babel_locale(lang)
    return f"{format_date(local, format='full', locale=loc)}, {format_time(local, format='short', locale=loc)}"


def format_short(moment: datetime, lang: str, tz: str) -> str:
    """A compact date and time (for SMS, where every character counts)."""
    local = moment.astimezone(ZoneInfo(tz))
    return str(format_datetime(local, format="short", locale=babel_locale(lang)))
