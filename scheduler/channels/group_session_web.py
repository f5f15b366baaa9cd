"""Group sessions on the client web pages: the office's upcoming information sessions, booking a seat with a
phone number and SMS consent, and the seat's own page (/g/<token>) from the confirmation SMS.

A full session answers 409 with a page that says so in the client's language and offers the next session of the
same topic when there is one. Texts in the groups catalogue.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final

from aiohttp import web

from scheduler import group_session_seats, group_sessions, phones, ratelimit, sites
from scheduler.channels.site_choice import request_site
from scheduler.channels.web import chosen_language, render, with_lang
from scheduler.errors import InvalidTransition, NotFound, ValidationFailed
from scheduler.group_session_seats import SessionClosed, SessionFull
from scheduler.group_sessions import Session
from scheduler.http import TOKEN
from scheduler.i18n import N_, format_when
from scheduler.keys import CONFIG, POOL

routes = web.RouteTableDef()

SESSION: Final = r"/sessions/{session_id:\d{1,18}}"
PHONE_MAX: Final = 40
SEAT_DONE: Final = {
    "booked": N_("Your seat is booked. We send you the reference code by SMS as well."),
    "already": N_("You already have a seat in this session."),
    "cancelled": N_("You have given back your seat."),
    "conflict": N_("This was already changed. Here is the current state."),
}


async def _site(request: web.Request) -> sites.Site:
    return await request_site(request)  # the office of the host (or path prefix), see site_choice.py


def _facts(session: Session, site: sites.Site, lang: str) -> dict[str, Any]:
    return {"id": session.id, "topic": session.topic, "room": session.room, "free": session.free,
            "seats": session.seats, "minutes": session.minutes, "when": format_when(session.start, lang, site.timezone)}


def _not_found(request: web.Request) -> web.Response:
    return render(request, "not_found.html", {"title": N_("Link not found")}, status=404)


@routes.get("/sessions", name="web-group-sessions")
async def list_page(request: web.Request) -> web.Response:
    """The office's upcoming information sessions, with the seats still free."""
    lang = chosen_language(request)
    site = await _site(request)
    async with request.app[POOL].acquire() as conn:
        found = await group_sessions.upcoming(conn, site.id, now=datetime.now(UTC))
    return render(request, "group_sessions.html", {"title": N_("Information sessions"), "site": site,
                                                   "sessions": [_facts(s, site, lang) for s in found]})


async def _session_or_none(request: web.Request, site: sites.Site) -> Session | None:
    async with request.app[POOL].acquire() as conn:
        try:
            return await group_sessions.get_for_site(conn, int(request.match_info["session_id"]), site.id)
        except NotFound:
            return None


async def _form(request: web.Request, session: Session, site: sites.Site, *, values: dict[str, Any],
                errors: dict[str, str], status: int = 200) -> web.Response:
    lang = chosen_language(request)
    now = datetime.now(UTC)
    if not session.open_for_booking(now):
        return await _full(request, session, site)
    return render(request, "group_session.html", {"title": N_("Book a seat"), "site": site, "values": values,
                                                  "errors": errors, "session": _facts(session, site, lang)},
                  status=status)


async def _full(request: web.Request, session: Session, site: sites.Site) -> web.Response:
    """409: the session is full (or no longer open), with the next session of the same topic if any."""
    lang = chosen_language(request)
    now = datetime.now(UTC)
    async with request.app[POOL].acquire() as conn:
        following = await group_sessions.next_of_topic(conn, session, now=now)
    full = session.status is group_sessions.SessionStatus.scheduled and session.start > now
    return render(request, "group_session_full.html", {
        "title": N_("This session is full") if full else N_("This session can no longer be booked"),
        "site": site, "full": full, "session": _facts(session, site, lang),
        "following": _facts(following, site, lang) if following else None}, status=409)


@routes.get(SESSION, name="web-group-session")
async def session_page(request: web.Request) -> web.Response:
    """One session and the form to book a seat (or, when full, the next session of its topic)."""
    site = await _site(request)
    session = await _session_or_none(request, site)
    if session is None:
        return _not_found(request)
    return await _form(request, session, site, values={"phone": "", "sms_consent": False}, errors={})


