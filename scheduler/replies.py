"""Two-way SMS: what a client's reply means, and doing it.

A reply acts only on that phone's most recent open request (or callback) at the site that last wrote to
the number. Every inbound message is stored once by its provider id, so a replayed webhook does nothing.
Unknown text gets one short help answer, at most one a day (HELP_DAILY), and no answer of that sort
follows another within HELP_QUIET, so two automatic responders cannot keep each other busy. A keyword such
as TERMIN or RÜCKRUF asks for an appointment or a callback (sms_intake.py). A number whose SMS consent came
only from a form (anyone can type any number) answers 1 to agree; until then it got only the receipt (see
notices.py).
"""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final

import asyncpg

from scheduler import (
    appointments,
    client_actions,
    clients,
    freed_slots,
    notices,
    outbox,
    sites,
    slot_offers,
    sms_intake,
)
from scheduler import requests as requests_
from scheduler.errors import InvalidTransition
from scheduler.i18n import DEFAULT_LANGUAGE, N_, translate
from scheduler.notify import messages

log = logging.getLogger(__name__)

HELP_QUIET: Final = timedelta(minutes=10)
HELP_DAILY: Final = timedelta(days=1)  # the help text for unknown text, per number (issue 17)
ACTOR: Final = "client:sms"
# Answers that do not come from an action: rate limited per number so responders cannot loop.
HELP_LIKE: Final = ("help", "nothing_open", "too_late", "not_scheduled", "callback_open", sms_intake.REFUSED)
# Results answered by a message of their own (the request's receipt in the outbox), not by a reply.
ANSWERED_ELSEWHERE: Final = ("silent", sms_intake.REQUESTED)


class Action(StrEnum):
    confirm = "confirm"
    cancel = "cancel"
    another_time = "another_time"
    stop = "stop"
    start = "start"
    take = "take"  # a freed time offered by SMS (slot_offers): by the word below or the offer's code
    request = "request"  # a new appointment or callback request by keyword (sms_intake.KEYWORDS)
    unknown = "unknown"


# Normalised (casefolded, no punctuation) first word of a reply. Digits in any script count.
KEYWORDS: Final[dict[str, Action]] = {
    **dict.fromkeys(["1", "ja", "j", "jo", "jawohl", "yes", "y", "ok", "okay", "ок", "так", "да", "нуда", "نعم",
                     "evet", "tamam", "بله", "بلی", "آره", "اوکی"], Action.confirm),
    **dict.fromkeys(["2", "nein", "n", "absagen", "absage", "stornieren", "no", "cancel", "ні", "нi", "нет", "не",
                     "скасувати", "отменить", "отмена", "لا", "إلغاء", "الغاء", "hayır", "hayir", "iptal", "نه",
                     "لغو", "کنسل"], Action.cancel),
    **dict.fromkeys(["3", "anderer", "andere", "anders", "verschieben", "another", "other", "later", "інший",
                     "інша", "інше", "другой", "другое", "другая", "آخر", "وقت", "başka", "baska", "diğer", "diger",
                     "دیگر", "زمان"], Action.another_time),
    **dict.fromkeys(["stop", "stopp", "stopall", "unsubscribe", "end", "quit", "abmelden", "стоп", "توقف", "إيقاف",
                     "ایست"], Action.stop),
    **dict.fromkeys(["start", "unstop", "anmelden", "старт", "ابدأ", "شروع"], Action.start),
    # The word each language's offer SMS names (NEHMEN, TAKE, БЕРУ, ALIRIM, احجز, رزرو), kept apart from the
    # words above ("آخر" is "another", so Arabic says "book" rather than "I take"), and a few near forms.
    **dict.fromkeys(["nehmen", "nehme", "take", "беру", "візьму", "возьму", "alırım", "alirim", "al", "احجز",
                     "أحجز", "رزرو"], Action.take),
}

