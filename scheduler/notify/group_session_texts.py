"""SMS texts about group-session seats: the booking confirmation (with reference and link) and the cancellation.

Like every SMS, they never name the client or the topic (a phone screen is not private): only when, where and
the link to the client's page, which shows the topic.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Final

import asyncpg

from scheduler import group_session_seats, group_sessions
from scheduler.errors import NotFound
from scheduler.group_session_seats import SeatStatus
from scheduler.group_sessions import SessionStatus
from scheduler.i18n import N_, format_short, translate
from scheduler.sites import Site

TEXTS: Final[dict[str, str]] = {
    group_session_seats.BOOKED_KIND: N_("Jobcenter information session: %(when)s, room %(room)s. Your seat is "
                                        "booked, ref. %(reference)s. %(link)s Reply STOP = no SMS."),
    group_session_seats.CANCELLED_KIND: N_("Jobcenter: The information session on %(when)s is cancelled. "
                                           "%(link)s"),
}

_GAPS: Final = re.compile(r" {2,}")


def seat_link(site: Site, token: str) -> str:
    """The client's page for their seat."""
    return f"{site.public_base_url.rstrip('/')}/g/{token}"


async def render(conn: asyncpg.Connection, *, site: Site, kind: str, payload: dict[str, object], language: str,
                 now: datetime) -> str | None:
    """The text of a seat message, or None when it is out of date (seat given back; a confirmation for a session
    that was cancelled or is over)."""
    try:
        seat = await group_session_seats.get(conn, int(str(payload["seat_id"])))
        session = await group_sessions.get(conn, seat.session_id)
    except NotFound:
        return None
    if kind == group_session_seats.BOOKED_KIND and (seat.status is not SeatStatus.booked
                                                    or session.status is not SessionStatus.scheduled
                                                    or session.start <= now):
        return None
    token = payload.get("token")
    link = seat_link(site, str(token)) if token else ""
    body = translate(language, TEXTS[kind], when=format_short(session.start, language, site.timezone),
                     room=session.room, reference=seat.reference, link=link)
    return body if link else _GAPS.sub(" ", body).strip(" ")