@routes.post(SESSION, name="web-group-session-book")
async def book(request: web.Request) -> web.Response:
    """Book a seat: 303 to the seat's page; 422 with field messages; 409 when the session is full."""
    lang = chosen_language(request)
    site = await _site(request)
    session = await _session_or_none(request, site)
    if session is None:
        return _not_found(request)
    form = await request.post()
    raw_phone, consent = form.get("phone", ""), form.get("sms_consent") == "yes"
    typed = raw_phone[:PHONE_MAX] if isinstance(raw_phone, str) else ""
    values: dict[str, Any] = {"phone": typed, "sms_consent": consent}
    pool = request.app[POOL]
    limiter = request.app[ratelimit.LIMITER]
    # Counted like the request form: per address (the form may be posted by a script) and per number.
    await limiter.hit(pool, (limiter.limits.everyone, f"global:{site.id}"),
                      (limiter.limits.submit,
                       ratelimit.address_bucket(request.get(ratelimit.CLIENT_ADDRESS_KEY) or request.remote or "")))
    try:
        if not isinstance(raw_phone, str) or len(raw_phone) > PHONE_MAX:
            raise ValidationFailed(fields={"phone": N_("This is not a phone number we can use.")})
        phone = phones.normalise(typed, countries=sites.countries(site, request.app[CONFIG].sms.allowed_countries))
        await limiter.hit_phone(pool, phone, site.id)
        booked = await group_session_seats.book_on_web(pool, session_id=session.id, site_id=site.id, phone=phone,
                                                       language=lang, sms_consent=consent, now=datetime.now(UTC))
    except ValidationFailed as e:
        return await _form(request, session, site, values=values, errors=e.fields, status=422)
    except (SessionFull, SessionClosed):
        async with pool.acquire() as conn:
            session = await group_sessions.get(conn, session.id)
        return await _full(request, session, site)
    raise web.HTTPSeeOther(with_lang(f"/g/{booked.seat.link_token}", lang,
                                     done="booked" if booked.new else "already"))


@routes.get(f"/g/{TOKEN}", name="web-group-seat")
async def seat_page(request: web.Request) -> web.Response:
    """The seat's page: the session, the reference code, the seat's state, and giving the seat back."""
    lang = chosen_language(request)
    async with request.app[POOL].acquire() as conn:
        seat = await group_session_seats.by_token(conn, request.match_info["token"])
        if seat is None:
            return _not_found(request)
        session = await group_sessions.get(conn, seat.session_id)
        site = await sites.site_by_id(conn, seat.site_id)
    now = datetime.now(UTC)
    state = _seat_state(seat, session, now)
    return render(request, "group_seat.html", {
        "title": N_("Your seat in an information session"), "site": site, "seat": seat, "state": state,
        "state_text": SEAT_STATES[state], "session": _facts(session, site, lang),
        "done": SEAT_DONE.get(request.query.get("done", "")), "token": request.match_info["token"],
        "may_cancel": state == "booked"})


SEAT_STATES: Final = {
    "booked": N_("Your seat is booked."),
    "given_back": N_("You have given back this seat."),
    "session_cancelled": N_("This session has been cancelled. We are sorry."),
    "held": N_("You took part in this session."),
    "no_show": N_("You did not come to this session."),
    "over": N_("This session has taken place."),
}


def _seat_state(seat: group_session_seats.Seat, session: Session, now: datetime) -> str:
    if seat.status is group_session_seats.SeatStatus.cancelled:
        return "given_back"
    if session.status is group_sessions.SessionStatus.cancelled:
        return "session_cancelled"
    if seat.outcome is not None:
        return seat.outcome.value
    return "booked" if session.start > now else "over"


@routes.post(f"/g/{TOKEN}/cancel", name="web-group-seat-cancel")
async def cancel(request: web.Request) -> web.Response:
    """Give the seat back (before the session begins); the seat is free for someone else."""
    lang = chosen_language(request)
    token = request.match_info["token"]
    try:
        await group_session_seats.cancel_by_client(request.app[POOL], token=token, now=datetime.now(UTC))
        done = "cancelled"
    except InvalidTransition:
        async with request.app[POOL].acquire() as conn:
            if await group_session_seats.by_token(conn, token) is None:
                return _not_found(request)
        done = "conflict"
    raise web.HTTPSeeOther(with_lang(f"/g/{token}", lang, done=done))
