"""SMS texts: an outbox row (kind + payload + language) becomes the short text the client receives.

Texts come from the catalogues (msgid = the English text below). Dates are written in the site's time
zone. An SMS never names the concern, the client or a customer number: a phone screen is not private.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Final

import asyncpg

from scheduler import appointments, availability, callbacks
from scheduler.appointments import Appointment, AppointmentStatus
from scheduler.availability import Site
from scheduler.callbacks import CallbackStatus
from scheduler.errors import NotFound
from scheduler.i18n import N_, format_short, translate
from scheduler.notify import ical
from scheduler.notify.ical import InviteData, Method
from scheduler.notify.segments import count_segments

TEXTS: Final[dict[str, str]] = {
    "sms.request_received": N_("Jobcenter: We have your request, ref. %(reference)s. "
                               "We will send you an appointment. %(link)s"),
    "sms.callback_received": N_("Jobcenter: We will call you back, ref. %(reference)s. %(link)s"),
    "sms.appointment_confirmed": N_("Jobcenter appointment: %(when)s, %(place)s. "
                                    "Reply 1 = OK, 2 = cancel, 3 = other time. %(link)s"),
    "sms.appointment_moved": N_("Jobcenter: Your appointment is now %(when)s, %(place)s. %(link)s"),
    "sms.appointment_cancelled": N_("Jobcenter: Your appointment on %(when)s is cancelled. %(link)s"),
    "sms.reminder": N_("Reminder: Jobcenter appointment %(when)s, %(place)s. Reply 2 to cancel. %(link)s"),
    "sms.callback_missed": N_("Jobcenter: We tried to call you. We will try again. %(link)s"),
}

PLACES: Final[dict[str, str]] = {
    "in_person": N_("room %(room)s"),
    "in_person_no_room": N_("at the Jobcenter"),
    "phone": N_("by phone, we will call you"),
    "video": N_("video call, see link"),
}

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


def place(appointment: Appointment, language: str) -> str:
    """Where (room) or how (phone, video) the appointment happens, in the client's language."""
    if appointment.mode == "in_person":
        if appointment.room:
            return translate(language, PLACES["in_person"], room=appointment.room)
        return translate(language, PLACES["in_person_no_room"])
    return translate(language, PLACES.get(appointment.mode, PLACES["in_person_no_room"]))


def text(kind: str, language: str, *, link: str, when: str = "", where: str = "", reference: str = "") -> str:
    """The text of one SMS kind in a language, with its parameters filled in."""
    return translate(language, TEXTS[kind], when=when, place=where, link=link, reference=reference)


def _rendered(body: str) -> Rendered:
    info = count_segments(body)
    return Rendered(body=body, encoding=info.encoding, segments=info.segments)


async def render(conn: asyncpg.Connection, *, site: Site, kind: str, payload: dict[str, object], language: str,
                 now: datetime) -> Rendered | None:
    """The SMS for an outbox row, or None when it is out of date (appointment gone, callback closed)."""
    if kind not in TEXTS:
        raise ValueError(f"no SMS text for kind {kind!r}")
    link = manage_link(site, str(payload.get("token", "")))
    if kind in ("sms.request_received", "sms.callback_received"):
        return _rendered(text(kind, language, link=link, reference=str(payload.get("reference", ""))))
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
    when = format_short(appointment.start, language, site.timezone)
    return _rendered(text(kind, language, link=link, when=when, where=place(appointment, language)))


async def site_for(conn: asyncpg.Connection, site_id: int, cache: dict[int, Site]) -> Site:
    """A site, read once per dispatch run."""
    if site_id not in cache:
        cache[site_id] = await availability.site_by_id(conn, site_id)
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
                link: str | None) -> InviteData:
    """What a client's calendar entry says: time, place, organizer; never the concern or a name."""
    where = place(appointment, language)
    location = f"{where}, {site.address}" if appointment.mode == "in_person" and site.address else where
    return InviteData(
        uid=appointment.ical_uid, sequence=appointment.sequence, start=appointment.start, end=appointment.end,
        tz=site.timezone, summary=translate(language, SUMMARY), location=location, description=None,
        organizer_name=site.name, organizer_email=organizer_email, url=link,
    )


def invite_method(appointment: Appointment) -> Method:
    """CANCEL for a cancelled appointment, else REQUEST (new or moved: the SEQUENCE tells them apart)."""
    return "CANCEL" if appointment.status is AppointmentStatus.cancelled else "REQUEST"


def build_invite(appointment: Appointment, site: Site, *, language: str, organizer_email: str,
                 token: str | None, attendee: str | None = None) -> Invite:
    """The iTIP invite for an appointment as it is now, with a short mail text around it."""
    link = manage_link(site, token) if token else None
    data = invite_data(appointment, site, language=language, organizer_email=organizer_email, link=link)
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
    return build_invite(appointment, site, language=language, organizer_email=organizer_email, token=token,
                        attendee=attendee)
