"""Calendar files behind secret links: a client's invite, and each caseworker's subscription feed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Final

from aiohttp import web

from scheduler import appointments, notice_templates, sites, teams, video_rooms
from scheduler import requests as requests_
from scheduler.appointments import AppointmentStatus
from scheduler.i18n import N_, translate
from scheduler.keys import CONFIG, POOL
from scheduler.notify import ical, messages
from scheduler.notify.ical import InviteData

routes = web.RouteTableDef()

FEED_PAST: Final = timedelta(days=7)
FEED_AHEAD: Final = timedelta(days=90)
FEED_SUMMARY: Final = N_("Appointment %(reference)s")
FEED_LANGUAGE: Final = "de"
MODES: Final = {"in_person": N_("in person"), "phone": N_("by phone"), "video": N_("video call")}


def _calendar_response(body: bytes, *, filename: str) -> web.Response:
    return web.Response(
        body=body, content_type="text/calendar", charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "private, no-store",
                 "X-Robots-Tag": "noindex", "Referrer-Policy": "no-referrer"},
    )


@routes.get("/r/{token}/invite.ics", name="client-invite-ics")
async def client_invite(request: web.Request) -> web.Response:
    """The invite for the request's latest appointment: REQUEST, or CANCEL once it is cancelled."""
    token = request.match_info["token"]
    async with request.app[POOL].acquire() as conn:
        found = await requests_.find_by_token(conn, token)
        appointment = await appointments.latest_for_request(conn, found.id) if found else None
        if found is None or appointment is None:
            raise web.HTTPNotFound()
        site = sites.resolved(await sites.site_by_id(conn, appointment.site_id),
                              request.app[CONFIG].server.public_base_url)
        notice = await notice_templates.notice_for_request(conn, found.id)
        video_link = await video_rooms.invite_link(conn, appointment)
    invite = messages.build_invite(appointment, site, language=found.language,
                                   organizer_email=request.app[CONFIG].email.sender, token=token,
                                   description=notice_templates.as_text(notice) if notice else None,
                                   video_link=video_link)
    return _calendar_response(invite.ics, filename="termin.ics")


@routes.get("/staff/feed/{feed_token}.ics", name="staff-feed")
async def staff_feed(request: web.Request) -> web.Response:
    """A caseworker's confirmed appointments, 7 days back to 90 days ahead; no client names or concerns."""
    now = datetime.now(UTC)
    organizer = request.app[CONFIG].email.sender
    async with request.app[POOL].acquire() as conn:
        # The token is the only credential (calendar apps cannot log in); it is 256 bits and unique.
        staff = await teams.feed_owner(conn, request.match_info["feed_token"])
        if staff is None:
            raise web.HTTPNotFound()
        site = await sites.site_by_id(conn, staff.site_id)
        booked = await appointments.list_for_staff(conn, staff_id=staff.id, start=now - FEED_PAST,
                                                   end=now + FEED_AHEAD)
        video = await video_rooms.links(conn, site.id, booked)  # the caseworker opens the room: always shown
        events: list[InviteData] = []
        for a in booked:
            if a.status is not AppointmentStatus.confirmed:
                continue
            request_ = await requests_.get(conn, a.request_id)
            mode = translate(FEED_LANGUAGE, MODES.get(a.mode, a.mode))
            events.append(InviteData(
                uid=a.ical_uid, sequence=a.sequence, start=a.start, end=a.end, tz=site.timezone,
                summary=translate(FEED_LANGUAGE, FEED_SUMMARY, reference=request_.reference),
                location=f"{a.room} ({mode})" if a.room else mode, description=None,
                organizer_name=site.name, organizer_email=organizer, url=video.get(a.id),
            ))
    body = ical.feed(events, name=f"{site.name}: {staff.display_name}", stamp=now)
    return _calendar_response(body, filename="termine.ics")