REPLIES: Final[dict[str, str]] = {
    "confirmed": N_("Thank you. We have noted that you will come."),
    "cancelled": N_("Your appointment is cancelled. Thank you for telling us."),
    "withdrawn": N_("Your request is cancelled. Thank you for telling us."),
    "another_time": N_("OK. We will offer you another time by SMS."),
    "callback_cancelled": N_("OK. We will not call you back."),
    "callback_open": N_("We will call you back. To cancel, reply 2."),
    "not_scheduled": N_("You have no appointment yet. We will send you one by SMS."),
    "nothing_open": N_("We found nothing open for this number. Please use the link in our SMS."),
    "too_late": N_("This can no longer be changed by SMS. Please use the link in our SMS."),
    "stop": N_("You will get no more SMS from us. Reply START to get them again."),
    "start": N_("You will get SMS from us again."),
    "sms_on": N_("Thank you. You will get SMS about your appointment."),
    "help": N_("Reply 1 = OK, 2 = cancel, 3 = other time, STOP = no more SMS. "
               "For an appointment, send APPOINTMENT; for a callback, CALLBACK."),
    sms_intake.REFUSED: N_("Sorry, we could not take your request by SMS. Please call us or use our website."),
    "offer_taken": N_("Thank you. The time is yours. You will get a confirmation by SMS."),
    "offer_gone": N_("Sorry, this time has already been given away. Your request stays open."),
    "cancel_by_link": N_("This is a mandatory appointment. To cancel it, please open this link and confirm there: "
                         "%(link)s"),
}


@dataclass(frozen=True, slots=True)
class ReplyOutcome:
    action: Action
    result: str            # what happened: a key of REPLIES, or "silent"
    reply: str | None      # the text to answer with, in the client's language; None = answer nothing
    language: str


def normalise(body: str) -> str:
    """Casefolded words without punctuation; digits of any script become 0-9."""
    text = unicodedata.normalize("NFKC", body).casefold()
    out: list[str] = []
    for ch in text:
        category = unicodedata.category(ch)
        if ch.isdigit():
            out.append(str(unicodedata.digit(ch, 0)))
        elif category.startswith(("L", "N")):
            out.append(ch)
        elif category == "Mn":
            continue  # Arabic harakat, tatweel-like marks
        else:
            out.append(" ")
    return " ".join("".join(out).split())


def parse(body: str) -> Action:
    """The action a reply asks for (first word decides; 'ja bitte', '1.' and 'ТАК!' all confirm)."""
    words = normalise(body).split()
    if not words:
        return Action.unknown
    if words[0] not in KEYWORDS and sms_intake.wanted(words[0]) is not None:
        return Action.request
    if words[0] not in KEYWORDS and slot_offers.CODE.fullmatch(words[0]):
        return Action.take  # the 4-letter code of an offer on its own
    return KEYWORDS.get(words[0], Action.unknown)


def offer_code(body: str) -> str | None:
    """The offer code a reply names ('NEHMEN BKTR', 'bktr'), upper-case, if any."""
    return next((w.upper() for w in normalise(body).split() if slot_offers.CODE.fullmatch(w)), None)


async def _latest_open(conn: asyncpg.Connection, client_id: int) -> tuple[str, int] | None:
    # Read-only lookup across requests and callbacks; the changes themselves go through client_actions.
    row = await conn.fetchrow(
        """
        SELECT kind, id FROM (
            SELECT 'request' AS kind, id, created_at FROM requests
            WHERE client_id = $1 AND status IN ('received', 'proposed', 'scheduled')
            UNION ALL
            SELECT 'callback', id, created_at FROM callbacks WHERE client_id = $1 AND status IN ('open', 'in_progress')
        ) open_items ORDER BY created_at DESC, id DESC LIMIT 1
        """,
        client_id,
    )
    return (row["kind"], row["id"]) if row else None


async def _store(conn: asyncpg.Connection, *, site_id: int, provider_id: str, from_phone: str, to_phone: str,
                 body: str, action: Action, now: datetime) -> int | None:
    inbound_id: int | None = await conn.fetchval(
        """
        INSERT INTO inbound_messages (site_id, provider_id, from_phone, to_phone, body, action, created_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7)
        ON CONFLICT (provider_id) DO NOTHING RETURNING id
        """,
        site_id, provider_id, from_phone, to_phone, body[:1600], action.value, now,
    )
    return inbound_id


