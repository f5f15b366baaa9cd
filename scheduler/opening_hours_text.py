"""An office's opening hours in the client's language: lines for the start page, one sentence for the phone.

The hours are stored as the admin entered them (`sites.opening_hours`, checked by `site_settings`), e.g.
{"mon-fri": "08:00-12:30", "thu": "14:00-17:00"}. Day names come from the language's locale data (Babel), the
few connecting words from the catalogue, so every client language reads them naturally.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from scheduler.i18n import N_, babel_locale, translate
from scheduler.site_settings import DAYS, ordered_hours

HEADING: Final = N_("Opening hours")
DAY_RANGE: Final = N_("%(first)s to %(last)s")        # Monday to Friday
TIME_RANGE: Final = N_("%(start)s to %(end)s")        # 08:00 to 12:30
SENTENCE: Final = N_("Our opening hours: %(hours)s.")


def _day(key: str, lang: str) -> str:
    return str(babel_locale(lang).days["format"]["wide"][DAYS.index(key)])


def _days(key: str, lang: str) -> str:
    first, _, last = key.partition("-")
    if not last:
        return _day(first, lang)
    return translate(lang, DAY_RANGE, first=_day(first, lang), last=_day(last, lang))


def _spans(spans: str, lang: str) -> str:
    parts = [span.strip().split("-", 1) for span in spans.split(",") if "-" in span]
    return ", ".join(translate(lang, TIME_RANGE, start=start, end=end) for start, end in parts)


def lines(hours: Mapping[str, str], lang: str) -> list[tuple[str, str]]:
    """(days, times) per entry in week order, e.g. ("Montag bis Freitag", "08:00 bis 12:30"); unknown keys skipped."""
    return [(_days(key, lang), _spans(spans, lang)) for key, spans in ordered_hours(hours)
            if all(day in DAYS for day in key.split("-"))]


def sentence(hours: Mapping[str, str], lang: str) -> str | None:
    """The hours as one spoken sentence (the phone greeting); None when the office has entered none."""
    found = lines(hours, lang)
    if not found:
        return None
    return translate(lang, SENTENCE, hours="; ".join(f"{days} {times}" for days, times in found))
