"""SMS intake: a text whose first word is a keyword (TERMIN, RÜCKRUF and their translations) asks for an
appointment or a callback, through the same `intake.submit` as every other channel.

Both are about the concern "general" ("something else"): staff see the request in their queue and the policy routes
and orders it as any other. A site that does not want requests by SMS takes "sms" off that concern's channels; then
nothing is stored and the client is asked to call or use the website. The policy decides the rest as for every
channel (an appointment request gets proposals for a caseworker; modes are left open). The number wrote to us
itself, so it may get SMS: the request's receipt (an outbox SMS with the reference and the status link) is the
answer, and replies.py adds no second one. A replayed message stores nothing new (the server key is the provider's
message id); a number that opted out (STOP) is not signed up by a keyword: nothing is stored, as nothing could be
sent.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Final

import asyncpg

from scheduler import clients, intake, sites
from scheduler.errors import TooManyRequests, ValidationFailed
from scheduler.policy.rules import Kind

CONCERN: Final = "general"
APPOINTMENT, CALLBACK = Kind.appointment, Kind.callback
# First word as replies.normalise leaves it (casefolded, no punctuation) -> what it asks for, in which language.
# German words work whatever a client's language is (the office's posters say TERMIN and RÜCKRUF).
KEYWORDS: Final[dict[str, tuple[Kind, str]]] = {
    **dict.fromkeys(["termin", "termine"], (APPOINTMENT, "de")),
    **dict.fromkeys(["rückruf", "rueckruf", "ruckruf", "anrufen"], (CALLBACK, "de")),
    **dict.fromkeys(["appointment"], (APPOINTMENT, "en")),
    **dict.fromkeys(["callback"], (CALLBACK, "en")),
    **dict.fromkeys(["запис", "прийом"], (APPOINTMENT, "uk")),
    **dict.fromkeys(["дзвінок", "передзвоніть", "зателефонуйте"], (CALLBACK, "uk")),
    **dict.fromkeys(["запись", "приём", "прием"], (APPOINTMENT, "ru")),
    **dict.fromkeys(["звонок", "перезвоните", "позвоните"], (CALLBACK, "ru")),
    **dict.fromkeys(["randevu"], (APPOINTMENT, "tr")),
    **dict.fromkeys(["ara", "arayın", "arayin", "arama"], (CALLBACK, "tr")),
    **dict.fromkeys(["موعد"], (APPOINTMENT, "ar")),
    **dict.fromkeys(["اتصال", "اتصلوا"], (CALLBACK, "ar")),
    **dict.fromkeys(["نوبت"], (APPOINTMENT, "fa")),
    **dict.fromkeys(["تماس"], (CALLBACK, "fa")),
}
REQUESTED: Final = "requested"      # stored: the receipt SMS answers
REFUSED: Final = "intake_refused"   # not possible by SMS (concern closed to SMS, rate limit, number): say so


def wanted(first_word: str) -> tuple[Kind, str] | None:
    """What a normalised first word asks for, and in which language; None if it is no intake keyword."""
    return KEYWORDS.get(first_word)


async def submit(pool: asyncpg.Pool, *, site_id: int, phone: str, first_word: str, client: clients.Client | None,
                 provider_id: str, now: datetime, reminder_offsets: tuple[timedelta, ...] = (),
                 countries: Collection[str] = ("DE",),
                 limit_phone: Callable[[asyncpg.Pool, str], Awaitable[None]] | None = None) -> str:
    """Ask for an appointment or a callback for the sending number; REQUESTED or REFUSED (then nothing is
    stored: the concern does not take SMS, the number is not allowed or sent too many)."""
    asked = wanted(first_word)
    if asked is None or (client is not None and client.sms_opted_out_at is not None):
        return REFUSED
    kind, language = asked
    if language == "de" and client is not None:
        language = client.language  # a German keyword says nothing about the client's own language
    async with pool.acquire() as conn:
        site = await sites.site_by_id(conn, site_id)
    data = {"concern": CONCERN, "phone": phone, "language": language, "sms_consent": True}
    try:
        parsed = intake.parse_intake(data, kind=kind, channel="sms", default_site=site.code, countries=countries)
        await intake.submit(pool, _with_server_key(parsed, provider_id), now=now, reminder_offsets=reminder_offsets,
                            limit_phone=limit_phone)
    except (ValidationFailed, TooManyRequests):
        return REFUSED
    return REQUESTED


def _with_server_key(parsed: intake.Intake, provider_id: str) -> intake.Intake:
    return replace(parsed, server_key=f"sms-{provider_id[:80]}")
