"""SMS texts: an outbox row (kind + payload + language) becomes the short text the client receives.

Texts come from the catalogues (msgid = the English text below). Dates are written in the site's time
zone. An SMS never names the concern, the client or a customer number: a phone screen is not private.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Final

import asyncpg

from scheduler import appointments, callbacks, notice_templates, sites, slot_offers, video_rooms
from scheduler.appointments import Appointment, AppointmentStatus
from scheduler.callbacks import CallbackStatus
from scheduler.errors import NotFound
from scheduler.i18n import N_, format_short, translate
from scheduler.notify import group_session_texts, ical
from scheduler.notify.ical import InviteData, Method
from scheduler.notify.segments import count_segments
from scheduler.sites import Site
from scheduler.slot_offers import SlotOffer

TEXTS: Final[dict[str, str]] = {
    # Receipts may reach a number someone else typed in: they say how to agree (1) or refuse (STOP).
    "sms.request_received": N_("Jobcenter: We have your request, ref. %(reference)s. "
                               "We will send you an appointment. %(link)s Reply 1 = SMS OK, STOP = no SMS."),
    "sms.callback_received": N_("Jobcenter: We will call you back, ref. %(reference)s. %(link)s "
                                "Reply 1 = SMS OK, STOP = no SMS."),
    "sms.appointment_confirmed": N_("Jobcenter appointment: %(when)s, %(place)s. "
                                    "Reply 1 = OK, 2 = cancel, 3 = other time. %(link)s"),
    "sms.appointment_moved": N_("Jobcenter: Your appointment is now %(when)s, %(place)s. %(link)s"),
    "sms.appointment_cancelled": N_("Jobcenter: Your appointment on %(when)s is cancelled. %(link)s"),
    "sms.reminder": N_("Reminder: Jobcenter appointment %(when)s, %(place)s. Reply 2 to cancel. %(link)s"),
    "sms.callback_missed": N_("Jobcenter: We tried to call you. We will try again. %(link)s"),
    # A request that ended without an appointment: %(link)s is the client's page, which says what happened and
    # leads to a new request.
    "sms.request_expired": N_("Jobcenter: We could not offer you an appointment in time for request %(reference)s, "
                              "so it has ended. You may ask again at any time, online or at the Jobcenter. %(link)s"),
    "sms.request_declined": N_("Jobcenter: Your request %(reference)s was closed without an appointment. "
                               "%(reason)s Questions or a new request: online or at the Jobcenter. %(link)s"),
}

# A mandatory invitation's booking SMS: only a short pointer to the notice behind the link (issue 15).
MANDATORY_CONFIRMED: Final = N_("Jobcenter: Mandatory appointment %(when)s, %(place)s. Please read the notice on "
                                "legal consequences: %(link)s Reply 1 = OK, 3 = other time.")

# A freed time offered by SMS (slot_offers): each language names its own reply word (replies.KEYWORDS, "take");
# the 4-letter code alone works too. Who answers after someone else gets the second text.
OFFER_TEXTS: Final[dict[str, str]] = {
    "sms.slot_offer": N_("Jobcenter: A time is free: %(when)s, %(place)s. Do you want it? Reply TAKE %(code)s "
                         "or open %(link)s The first to answer gets it."),
    "sms.slot_offer_gone": N_("Jobcenter: The free time %(when)s has already been given away. Your request stays "
                              "open. %(link)s"),
}

# The reason category of a declined request (requests.DeclineCategory), as the client's SMS says it.
DECLINE_REASONS: Final[dict[str, str]] = {
    "not_responsible": N_("Reason: another office is responsible for this; we can tell you which one."),
    "duplicate": N_("Reason: you already have an open request with us; it continues."),
    "resolved": N_("Reason: your concern was settled without an appointment."),
    "other": N_("Reason: please ask us, we will explain."),
}

PLACES: Final[dict[str, str]] = {
    "in_person": N_("room %(room)s"),
    "in_person_no_room": N_("at the Jobcenter"),
    "phone": N_("by phone, we will call you"),
    "video": N_("video call, see link"),
}

_GAPS: Final = re.compile(r" {2,}")  # what an empty %(link)s leaves between two sentences

# Kinds that talk about an appointment that must still be live when the message goes out.
LIVE_APPOINTMENT_KINDS: Final = frozenset({"sms.appointment_confirmed", "sms.appointment_moved", "sms.reminder"})


@dataclass(frozen=True, slots=True)
class Rendered:
    body: str
    encoding: str
    segments: int


def manage_link(site: Site, token: str) -> str:
    """The client's own page for their request (the token is the only key)."""
    return f"{site.public_base_url.rstrip('/')}/r/{token}"