async def _helped_recently(conn: asyncpg.Connection, *, phone: str, inbound_id: int, now: datetime,
                           result: str) -> bool:
    found = await conn.fetchval(
        """
        SELECT EXISTS (SELECT 1 FROM inbound_messages WHERE from_phone = $1 AND id <> $2
                       AND (created_at > $3 AND split_part(action, ':', 2) = ANY($4::text[])
                            OR created_at > $5 AND split_part(action, ':', 2) = 'help'))
        """,
        phone, inbound_id, now - HELP_QUIET, list(HELP_LIKE), now - HELP_DAILY if result == "help" else now,
    )
    return bool(found)


async def handle(pool: asyncpg.Pool, *, provider_id: str, from_phone: str, to_phone: str, body: str,
                 now: datetime, default_site: str, reminder_offsets: tuple[timedelta, ...],
                 countries: Collection[str] = ("DE",),
                 limit_phone: Callable[[asyncpg.Pool, str], Awaitable[None]] | None = None,
                 public_base_url: str = "", called_site: int | None = None) -> ReplyOutcome | None:
    """Store and carry out one inbound SMS; None when this message id was already handled.

    The office is `called_site` (the site whose number was texted) when known, else the one that last texted this
    number, else `default_site`.

    `countries` and `limit_phone` apply to new requests by keyword as to every intake (see intake.submit)."""
    action = parse(body)
    async with pool.acquire() as conn:
        site_id = called_site or await outbox.latest_sms_site(conn, from_phone)
        if site_id is None:
            site = await sites.site_by_code(conn, default_site)
            if site is None:
                raise LookupError(f"default site {default_site!r} is missing")
            site_id = site.id
        inbound_id = await _store(conn, site_id=site_id, provider_id=provider_id, from_phone=from_phone,
                                  to_phone=to_phone, body=body, action=action, now=now)
        if inbound_id is None:
            return None
        client = await clients.find_by_phone(conn, site_id=site_id, phone=from_phone)
    language = client.language if client else DEFAULT_LANGUAGE
    try:
        if action is Action.request:
            first_word = normalise(body).split()[0]
            language = client.language if client else sms_intake.KEYWORDS[first_word][1]
            result = await sms_intake.submit(pool, site_id=site_id, phone=from_phone, first_word=first_word,
                                             client=client, provider_id=provider_id, now=now,
                                             reminder_offsets=reminder_offsets, countries=countries,
                                             limit_phone=limit_phone)
        else:
            result = await _act(pool, action=action, client=client, phone=from_phone, now=now,
                                reminder_offsets=reminder_offsets, code=offer_code(body))
    except Exception:
        # Let the provider's retry redo it: forget that we saw this message id.
        async with pool.acquire() as conn:
            await conn.execute("DELETE FROM inbound_messages WHERE id = $1", inbound_id)
        raise
    async with pool.acquire() as conn:
        if result in HELP_LIKE and await _helped_recently(conn, phone=from_phone, inbound_id=inbound_id, now=now,
                                                          result=result):
            result = "silent"
        await conn.execute("UPDATE inbound_messages SET action = $2 WHERE id = $1", inbound_id,
                           f"{action.value}:{result}")
    opted_out = client is not None and client.sms_opted_out_at is not None and action is not Action.start
    link = await _cancel_link(pool, client, public_base_url) if result == "cancel_by_link" and client else None
    reply = None if result in ANSWERED_ELSEWHERE or (opted_out and action is not Action.stop) \
        else translate(language, REPLIES[result], **({"link": link} if link else {}))
    log.info("inbound sms handled", extra={"inbound_id": inbound_id, "action": action.value, "result": result})
    return ReplyOutcome(action, result, reply, language)


