"""Video rooms: each video appointment's own unguessable room at the site's video service (issue 17).

A site names its service (Jitsi, BigBlueButton, ...) as an https URL template with a `{room}` placeholder
(`sites.video_url_template`); booking a video appointment gives it a room id from `secrets.token_urlsafe`
(192 bits), so the link is the template with the id filled in. A site without a template books video
appointments as before, without a link: the client is told that the caseworker sends it.

Who sees the link, and when (the video service itself cannot be told to expire a room):
- the client on their status page from `OPENS_BEFORE` before the start until the end, and in the calendar
  invite (their own calendar, not a lock screen); never in an SMS, which only points to the status page;
- the caseworker in the calendar and today list, always (they open the room first).
A cancelled appointment shows no link anywhere.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, Protocol

import asyncpg

from scheduler import sites
from scheduler.appointments import Appointment, AppointmentStatus
from scheduler.errors import ValidationFailed
from scheduler.i18n import N_

ROOM_BYTES: Final = 24  # token_urlsafe: 32 characters, 192 random bits
OPENS_BEFORE: Final = timedelta(hours=1)
TEMPLATE_MAX: Final = 300
PLACEHOLDER: Final = "{room}"
# Equals the CHECK in migration 0032: https, a host, a path without spaces or braces apart from {room}.
_TEMPLATE: Final = re.compile(r'^https://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[^\s"<>\\^`{|}]*)?(\{room\}[^\s"<>\\^`{|}]*)*$')
# What the client's status page says, by ClientView.state ("over" says nothing).
CLIENT_TEXTS: Final = {
    "label": N_("Video call"),
    "open": N_("Join the video call"),
    "later": N_("The link to the video call appears here one hour before the appointment."),
    "caseworker": N_("Your caseworker will send you the link to the video call."),
}
INVITE_TEXT: Final = N_("Video call: %(link)s")
BAD_TEMPLATE: Final = N_("Please enter an https address of at most 300 characters that contains {room}, for "
                         "example https://meet.jit.si/jobcenter-{room}.")


def check_template(raw: str) -> str | None:
    """The template as stored (None: no video service); ValidationFailed names the field when it is not usable."""
    value = raw.strip()
    if not value:
        return None
    if len(value) > TEMPLATE_MAX or PLACEHOLDER not in value or not _TEMPLATE.match(value) or len(value) < 16:
        raise ValidationFailed(fields={"video_url_template": BAD_TEMPLATE})
    return value


def new_room() -> str:
    """A fresh room id: unguessable, URL-safe."""
    return secrets.token_urlsafe(ROOM_BYTES)


def link(template: str, room: str) -> str:
    """The room's address at the site's service."""
    return template.replace(PLACEHOLDER, room)


def client_may_see(appointment: Appointment, now: datetime) -> bool:
    """Whether the client's status page shows the link now: a confirmed appointment, from an hour before to its end."""
    return appointment.status is AppointmentStatus.confirmed and \
        appointment.start - OPENS_BEFORE <= now < appointment.end


async def ensure(conn: asyncpg.Connection, booked: Sequence[Appointment]) -> None:
    """Give every video appointment among `booked` its room (once; a repeated call keeps the first)."""
    video = [a for a in booked if a.mode == "video"]
    if not video:
        return
    await conn.executemany(
        "INSERT INTO video_rooms (appointment_id, site_id, room) VALUES ($1, $2, $3) "
        "ON CONFLICT (appointment_id) DO NOTHING",
        [(a.id, a.site_id, new_room()) for a in video])


async def rooms(conn: asyncpg.Connection, appointment_ids: Sequence[int]) -> dict[int, str]:
    """Room ids by appointment id (video appointments only)."""
    rows = await conn.fetch("SELECT appointment_id, room FROM video_rooms WHERE appointment_id = ANY($1::bigint[])",
                            list(appointment_ids))
    return {r["appointment_id"]: r["room"] for r in rows}


class Listed(Protocol):
    """An appointment as a list shows it (appointments.Appointment, today.TodayRow)."""

    @property
    def id(self) -> int: ...
    @property
    def mode(self) -> str: ...
    @property
    def status(self) -> str: ...


async def links(conn: asyncpg.Connection, site_id: int, found: Sequence[Listed]) -> dict[int, str]:
    """Links by appointment id for a caseworker's list: confirmed video appointments of a site with a service."""
    wanted = [a.id for a in found if a.mode == "video" and a.status == AppointmentStatus.confirmed]
    if not wanted:
        return {}
    template = await sites.video_url_template(conn, site_id)
    if template is None:
        return {}
    return {appointment_id: link(template, room) for appointment_id, room in (await rooms(conn, wanted)).items()}


@dataclass(frozen=True, slots=True)
class ClientView:
    """What the client's page says about the video link: the link (only while it may be seen) or why not."""

    state: str  # "open" (url given), "later" (opens at opens_at), "caseworker" (the site has no service), "over"
    url: str | None
    opens_at: datetime


async def client_view(conn: asyncpg.Connection, appointment: Appointment, now: datetime) -> ClientView | None:
    """The video part of the client's status page, or None for an appointment that is not a live video one."""
    if appointment.mode != "video" or appointment.status is not AppointmentStatus.confirmed:
        return None
    opens_at = appointment.start - OPENS_BEFORE
    found = await links(conn, appointment.site_id, [appointment])
    url = found.get(appointment.id)
    if url is None:
        return ClientView("caseworker", None, opens_at)
    if now >= appointment.end:
        return ClientView("over", None, opens_at)
    if not client_may_see(appointment, now):
        return ClientView("later", None, opens_at)
    return ClientView("open", url, opens_at)


async def invite_link(conn: asyncpg.Connection, appointment: Appointment) -> str | None:
    """The link a confirmed video appointment's calendar invite carries (None without a service or room)."""
    return (await links(conn, appointment.site_id, [appointment])).get(appointment.id)