def place(appointment: Appointment | SlotOffer, language: str) -> str:
    """Where (room) or how (phone, video) the appointment happens, in the client's language."""
    if appointment.mode == "in_person":
        if appointment.room:
            return translate(language, PLACES["in_person"], room=appointment.room)
        return translate(language, PLACES["in_person_no_room"])
    return translate(language, PLACES.get(appointment.mode, PLACES["in_person_no_room"]))


def text(kind: str, language: str, *, link: str, when: str = "", where: str = "", reference: str = "") -> str:
    """The text of one SMS kind in a language, with its parameters filled in; without a link, the link is left out."""
    body = translate(language, TEXTS[kind], when=when, place=where, link=link, reference=reference)
    return body if link else _GAPS.sub(" ", body).strip(" ")


def ended_text(kind: str, language: str, *, link: str, reference: str, category: str = "other") -> str:
    """The SMS for a request that ended without an appointment (expired or declined with a reason category)."""
    reason = translate(language, DECLINE_REASONS.get(category, DECLINE_REASONS["other"]))
    body = translate(language, TEXTS[kind], reference=reference, reason=reason, link=link)
    return body if link else _GAPS.sub(" ", body).strip(" ")


def _rendered(body: str) -> Rendered:
    info = count_segments(body)
    return Rendered(body=body, encoding=info.encoding, segments=info.segments)


def _rendered_or_none(body: str | None) -> Rendered | None:
    return None if body is None else _rendered(body)


async def render(conn: asyncpg.Connection, *, site: Site, kind: str, payload: dict[str, object], language: str,
                 now: datetime) -> Rendered | None:
    """The SMS for an outbox row, or None when it is out of date (appointment gone, callback closed)."""
    if kind in group_session_texts.TEXTS:  # seats of group sessions (issue 17)
        return _rendered_or_none(await group_session_texts.render(conn, site=site, kind=kind, payload=payload,
                                                                  language=language, now=now))
    return await _render_request_sms(conn, site=site, kind=kind, payload=payload, language=language, now=now)


async def _render_request_sms(conn: asyncpg.Connection, *, site: Site, kind: str, payload: dict[str, object],
                              language: str, now: datetime) -> Rendered | None:
    if kind not in TEXTS and kind not in OFFER_TEXTS:
        raise ValueError(f"no SMS text for kind {kind!r}")
    # A cleared token (erased, retention, expiry) means there is no page to link to: the text goes without it.
    token = payload.get("token")
    link = manage_link(site, str(token)) if token else ""
    if kind in OFFER_TEXTS:
        return await _render_offer(conn, site=site, kind=kind, payload=payload, language=language, link=link,
                                   now=now)
    if kind in ("sms.request_received", "sms.callback_received"):
        return _rendered(text(kind, language, link=link, reference=str(payload.get("reference", ""))))
    if kind in ("sms.request_expired", "sms.request_declined"):
        return _rendered(ended_text(kind, language, link=link, reference=str(payload.get("reference", "")),
                                    category=str(payload.get("category") or "other")))
    if kind == "sms.callback_missed":
        try:
            callback = await callbacks.get(conn, int(str(payload["callback_id"])))
        except NotFound:
            return None
        if callback.status is CallbackStatus.cancelled:
            return None
        return _rendered(text(kind, language, link=link))
    try:
        appointment = await appointments.get(conn, int(str(payload["appointment_id"])))
    except NotFound:
        return None
    if kind in LIVE_APPOINTMENT_KINDS and (appointment.status is not AppointmentStatus.confirmed
                                           or appointment.start <= now):
        return None
    return _rendered(await _appointment_text(conn, site=site, kind=kind, appointment=appointment,
                                             language=language, link=link))


async def _appointment_text(conn: asyncpg.Connection, *, site: Site, kind: str, appointment: Appointment,
                            language: str, link: str) -> str:
    when = format_short(appointment.start, language, site.timezone)
    if kind == "sms.appointment_confirmed" and link and \
            await notice_templates.kind_for_request(conn, appointment.request_id) == "mandatory":
        return translate(language, MANDATORY_CONFIRMED, when=when, place=place(appointment, language), link=link)
    return text(kind, language, link=link, when=when, where=place(appointment, language))