async def _act(pool: asyncpg.Pool, *, action: Action, client: clients.Client | None, phone: str, now: datetime,
               reminder_offsets: tuple[timedelta, ...], code: str | None = None) -> str:
    if action is Action.stop:
        async with pool.acquire() as conn, conn.transaction():
            await clients.set_sms_opt_out(conn, phone=phone, at=now)
            await outbox.cancel_pending_for_recipient(conn, channel="sms", recipient=phone,
                                                      reason="client replied STOP")
        return "stop"
    if action is Action.start:
        async with pool.acquire() as conn:
            await clients.set_sms_opt_out(conn, phone=phone, at=None)
        return "start"
    if action is Action.unknown or client is None:
        return "help" if action is Action.unknown else "nothing_open"
    if action is Action.take:
        return await _take(pool, client=client, code=code, now=now, reminder_offsets=reminder_offsets)
    if action is Action.confirm and not client.sms_consent and \
            await _opt_in(pool, client=client, now=now, reminder_offsets=reminder_offsets):
        return "sms_on"
    async with pool.acquire() as conn:
        target = await _latest_open(conn, client.id)
    if target is None:
        return "nothing_open"
    kind, item_id = target
    try:
        if kind == "callback":
            if action is Action.cancel:
                await client_actions.cancel_callback(pool, callback_id=item_id, actor=ACTOR)
                return "callback_cancelled"
            return "callback_open"
        return await _act_on_request(pool, action=action, request_id=item_id, now=now,
                                     reminder_offsets=reminder_offsets)
    except InvalidTransition:
        return "too_late"


async def _opt_in(pool: asyncpg.Pool, *, client: clients.Client, now: datetime,
                  reminder_offsets: tuple[timedelta, ...]) -> bool:
    """The number agrees to SMS; True when a booked appointment it was not told of yet is sent now.

    Otherwise the reply goes on as usual (so "1" still answers "no appointment yet").
    """
    assert client.phone
    async with pool.acquire() as conn, conn.transaction():
        if not await clients.confirm_sms(conn, site_id=client.site_id, phone=client.phone):
            return False
        target = await _latest_open(conn, client.id)
        if target is None or target[0] != "request":
            return False
        appointment = await appointments.latest_for_request(conn, target[1])
        if appointment is None or appointment.status is not appointments.AppointmentStatus.confirmed \
                or appointment.start <= now:
            return False
        request = await requests_.get(conn, target[1])
        await notices.appointment_confirmed(conn, client=await clients.get(conn, client.id), appointment=appointment,
                                            link_token=request.link_token, reminder_offsets=reminder_offsets, now=now)
        return True


async def _take(pool: asyncpg.Pool, *, client: clients.Client, code: str | None, now: datetime,
                reminder_offsets: tuple[timedelta, ...]) -> str:
    """Accept the freed time offered to this number (the one with this code, or the newest)."""
    async with pool.acquire() as conn:
        found = await slot_offers.addressed_to_client(conn, client.id, code=code)
    if found is None:
        return "help" if code else "nothing_open"
    offer, request_id = found
    taken = await freed_slots.accept(pool, offer_id=offer.id, request_id=request_id, actor=ACTOR, now=now,
                                     reminder_offsets=reminder_offsets)
    return "offer_taken" if taken is not None else "offer_gone"


async def _act_on_request(pool: asyncpg.Pool, *, action: Action, request_id: int, now: datetime,
                          reminder_offsets: tuple[timedelta, ...]) -> str:
    if action is Action.confirm:
        try:
            await client_actions.confirm(pool, request_id=request_id, actor=ACTOR)
        except InvalidTransition:
            return "not_scheduled"
        return "confirmed"
    if action is Action.cancel:
        async with pool.acquire() as conn:
            current = await appointments.latest_for_request(conn, request_id)
            mandatory = (await requests_.get(conn, request_id)).invitation == "mandatory"
        if mandatory:
            # A summons (§ 59 SGB II) is not cancelled on the sender number alone, which anyone may use or
            # spoof: the client confirms on their own page, which needs the link only they received.
            return "cancel_by_link"
        await client_actions.cancel(pool, request_id=request_id, actor=ACTOR, now=now)
        live = current is not None and current.status is appointments.AppointmentStatus.confirmed
        return "cancelled" if live else "withdrawn"
    await client_actions.another_time(pool, request_id=request_id, actor=ACTOR, now=now,
                                      reminder_offsets=reminder_offsets)
    return "another_time"


async def _cancel_link(pool: asyncpg.Pool, client: clients.Client, deployment_url: str) -> str:
    """The status page of the client's open request, where a mandatory appointment can be cancelled."""
    async with pool.acquire() as conn:
        target = await _latest_open(conn, client.id)
        assert target is not None and target[0] == "request"
        request = await requests_.get(conn, target[1])
        site = sites.resolved(await sites.site_by_id(conn, request.site_id), deployment_url)
    return messages.manage_link(site, request.link_token)