async def _render_offer(conn: asyncpg.Connection, *, site: Site, kind: str, payload: dict[str, object],
                        language: str, link: str, now: datetime) -> Rendered | None:
    """An offer that is no longer open is not sent any more (someone took it, or it ended)."""
    try:
        offer = await slot_offers.get(conn, int(str(payload["offer_id"])))
    except NotFound:
        return None
    if kind == "sms.slot_offer" and not offer.is_open(now):
        return None
    body = translate(language, OFFER_TEXTS[kind], when=format_short(offer.start, language, site.timezone),
                     place=place(offer, language), code=offer.code, link=link)
    return _rendered(body if link else _GAPS.sub(" ", body).strip(" "))


async def site_for(conn: asyncpg.Connection, site_id: int, cache: dict[int, Site], deployment_url: str) -> Site:
    """A site with its client-facing URL resolved (sites.public_url), read once per dispatch run."""
    if site_id not in cache:
        cache[site_id] = sites.resolved(await sites.site_by_id(conn, site_id), deployment_url)
    return cache[site_id]


# -- calendar invites ---------------------------------------------------------------------------

SUMMARY: Final = N_("Jobcenter appointment")
MAIL_TEXT: Final = N_("Your Jobcenter appointment: %(when)s, %(place)s. The invitation is attached. %(link)s")
MAIL_TEXT_CANCELLED: Final = N_("Your Jobcenter appointment on %(when)s is cancelled. %(link)s")
MAIL_SUBJECT_CANCELLED: Final = N_("Jobcenter appointment cancelled")


@dataclass(frozen=True, slots=True)
class Invite:
    method: str
    ics: bytes
    subject: str
    text: str


def invite_data(appointment: Appointment, site: Site, *, language: str, organizer_email: str,
                link: str | None, description: str | None = None, video_link: str | None = None) -> InviteData:
    """What a client's calendar entry says: time, place, organizer; never the concern or a name, except inside an
    invitation's notice (`description`), the legal text the client must be given (issue 15). A video
    appointment's room link (video_rooms) is its LOCATION and opens the DESCRIPTION."""
    where = place(appointment, language)
    location = f"{where}, {site.address}" if appointment.mode == "in_person" and site.address else where
    if appointment.mode == "video" and appointment.status is AppointmentStatus.confirmed:
        video = translate(language, video_rooms.INVITE_TEXT, link=video_link) if video_link else \
            translate(language, video_rooms.CLIENT_TEXTS["caseworker"])
        location, description = video_link or where, video + (f"\n\n{description}" if description else "")
    return InviteData(
        uid=appointment.ical_uid, sequence=appointment.sequence, start=appointment.start, end=appointment.end,
        tz=site.timezone, summary=translate(language, SUMMARY), location=location, description=description,
        organizer_name=site.name, organizer_email=organizer_email, url=link,
    )


def invite_method(appointment: Appointment) -> Method:
    """CANCEL for a cancelled appointment, else REQUEST (new or moved: the SEQUENCE tells them apart)."""
    return "CANCEL" if appointment.status is AppointmentStatus.cancelled else "REQUEST"


def build_invite(appointment: Appointment, site: Site, *, language: str, organizer_email: str,
                 token: str | None, attendee: str | None = None, description: str | None = None,
                 video_link: str | None = None) -> Invite:
    """The iTIP invite for an appointment as it is now, with a short mail text around it (and an invitation's
    notice as its DESCRIPTION)."""
    link = manage_link(site, token) if token else None
    data = invite_data(appointment, site, language=language, organizer_email=organizer_email, link=link,
                       description=description, video_link=video_link)
    if attendee:
        data = replace(data, attendee_phone_or_email=attendee)
    method = invite_method(appointment)
    ics = ical.invite(data, method=method, stamp=appointment.updated_at)
    when = format_short(appointment.start, language, site.timezone)
    params = {"when": when, "place": place(appointment, language), "link": link or ""}
    if method == "CANCEL":
        return Invite(method, ics, translate(language, MAIL_SUBJECT_CANCELLED),
                      translate(language, MAIL_TEXT_CANCELLED, **params).strip())
    return Invite(method, ics, translate(language, SUMMARY), translate(language, MAIL_TEXT, **params).strip())


async def render_invite(conn: asyncpg.Connection, *, site: Site, payload: dict[str, object], language: str,
                        organizer_email: str, attendee: str) -> Invite | None:
    """The invite for an email.invite outbox row, or None when the appointment is gone."""
    try:
        appointment = await appointments.get(conn, int(str(payload["appointment_id"])))
    except NotFound:
        return None
    token = str(payload["token"]) if payload.get("token") else None
    notice = await notice_templates.notice_for_request(conn, appointment.request_id)
    return build_invite(appointment, site, language=language, organizer_email=organizer_email, token=token,
                        attendee=attendee, description=notice_templates.as_text(notice) if notice else None,
                        video_link=await video_rooms.invite_link(conn, appointment))
